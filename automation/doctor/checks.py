"""The Graph checks of one configuration: read-only probes, one row per check."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from automation.backends.graph import service_account
from automation.backends.graph.gateway import GraphGateway, TokenSource
from automation.config.loader import LoadedConfig
from automation.config.models import (
    AccessTokenAuth,
    CertificateAuth,
    ChannelFile,
    ClientSecretAuth,
    Contact,
    DamageRollupFlow,
    DriveFile,
    GraphBackend,
    GraphLimits,
    ManagedIdentityAuth,
    SiteFile,
    SiteList,
)
from automation.doctor.hints import (
    SEE_CREDENTIAL,
    SEE_MAIL,
    SEE_TEAMS,
    AppGrants,
    channel_hints,
    credential_fix,
)
from automation.doctor.rows import Row, error_row, one_line, refused
from automation.doctor.verdicts import account_row, clock_row, webhook_row
from automation.errors import AutomationError
from automation.timeutil import JST

PROBED = (200, 202, 401, 403, 404)  # answers each probe explains; others raise mapped errors


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
        self.roles: frozenset[str] | None = None  # application permissions in the app token
        self.client_id = _client_id(backend)
        self.dates: list[tuple[str, datetime]] = []  # (Graph's Date header, local time then)
        self.delegated_tokens: TokenSource | None = None  # the service account's
        self.has_token = False  # the app's credential gave a token (even an expired one)

    async def rows(self, send_test: str | None, token_factory: TokenFactory) -> list[Row]:
        tokens = token_factory(self.backend, self.loaded.base_dir)
        credential = await self._credential(tokens)
        rows = [credential]
        app = self.gateway_factory(self.backend.base_url, tokens, self.backend.limits)
        account = self.backend.service_account
        state_dir = self.loaded.resolve(self.loaded.config.state.path).parent
        delegated = None
        try:
            if not self.has_token:
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
                self.delegated_tokens = service_account.account_tokens(
                    account, self.backend.base_url, state_dir
                )
                delegated = self.gateway_factory(
                    self.backend.base_url, self.delegated_tokens, self.backend.limits
                )
            rows += await self._channels(delegated, signed_in)
            rows += [webhook_row(c) for c in _unique(self.contacts, "teams_webhook")]
            rows.append(account_row(account, signed_in, self.loaded.path))
            rows.append(await self._clock_row(app))
        finally:
            await app.aclose()
            if delegated is not None:
                await delegated.aclose()
        return rows

    # credential ---------------------------------------------------------------------------
    async def _credential(self, tokens: TokenSource) -> Row:
        auth = self.backend.auth
        ids = _ids(auth)
        started = time.perf_counter()
        try:
            token = await tokens.token()
        except Exception as err:  # azure-identity raises many types; all are reported
            found = one_line(f"{type(err).__name__}: {err}")
            return Row(
                "credential",
                auth.type,
                "FAIL",
                f"{ids}no token: {found}",
                credential_fix(auth, found),
                SEE_CREDENTIAL,
            )
        seconds = time.perf_counter() - started
        self.has_token = True
        claims = token_claims(token)
        if claims is not None and isinstance(claims.get("roles"), list):
            self.roles = frozenset(str(r) for r in claims["roles"])
        self.client_id = str((claims or {}).get("appid") or self.client_id)
        if isinstance(auth, AccessTokenAuth):
            got = "a fixed token from backend.auth.token; Graph checks it in the probes below"
        else:
            got = f"token in {seconds:.2f} s"
        if claims is None:
            return Row("credential", auth.type, "OK", f"{ids}{got}")
        expired = _expired(claims)
        if expired:
            return Row(
                "credential",
                auth.type,
                "FAIL",
                f"{ids}the token expired at {expired}",
                "give a fresh token in backend.auth.token (its variable)",
                SEE_CREDENTIAL,
            )
        if "roles" not in claims and "scp" not in claims:
            return Row(
                "credential",
                auth.type,
                "FAIL",
                f"{ids}{got}, but it carries no permission (no roles claim): none is consented",
                "in the app registration: API permissions → add the application permissions "
                "→ Grant admin consent",
                SEE_CREDENTIAL,
            )
        if self.roles is None:
            granted = f"delegated permissions: {claims['scp']}"
        else:
            granted = f"application permissions: {', '.join(sorted(self.roles)) or 'none'}"
        return Row("credential", auth.type, "OK", f"{ids}{got}; {granted}")

    # app-only probes ----------------------------------------------------------------------
    def _app_targets(self, send_test: str | None) -> list[Row]:
        """The rows the app's token is needed for (as SKIPs, when there is none)."""
        rows = [
            Row("workbook", _workbook_target(ids, ref), "SKIP", "")
            for ids, ref in self._workbooks()
        ]
        rows += [Row("list", _list_target(ids, ref), "SKIP", "") for ids, ref in self._lists()]
        mailbox = self._mailbox(send_test)
        if mailbox:
            rows.append(Row("mailbox", mailbox, "SKIP", ""))
            rows.append(Row("mail send", send_test or mailbox, "SKIP", ""))
        return rows

    async def _app_probes(self, app: GraphGateway, send_test: str | None) -> list[Row]:
        rows = [await self._workbook(app, ids, ref) for ids, ref in self._workbooks()]
        rows += [await self._list(app, ids, ref) for ids, ref in self._lists()]
        mailbox = self._mailbox(send_test)
        if mailbox:
            rows.append(await self._sent_items(app, mailbox))
            rows.append(await self._mail_send(app, mailbox, send_test))
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
        return mailbox if mailbox and (_unique(self.contacts, "mail") or send_test) else None

    def _workbooks(self) -> list[tuple[str, DriveFile | ChannelFile | SiteFile]]:
        found: dict[DriveFile | ChannelFile | SiteFile, list[str]] = {}
        for flow in self.loaded.config.flows:
            ref = flow.params.workbook if isinstance(flow, DamageRollupFlow) else None
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

    async def _get(
        self,
        gateway: GraphGateway,
        path: str,
        what: str,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One read-only GET; 401/403/404 come back for the caller to explain."""
        try:
            return await gateway.request("GET", path, what=what, ok=PROBED, params=params)
        finally:
            self._saw(gateway)

    def _saw(self, gateway: GraphGateway) -> None:
        if gateway.last_date is not None:
            self.dates.append(gateway.last_date)

    async def _workbook(
        self, app: GraphGateway, flows: str, ref: DriveFile | ChannelFile | SiteFile
    ) -> Row:
        target = _workbook_target(flows, ref)
        select = {"$select": "id,name,eTag,size"}
        try:
            if isinstance(ref, ChannelFile):
                folder = await self._get(
                    app,
                    f"/teams/{quote(ref.team_id)}/channels/{quote(ref.channel_id)}/filesFolder",
                    f"find the files folder of channel {ref.channel_id}",
                )
                if folder.status_code != 200:
                    return refused("workbook", target, folder, self._grants().folder(ref))
                parent = folder.json()
                drive, item = parent["parentReference"]["driveId"], parent["id"]
                site = parent["parentReference"].get("siteId")
                path = f"/drives/{quote(drive)}/items/{quote(item)}:/{quote(ref.path.strip('/'))}:"
                missing = (
                    f"no file {ref.path} in the channel's files folder "
                    f"({one_line(str(parent.get('name', '')))})",
                    "check params.workbook.path (a path inside the channel's folder)",
                )
            elif isinstance(ref, SiteFile):
                site = ref.site_id
                path = f"/sites/{quote(ref.site_id)}/drive/root:/{quote(ref.path.strip('/'))}:"
                missing = (
                    f"no file {ref.path} in the default library of site {ref.site_id}",
                    "check params.workbook.site_id and path",
                )
            else:
                site = None
                path = f"/drives/{quote(ref.drive_id)}/items/{quote(ref.item_id)}"
                missing = (
                    f"no item {ref.item_id} in drive {ref.drive_id}",
                    "check params.workbook.drive_id and item_id",
                )
            response = await self._get(app, path, "read the workbook's metadata", select)
        except AutomationError as err:
            return error_row("workbook", target, err)
        if response.status_code == 200:
            item = response.json()
            return Row(
                "workbook",
                target,
                "OK",
                f"{one_line(str(item.get('name', '')))}, {_size(item.get('size'))}: readable "
                "(the merged workbook's upload needs the site's write role; not probed)",
            )
        return refused("workbook", target, response, self._grants().workbook(site, *missing))

    async def _list(self, app: GraphGateway, flows: str, ref: SiteList) -> Row:
        target = _list_target(flows, ref)
        try:
            response = await self._get(
                app,
                f"/sites/{quote(ref.site_id)}/lists/{quote(ref.list_id)}/columns",
                f"read the columns of list {ref.list_id}",
                {"$select": "name,displayName"},
            )
        except AutomationError as err:
            return error_row("list", target, err)
        if response.status_code == 200:
            count = len(response.json().get("value", []))
            return Row("list", target, "OK", f"{count} columns readable (Sites.Selected, read)")
        return refused("list", target, response, self._grants().site_list(ref))

    async def _sent_items(self, app: GraphGateway, mailbox: str) -> Row:
        try:
            response = await self._get(
                app,
                f"/users/{quote(mailbox)}/mailFolders/SentItems/messages",
                f"read Sent Items of {mailbox}",
                {"$top": "1", "$select": "id"},
            )
        except AutomationError as err:
            return error_row("mailbox", mailbox, err)
        if response.status_code == 200:
            return Row(
                "mailbox",
                mailbox,
                "OK",
                "Sent Items readable (Mail.Read): a send interrupted by a crash can be checked",
            )
        return refused("mailbox", mailbox, response, self._grants().sent_items(mailbox))

    async def _mail_send(self, app: GraphGateway, mailbox: str, send_test: str | None) -> Row:
        if send_test is None:
            return Row(
                "mail send",
                mailbox,
                "SKIP",
                "Mail.Send cannot be checked without sending a mail",
                "run again with --send-test YOUR-ADDRESS to send one test mail; "
                "Test-ServicePrincipalAuthorization in Exchange Online PowerShell shows the grant",
                SEE_MAIL,
            )
        sent = datetime.now(JST).strftime("%Y-%m-%d %H:%M")
        message = {
            "subject": "automation doctor: 送信テスト (test mail)",
            "body": {
                "contentType": "Text",
                "content": f"automation doctor の送信テストです（{sent} JST、{mailbox} から）。"
                "返信は不要です。\nA test mail from `automation doctor`; no reply needed.",
            },
            "toRecipients": [{"emailAddress": {"address": send_test}}],
        }
        try:
            response = await app.request(
                "POST",
                f"/users/{quote(mailbox)}/sendMail",
                what=f"send a test mail as {mailbox}",
                permission=f"Mail.Send (application) for the mailbox {mailbox}",
                ok=PROBED,
                retry=False,  # a send is never repeated blindly
                json={"message": message},
            )
        except AutomationError as err:
            return error_row("mail send", send_test, err)
        finally:
            self._saw(app)
        if response.status_code in (200, 202):
            return Row(
                "mail send",
                send_test,
                "OK",
                f"one test mail sent from {mailbox} (Graph accepted it); check that it arrives",
            )
        return refused("mail send", send_test, response, self._grants().mail_send(mailbox))

    def _grants(self) -> AppGrants:
        """What the app's refusals mean, by what its token showed (see the credential row)."""
        return AppGrants(self.backend.auth, self.roles, self.client_id)

    # Teams --------------------------------------------------------------------------------
    async def _channels(
        self, delegated: GraphGateway | None, signed_in: service_account.AccountStatus | None
    ) -> list[Row]:
        rows = []
        for contact in _unique(self.contacts, "teams_channel"):
            target = contact.name or contact.address.partition("/")[2]
            if delegated is None:
                rows.append(
                    Row(
                        "channel",
                        target,
                        "FAIL",
                        "teams_channel contacts need backend.service_account, which is not set",
                        "add service_account: {type: device_code, tenant_id, client_id} and "
                        "run `automation login`",
                        SEE_TEAMS,
                    )
                )
            elif signed_in is not None and signed_in.problem:
                rows.append(
                    Row(
                        "channel",
                        target,
                        "SKIP",
                        "not checked: the service account has no token (see its row)",
                    )
                )
            else:
                rows.append(await self._channel(delegated, contact, target, signed_in))
        return rows

    async def _channel(
        self,
        delegated: GraphGateway,
        contact: Contact,
        target: str,
        signed_in: service_account.AccountStatus | None,
    ) -> Row:
        team, _, channel = contact.address.partition("/")
        who = (signed_in.username if signed_in else None) or "the service account"
        try:
            token = await self.delegated_tokens.token() if self.delegated_tokens else ""
            scopes = _scopes(token_claims(token))
            response = await self._get(
                delegated,
                f"/teams/{quote(team)}/channels/{quote(channel)}/messages",
                f"read the newest message of channel {channel}",
                {"$top": "1"},
            )
        except AutomationError as err:
            return error_row("channel", target, err)
        if response.status_code == 200:
            if scopes is not None and "ChannelMessage.Send" not in scopes:
                return Row(
                    "channel",
                    target,
                    "FAIL",
                    f"readable as {who}, but the token lacks the delegated ChannelMessage.Send: "
                    "posts would be refused",
                    "add ChannelMessage.Send (delegated) in API permissions, grant consent, "
                    "then run `automation login` again",
                    SEE_TEAMS,
                )
            return Row(
                "channel",
                target,
                "OK",
                f"newest message readable as {who} (ChannelMessage.Read.All); posting is not tried",
            )
        hints = channel_hints(team, channel, who, scopes, self.loaded.path)
        return refused("channel", target, response, hints)

    # clock --------------------------------------------------------------------------------
    async def _clock_row(self, app: GraphGateway) -> Row:
        host = urlsplit(self.backend.base_url).netloc
        if not self.dates:  # no probe answered: ask anonymously (401 carries a Date too)
            with contextlib.suppress(AutomationError):  # no answer: not checked, below
                await app.request(
                    "GET", "/organization", what="read Graph's clock", ok=PROBED, auth=False
                )
            self._saw(app)
        return clock_row(host, self.dates)


def token_claims(token: str) -> dict[str, Any] | None:
    """The claims of a JWT access token (unverified, for hints only), or None if opaque."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:  # binascii.Error and JSONDecodeError are ValueErrors
        return None
    return claims if isinstance(claims, dict) else None


def _scopes(claims: dict[str, Any] | None) -> frozenset[str] | None:
    """Delegated permissions (``scp``) of a token, if it is readable."""
    if claims is None or not isinstance(claims.get("scp"), str):
        return None
    return frozenset(claims["scp"].split())


def _expired(claims: Mapping[str, Any]) -> str | None:
    """When a token expired (JST), if it has."""
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp > time.time():
        return None
    return f"{datetime.fromtimestamp(exp, JST):%Y-%m-%d %H:%M} JST"


def _ids(auth: object) -> str:
    """``tenant X, client Y: `` for credentials that name them."""
    if isinstance(auth, CertificateAuth | ClientSecretAuth):
        return f"tenant {auth.tenant_id}, client {auth.client_id}: "
    if isinstance(auth, ManagedIdentityAuth):
        return f"managed identity {auth.client_id or '(system-assigned)'}: "
    return ""


def _client_id(backend: GraphBackend) -> str:
    client = getattr(backend.auth, "client_id", None)
    return str(client) if client else "<the app's client id>"


def _unique(contacts: Iterable[Contact], channel: str) -> list[Contact]:
    """Contacts of one channel, one per address (first name wins)."""
    seen: dict[str, Contact] = {}
    for contact in contacts:
        if contact.channel == channel:
            seen.setdefault(contact.address, contact)
    return list(seen.values())


def _workbook_target(flows: str, ref: DriveFile | ChannelFile | SiteFile) -> str:
    if isinstance(ref, ChannelFile | SiteFile):
        return f"{flows}: {ref.path.strip('/').rsplit('/', 1)[-1]}"
    return f"{flows}: item {ref.item_id}"


def _list_target(flows: str, ref: SiteList) -> str:
    return f"{flows}: list {ref.list_id}"


def _size(value: object) -> str:
    if not isinstance(value, int):
        return "size unknown"
    return f"{value / 1024:.0f} KB" if value >= 1024 else f"{value} bytes"
