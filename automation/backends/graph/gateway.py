"""A thin gateway over Microsoft Graph with plain-named methods.

Requests go through msgraph-core's HTTP pipeline; kiota's RedirectHandler follows a
download's 302 without the Authorization header, whatever host the preauthenticated URL is on
(``_scrub_on_every_redirect``). The generated msgraph
models are not used: our calls are few, and loading the models costs over a second per
process. Retries have one engine, here: idempotent requests (reads, uploads) are tried at
most ``max_retries + 1`` times on 429/503/504 and connection errors, honouring Retry-After,
each attempt a fresh request through the whole pipeline (kiota's RetryHandler is off).
Sends (mail, channel posts, webhooks) get one attempt, because only the outbox may decide
to send again; a send whose answer was lost is ``uncertain``. Every failure is translated
in ``errors``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_any,
)
from tenacity.stop import stop_base

from automation.backends.graph import errors
from automation.backends.graph.tls import context
from automation.config.models import ChannelFile, DriveFile, FileRef, GraphLimits, SiteFile
from automation.errors import ConfigError, TransientError
from automation.metrics import METRICS

SIMPLE_UPLOAD_LIMIT = 4 * 1024 * 1024
UPLOAD_CHUNK = 32 * 320 * 1024  # 10 MiB: a multiple of 320 KiB under 60 MiB, as sessions require
READ = "Sites.Selected (read) on the site"
# What a workbook download reads from its item, in the same request as the eTag check; the
# parentReference (driveitem-get.md, resources/itemreference.md: driveId, id) is the folder
# the report is uploaded to, so a {drive_id, item_id} workbook's folder costs no request
DOWNLOAD_SELECT = "eTag,webUrl,@microsoft.graph.downloadUrl,parentReference"
WRITE = "Sites.Selected (write) on the site"


class Lookups(Protocol):
    """Where lookups are kept across runs (the state database)."""

    def lookup(self, key: str) -> str | None:
        """The remembered value, if any."""
        ...

    def remember(self, key: str, value: str, now: datetime) -> None:
        """Keep a value for later runs."""
        ...

    def forget(self, key: str) -> None:
        """Drop a stale value."""
        ...


class TokenSource(Protocol):
    """Something that gives a bearer token for Graph."""

    async def token(self) -> str:
        """A valid access token."""
        ...


@dataclass
class StaticToken:
    """A fixed token (``access_token`` auth, tests)."""

    value: str

    async def token(self) -> str:
        """The token as configured."""
        return self.value


class CredentialToken:
    """Tokens from an azure-identity credential, cached until shortly before expiry."""

    def __init__(
        self,
        credential: Any,
        *scopes: str,
        app: errors.AppCredential | None = None,
        **options: Any,
    ) -> None:
        self._credential = credential
        self._scopes = scopes
        self._app = app or errors.AppCredential("managed_identity")
        self._options = options  # e.g. enable_cae for the delegated service account
        self._value = ""
        self._expires = 0.0

    @property
    def expires_at(self) -> float:
        """When the cached token expires (POSIX seconds; 0 before the first token)."""
        return self._expires

    async def token(self) -> str:
        """A cached token, refreshed five minutes before it expires."""
        if time.time() > self._expires - 300:
            access = await asyncio.to_thread(self._get)
            self._value, self._expires = access.token, float(access.expires_on)
        return self._value

    async def token_with_claims(self, claims: str) -> str:
        """A new token carrying the claims a challenge asked for (the cache is bypassed)."""
        access = await asyncio.to_thread(self._get, claims)
        self._value, self._expires = access.token, float(access.expires_on)
        return self._value

    def _ask(self, claims: str | None) -> Any:
        """The credential's token for our scopes (with ``claims``, a challenge's)."""
        options = {**self._options, "claims": claims} if claims else self._options
        return self._credential.get_token(*self._scopes, **options)

    def _get(self, claims: str | None = None) -> Any:
        """Ask the credential (in a worker thread: azure-identity blocks); map its failures."""
        try:
            return self._ask(claims)
        except Exception as err:
            mapped = errors.from_credential_error(err, self._app)
            if mapped is None:
                raise
            raise mapped from err


@dataclass(frozen=True)
class RetryPolicy:
    """How the one retry engine waits between attempts (data, so tests can make it instant).

    Without a Retry-After, the n-th wait is ``first_wait * 2**(n-1)``, at most ``max_wait``.
    """

    first_wait: float = 1.0
    max_wait: float = 30.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


@dataclass(frozen=True)
class Download:
    """A workbook download: ``data`` is None when the eTag matched (304)."""

    etag: str
    data: bytes | None
    web_url: str | None = None  # the item's webUrl, once read (see download_if_changed)


class MeteredTransport(httpx.AsyncBaseTransport):
    """Counts every HTTP exchange on the wire (retries and redirect hops included)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send through the real transport and count the outcome."""
        response = await self.inner.handle_async_request(request)
        METRICS.graph_requests += 1
        if response.status_code in (429, 503):
            METRICS.throttled_responses += 1
            wait = errors.retry_after_seconds(response.headers.get("Retry-After"))
            METRICS.throttle_wait_seconds += wait or 0.0
        return response

    async def aclose(self) -> None:
        """Close the real transport."""
        await self.inner.aclose()


def _scrub_on_every_redirect(request: httpx.Request, _original: httpx.URL) -> None:
    """Drop the token and cookies from every redirected request, not only across origins.

    The one redirect Graph documents for our calls is ``/content``'s 302 to a preauthenticated
    download URL, which "don't require an Authorization header" (driveitem-get-content.md);
    kiota's default keeps the header when that URL is on the same host and port as Graph.
    """
    request.headers.pop("Authorization", None)
    request.headers.pop("Cookie", None)


def _claims_challenge(response: httpx.Response) -> str | None:
    """The claims a 401's (or 403's) ``WWW-Authenticate`` challenge asks for, decoded, or None.

    Graph sends ``Bearer ..., error="insufficient_claims", claims="<base64>"`` to a client that
    declared CAE when a token was revoked or a Conditional Access policy changed; the client
    asks for a new token with those claims and sends the request again (Entra ID's
    claims-challenge page, as kiota's request adapter does it). errors.md: Conditional
    Access may answer such a challenge with 403 instead.
    """
    if response.status_code not in (401, 403):
        return None
    found = re.search(r'claims="([^"]+)"', response.headers.get("WWW-Authenticate", ""))
    if found is None:
        return None
    try:
        return base64.b64decode(found[1] + "=" * (-len(found[1]) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def default_scope(base_url: str) -> str:
    """The .default scope of the Graph host in ``base_url``."""
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}/.default"


RETRIED_STATUSES = frozenset({429, 503, 504})
# Connection failures worth another attempt of an idempotent request (timeouts are not:
# each already took up to 100 s).
RETRIED_ERRORS: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)
LONG_WAIT = 180.0  # a Retry-After this long is not waited out in a run: the run ends transient


def _parent_key(ref: DriveFile) -> str:
    """Where a {drive_id, item_id} workbook's folder (drive id, folder id) is remembered."""
    return f"graph:parent:{ref.drive_id}/{ref.item_id}"


def _next_expected(ranges: object, total: int) -> int:
    """The first byte the upload session still expects ("26-" or "26-99" -> 26)."""
    if isinstance(ranges, list) and ranges:
        head = str(ranges[0]).split("-", 1)[0]
        if head.isdigit():
            return int(head)
    return total  # nothing missing that the server says: the final PUT tells


class _BusyError(Exception):
    """A response the retry engine may try again (429, 503, 504)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _asked_wait(state: RetryCallState) -> float | None:
    """The Retry-After of the last attempt's response, if it gave one."""
    outcome = state.outcome
    failure = outcome.exception() if outcome is not None else None
    if isinstance(failure, _BusyError):
        return errors.retry_after_seconds(failure.response.headers.get("Retry-After"))
    return None


def _wait(policy: RetryPolicy, state: RetryCallState) -> float:
    """Graph's Retry-After when it gave one, else exponential backoff."""
    asked = _asked_wait(state)
    if asked is not None:
        return asked
    return float(min(policy.max_wait, policy.first_wait * 2 ** (state.attempt_number - 1)))


class _LongWait(stop_base):
    """Stop at once when Graph asks for a wait too long for a run."""

    def __call__(self, retry_state: RetryCallState) -> bool:
        asked = _asked_wait(retry_state)
        return asked is not None and asked >= LONG_WAIT


def _as_httpx(exc: Exception) -> Exception:
    """A socket error that escaped httpx's own mapping, as the transport error it is."""
    return exc if isinstance(exc, httpx.HTTPError) else httpx.TransportError(str(exc))


class GraphGateway:
    """Plain-named Graph operations used by the backend adapters."""

    def __init__(
        self,
        base_url: str,
        tokens: TokenSource,
        *,
        limits: GraphLimits | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        lookups: Lookups | None = None,
    ) -> None:
        from kiota_http.middleware.options import (  # noqa: PLC0415
            RedirectHandlerOption,
            RetryHandlerOption,
        )
        from msgraph_core import GraphClientFactory  # noqa: PLC0415

        self.base_url = base_url.rstrip("/")
        self.limits = limits or GraphLimits()
        self._tokens = tokens
        # kiota's RetryHandler is switched off: our retry engine alone decides (one layer),
        # and each of its attempts is a fresh request through the whole middleware pipeline.
        # Its RedirectHandler follows redirects without the token (_scrub_on_every_redirect).
        self._options: dict[str, Any] = {
            RetryHandlerOption.get_key(): RetryHandlerOption(max_retries=0, should_retry=False),
            RedirectHandlerOption.get_key(): RedirectHandlerOption(
                scrub_sensitive_headers=_scrub_on_every_redirect
            ),
        }
        client = httpx.AsyncClient(
            base_url=self.base_url,
            transport=MeteredTransport(transport or httpx.AsyncHTTPTransport(verify=context())),
            timeout=httpx.Timeout(100, connect=30),
        )
        self._http: httpx.AsyncClient = GraphClientFactory.create_with_default_middleware(
            client=client, options=self._options
        )
        self._found: dict[str, tuple[str, str]] = {}  # remembered lookups by key
        self._lookups = lookups
        self._workbook_lock = asyncio.Lock()
        self._web_urls: dict[str, str] = {}  # a workbook's item path -> its webUrl
        self.requests = 0  # attempts sent (redirect hops not counted; METRICS counts the wire)
        self.last_date: tuple[str, datetime] | None = None  # (Date header, local time) last seen
        self.retry_policy = RetryPolicy()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        permission: str = READ,
        ok: Sequence[int] = (200,),
        retry: bool = True,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        auth: bool = True,
    ) -> httpx.Response:
        """Send one request; return the response if its status is in ``ok``, else raise mapped.

        ``retry``: an idempotent request, retried on 429/503/504 and connection errors, at
        most ``limits.max_retries + 1`` attempts. Without it, a send that only the outbox may
        repeat: one attempt, and once the request may have left this process any outcome
        but a definite answer raises :class:`UncertainError`.
        """
        # An item by path is root:/{item-path} (driveitem-get.md): the closing colon only
        # separates a further segment (":/content"), so none is sent when nothing follows.
        url = path if path.startswith(("http://", "https://")) else self.base_url + path.rstrip(":")

        async def attempt(number: int, token: str | None = None) -> httpx.Response:
            all_headers = dict(headers or {})
            if auth:
                all_headers["Authorization"] = f"Bearer {token or await self._tokens.token()}"
            if number > 1:
                all_headers["Retry-Attempt"] = str(number - 1)
            request = self._http.build_request(
                method, url, headers=all_headers, json=json, content=content, params=params
            )
            request.extensions["kiota_request_options"] = dict(self._options)
            self.requests += 1
            response = await self._http.send(request)
            claims = _claims_challenge(response) if auth and token is None else None
            renew = getattr(self._tokens, "token_with_claims", None)
            if claims is None or renew is None:
                return response
            # A 401/403 refused the request before acting on it, so even a send goes once more
            await response.aclose()
            return await attempt(number, await renew(claims))

        try:
            response = await (self._retrying(attempt) if retry else attempt(1))
        except (httpx.HTTPError, OSError) as exc:
            if retry:
                raise errors.from_exception(_as_httpx(exc), what=what) from exc
            raise errors.from_send_exception(exc, what=what) from exc
        if "Date" in response.headers:  # Graph's clock, for `automation doctor`
            self.last_date = (response.headers["Date"], datetime.now(UTC))
        if response.status_code in ok:
            return response
        code, detail = errors.odata_error(response)
        if not retry and response.status_code in errors.AMBIGUOUS_STATUSES:
            raise errors.uncertain_status(response.status_code, what=what, code=code, detail=detail)
        raise errors.from_status(
            response.status_code,
            what=what,
            permission=permission,
            code=code,
            detail=detail,
            retry_after=response.headers.get("Retry-After"),
            request_id=errors.request_id(response),
        )

    async def pages(
        self,
        path: str,
        *,
        what: str,
        permission: str = READ,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """The results of a collection page by page, following every ``@odata.nextLink``
        (paging.md: a page "may contain zero or more results", and the link carries the
        whole query, so the parameters go with the first request only)."""
        url = path
        page_params = params
        followed: set[str] = set()
        while url:
            response = await self.request(
                "GET", url, what=what, permission=permission, params=page_params, headers=headers
            )
            body = response.json()
            yield list(body.get("value", []))
            followed.add(url)
            url = str(body.get("@odata.nextLink") or "")
            page_params = None
            if url in followed:  # a link back to a page read: following it never ends
                raise TransientError(
                    f"{what}: Graph's @odata.nextLink pointed back to a page already read; "
                    "the results are incomplete, so the next run reads them again"
                )

    async def results(
        self,
        path: str,
        *,
        what: str,
        permission: str = READ,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Every result of a collection, all its pages read (``pages``)."""
        found: list[dict[str, Any]] = []
        async for page in self.pages(
            path, what=what, permission=permission, params=params, headers=headers
        ):
            found.extend(page)
        return found

    async def rest_of(
        self, first: httpx.Response, *, what: str, permission: str = READ
    ) -> list[dict[str, Any]]:
        """Every result of a collection whose first page ``first`` was read already (with a
        404 allowed, say): its ``value`` and the pages its ``@odata.nextLink`` leads to
        (paging.md: "To read all results, you must continue to call Microsoft Graph with the
        @odata.nextLink property returned in each response")."""
        body = first.json()
        found = list(body.get("value", []))
        link = body.get("@odata.nextLink")
        if link:
            found.extend(await self.results(str(link), what=what, permission=permission))
        return found

    async def _retrying(
        self, attempt: Callable[[int], Awaitable[httpx.Response]]
    ) -> httpx.Response:
        """The one retry engine: up to ``max_retries + 1`` attempts, waits per Retry-After."""
        policy = self.retry_policy
        number = 0
        try:
            async for trying in AsyncRetrying(
                stop=stop_any(stop_after_attempt(self.limits.max_retries + 1), _LongWait()),
                wait=partial(_wait, policy),
                retry=retry_if_exception_type((_BusyError, *RETRIED_ERRORS)),
                sleep=policy.sleep,
                reraise=True,
            ):
                with trying:
                    number += 1
                    response = await attempt(number)
                    if response.status_code in RETRIED_STATUSES:
                        raise _BusyError(response)
        except _BusyError as busy:
            return busy.response  # the retries are spent (or Graph asked for too long a wait)
        return response

    # files -----------------------------------------------------------------
    async def content_path(self, ref: FileRef) -> str:
        """The Graph path of a file's item (resolving a channel's folder once)."""
        if isinstance(ref, DriveFile):
            return f"/drives/{quote(ref.drive_id)}/items/{quote(ref.item_id)}"
        if isinstance(ref, SiteFile):
            return f"/sites/{quote(ref.site_id)}/drive/root:/{quote(ref.path.strip('/'))}:"
        if isinstance(ref, ChannelFile):
            drive, folder = await self.channel_folder(ref.team_id, ref.channel_id)
            return f"/drives/{quote(drive)}/items/{quote(folder)}:/{quote(ref.path.strip('/'))}:"
        raise ConfigError(f"the Graph backend needs a file reference, not the path {ref!r}")

    async def channel_folder(self, team_id: str, channel_id: str) -> tuple[str, str]:
        """(drive id, folder item id) of a channel's files, looked up once and remembered."""

        async def ask() -> tuple[str, str]:
            response = await self.request(
                "GET",
                f"/teams/{quote(team_id)}/channels/{quote(channel_id)}/filesFolder",
                what=f"find the files folder of channel {channel_id}",
                permission="Files.Read.All (application) to look up a channel's folder",
            )
            item = response.json()
            return item["parentReference"]["driveId"], item["id"]

        return await self._remembered(f"graph:filesFolder:{team_id}/{channel_id}", ask)

    async def _remembered(
        self, key: str, ask: Callable[[], Awaitable[tuple[str, str]]]
    ) -> tuple[str, str]:
        """A pair looked up once per installation: in memory, then the state, then Graph."""
        if key not in self._found and self._lookups is not None:
            stored = self._lookups.lookup(key)
            if stored is not None:
                first, second = json.loads(stored)
                self._found[key] = (str(first), str(second))
        if key not in self._found:
            self._found[key] = await ask()
            if self._lookups is not None:
                self._lookups.remember(key, json.dumps(list(self._found[key])), datetime.now(UTC))
        return self._found[key]

    def _forget_folder(self, ref: FileRef) -> bool:
        """Forget a remembered folder (it may have moved); True if there was one."""
        if isinstance(ref, ChannelFile):
            key = f"graph:filesFolder:{ref.team_id}/{ref.channel_id}"
        elif isinstance(ref, DriveFile):
            key = _parent_key(ref)
        else:
            return False
        if self._lookups is not None:
            self._lookups.forget(key)
        return self._found.pop(key, None) is not None

    async def download_if_changed(
        self, ref: FileRef, etag: str | None, arriving: Callable[[], None] | None = None
    ) -> Download:
        """Download a file unless its eTag still equals ``etag`` (then one 304 request).

        A workbook not found under a remembered channel folder is looked for once more
        after looking the folder up again (a channel renamed or moved keeps working).

        The conditional request is the item's own (driveitem-get.md: ``if-none-match`` with
        the eTag, 304 when it matches), selecting ``eTag``, ``webUrl``,
        ``@microsoft.graph.downloadUrl`` and ``parentReference`` (a {drive_id, item_id}
        workbook's folder, remembered for the upload next to it); a changed workbook is then
        fetched from that preauthenticated URL, without the token (driveitem-get-content.md:
        the URL ``/content`` redirects to; a URL refused with 401/403, expired, is replaced
        through ``/content``). Two requests for a new version, as ``/content`` and its
        redirect were, and the item's web address comes with the first: no third request.
        An unchanged workbook costs one 304, or one 200 with the same eTag where a server
        ignores the precondition; a 304 reports the web address read last in this process.
        ``arriving()`` is called when the item's eTag shows a new version, before it is
        downloaded (the caller gets ready while it transfers).
        """
        try:
            return await self._download_if_changed(ref, etag, arriving)
        except ConfigError:
            if not self._forget_folder(ref):
                raise
            return await self._download_if_changed(ref, etag, arriving)

    async def _download_if_changed(
        self, ref: FileRef, etag: str | None, arriving: Callable[[], None] | None
    ) -> Download:
        base = await self.content_path(ref)
        headers = {"If-None-Match": etag} if etag else {}
        async with self._workbook_lock:  # one request at a time per workbook
            meta = await self.request(
                "GET",
                base,
                what="download the workbook",
                ok=(200, 304),
                headers=headers,
                # "select", as driveitem-get-content.md writes it: with "$select" Graph has
                # been seen to leave the annotation out (microsoft-graph-docs-contrib#1387)
                params={"select": DOWNLOAD_SELECT},
            )
            if meta.status_code == 304:
                return Download(etag or "", None, self._web_urls.get(base))
            found = meta.json()
            await self._learn_folder(ref, found)
            new_tag = str(found.get("eTag") or meta.headers.get("ETag") or "")
            web_url = str(found.get("webUrl") or "")
            self._web_urls[base] = web_url
            if etag and new_tag == etag:
                return Download(etag, None, web_url or None)
            if arriving is not None:
                arriving()
            url = found.get("@microsoft.graph.downloadUrl")
            response = None
            if isinstance(url, str) and url:  # it carries its own authorization
                response = await self.request(
                    "GET", url, what="download the workbook", ok=(200, 401, 403), auth=False
                )
            if response is None or response.status_code != 200:
                # no download URL in the answer, or it was refused: preauthenticated URLs are
                # "only valid for a short period of time (a few minutes)"
                # (driveitem-get-content.md), so /content redirects to a fresh one
                response = await self.request(
                    "GET", base + "/content", what="download the workbook"
                )
        return Download(new_tag, response.content, web_url or None)

    async def _learn_folder(self, ref: FileRef, item: Mapping[str, Any]) -> None:
        """Remember a {drive_id, item_id} workbook's folder from its item's own answer.

        The upload next to it then asks for no folder. A workbook moved to another folder is
        followed there (the folder remembered before may still exist: its reports would stay
        behind); an answer without a whole parentReference leaves the lookup to
        ``_parent_path``, and an upload that finds the folder gone looks it up again. A channel's workbook is left
        alone: its folder is the channel's filesFolder plus the path's sub-folders, looked up
        before the download to address it, which its item's parent is not when the path has
        folders; a site's workbook is addressed by path.
        """
        if not isinstance(ref, DriveFile):
            return
        parent = item.get("parentReference")
        if not isinstance(parent, Mapping):
            return
        drive, folder = parent.get("driveId"), parent.get("id")
        if not (isinstance(drive, str) and drive and isinstance(folder, str) and folder):
            return
        pair = (drive, folder)

        async def answered() -> tuple[str, str]:
            return pair

        key = _parent_key(ref)
        if await self._remembered(key, answered) != pair:  # moved: the reports follow it
            self._found[key] = pair
            if self._lookups is not None:
                self._lookups.remember(key, json.dumps(list(pair)), datetime.now(UTC))

    async def upload_next_to(
        self, ref: FileRef, name: str, data: bytes, conflict: str = "replace"
    ) -> str:
        """Upload ``data`` as ``name`` into the folder of ``ref``; return its web URL.

        A remembered folder that is gone is looked up again once.
        """
        try:
            return await self._upload_next_to(ref, name, data, conflict)
        except ConfigError:
            if not self._forget_folder(ref):
                raise
            return await self._upload_next_to(ref, name, data, conflict)

    async def path_next_to(self, ref: FileRef, name: str) -> str:
        """The Graph path of the item ``name`` in the folder of ``ref`` (as uploaded there)."""
        parent, folder = await self._parent_path(ref)
        return f"{parent}:/{quote(f'{folder}/{name}' if folder else name)}:"

    async def _upload_next_to(self, ref: FileRef, name: str, data: bytes, conflict: str) -> str:
        target = await self.path_next_to(ref, name)
        params = {"@microsoft.graph.conflictBehavior": conflict}
        if len(data) <= SIMPLE_UPLOAD_LIMIT:
            response = await self.request(
                "PUT",
                target + "/content",
                what=f"upload {name}",
                permission=WRITE,
                ok=(200, 201),
                content=data,
                params=params,
                headers={"Content-Type": "application/octet-stream"},
            )
            return str(response.json().get("webUrl", ""))
        for _ in range(2):  # a session that vanished mid-way is started over once
            session = await self.request(
                "POST",
                target + "/createUploadSession",
                what=f"start uploading {name}",
                permission=WRITE,
                json={"item": {"@microsoft.graph.conflictBehavior": conflict}},
            )
            result = await self.put_ranges(session.json()["uploadUrl"], name, data)
            if result is not None:
                return str(result.json().get("webUrl", ""))
            landed = await self._landed(target, name, data)
            if landed is not None:
                return landed
        raise TransientError(
            f"upload {name}: the upload session ended before the file was complete, twice; "
            "the next run uploads it again"
        )

    async def put_ranges(
        self,
        upload_url: str,
        name: str,
        data: bytes,
        *,
        chunk_size: int | None = None,
        done: Sequence[int] = (200, 201),
    ) -> httpx.Response | None:
        """PUT the ranges an upload session still expects, in order; the final response
        (``done``: drives answer 200/201, Outlook 201), or None when the session is gone
        (404: expired, or completed by a fragment whose reply was lost). A fragment the
        server already has (416) resumes from nextExpectedRanges."""
        size = chunk_size or UPLOAD_CHUNK
        start = 0
        for _ in range(3 * (len(data) // size + 1) + 3):  # resumes are bounded too
            if start >= len(data):
                return None  # the session expects nothing more yet never completed
            chunk = data[start : start + size]
            end = start + len(chunk) - 1
            response = await self.request(
                "PUT",
                upload_url,
                what=f"upload {name} (bytes {start}-{end})",
                permission=WRITE,
                ok=(200, 201, 202, 404, 416),
                content=chunk,
                auth=False,  # the upload URL carries its own auth
                headers={  # outlook-large-attachments.md lists all three as required
                    "Content-Range": f"bytes {start}-{end}/{len(data)}",
                    "Content-Length": str(len(chunk)),
                    "Content-Type": "application/octet-stream",
                },
            )
            if response.status_code in done:
                return response
            if response.status_code == 404:
                return None
            if response.status_code == 416:  # already received: ask where to go on
                response = await self.request(
                    "GET",
                    upload_url,
                    what=f"ask which bytes of {name} are missing",
                    permission=WRITE,
                    ok=(200, 404),
                    auth=False,
                )
                if response.status_code == 404:
                    return None
            start = _next_expected(response.json().get("nextExpectedRanges"), len(data))
        raise TransientError(
            f"upload {name}: the upload session kept asking for the same bytes; the next run "
            "uploads it again"
        )

    async def _landed(self, target: str, name: str, data: bytes) -> str | None:
        """The file's web URL if what is stored at ``target`` is exactly ``data`` (a final
        fragment whose reply was lost), else None. Size first; content only if it matches."""
        try:
            meta = await self.request(
                "GET",
                target,
                what=f"check whether {name} arrived",
                params={"$select": "size,webUrl"},
            )
        except ConfigError:  # not there (404)
            return None
        if meta.json().get("size") != len(data):
            return None
        stored = await self.request("GET", target + "/content", what=f"compare {name}")
        return str(meta.json().get("webUrl", "")) if stored.content == data else None

    async def _parent_path(self, ref: FileRef) -> tuple[str, str]:
        """(item path of the folder root, sub-folder path inside it) of the file's folder."""
        if isinstance(ref, ChannelFile):
            drive, folder = await self.channel_folder(ref.team_id, ref.channel_id)
            inner = "/".join(ref.path.strip("/").split("/")[:-1])
            return f"/drives/{quote(drive)}/items/{quote(folder)}", inner
        if isinstance(ref, SiteFile):
            inner = "/".join(ref.path.strip("/").split("/")[:-1])
            return f"/sites/{quote(ref.site_id)}/drive/root", inner
        if isinstance(ref, DriveFile):

            async def ask() -> tuple[str, str]:
                meta = await self.request(
                    "GET",
                    f"/drives/{quote(ref.drive_id)}/items/{quote(ref.item_id)}",
                    what="find the workbook's folder",
                    params={"$select": "parentReference"},
                )
                parent = meta.json()["parentReference"]
                return parent["driveId"], parent["id"]

            drive, folder = await self._remembered(_parent_key(ref), ask)
            return f"/drives/{quote(drive)}/items/{quote(folder)}", ""
        raise ConfigError(f"the Graph backend needs a file reference, not the path {ref!r}")

    # lists -----------------------------------------------------------------
    async def list_columns(self, site_id: str, list_id: str) -> list[tuple[str, str]]:
        """(internal name, display name) of every column of a list."""
        columns = await self.results(
            f"/sites/{quote(site_id)}/lists/{quote(list_id)}/columns",
            what=f"read the columns of list {list_id}",
            params={"$select": "name,displayName"},
        )
        return [(c["name"], c.get("displayName") or c["name"]) for c in columns]

    def remembered_columns(self, site_id: str, list_id: str) -> list[tuple[str, str]] | None:
        """The list's (internal, display) column names as last read, if remembered."""
        stored = (
            self._lookups.lookup(f"graph:columns:{site_id}/{list_id}") if self._lookups else None
        )
        return None if stored is None else [(str(a), str(b)) for a, b in json.loads(stored)]

    def remember_columns(
        self, site_id: str, list_id: str, columns: Sequence[tuple[str, str]]
    ) -> None:
        """Keep the list's column names, so later reads skip the columns request."""
        if self._lookups is not None:
            key = f"graph:columns:{site_id}/{list_id}"
            self._lookups.remember(key, json.dumps([list(c) for c in columns]), datetime.now(UTC))

    def forget_columns(self, site_id: str, list_id: str) -> None:
        """Drop remembered column names that turned out stale."""
        if self._lookups is not None:
            self._lookups.forget(f"graph:columns:{site_id}/{list_id}")

    async def list_items(
        self,
        site_id: str,
        list_id: str,
        fields: Sequence[str],
        *,
        filter_: str | None = None,
        indexed: bool = True,
    ) -> list[dict[str, Any]]:
        """Every item with only ``fields`` (internal names), following every nextLink."""
        params = {"expand": f"fields(select={','.join(fields)})"}
        headers = {}
        if filter_:
            params["$filter"] = filter_
            if not indexed:
                headers["Prefer"] = "HonorNonIndexedQueriesWarningMayFailRandomly"
        return await self.results(
            f"/sites/{quote(site_id)}/lists/{quote(list_id)}/items",
            what=f"read the items of list {list_id}",
            params=params,
            headers=headers,
        )

    # mail and Teams ------------------------------------------------------------
    async def send_mail(self, mailbox: str, message: Mapping[str, Any]) -> None:
        """Send one mail as ``mailbox`` (never retried here: the outbox decides)."""
        await self.request(
            "POST",
            f"/users/{quote(mailbox)}/sendMail",
            what=f"send mail as {mailbox}",
            permission=f"Mail.Send (application) for the mailbox {mailbox}",
            ok=(202,),
            retry=False,
            json={"message": message},  # saved to Sent Items by default: the crash check needs it
        )

    async def sent_with_property(self, mailbox: str, property_id: str, value: str) -> bool:
        """Whether Sent Items holds a message whose extended property ``property_id`` is ``value``."""
        escaped = value.replace("'", "''")
        async for page in self.pages(  # every page: an empty first one is not "not sent"
            f"/users/{quote(mailbox)}/mailFolders/SentItems/messages",
            what=f"look for a sent message in {mailbox}",
            permission=f"Mail.Read (application) for {mailbox}",
            params={
                "$filter": "singleValueExtendedProperties/Any(ep: ep/id eq "
                f"'{property_id}' and ep/value eq '{escaped}')",
                "$select": "id",
            },
        ):
            if page:
                return True
        return False

    async def post_channel_message(
        self, team_id: str, channel_id: str, payload: Mapping[str, Any]
    ) -> str:
        """Post a channel message (delegated service account); return its id."""
        response = await self.request(
            "POST",
            f"/teams/{quote(team_id)}/channels/{quote(channel_id)}/messages",
            what=f"post to channel {channel_id}",
            permission="ChannelMessage.Send (delegated) for the service account",
            ok=(201,),
            retry=False,
            json=payload,
        )
        return str(response.json().get("id", ""))

    async def channel_has_message(
        self, team_id: str, channel_id: str, text: str, newest: int = 50
    ) -> bool:
        """Whether one of the channel's ``newest`` root messages contains ``text`` (read page
        by page until that many were seen: a page may hold fewer than ``$top``)."""
        seen = 0
        async for page in self.pages(
            f"/teams/{quote(team_id)}/channels/{quote(channel_id)}/messages",
            what=f"look for a post in channel {channel_id}",
            permission="ChannelMessage.Read.All (delegated) for the service account",
            params={"$top": str(newest)},
        ):
            if any(text in str((m.get("body") or {}).get("content", "")) for m in page):
                return True
            seen += len(page)
            if seen >= newest:
                break
        return False

    async def post_webhook(self, url: str, card: Mapping[str, Any]) -> None:
        """Post an Adaptive Card to a Teams Workflows webhook (its URL carries the auth)."""
        body = {
            "type": "message",
            "attachments": [
                {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
            ],
        }
        await self.request(
            "POST",
            url,
            what="post to the Teams webhook",
            permission="a valid webhook URL",
            ok=(200, 202),
            retry=False,
            json=body,
            auth=False,
        )
