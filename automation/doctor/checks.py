"""The Graph checks of one configuration: read-only probes, one row per check, in order.

What each probe asks and how it explains a refusal is in a module per thing probed:
:mod:`.credential` (the app's token), :mod:`.files` (workbooks and lists), :mod:`.mail`
(Sent Items and the test mail) and :mod:`.teams` (channels); :mod:`.probe` holds what they
share. Here they run in order, with SKIP rows where a missing token makes a probe moot.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from automation.backends.graph import service_account
from automation.backends.graph.gateway import GraphGateway, TokenSource
from automation.config.loader import LoadedConfig
from automation.config.models import (
    ChannelFile,
    DamageRollupFlow,
    DriveFile,
    GraphBackend,
    GraphLimits,
    ProgressCollectionFlow,
    SiteFile,
    SiteList,
)
from automation.doctor import design
from automation.doctor.credential import credential_row
from automation.doctor.files import list_row, list_target, workbook_row, workbook_target
from automation.doctor.hints import SEE_MAIL
from automation.doctor.mail import mail_send_row, sent_items_row
from automation.doctor.probe import PROBED, Probe, unique
from automation.doctor.rows import Row
from automation.doctor.teams import channel_rows
from automation.doctor.verdicts import account_row, clock_row, webhook_row
from automation.errors import AutomationError
from automation.flows.provision_list import ListPlan, list_plan

GatewayFactory = Callable[[str, TokenSource, GraphLimits], GraphGateway]
TokenFactory = Callable[[GraphBackend, Path], TokenSource]


class GraphChecks:
    """The Graph checks of one configuration."""

    def __init__(
        self, loaded: LoadedConfig, backend: GraphBackend, gateway_factory: GatewayFactory
    ) -> None:
        self.loaded = loaded
        self.backend = backend
        self.gateway_factory = gateway_factory
        self.contacts = loaded.config.contacts()
        self.probe = Probe(loaded, backend)

    async def rows(self, send_test: str | None, token_factory: TokenFactory) -> list[Row]:
        """Every row, in order: credential, app probes, channels, webhooks, account, clock."""
        tokens = token_factory(self.backend, self.loaded.base_dir)
        credential, has_token = await credential_row(self.probe, tokens)
        rows = [credential]
        app = self.gateway_factory(self.backend.base_url, tokens, self.backend.limits)
        account = self.backend.service_account
        state_dir = self.loaded.resolve(self.loaded.config.state.path).parent
        delegated = None
        delegated_tokens = None
        try:
            if not has_token:
                rows += [
                    Row(
                        r.check,
                        r.target,
                        "SKIP",
                        "not checked: the app has no token (see the credential row)",
                    )
                    for r in self._app_targets(send_test)
                ]
            else:
                rows += await self._app_probes(app, send_test)
            signed_in = None
            if account is not None:
                signed_in = await asyncio.to_thread(
                    service_account.status, account, self.backend.base_url, state_dir
                )
                delegated_tokens = service_account.account_tokens(
                    account, self.backend.base_url, state_dir
                )
                delegated = self.gateway_factory(
                    self.backend.base_url, delegated_tokens, self.backend.limits
                )
            rows += await channel_rows(self.probe, delegated, delegated_tokens, signed_in)
            rows += [webhook_row(c) for c in unique(self.contacts, "teams_webhook")]
            rows.append(account_row(account, signed_in, self.loaded.path))
            rows.append(await self._clock_row(app))
        finally:
            await app.aclose()
            if delegated is not None:
                await delegated.aclose()
        return rows

    def _app_targets(self, send_test: str | None) -> list[Row]:
        """The rows the app's token is needed for (as SKIPs, when there is none)."""
        rows = []
        for ids, ref in self._workbooks():
            rows.append(Row("workbook", workbook_target(ids, ref), "SKIP", ""))
            rows.append(Row(design.CHECK, workbook_target(ids, ref), "SKIP", ""))
        rows += [Row("list", list_target(ids, ref), "SKIP", "") for ids, ref in self._lists()]
        mailbox = self._mailbox(send_test)
        if mailbox:
            rows.append(Row("mailbox", mailbox, "SKIP", ""))
            rows.append(Row("mail send", send_test or mailbox, "SKIP", ""))
        return rows

    async def _app_probes(self, app: GraphGateway, send_test: str | None) -> list[Row]:
        probe = self.probe
        rows = []
        flows = design.damage_flows(self.loaded)
        for ids, ref in self._workbooks():
            row = await workbook_row(probe, app, ids, ref)
            rows.append(row)
            if row.result != "OK":
                rows.append(
                    Row(design.CHECK, row.target, "SKIP", "not checked: see the workbook row")
                )
                continue
            rows.append(await design.graph_design_row(self.loaded, flows[ref], row.target, app))
            probe.saw(app)
        rows += [
            await list_row(probe, app, ids, ref, self._list_plan(ref)) for ids, ref in self._lists()
        ]
        mailbox = self._mailbox(send_test)
        if mailbox:
            rows.append(await sent_items_row(probe, app, mailbox))
            rows.append(await mail_send_row(probe, app, mailbox, send_test))
        elif send_test:
            rows.append(
                Row(
                    "mail send",
                    send_test,
                    "FAIL",
                    "--send-test needs backend.mailbox, which is not set",
                    "set backend.mailbox to the mailbox (UPN) that sends mail",
                    SEE_MAIL,
                )
            )
        return rows

    def _mailbox(self, send_test: str | None) -> str | None:
        """The sending mailbox, if it is set and mail is configured or a test mail asked for."""
        mailbox = self.backend.mailbox
        return mailbox if mailbox and (unique(self.contacts, "mail") or send_test) else None

    def _workbooks(self) -> list[tuple[str, DriveFile | ChannelFile | SiteFile]]:
        from automation.jobs.damage import workbook_in_use  # noqa: PLC0415  # damage flows only

        found: dict[DriveFile | ChannelFile | SiteFile, list[str]] = {}
        for flow in self.loaded.config.flows:
            # A damage flow's workbook now: the open incident's (automation incident open).
            ref = workbook_in_use(self.loaded, flow) if isinstance(flow, DamageRollupFlow) else None
            if isinstance(ref, DriveFile | ChannelFile | SiteFile):
                found.setdefault(ref, []).append(flow.id)
        return [(", ".join(ids), ref) for ref, ids in found.items()]

    def _lists(self) -> list[tuple[str, SiteList]]:
        found: dict[SiteList, list[str]] = {}
        for flow in self.loaded.config.flows:
            ref = None if isinstance(flow, DamageRollupFlow) else flow.params.list
            if isinstance(ref, SiteList):
                found.setdefault(ref, []).append(flow.id)
        return [(", ".join(ids), ref) for ref, ids in found.items()]

    def _list_plan(self, ref: SiteList) -> ListPlan:
        """What ``provision list`` would build for the first flow reading ``ref``."""
        flow = next(
            f
            for f in self.loaded.config.flows
            if isinstance(f, ProgressCollectionFlow) and f.params.list == ref
        )
        return list_plan(flow.params, self.loaded.config.directory, ref.list_id)

    async def _clock_row(self, app: GraphGateway) -> Row:
        host = urlsplit(self.backend.base_url).netloc
        if not self.probe.dates:  # no probe answered: ask anonymously (401 carries a Date too)
            with contextlib.suppress(AutomationError):  # no answer: not checked, below
                await app.request(
                    "GET", "/organization", what="read Graph's clock", ok=PROBED, auth=False
                )
            self.probe.saw(app)
        return clock_row(host, self.probe.dates)
