"""Port adapters on Microsoft Graph: workbook source, artefact store, list source, delivery."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from automation.backends.graph.errors import AppCredential, from_credential_error
from automation.backends.graph.gateway import (
    CredentialToken,
    GraphGateway,
    StaticToken,
    TokenSource,
    default_scope,
)
from automation.backends.graph.mail import KEY_PROPERTY, MailSender
from automation.backends.local import LocalArtefactStore
from automation.column_names import spelt_otherwise
from automation.config.loader import LoadedConfig
from automation.config.models import (
    AccessTokenAuth,
    CertificateAuth,
    ClientSecretAuth,
    FileRef,
    GraphBackend,
    ListRef,
    SiteList,
)
from automation.errors import ConfigError, DataError
from automation.metrics import METRICS
from automation.ports import Arriving, Backend, FetchedWorkbook, ListItem, Near
from automation.state import OutboxEntry, Store
from automation.teams_post import ChannelTarget, channel_payload, reference_mark
from automation.timeutil import JST

LOG = logging.getLogger("automation.graph")

# Sends are spaced 2 % wider than the configured rate: the spacing is timed before a request
# is built and sent, and jitter on the way could otherwise put one more in a second than
# allowed (measured: 5 webhook posts within one second at 4/s without the margin).
PACING_MARGIN = 1.02


class Pacer:
    """Keeps at least ``interval`` seconds between calls (client-side rate limit)."""

    def __init__(
        self,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._last = -1e18

    async def wait(self) -> None:
        """Sleep until the next call is allowed. The slot is taken before sleeping, so calls
        that wait at once (a run's feedback and the mail attaching its workbook) go one
        interval apart, not together."""
        now = self._clock()
        slot = max(now, self._last + self.interval)
        self._last = slot
        gap = slot - now
        if gap > 0:
            METRICS.throttle_wait_seconds += gap
            await self._sleep(gap)
        self._last = max(self._last, self._clock())


def token_source(auth: object, base_url: str, base_dir: Any) -> TokenSource:
    """Build the credential chosen in ``backend.auth``; its sign-in failures name the app."""
    if isinstance(auth, AccessTokenAuth):
        return StaticToken(auth.token)
    scope = default_scope(base_url)
    if isinstance(auth, CertificateAuth):
        from azure.identity import CertificateCredential  # noqa: PLC0415

        path = (
            auth.certificate_path
            if auth.certificate_path.is_absolute()
            else base_dir / auth.certificate_path
        )
        app = AppCredential("certificate", auth.client_id, auth.tenant_id, path)
        try:
            credential = CertificateCredential(
                auth.tenant_id, auth.client_id, str(path), password=auth.certificate_password
            )
        except (OSError, ValueError) as err:  # the file is read here, before any run
            return FailedCredential(err, app)
        return CredentialToken(credential, scope, app=app)
    if isinstance(auth, ClientSecretAuth):
        from azure.identity import ClientSecretCredential  # noqa: PLC0415

        return CredentialToken(
            ClientSecretCredential(auth.tenant_id, auth.client_id, auth.client_secret),
            scope,
            app=AppCredential("client_secret", auth.client_id, auth.tenant_id),
        )
    from azure.identity import ManagedIdentityCredential  # noqa: PLC0415

    client_id = getattr(auth, "client_id", None)
    return CredentialToken(
        ManagedIdentityCredential(client_id=client_id)
        if client_id
        else ManagedIdentityCredential(),
        scope,
        app=AppCredential("managed_identity", client_id),
    )


class FailedCredential:
    """A credential that could not even be built (an unreadable certificate): every token
    request fails with what is wrong, inside the run, so the run records it."""

    def __init__(self, error: Exception, app: AppCredential) -> None:
        self._error = error
        self._app = app

    async def token(self) -> str:
        """Always the mapped failure."""
        mapped = from_credential_error(self._error, self._app)
        raise (mapped or self._error) from self._error


def graph_gateway(loaded: LoadedConfig, config: GraphBackend) -> GraphGateway:
    """The app's gateway: its credential, limits and the lookups kept in the state folder."""
    return GraphGateway(
        config.base_url,
        token_source(config.auth, config.base_url, loaded.base_dir),
        limits=config.limits,
        lookups=StateLookups(loaded.state_target),
    )


def graph_backend(
    loaded: LoadedConfig, config: GraphBackend, gateway: GraphGateway | None = None
) -> Backend:
    """The ports of a Graph backend; artefacts are also kept locally for mail attachments."""
    state_path = loaded.resolve(loaded.config.state.path)
    gateway = gateway or graph_gateway(loaded, config)
    cache = LocalArtefactStore(state_path.parent / "artefacts")
    contacts = loaded.config.contacts()
    channel_gateway = None
    if config.service_account is not None:
        from automation.backends.graph.service_account import account_tokens  # noqa: PLC0415

        channel_gateway = GraphGateway(
            config.base_url,
            account_tokens(config.service_account, config.base_url, state_path.parent),
            limits=config.limits,
        )
    return Backend(
        GraphWorkbookSource(gateway),
        GraphArtefactStore(gateway, cache),
        GraphDeliverer(
            gateway,
            config.mailbox,
            config,
            {c.stored_address: c.address for c in contacts if c.channel == "teams_webhook"},
            channel_gateway=channel_gateway,
        ),
        GraphListSource(gateway),
    )


class StateLookups:
    """Lookups kept in the state database, opened only when first needed.

    Nothing is written before the database exists (a dry run on a fresh installation
    leaves no state behind); reads and writes are short transactions of their own.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = path

    def _exists(self) -> bool:
        return not isinstance(self.path, Path) or self.path.exists()

    def lookup(self, key: str) -> str | None:
        """The remembered value, if the database holds one."""
        if not self._exists():
            return None
        with Store(self.path) as store:
            return store.lookup(key)

    def remember(self, key: str, value: str, now: datetime) -> None:
        """Keep ``value`` if there is a state database to keep it in."""
        if self._exists():
            with Store(self.path) as store:
                store.remember(key, value, now)

    def forget(self, key: str) -> None:
        """Drop ``key``."""
        if self._exists():
            with Store(self.path) as store:
                store.forget(key)


class GraphWorkbookSource:
    """Workbooks downloaded with If-None-Match: an unchanged workbook costs one 304."""

    def __init__(self, gateway: GraphGateway) -> None:
        self.gateway = gateway

    async def fetch(
        self, ref: FileRef, known_version: str | None, *, arriving: Arriving = None
    ) -> FetchedWorkbook:
        """Download unless the eTag is ``known_version`` (``arriving``: see the port)."""
        download = await self.gateway.download_if_changed(ref, known_version, arriving)
        name = ref.split("/")[-1] if isinstance(ref, str) else getattr(ref, "path", "workbook.xlsx")
        return FetchedWorkbook(
            str(name).split("/")[-1], download.etag, download.data, download.web_url
        )


class GraphArtefactStore:
    """Uploads artefacts next to their source; keeps a local copy for attachments."""

    def __init__(self, gateway: GraphGateway, cache: LocalArtefactStore) -> None:
        self.gateway = gateway
        self.cache = cache

    async def put(self, name: str, data: bytes, near: Near = None) -> str:
        """Upload ``data`` next to ``near`` (replacing a previous upload of the same name)."""
        await self.cache.put(name, data)
        if near is None or isinstance(near, str | SiteList):
            return await self.cache.put(name, data)
        return await self.gateway.upload_next_to(near, name, data)

    async def get(self, name: str, near: Near = None) -> bytes:
        """The local copy of an artefact."""
        return await self.cache.get(name)


class GraphListSource:
    """List items with only the configured columns; display names resolved once."""

    def __init__(self, gateway: GraphGateway) -> None:
        self.gateway = gateway

    async def items(
        self,
        ref: ListRef,
        columns: Sequence[str],
        *,
        id_column: str,
        link_column: str | None,
        modified_column: str | None,
        only: tuple[str, str] | None = None,
    ) -> list[ListItem]:
        """Every item; column names as admins see them (Japanese display names) or internal.
        With ``only`` and ``period_indexed`` the list is filtered on that column server-side
        (``fields/X eq 'v'``): Graph sends only those items."""
        if not isinstance(ref, SiteList):
            raise ConfigError(
                f"the Graph backend needs params.list as {{site_id, list_id}}, not {ref!r}"
            )
        remembered = self.gateway.remembered_columns(ref.site_id, ref.list_id)
        mapping, missing = _resolve(columns, remembered or [])
        if remembered is None or missing:  # first read, or the list's columns changed
            known = await self.gateway.list_columns(ref.site_id, ref.list_id)
            mapping, missing = _resolve(columns, known)
            if missing:
                raise DataError(
                    f"list {ref.list_id}: 列 {'、'.join(f'「{m}」' for m in missing)} がありません。"
                    f"ある列: {'、'.join(display for _, display in known)}。"
                    f"{spelt_otherwise(missing, (display for _, display in known))}"
                    "設定の列名（fields / required など）を一覧の列名に合わせてください。"
                )
            self.gateway.remember_columns(ref.site_id, ref.list_id, known)
        internal = list(dict.fromkeys(mapping.values()))
        where = _filter(only, mapping) if ref.period_indexed else None
        try:
            rows = await self.gateway.list_items(ref.site_id, ref.list_id, internal, filter_=where)
        except ConfigError as exc:
            if remembered is not None:
                # a remembered internal name may be gone (a column deleted and re-created)
                self.gateway.forget_columns(ref.site_id, ref.list_id)
                return await self.items(
                    ref,
                    columns,
                    id_column=id_column,
                    link_column=link_column,
                    modified_column=modified_column,
                    only=only,
                )
            if where is None:
                raise
            LOG.warning(
                "list %s: Graph refused the filter %s (%s); every item is read instead. Index "
                "the period column (list settings, Indexed columns) or set "
                "params.list.period_indexed: false.",
                ref.list_id,
                where,
                exc,
            )
            rows = await self.gateway.list_items(ref.site_id, ref.list_id, internal)
        return [
            ListItem(
                id=str(row.get("id", "")),
                link=row.get("webUrl"),
                modified=_utc_to_jst(row.get("lastModifiedDateTime")),
                fields={
                    name: _jst(row.get("fields", {}).get(internal))
                    for name, internal in mapping.items()
                },
            )
            for row in rows
        ]


def _filter(only: tuple[str, str] | None, mapping: dict[str, str]) -> str | None:
    """``fields/{internal} eq '{value}'`` (OData quotes doubled), or None without ``only``."""
    if only is None:
        return None
    column, value = only
    return f"fields/{mapping[column]} eq '{value.replace(chr(39), chr(39) * 2)}'"


def _resolve(
    columns: Sequence[str], known: Sequence[tuple[str, str]]
) -> tuple[dict[str, str], list[str]]:
    """Configured column names (display or internal) -> internal names, and those not found."""
    by_display: dict[str, str] = {}
    for internal, display in known:  # the first of a name: Title before LinkTitle...
        by_display.setdefault(display, internal)
    internal_names = {internal for internal, _ in known}
    mapping: dict[str, str] = {}
    missing = []
    for name in columns:
        if name in by_display:
            mapping[name] = by_display[name]
        elif name in internal_names:
            mapping[name] = name
        else:
            missing.append(name)
    return mapping, missing


def _utc_to_jst(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(JST)
    except ValueError:
        return None


def _jst(value: object) -> object:
    """Date/time values arrive in UTC (a date-only 10/15 is 10/14 15:00Z): convert to JST."""
    if isinstance(value, str) and len(value) >= 20 and value.endswith("Z") and value[4] == "-":
        converted = _utc_to_jst(value)
        return converted if converted is not None else value
    return value


class GraphDeliverer:
    """Mail via sendMail, Teams channel posts, and Teams Workflows webhooks."""

    def __init__(
        self,
        gateway: GraphGateway,
        mailbox: str | None,
        config: GraphBackend,
        webhooks: Mapping[str, str] | None = None,
        *,
        channel_gateway: GraphGateway | None = None,
    ) -> None:
        self.gateway = gateway
        self.webhooks = dict(webhooks or {})  # stored reference -> URL (from the configuration)
        self.mailbox = mailbox
        self.channel_gateway = channel_gateway  # signed in as the Teams service account
        self._mail_pacer = Pacer(PACING_MARGIN * 60 / config.limits.mails_per_minute)
        self.mail_max_mb = config.limits.mail_max_mb
        self._webhook_pacer = Pacer(PACING_MARGIN / config.limits.webhook_posts_per_second)
        self._channel_pacers: dict[str, Pacer] = {}
        self._channel_interval = PACING_MARGIN / config.limits.channel_posts_per_second

    async def deliver(self, entry: OutboxEntry, attachments: Mapping[str, bytes]) -> str:
        """Send one message on its channel; return where it went."""
        if entry.channel == "mail":
            return await self._mail(entry, attachments)
        if entry.channel == "teams_webhook":
            await self._webhook_pacer.wait()
            card = entry.bodies.get("card.json")
            url = self.webhooks.get(entry.recipient)
            if url is None:
                raise ConfigError(
                    f"webhook {entry.recipient_label} is no longer in the configuration; "
                    "restore its URL or drop the message with `automation outbox`"
                )
            await self.gateway.post_webhook(url, json.loads(card) if card else {})
            return f"teams webhook {entry.recipient_label}"
        team, channel, gateway = self._channel(entry)
        pacer = self._channel_pacers.setdefault(entry.recipient, Pacer(self._channel_interval))
        await pacer.wait()
        message_id = await gateway.post_channel_message(
            team, channel, channel_payload(entry, ChannelTarget.of(entry), channel)
        )
        return f"channel message {message_id}"

    def _channel(self, entry: OutboxEntry) -> tuple[str, str, GraphGateway]:
        team, _, channel = entry.recipient.partition("/")
        if not channel:
            raise ConfigError(
                f"Teams channel address {entry.recipient!r} must be TEAM_ID/CHANNEL_ID"
            )
        if self.channel_gateway is None:
            raise ConfigError(
                "teams_channel messages need backend.service_account (app-only Graph cannot "
                "post to channels); add it and run `automation login`"
            )
        return team, channel, self.channel_gateway

    # The channels whose sends may be missing where ``confirm`` looks for a while after
    # they were accepted: sendMail answers 202, which "does not indicate that the request
    # processing has completed" (api-reference/v1.0/api/user-sendmail.md). An interrupted
    # mail not in Sent Items is looked for again until ``outbox.mail_settle_seconds`` passed.
    settling: ClassVar[frozenset[str]] = frozenset({"mail"})

    async def confirm(self, entry: OutboxEntry) -> bool | None:
        """Whether an interrupted send reached its recipient (None: this channel cannot tell).

        Mail: the key's extended property in Sent Items. Teams channel: the post's reference
        among the channel's newest messages. A webhook offers no way to look.
        """
        if entry.channel == "mail" and self.mailbox:
            return await self.gateway.sent_with_property(self.mailbox, KEY_PROPERTY, entry.key)
        if entry.channel == "teams_channel":
            team, channel, gateway = self._channel(entry)
            return await gateway.channel_has_message(team, channel, reference_mark(entry.key))
        return None

    async def _mail(self, entry: OutboxEntry, attachments: Mapping[str, bytes]) -> str:
        if not self.mailbox:
            raise ConfigError("backend.mailbox is not set; it is the mailbox that sends mail")
        await self._mail_pacer.wait()
        return await MailSender(self.gateway, self.mailbox, self.mail_max_mb).send(
            entry, attachments
        )
