"""A fake Microsoft Graph v1.0 for tests: a starlette app with seeded state, faults and a call log.

The fake serves the endpoints this project uses, with the wire shapes of the Microsoft Graph
reference pages (microsoftgraph/microsoft-graph-docs-contrib, ``api-reference/v1.0/api/``):

============================================================  ====================================
request                                                       page
============================================================  ====================================
GET  /drives/{d}/items/{i}, /drives/{d}/root:/{path}[:]        driveitem-get.md
GET  .../content -> 302 to a preauthenticated URL, or 304      driveitem-get-content.md
GET  /teams/{t}/channels/{c}/filesFolder                       channel-get-filesfolder.md
PUT  /drives/{d}/items/{parent}:/{name}:/content               driveitem-put-content.md
POST .../{name}:/createUploadSession, PUT {uploadUrl}          driveitem-createuploadsession.md
GET  /sites/{s}/lists/{l}/columns                              list-list-columns.md
GET  /sites/{s}/lists/{l}/items?expand=fields(select=...)      listitem-list.md
POST /users/{u}/sendMail -> 202                                user-sendmail.md
GET  /users/{u}/mailFolders/SentItems/messages?$filter=...     singlevaluelegacyextendedproperty-get.md
POST|GET /teams/{t}/channels/{c}/messages                      chatmessage-post.md, channel-list-messages.md
============================================================  ====================================

Items can also be addressed as ``/sites/{s}/drive/...`` once :meth:`FakeGraph.set_site_drive`
names the site's default drive. A Teams Workflows webhook stand-in answers
``POST /webhooks/{id}`` (and the Logic Apps form ``/workflows/{id}/triggers/manual/paths/invoke``).

Errors carry the OData body of ``concepts/errors.md``::

    {"error": {"code": ..., "message": ..., "innerError": {"date", "request-id", "client-request-id"}}}

and every response carries ``request-id`` and ``client-request-id`` headers.

Every ``/v1.0`` path needs ``Authorization: Bearer <token>`` (``FakeGraph(token=...)``, default
``test-token``). The preauthenticated download and upload URLs and the webhooks need none; calls
to them that carry one are listed by :meth:`FakeGraph.authorization_leaks`.

Preauthenticated URLs are on another origin: ``https://download.fake-sharepoint.test`` and
``https://upload.fake-sharepoint.test`` in process (``httpx.ASGITransport`` routes every host to
the app). Over loopback (:meth:`FakeGraph.serve`) a request to ``127.0.0.1`` gets URLs on
``localhost`` with the same port, and the other way round: a different origin that resolves to
the same server, so a correct client drops ``Authorization`` when it follows them.

Connection resets (:meth:`FakeGraph.reset_connection`): the server reads the whole request, then

* in process (``httpx.ASGITransport``), the app raises ``httpx.ReadError("[Errno 104] Connection
  reset by peer")``; the transport re-raises it from ``client.send`` with ``.request`` set, the
  same exception type the real httpx transport raises for ECONNRESET;
* over loopback (uvicorn), the server aborts the TCP connection with an RST (``SO_LINGER`` 0)
  before answering; httpx raises ``httpx.ReadError("[Errno 104] Connection reset by peer")``
  (seen every time on Linux). Code should catch ``httpx.TransportError``, which also covers
  ``RemoteProtocolError("Server disconnected without sending a response.")`` for a plain close.

Behaviour not stated by the reference pages is marked "(not documented)" where it is chosen.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import email
import email.policy
import itertools
import json
import mimetypes
import re
import socket
import struct
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Json = dict[str, Any]
Endpoint = Callable[[Request], Awaitable[Response]]

GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"
PREFIX = "/v1.0"
DOWNLOAD_ORIGIN = "https://download.fake-sharepoint.test"
UPLOAD_ORIGIN = "https://upload.fake-sharepoint.test"
WEBHOOK_ORIGIN = "https://workflows.fake-logic.test"
ODATA_JSON = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8"
)
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SIMPLE_UPLOAD_LIMIT = 4 * 1024 * 1024  # driveitem-put-content.md (newer versions say 250 MB)
WEBHOOK_LIMIT = 28 * 1024  # Teams incoming webhooks: 28 KB per message
LIST_PAGE_CAP = 200  # list item page size is not documented; configurable
CHANNEL_PAGE_DEFAULT, CHANNEL_PAGE_MAX = 20, 50  # channel-list-messages.md
MAIL_PAGE_DEFAULT = 10  # Outlook's default page size
PREFER_NON_INDEXED = "HonorNonIndexedQueriesWarningMayFailRandomly"
RESET_MESSAGE = "[Errno 104] Connection reset by peer"
CONFLICT_BEHAVIOR = "@microsoft.graph.conflictBehavior"
WWW_AUTHENTICATE = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize",'
    ' client_id="00000003-0000-0000-c000-000000000000"'
)
SENT_ITEMS_FOLDER_ID = "AAMkAGFAKE-SENTITEMS-FOLDER="
OTHER_WELL_KNOWN_FOLDERS = frozenset(
    {"inbox", "drafts", "deleteditems", "outbox", "junkemail", "archive", "msgfolderroot"}
)

DEFAULT_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalidRequest", "The request is malformed or incorrect."),
    401: ("InvalidAuthenticationToken", "Access token has expired or is not yet valid."),
    403: ("accessDenied", "The caller doesn't have permission to perform the action."),
    404: ("itemNotFound", "The resource could not be found."),
    405: ("invalidRequest", "The HTTP method in the request is not allowed on the resource."),
    409: ("nameAlreadyExists", "The specified item name already exists."),
    413: ("invalidRequest", "The request size exceeds the maximum limit."),
    416: ("invalidRange", "The specified byte range is invalid or unavailable."),
    423: ("resourceLocked", "The resource you are attempting to access is locked"),
    429: ("activityLimitReached", "The request has been throttled"),
    500: ("generalException", "An unspecified error has occurred."),
    503: (
        "serviceNotAvailable",
        "The service is not available. Try the request again after a delay.",
    ),
    504: ("gatewayTimeout", "The gateway did not receive a timely response."),
}

COLUMN_FACETS: dict[str, Json] = {
    "text": {
        "allowMultipleLines": False,
        "appendChangesToExistingText": False,
        "linesForEditing": 0,
        "maxLength": 255,
    },
    "choice": {"allowTextEntry": False, "choices": [], "displayAs": "dropDownMenu"},
    "number": {"decimalPlaces": "automatic", "displayAs": "number"},
    "dateTime": {"displayAs": "default", "format": "dateTime"},
    "boolean": {},
    "personOrGroup": {"allowMultipleSelection": False, "chooseFromType": "peopleOnly"},
}


# --------------------------------------------------------------------------------------------
# Records and state
# --------------------------------------------------------------------------------------------


@dataclass
class Call:
    """One request the fake received, for assertions (headers have lower-case names)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    url: str
    status: int | None = None  # None until answered; stays None for a reset connection

    def json(self) -> Any:
        """The request body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class DriveItem:
    """A file (``content`` is bytes) or folder (``content`` is None) in a drive."""

    drive_id: str
    item_id: str
    name: str
    parent_path: str  # "/" for children of the root, "" for the root itself
    content: bytes | None
    web_url: str
    created: datetime
    modified: datetime
    version: int = 1  # eTag: changes with metadata or content
    content_version: int = 1  # cTag: changes with content only

    @property
    def is_folder(self) -> bool:
        """Whether the item is a folder."""
        return self.content is None

    @property
    def path(self) -> str:
        """The item's path from the drive root, e.g. ``/General/book.xlsx`` ("/" for the root)."""
        return "/" if not self.parent_path else _join(self.parent_path, self.name)

    @property
    def guid(self) -> str:
        """A stable GUID for the item, as SharePoint tags carry."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.drive_id}/{self.item_id}")).upper()

    @property
    def e_tag(self) -> str:
        """The item's eTag (metadata and content)."""
        return f'"{{{self.guid}}},{self.version}"'

    @property
    def c_tag(self) -> str:
        """The item's cTag (content only)."""
        return f'"c:{{{self.guid}}},{self.content_version}"'

    @property
    def size(self) -> int:
        """The size of a file's content (0 for a folder)."""
        return len(self.content or b"")


@dataclass
class Drive:
    """A document library."""

    drive_id: str
    root_id: str
    items: dict[str, DriveItem] = field(default_factory=dict)


@dataclass
class ListItem:
    """A SharePoint list item: fields by internal column name."""

    item_id: str
    fields: dict[str, Any]
    web_url: str
    created: str
    modified: str
    version: int = 1


@dataclass
class SpList:
    """A SharePoint list with its column specs and items."""

    site_id: str
    list_id: str
    columns: list[Json]
    items: list[ListItem]

    def column(self, name: str) -> Json | None:
        """The column spec with this internal name."""
        return next((c for c in self.columns if c["name"] == name), None)


@dataclass
class Channel:
    """A team channel, its files folder and its posted messages (oldest first)."""

    team_id: str
    channel_id: str
    display_name: str
    drive_id: str
    folder_item_id: str
    messages: list[Json] = field(default_factory=list)


@dataclass
class SentMail:
    """A message accepted by sendMail."""

    mailbox: str
    message_id: str
    subject: str
    body: Json
    to: list[str]
    cc: list[str]
    bcc: list[str]
    attachments: list[Json]
    extended_properties: dict[str, str]  # property id -> value
    save_to_sent_items: bool
    sent_at: datetime
    raw: Json  # the message as posted, or {"mime": text} for MIME sends

    @property
    def recipients(self) -> list[str]:
        """Every recipient address (to, cc, bcc)."""
        return [*self.to, *self.cc, *self.bcc]


@dataclass
class UploadSession:
    """An upload session created by createUploadSession."""

    session_id: str
    drive_id: str
    path: str
    conflict: str
    expires: datetime
    received: bytearray = field(default_factory=bytearray)
    total: int | None = None


@dataclass
class WebhookPost:
    """One POST to a webhook stand-in, accepted (202) or not."""

    webhook_id: str
    body: bytes
    status: int

    @property
    def cards(self) -> list[Json]:
        """The adaptive cards of an accepted post."""
        if self.status != 202:
            return []
        return [a["content"] for a in json.loads(self.body)["attachments"]]


@dataclass
class Fault:
    """A queued failure (``status``) or connection reset (``status`` None)."""

    method: str
    pattern: re.Pattern[str]
    remaining: int | None
    status: int | None = None
    retry_after: int | str | None = None
    code: str | None = None
    message: str | None = None

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to the request."""
        return self.method in ("*", method) and self.pattern.search(path) is not None


class GraphError(Exception):
    """Raised by endpoints; rendered as an OData error response."""

    def __init__(
        self,
        status: int,
        code: str | None = None,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime, *, millis: bool = False) -> str:
    """A Graph timestamp: ``2026-10-03T01:07:14Z`` (or with milliseconds)."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{moment.microsecond // 1000:03d}Z" if millis else f"{text}Z"


def _segments(path: str) -> list[str]:
    return [part for part in path.split("/") if part]


def _join(parent: str, child: str) -> str:
    return "/" + "/".join([*_segments(parent), *_segments(child)])


def _path_key(path: str) -> tuple[str, ...]:
    """SharePoint paths compare case-insensitively."""
    return tuple(part.casefold() for part in _segments(path))


def _origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _mime_type(name: str) -> str:
    if name.lower().endswith(".xlsx"):
        return XLSX_MIME
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _skiptoken(last_id: str) -> str:
    raw = f"Paged=TRUE&p_ID={last_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _skiptoken_id(token: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise GraphError(400, message="The skip token is not valid.") from exc
    return dict(parse_qsl(raw)).get("p_ID", "")


def _id_order(item_id: str) -> tuple[int, str]:
    """List items page in ID order (numeric IDs first, numerically)."""
    return (int(item_id), "") if item_id.isdigit() else (1 << 62, item_id)


def _int_param(request: Request, *names: str) -> int | None:
    for name in names:
        raw = request.query_params.get(name)
        if raw is not None:
            if not raw.isdigit() or int(raw) < 1:
                raise GraphError(400, message=f"Invalid value '{raw}' for {name}.")
            return int(raw)
    return None


def _offset(request: Request, name: str) -> int:
    """A non-negative offset parameter ($skip, or the fake's numeric $skiptoken)."""
    raw = request.query_params.get(name, "0")
    if not raw.isdigit():
        raise GraphError(400, message=f"Invalid value '{raw}' for {name}.")
    return int(raw)


def _select(request: Request) -> list[str] | None:
    raw = request.query_params.get("$select") or request.query_params.get("select")
    return [name.strip() for name in raw.split(",") if name.strip()] if raw else None


def _next_link(request: Request, updates: Mapping[str, str]) -> str:
    """An absolute nextLink built from the request's own base URL."""
    params = {**dict(request.query_params), **updates}
    query = urlencode(params, quote_via=quote, safe="$(),=/:'@")
    return f"{_origin(request)}{quote(request.url.path, safe='/,:@!$')}?{query}"


def _odata_context(request: Request, fragment: str) -> str:
    return f"{_origin(request)}{PREFIX}/$metadata#{fragment}"


def _channel_fragment(channel: Channel) -> str:
    return f"teams('{quote(channel.team_id)}')/channels('{quote(channel.channel_id, safe='')}')"


def _none_match(request: Request, item: DriveItem) -> bool:
    """``If-None-Match`` with the item's current eTag or cTag (driveitem-get-content.md)."""
    tag = request.headers.get("if-none-match")
    if tag is None:
        return False
    tag = tag.strip().removeprefix("W/")
    return tag in (item.e_tag, item.c_tag)


def _item_properties(item: DriveItem) -> Json:
    """A driveItem's own properties: ids, tags, name, times, authors."""
    who = {"user": {"displayName": "Fake User", "email": "fake.user@contoso.test"}}
    created, modified = _iso(item.created), _iso(item.modified)
    properties: Json = {
        "createdDateTime": created,
        "eTag": item.e_tag,
        "id": item.item_id,
        "lastModifiedDateTime": modified,
        "name": item.name,
        "webUrl": item.web_url,
    }
    if not item.is_folder:
        properties["cTag"] = item.c_tag
    return properties | {
        "createdBy": who,
        "lastModifiedBy": who,
        "fileSystemInfo": {"createdDateTime": created, "lastModifiedDateTime": modified},
    }


def _renamed(name: str, attempt: int) -> str:
    stem, dot, suffix = name.rpartition(".")
    return f"{stem} {attempt}.{suffix}" if dot and stem else f"{name} {attempt}"


def _addresses(recipients: Any) -> list[str]:
    return [
        r["emailAddress"]["address"]
        for r in recipients or []
        if isinstance(r, dict) and isinstance(r.get("emailAddress"), dict)
    ]


def _recipients(addresses: Sequence[str]) -> list[Json]:
    return [{"emailAddress": {"name": a, "address": a}} for a in addresses]


def _property_key(prop_id: str) -> tuple[str, ...]:
    """Extended property ids: type and GUID compare case-insensitively, the Name exactly."""
    match = re.match(r"^(\S+)\s+(\{[^}]*\})\s+(Name|Id)\s+(.+)$", prop_id.strip(), re.IGNORECASE)
    if match is None:
        return (prop_id.strip(),)
    kind = match[3].lower()
    name = match[4] if kind == "name" else match[4].lower()
    return (match[1].lower(), match[2].lower(), kind, name)


def _unquote_literal(literal: str) -> str:
    return literal[1:-1].replace("''", "'")


# --------------------------------------------------------------------------------------------
# Query parsing
# --------------------------------------------------------------------------------------------

_ADDRESS = re.compile(r"^(?:items/(?P<item>[^/:]+)|(?P<root>root))(?P<after>.*)$")
_TAILS = ("", "/content", "/createUploadSession")
_EXPAND_FIELDS = re.compile(r"^fields(?:\(\s*\$?select=(?P<select>[^)]*)\))?$", re.IGNORECASE)
_FIELD_FILTER = re.compile(
    r"^fields/(?P<name>[A-Za-z0-9_]+)\s+eq\s+(?P<value>'(?:[^']|'')*'|-?\d+(?:\.\d+)?|true|false)$"
)
_LITERAL = r"'((?:[^']|'')*)'"
_EXTENDED_FILTER = re.compile(
    rf"^singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*\1/id\s+eq\s+{_LITERAL}"
    rf"\s+and\s+\1/value\s+eq\s+{_LITERAL}\s*\)$",
    re.IGNORECASE,
)
_EXTENDED_EXPAND = re.compile(
    rf"singleValueExtendedProperties(?:\(\s*\$filter=id\s+eq\s+{_LITERAL}\s*\))?", re.IGNORECASE
)
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


@dataclass(frozen=True)
class Address:
    """A driveItem address: an item (None: the root), a path below it, and a tail."""

    item_id: str | None
    rel_path: str
    tail: str


def parse_address(rest: str) -> Address | None:
    """Parse ``items/{id}[:/{path}[:]][/content|/createUploadSession]`` or ``root...``."""
    match = _ADDRESS.match(rest)
    if match is None:
        return None
    after, rel = match["after"], ""
    if after.startswith(":"):
        body = after[1:]
        rel, _, tail = body.rpartition(":") if ":" in body else (body, "", "")
    else:
        tail = after
    if tail not in _TAILS:
        return None
    return Address(None if match["root"] else match["item"], rel.strip("/"), tail)


def parse_fields_expand(expand: str | None) -> tuple[bool, list[str] | None]:
    """``fields`` / ``fields(select=A,B)`` -> (expanded, selected names or None for all)."""
    if not expand:
        return False, None
    match = _EXPAND_FIELDS.match(expand.strip())
    if match is None:
        raise GraphError(400, message=f"Parsing OData Select and Expand failed: '{expand}'.")
    if match["select"] is None:
        return True, None
    return True, [name.strip() for name in match["select"].split(",") if name.strip()]


def parse_field_filter(text: str) -> tuple[str, Any]:
    """``fields/X eq 'v'`` (or a number, true, false) -> (X, value)."""
    match = _FIELD_FILTER.match(text.strip())
    if match is None:
        raise GraphError(
            400, message=f"Invalid filter clause (fake Graph supports fields/X eq v): {text}"
        )
    value = match["value"]
    if value.startswith("'"):
        return match["name"], _unquote_literal(value)
    if value in ("true", "false"):
        return match["name"], value == "true"
    return match["name"], float(value)


def parse_extended_filter(text: str) -> tuple[str, str]:
    """``singleValueExtendedProperties/Any(ep: ep/id eq 'i' and ep/value eq 'v')`` -> (i, v)."""
    match = _EXTENDED_FILTER.match(text.strip())
    if match is None:
        raise GraphError(400, "BadRequest", f"Invalid filter clause: {text}")
    return match[2].replace("''", "'"), match[3].replace("''", "'")


def _field_matches(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, bool) or isinstance(value, bool):
        return value is wanted
    if isinstance(wanted, float):
        return isinstance(value, int | float) and float(value) == wanted
    return value is not None and str(value) == wanted


def column_definition(spec: Mapping[str, Any], list_id: str) -> Json:
    """A columnDefinition (list-list-columns.md) from ``dict(name, displayName, indexed, type)``."""
    name, kind = spec["name"], spec.get("type", "text")
    return {
        "columnGroup": "Custom Columns",
        "description": "",
        "displayName": spec.get("displayName", name),
        "enforceUniqueValues": False,
        "hidden": False,
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{list_id}/{name}")),
        "indexed": bool(spec.get("indexed", False)),
        "name": name,
        "readOnly": False,
        "required": False,
        kind: dict(COLUMN_FACETS.get(kind, {})),
    }


# --------------------------------------------------------------------------------------------
# ASGI plumbing
# --------------------------------------------------------------------------------------------


def odata_error(
    scope: Scope,
    status: int,
    code: str | None = None,
    message: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """An OData error response (concepts/errors.md) tagged with the request's ids."""
    default_code, default_message = DEFAULT_ERRORS.get(status, DEFAULT_ERRORS[500])
    state = scope.get("state", {})
    body = {
        "error": {
            "code": code or default_code,
            "message": message or default_message,
            "innerError": {
                "date": _utcnow().strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": state.get("request_id", ""),
                "client-request-id": state.get("client_request_id", ""),
            },
        }
    }
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type=ODATA_JSON
    )


def _json(body: Json, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=ODATA_JSON)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replaying_receive(body: bytes, receive: Receive) -> Receive:
    """A receive that yields the already-read body once, then defers to the server."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _stamping_send(send: Send, call: Call, request_id: str, client_request_id: str) -> Send:
    """A send that adds the Graph request ids and records the status in the call log."""

    async def stamped(message: Message) -> None:
        if message["type"] == "http.response.start":
            call.status = message["status"]
            headers = [
                *message.get("headers", []),
                (b"request-id", request_id.encode()),
                (b"client-request-id", client_request_id.encode("latin-1")),
            ]
            message = {**message, "headers": headers}
        await send(message)

    return stamped


def _call_from_scope(scope: Scope, body: bytes) -> Call:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    query_string = scope.get("query_string", b"").decode("latin-1")
    url = f"{scope['scheme']}://{headers.get('host', '')}{quote(scope['path'])}"
    return Call(
        method=scope["method"],
        path=scope["path"],
        query=dict(parse_qsl(query_string, keep_blank_values=True)),
        headers=headers,
        body=body,
        url=f"{url}?{query_string}" if query_string else url,
    )


async def _reset_connection(send: Send, receive: Receive) -> None:
    """Drop the connection: an RST under uvicorn, ``httpx.ReadError`` under ASGITransport."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        raise httpx.ReadError(RESET_MESSAGE)
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    while (await receive())["type"] != "http.disconnect":
        pass  # wait until uvicorn has seen the connection go, so it writes no 500


class _ThreadedServer(uvicorn.Server):
    """A uvicorn server that signals when it is listening."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


# --------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------


class FakeGraph:
    """State, fault injection and a call log behind a starlette app (``.app``)."""

    def __init__(
        self,
        *,
        token: str = "test-token",
        list_page_cap: int = LIST_PAGE_CAP,
        simple_upload_limit: int = SIMPLE_UPLOAD_LIMIT,
        download_origin: str | None = None,
        upload_origin: str | None = None,
    ) -> None:
        self.token = token
        self.list_page_cap = list_page_cap
        self.simple_upload_limit = simple_upload_limit
        self.download_origin = download_origin
        self.upload_origin = upload_origin
        self.latency = 0.0
        self.clock: Callable[[], datetime] = _utcnow
        self.channel_sender: dict[str, str] = {
            "id": "00000000-0000-0000-0000-00000000d201",
            "displayName": "Fake Automation",
        }
        self.calls: list[Call] = []
        self.drives: dict[str, Drive] = {}
        self.site_drives: dict[str, str] = {}
        self.lists: dict[tuple[str, str], SpList] = {}
        self.channels: dict[tuple[str, str], Channel] = {}
        self.users: dict[str, str] = {}
        self.sent_mail: list[SentMail] = []
        self.webhook_posts: list[WebhookPost] = []
        self.upload_sessions: dict[str, UploadSession] = {}
        self._downloads: dict[str, tuple[str, str]] = {}
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._last_message_id = 0

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await self._handle(scope, receive, send)

        self.app: ASGIApp = app  # a plain coroutine function, so servers detect ASGI 3
        self._router = Starlette(
            routes=self._routes(),
            exception_handlers={
                GraphError: self._on_graph_error,
                HTTPException: self._on_http_error,
            },
        )

    # ---- seeding ---------------------------------------------------------------------------

    def add_drive_item(
        self,
        drive_id: str,
        item_id: str,
        name: str,
        content: bytes,
        parent_path: str = "/General",
        web_url: str | None = None,
    ) -> DriveItem:
        """Add a file (its parent folders are created as needed)."""
        drive = self._drive(drive_id)
        if item_id in drive.items:
            raise ValueError(f"item {item_id} already exists in drive {drive_id}")
        parent = self._ensure_folder(drive, parent_path)
        return self._new_item(drive, parent.path, name, content, item_id=item_id, web_url=web_url)

    def add_folder(self, drive_id: str, item_id: str, path: str) -> DriveItem:
        """Add a folder with a chosen id (or give an existing folder at ``path`` that id)."""
        drive = self._drive(drive_id)
        folder = self._ensure_folder(drive, path)
        if folder.item_id != item_id:
            if item_id in drive.items:
                raise ValueError(f"item {item_id} already exists in drive {drive_id}")
            drive.items.pop(folder.item_id)
            folder.item_id = item_id
            drive.items[item_id] = folder
        return folder

    def set_content(self, drive_id: str, item_id: str, content: bytes) -> DriveItem:
        """Replace a file's content: both its eTag and cTag change."""
        item = self.drives[drive_id].items[item_id]
        item.content = content
        item.version += 1
        item.content_version += 1
        item.modified = self.clock()
        return item

    def touch(self, drive_id: str, item_id: str) -> DriveItem:
        """A metadata-only change: the eTag changes, the cTag does not."""
        item = self.drives[drive_id].items[item_id]
        item.version += 1
        item.modified = self.clock()
        return item

    def set_site_drive(self, site_id: str, drive_id: str) -> None:
        """Make ``/sites/{site_id}/drive/...`` address ``drive_id``."""
        self._drive(drive_id)
        self.site_drives[site_id] = drive_id

    def add_team_channel(
        self, team_id: str, channel_id: str, display_name: str, drive_id: str, folder_item_id: str
    ) -> Channel:
        """Add a channel whose files folder is ``/{display_name}`` in ``drive_id``."""
        self.add_folder(drive_id, folder_item_id, f"/{display_name}")
        channel = Channel(team_id, channel_id, display_name, drive_id, folder_item_id)
        self.channels[(team_id, channel_id)] = channel
        return channel

    def add_list(
        self, site_id: str, list_id: str, columns: list[Json], items: list[Json]
    ) -> SpList:
        """Add a list: column specs (name, displayName, indexed, type) and items by internal name.

        An item's ``id``, ``webUrl``, ``createdDateTime`` and ``lastModifiedDateTime`` keys are
        listItem properties; every other key is a field.
        """
        now = _iso(self.clock())
        rows = []
        for number, spec in enumerate(items, start=1):
            fields = dict(spec)
            item_id = str(fields.pop("id", number))
            default_url = (
                f"https://contoso.sharepoint.com/sites/fake/Lists/{list_id}/{item_id}_.000"
            )
            rows.append(
                ListItem(
                    item_id=item_id,
                    web_url=fields.pop("webUrl", default_url),
                    created=fields.pop("createdDateTime", now),
                    modified=fields.pop("lastModifiedDateTime", now),
                    fields=fields,
                )
            )
        sp_list = SpList(site_id, list_id, [dict(c) for c in columns], rows)
        self.lists[(site_id, list_id)] = sp_list
        return sp_list

    def add_user(self, user_id_or_upn: str) -> None:
        """Add a mailbox (ids and UPNs compare case-insensitively)."""
        self.users[user_id_or_upn.casefold()] = user_id_or_upn

    # ---- fault injection -------------------------------------------------------------------

    def fail(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        times: int | None = 1,
        retry_after: int | str | None = None,
        code: str | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests (None: all) with an OData error.

        ``method`` is an HTTP method or "*"; ``path_regex`` is searched in the decoded path
        (``/v1.0/...``, ``/download/...``). Default codes: 401 InvalidAuthenticationToken,
        403 accessDenied, 404 itemNotFound, 423 resourceLocked, 429 activityLimitReached,
        503 serviceNotAvailable, 504 gatewayTimeout. A 401 also carries WWW-Authenticate.
        """
        self._queue(
            Fault(method.upper(), re.compile(path_regex), times, status, retry_after, code, message)
        )

    def reset_connection(self, method: str, path_regex: str, times: int | None = 1) -> None:
        """Drop the connection of the next ``times`` matching requests (see the module notes)."""
        self._queue(Fault(method.upper(), re.compile(path_regex), times))

    def faults_pending(self) -> int:
        """How many queued faults have not been used up."""
        return len(self._faults)

    # ---- call log --------------------------------------------------------------------------

    def requests_to(self, path_regex: str, method: str | None = None) -> list[Call]:
        """Calls whose path matches ``path_regex`` (searched), optionally of one method."""
        pattern = re.compile(path_regex)
        return [
            c
            for c in self.calls
            if pattern.search(c.path) and (method is None or c.method == method.upper())
        ]

    @property
    def downloads(self) -> list[Call]:
        """Calls to preauthenticated download URLs."""
        return self.requests_to(r"^/download/")

    def authorization_leaks(self) -> list[Call]:
        """Calls to preauthenticated URLs or webhooks that carried an Authorization header."""
        return [
            c
            for c in self.requests_to(r"^/(download|upload|webhooks|workflows)/")
            if "authorization" in c.headers
        ]

    def cards(self, webhook_id: str | None = None) -> list[Json]:
        """Adaptive cards accepted by the webhook stand-in, oldest first."""
        return [
            card
            for post in self.webhook_posts
            if webhook_id is None or post.webhook_id == webhook_id
            for card in post.cards
        ]

    def sent_items(self, mailbox: str) -> list[SentMail]:
        """Messages saved to a mailbox's Sent Items, oldest first."""
        key = mailbox.casefold()
        return [m for m in self.sent_mail if m.save_to_sent_items and m.mailbox.casefold() == key]

    def file_at(self, drive_id: str, path: str) -> DriveItem | None:
        """The item at a path in a drive, e.g. ``/General/report.xlsx``."""
        return self._find(self.drives[drive_id], path)

    @staticmethod
    def webhook_url(webhook_id: str, base_url: str = WEBHOOK_ORIGIN) -> str:
        """A webhook URL on ``base_url``'s origin (e.g. the URL ``serve()`` yields)."""
        parts = urlsplit(base_url)
        return f"{parts.scheme}://{parts.netloc}/webhooks/{quote(webhook_id)}?sig=fake-signature"

    # ---- clients and servers ---------------------------------------------------------------

    def client(
        self, base_url: str = GRAPH_BASE_URL, *, authenticated: bool = True
    ) -> httpx.AsyncClient:
        """An httpx client talking to the app in process (every host goes to the app)."""
        headers = {"Authorization": f"Bearer {self.token}"} if authenticated else {}
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(transport=transport, base_url=base_url, headers=headers)

    @contextlib.contextmanager
    def serve(self, port: int = 0) -> Iterator[str]:
        """Serve the app with uvicorn on 127.0.0.1 in a thread; yields ``http://127.0.0.1:N/v1.0``."""
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
        # and without it every loopback request stalls ~40 ms (Nagle and delayed ACKs).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        config = uvicorn.Config(
            self.app, interface="asgi3", lifespan="off", log_level="warning", access_log=False
        )
        server = _ThreadedServer(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            if not server.ready.wait(timeout=10):
                raise RuntimeError("the fake Graph server did not start")
            yield f"http://127.0.0.1:{sock.getsockname()[1]}{PREFIX}"
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI app: call log, latency, faults and authentication around the routes."""
        if scope["type"] != "http":
            await self._router(scope, receive, send)
            return
        body = await _read_body(receive)
        call = _call_from_scope(scope, body)
        self.calls.append(call)
        request_id = str(uuid.uuid4())
        client_request_id = call.headers.get("client-request-id", request_id)
        state = {"request_id": request_id, "client_request_id": client_request_id}
        scope = {**scope, "state": {**scope.get("state", {}), **state}}
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        fault = self._take_fault(call.method, call.path)
        if fault is not None and fault.status is None:
            await _reset_connection(send, receive)
            return
        stamped = _stamping_send(send, call, request_id, client_request_id)
        replay = _replaying_receive(body, receive)
        early = self._fault_response(scope, fault) if fault else self._auth_response(scope, call)
        if early is not None:
            await early(scope, replay, stamped)
            return
        await self._router(scope, replay, stamped)

    # ---- internals: faults and auth --------------------------------------------------------

    def _queue(self, fault: Fault) -> None:
        if fault.remaining is not None and fault.remaining < 1:
            raise ValueError("times must be at least 1 (or None for every request)")
        self._faults.append(fault)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.matches(method, path):
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                return fault
        return None

    @staticmethod
    def _fault_response(scope: Scope, fault: Fault) -> Response:
        assert fault.status is not None
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        if fault.status == 401:
            headers["WWW-Authenticate"] = WWW_AUTHENTICATE
        return odata_error(scope, fault.status, fault.code, fault.message, headers)

    def _auth_response(self, scope: Scope, call: Call) -> Response | None:
        if not call.path.startswith(PREFIX + "/"):
            return None
        header = call.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip() == self.token:
            return None
        message = (
            "Access token is empty."
            if not header
            else "CompactToken parsing failed with error code: 80049217"
        )
        headers = {"WWW-Authenticate": WWW_AUTHENTICATE}
        return odata_error(scope, 401, "InvalidAuthenticationToken", message, headers)

    @staticmethod
    async def _on_graph_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GraphError)
        return odata_error(request.scope, exc.status, exc.code, exc.message, exc.headers)

    @staticmethod
    async def _on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:  # no route: Graph answers 400 for an unknown segment
            segment = (_segments(request.url.path) or [""])[-1]
            message = f"Resource not found for the segment '{segment}'."
            return odata_error(request.scope, 400, "BadRequest", message)
        return odata_error(request.scope, exc.status_code)

    # ---- internals: routes -----------------------------------------------------------------

    def _routes(self) -> list[Route]:
        g = PREFIX
        return [
            Route(
                g + "/drives/{drive_id}/{rest:path}",
                self._drive_endpoint,
                methods=["GET", "PUT", "POST"],
            ),
            Route(
                g + "/sites/{site_id}/drive/{rest:path}",
                self._site_drive_endpoint,
                methods=["GET", "PUT", "POST"],
            ),
            Route(
                g + "/sites/{site_id}/lists/{list_id}/columns", self._list_columns, methods=["GET"]
            ),
            Route(g + "/sites/{site_id}/lists/{list_id}/items", self._list_items, methods=["GET"]),
            Route(
                g + "/teams/{team_id}/channels/{channel_id}/filesFolder",
                self._files_folder,
                methods=["GET"],
            ),
            Route(
                g + "/teams/{team_id}/channels/{channel_id}/messages",
                self._channel_messages,
                methods=["GET", "POST"],
            ),
            Route(g + "/users/{user}/sendMail", self._send_mail, methods=["POST"]),
            Route(
                g + "/users/{user}/mailFolders/{folder}/messages",
                self._folder_messages,
                methods=["GET"],
            ),
            Route("/download/{token}", self._download, methods=["GET"]),
            Route("/upload/{session_id}", self._upload_fragment, methods=["GET", "PUT", "DELETE"]),
            Route("/webhooks/{hook_id}", self._webhook, methods=["POST"]),
            Route(
                "/workflows/{hook_id}/triggers/manual/paths/invoke", self._webhook, methods=["POST"]
            ),
        ]

    # ---- internals: drives -----------------------------------------------------------------

    def _drive(self, drive_id: str) -> Drive:
        """The drive, created (with its root folder) on first use."""
        drive = self.drives.get(drive_id)
        if drive is None:
            root_id = f"01FAKEROOT{next(self._ids):022d}"
            drive = Drive(drive_id, root_id)
            now = self.clock()
            drive.items[root_id] = DriveItem(
                drive_id, root_id, "root", "", None, self._default_web_url("/"), now, now
            )
            self.drives[drive_id] = drive
        return drive

    @staticmethod
    def _default_web_url(path: str) -> str:
        return "https://contoso.sharepoint.com/sites/fake/Shared%20Documents" + quote(
            path.rstrip("/")
        )

    @staticmethod
    def _find(drive: Drive, path: str) -> DriveItem | None:
        key = _path_key(path)
        return next((i for i in drive.items.values() if _path_key(i.path) == key), None)

    def _ensure_folder(self, drive: Drive, path: str) -> DriveItem:
        folder = drive.items[drive.root_id]
        for segment in _segments(path):
            child = self._find(drive, _join(folder.path, segment))
            if child is None:
                child = self._new_item(drive, folder.path, segment, None)
            elif not child.is_folder:
                raise GraphError(
                    409, "nameAlreadyExists", f"'{child.path}' is a file, not a folder."
                )
            folder = child
        return folder

    def _new_item(
        self,
        drive: Drive,
        parent_path: str,
        name: str,
        content: bytes | None,
        *,
        item_id: str | None = None,
        web_url: str | None = None,
    ) -> DriveItem:
        kind = "FOLDER" if content is None else "ITEM"
        item_id = item_id or f"01FAKE{kind}{next(self._ids):020d}"
        now = self.clock()
        url = web_url or self._default_web_url(_join(parent_path, name))
        item = DriveItem(drive.drive_id, item_id, name, parent_path, content, url, now, now)
        drive.items[item_id] = item
        return item

    def _drive_item_json(self, request: Request, item: DriveItem) -> Json:
        """A driveItem (driveitem-get.md; resources/driveitem.md)."""
        drive = self.drives[item.drive_id]
        context = f"drives('{quote(item.drive_id)}')/items/$entity"
        body: Json = {"@odata.context": _odata_context(request, context)}
        if not item.is_folder:
            body["@microsoft.graph.downloadUrl"] = self._download_url(request, item)
        body |= _item_properties(item)
        body["parentReference"] = self._parent_reference(drive, item)
        return body | self._item_facets(drive, item)

    @staticmethod
    def _item_facets(drive: Drive, item: DriveItem) -> Json:
        """size and the file, folder or root facet."""
        if not item.is_folder:
            return {"size": item.size, "file": {"mimeType": _mime_type(item.name)}}
        key = _path_key(item.path)
        children = [
            i for i in drive.items.values() if i.parent_path and _path_key(i.parent_path) == key
        ]
        facets: Json = {
            "size": sum(c.size for c in children),
            "folder": {"childCount": len(children)},
        }
        return facets | ({} if item.parent_path else {"root": {}})

    def _parent_reference(self, drive: Drive, item: DriveItem) -> Json:
        reference: Json = {"driveType": "documentLibrary", "driveId": drive.drive_id}
        if item.parent_path:
            parent = self._find(drive, item.parent_path)
            assert parent is not None
            reference["id"] = parent.item_id
            reference["name"] = "root" if not parent.parent_path else parent.name
            suffix = "" if parent.path == "/" else parent.path
            reference["path"] = f"/drives/{drive.drive_id}/root:{suffix}"
        return reference

    def _download_url(self, request: Request, item: DriveItem) -> str:
        token = uuid.uuid4().hex
        self._downloads[token] = (item.drive_id, item.item_id)
        origin = self._preauth_origin(request, self.download_origin, DOWNLOAD_ORIGIN)
        return f"{origin}/download/{token}?tempauth={uuid.uuid4().hex}"

    @staticmethod
    def _preauth_origin(request: Request, configured: str | None, default: str) -> str:
        """Another origin: loopback swaps 127.0.0.1 and localhost, otherwise ``default``."""
        if configured:
            return configured
        host, port = request.url.hostname, request.url.port
        if host in ("127.0.0.1", "localhost"):
            other = "localhost" if host == "127.0.0.1" else "127.0.0.1"
            return f"{request.url.scheme}://{other}" + (f":{port}" if port else "")
        return default

    async def _site_drive_endpoint(self, request: Request) -> Response:
        site_id = request.path_params["site_id"]
        drive_id = self.site_drives.get(site_id)
        if drive_id is None:
            raise GraphError(404, message=f"The site {site_id} has no drive in the fake.")
        return await self._drive_request(request, drive_id)

    async def _drive_endpoint(self, request: Request) -> Response:
        return await self._drive_request(request, request.path_params["drive_id"])

    async def _drive_request(self, request: Request, drive_id: str) -> Response:
        drive = self.drives.get(drive_id)
        if drive is None:
            raise GraphError(404, message=f"The drive {drive_id} could not be found.")
        address = parse_address(request.path_params["rest"])
        if address is None:
            raise GraphError(
                400, "BadRequest", f"Resource not found for the segment '{request.url.path}'."
            )
        base_id = drive.root_id if address.item_id in (None, "root") else address.item_id
        base = drive.items.get(base_id or "")
        if base is None:
            raise GraphError(404)
        path = _join(base.path, address.rel_path)
        by_path = bool(address.rel_path)
        match ("GET" if request.method == "HEAD" else request.method, address.tail):
            case ("GET", ""):
                return self._get_item(request, drive, path)
            case ("GET", "/content"):
                return self._get_content(request, drive, path)
            case ("PUT", "/content"):
                return await self._put_content(request, drive, path, by_path=by_path)
            case ("POST", "/createUploadSession"):
                return await self._create_session(request, drive, path, by_path=by_path)
        raise GraphError(405)

    def _existing(self, drive: Drive, path: str) -> DriveItem:
        item = self._find(drive, path)
        if item is None:
            raise GraphError(404)
        return item

    def _get_item(self, request: Request, drive: Drive, path: str) -> Response:
        item = self._existing(drive, path)
        if _none_match(request, item):
            return Response(status_code=304, headers={"ETag": item.e_tag})
        body = self._drive_item_json(request, item)
        select = _select(request)
        if select:
            picked = {k: body[k] for k in select if k in body}
            body = {"@odata.context": body["@odata.context"], "@odata.etag": item.e_tag, **picked}
        return _json(body)

    def _get_content(self, request: Request, drive: Drive, path: str) -> Response:
        item = self._existing(drive, path)
        if item.is_folder:
            raise GraphError(
                400, message="Only driveItems with the file property can be downloaded."
            )
        if _none_match(request, item):
            return Response(status_code=304, headers={"ETag": item.e_tag})
        return Response(status_code=302, headers={"Location": self._download_url(request, item)})

    async def _put_content(
        self, request: Request, drive: Drive, path: str, *, by_path: bool
    ) -> Response:
        content = await request.body()
        if len(content) > self.simple_upload_limit:
            message = f"Simple upload takes at most {self.simple_upload_limit} bytes; use an upload session."
            raise GraphError(413, message=message)
        existing = self._find(drive, path)
        if not by_path and (existing is None or existing.is_folder):
            raise GraphError(
                400, message="Address the parent folder and a file name to create a file."
            )
        conflict = request.query_params.get(CONFLICT_BEHAVIOR, "replace")  # the default for PUT
        item, created = self._store_file(drive, path, content, conflict)
        return _json(self._drive_item_json(request, item), 201 if created else 200)

    def _store_file(
        self, drive: Drive, path: str, content: bytes, conflict: str
    ) -> tuple[DriveItem, bool]:
        """Create or replace a file; (item, created). Conflicts follow conflictBehavior."""
        if conflict not in ("fail", "replace", "rename"):
            raise GraphError(400, message=f"Invalid {CONFLICT_BEHAVIOR} '{conflict}'.")
        segments = _segments(path)
        if not segments:
            raise GraphError(400, message="The drive root has no content.")
        parent_path, name = "/" + "/".join(segments[:-1]), segments[-1]
        existing = self._find(drive, path)
        if existing is not None and (conflict == "fail" or existing.is_folder):
            raise GraphError(409, "nameAlreadyExists", "The specified item name already exists.")
        if existing is not None and conflict == "replace":
            return self.set_content(drive.drive_id, existing.item_id, content), False
        attempt = 1
        while existing is not None:
            name = _renamed(segments[-1], attempt)
            existing = self._find(drive, _join(parent_path, name))
            attempt += 1
        parent = self._ensure_folder(drive, parent_path)
        return self._new_item(drive, parent.path, name, content), True

    async def _create_session(
        self, request: Request, drive: Drive, path: str, *, by_path: bool
    ) -> Response:
        payload = await self._json_body(request, required=False)
        item = payload.get("item")
        item = item if isinstance(item, dict) else {}
        existing = self._find(drive, path)
        if existing is not None and existing.is_folder and not by_path:
            raise GraphError(
                400, message="Address the parent folder and a file name to create a file."
            )
        default = "fail" if by_path else "replace"  # createuploadsession.md: fail is the default
        conflict = str(
            item.get(CONFLICT_BEHAVIOR) or request.query_params.get(CONFLICT_BEHAVIOR) or default
        )
        session = UploadSession(
            uuid.uuid4().hex, drive.drive_id, path, conflict, self.clock() + timedelta(hours=1)
        )
        self.upload_sessions[session.session_id] = session
        origin = self._preauth_origin(request, self.upload_origin, UPLOAD_ORIGIN)
        body = {
            "@odata.context": _odata_context(request, "microsoft.graph.uploadSession"),
            "expirationDateTime": _iso(session.expires, millis=True),
            "nextExpectedRanges": ["0-"],
            "uploadUrl": f"{origin}/upload/{session.session_id}?tempauth={uuid.uuid4().hex}",
        }
        return _json(body)

    async def _upload_fragment(self, request: Request) -> Response:
        session = self.upload_sessions.get(request.path_params["session_id"])
        if session is None:
            raise GraphError(404, "itemNotFound", "The upload session was not found.")
        if request.method in ("GET", "HEAD"):
            return _json(self._session_status(session))
        if request.method == "DELETE":
            del self.upload_sessions[session.session_id]
            return Response(status_code=204)
        start, end, total = self._content_range(request, session)
        fragment = await request.body()
        if len(fragment) != end - start + 1:
            raise GraphError(400, message="The fragment length differs from its Content-Range.")
        if start != len(session.received):
            raise GraphError(
                416,
                "invalidRange",
                "Uploaded fragment overlaps with existing data or is out of order.",
            )
        session.received += fragment
        if len(session.received) < total:
            return _json(self._session_status(session), 202)
        return self._complete_upload(request, session)

    def _complete_upload(self, request: Request, session: UploadSession) -> Response:
        drive = self.drives[session.drive_id]
        try:
            item, created = self._store_file(
                drive, session.path, bytes(session.received), session.conflict
            )
        except GraphError as exc:
            if exc.status != 409:
                raise
            message = (
                "Another file exists with the same name as the uploaded session. You can redirect the upload"
                " session to use a new filename by calling PUT with the new metadata and"
                " @microsoft.graph.sourceUrl attribute."
            )
            raise GraphError(409, "nameAlreadyExists", message) from exc
        del self.upload_sessions[session.session_id]
        return _json(self._drive_item_json(request, item), 201 if created else 200)

    @staticmethod
    def _session_status(session: UploadSession) -> Json:
        return {
            "expirationDateTime": _iso(session.expires, millis=True),
            "nextExpectedRanges": [f"{len(session.received)}-"],
        }

    @staticmethod
    def _content_range(request: Request, session: UploadSession) -> tuple[int, int, int]:
        match = _CONTENT_RANGE.match(request.headers.get("content-range", "").strip())
        if match is None:
            raise GraphError(
                400, message="A Content-Range header 'bytes start-end/total' is required."
            )
        start, end, total = (int(g) for g in match.groups())
        if end < start or end >= total:
            raise GraphError(
                416, "invalidRange", "The specified byte range is invalid or unavailable."
            )
        if session.total is None:
            session.total = total
        elif session.total != total:
            raise GraphError(
                400, message="Declared total size differs from that of the upload session."
            )
        return start, end, total

    async def _download(self, request: Request) -> Response:
        target = self._downloads.get(request.path_params["token"])
        item = self.drives[target[0]].items.get(target[1]) if target else None
        if item is None or item.content is None:
            raise GraphError(404)
        return Response(
            item.content, media_type=_mime_type(item.name), headers={"ETag": item.e_tag}
        )

    # ---- internals: teams ------------------------------------------------------------------

    def _channel(self, request: Request) -> Channel:
        key = (request.path_params["team_id"], request.path_params["channel_id"])
        channel = self.channels.get(key)
        if channel is None:
            raise GraphError(404, "NotFound", f"Channel {key[1]} of team {key[0]} was not found.")
        return channel

    async def _files_folder(self, request: Request) -> Response:
        channel = self._channel(request)
        folder = self.drives[channel.drive_id].items[channel.folder_item_id]
        body = self._drive_item_json(request, folder)
        fragment = _channel_fragment(channel) + "/filesFolder/$entity"
        body["@odata.context"] = _odata_context(request, fragment)
        return _json(body)

    async def _channel_messages(self, request: Request) -> Response:
        channel = self._channel(request)
        if request.method == "POST":
            payload = await self._json_body(request)
            message = self._chat_message(request, channel, payload)
            channel.messages.append(message)
            return _json(message, 201)
        return self._list_channel_messages(request, channel)

    def _list_channel_messages(self, request: Request, channel: Channel) -> Response:
        size = min(_int_param(request, "$top", "top") or CHANNEL_PAGE_DEFAULT, CHANNEL_PAGE_MAX)
        newest_first = [
            {k: v for k, v in m.items() if not k.startswith("@")}
            for m in reversed(channel.messages)
        ]
        start = _offset(request, "$skiptoken")
        page = newest_first[start : start + size]
        fragment = _channel_fragment(channel) + "/messages"
        body: Json = {
            "@odata.context": _odata_context(request, fragment),
            "@odata.count": len(page),
        }
        if start + size < len(newest_first):
            body["@odata.nextLink"] = _next_link(request, {"$skiptoken": str(start + size)})
        body["value"] = page
        return _json(body)

    def _chat_message(self, request: Request, channel: Channel, payload: Json) -> Json:
        """A chatMessage as returned by POST (chatmessage-post.md)."""
        body = payload.get("body")
        if not isinstance(body, dict) or not body.get("content"):
            raise GraphError(400, "BadRequest", "The message body is required.")
        now = self.clock()
        self._last_message_id = max(self._last_message_id + 1, int(now.timestamp() * 1000))
        message_id = str(self._last_message_id)
        fragment = _channel_fragment(channel) + "/messages/$entity"
        web_url = (
            f"https://teams.microsoft.com/l/message/{quote(channel.channel_id, safe='')}/{message_id}"
            f"?groupId={channel.team_id}&createdTime={message_id}&parentMessageId={message_id}"
        )
        return {
            "@odata.context": _odata_context(request, fragment),
            "id": message_id,
            "replyToId": None,
            "etag": message_id,
            "messageType": "message",
            "createdDateTime": _iso(now, millis=True),
            "lastModifiedDateTime": _iso(now, millis=True),
            "lastEditedDateTime": None,
            "deletedDateTime": None,
            "subject": payload.get("subject"),
            "summary": payload.get("summary"),
            "chatId": None,
            "importance": payload.get("importance", "normal"),
            "locale": "en-us",
            "webUrl": web_url,
            "policyViolation": None,
            "eventDetail": None,
            "from": {
                "application": None,
                "device": None,
                "user": {**self.channel_sender, "userIdentityType": "aadUser"},
            },
            "body": {"contentType": body.get("contentType", "text"), "content": body["content"]},
            "channelIdentity": {"teamId": channel.team_id, "channelId": channel.channel_id},
            "attachments": [self._attachment(a) for a in payload.get("attachments") or []],
            "mentions": [self._mention(m) for m in payload.get("mentions") or []],
            "reactions": [],
        }

    @staticmethod
    def _attachment(attachment: Json) -> Json:
        defaults = {
            "id": None,
            "contentType": None,
            "contentUrl": None,
            "content": None,
            "name": None,
        }
        return {**defaults, "thumbnailUrl": None, "teamsAppId": None, **attachment}

    @staticmethod
    def _mention(mention: Json) -> Json:
        mentioned = dict(mention.get("mentioned") or {})
        if isinstance(mentioned.get("user"), dict):
            mentioned["user"] = {"userIdentityType": "aadUser", **mentioned["user"]}
        return {
            "id": mention.get("id"),
            "mentionText": mention.get("mentionText"),
            "mentioned": {"application": None, "device": None, "conversation": None, **mentioned},
        }

    # ---- internals: lists ------------------------------------------------------------------

    def _list(self, request: Request) -> SpList:
        key = (request.path_params["site_id"], request.path_params["list_id"])
        sp_list = self.lists.get(key)
        if sp_list is None:
            raise GraphError(404, message=f"List {key[1]} was not found on site {key[0]}.")
        return sp_list

    async def _list_columns(self, request: Request) -> Response:
        sp_list = self._list(request)
        columns = [column_definition(c, sp_list.list_id) for c in sp_list.columns]
        select = _select(request)
        if select:
            columns = [{k: c[k] for k in select if k in c} for c in columns]
        fragment = (
            f"sites('{quote(sp_list.site_id, safe='')}')/lists('{quote(sp_list.list_id)}')/columns"
        )
        return _json({"@odata.context": _odata_context(request, fragment), "value": columns})

    async def _list_items(self, request: Request) -> Response:
        sp_list = self._list(request)
        params = request.query_params
        expanded, selected = parse_fields_expand(params.get("expand") or params.get("$expand"))
        items = sorted(sp_list.items, key=lambda i: _id_order(i.item_id))
        text = params.get("$filter") or params.get("filter")
        if text:
            items = self._filter_items(request, sp_list, items, text)
        top = _int_param(request, "$top", "top")
        size = min(top, self.list_page_cap) if top else self.list_page_cap
        token = params.get("$skiptoken")
        if token:
            after = _id_order(_skiptoken_id(token))
            items = [i for i in items if _id_order(i.item_id) > after]
        page = items[:size]
        fragment = (
            f"sites('{quote(sp_list.site_id, safe='')}')/lists('{quote(sp_list.list_id)}')/items"
        )
        body: Json = {"@odata.context": _odata_context(request, fragment)}
        if len(items) > size:
            body["@odata.nextLink"] = _next_link(
                request, {"$skiptoken": _skiptoken(page[-1].item_id)}
            )
        body["value"] = [
            self._list_item_json(request, sp_list, i, expanded, selected) for i in page
        ]
        return _json(body)

    @staticmethod
    def _filter_items(
        request: Request, sp_list: SpList, items: list[ListItem], text: str
    ) -> list[ListItem]:
        name, wanted = parse_field_filter(text)
        column = sp_list.column(name)
        if column is None:
            raise GraphError(400, message=f"Field '{name}' is not recognized.")
        prefer = request.headers.get("prefer", "")
        if not column.get("indexed") and PREFER_NON_INDEXED.lower() not in prefer.lower():
            message = (
                f"Field '{name}' cannot be referenced in filter or orderby as it is not indexed. Provide the"
                f" 'Prefer: {PREFER_NON_INDEXED}' header to allow this, but be warned that such queries may"
                " fail on large lists."
            )
            raise GraphError(400, "invalidRequest", message)
        return [i for i in items if _field_matches(i.fields.get(name), wanted)]

    @staticmethod
    def _list_item_json(
        request: Request,
        sp_list: SpList,
        item: ListItem,
        expanded: bool,
        selected: list[str] | None,
    ) -> Json:
        """A listItem (listitem-list.md); ``fields`` only when expanded."""
        guid = uuid.uuid5(uuid.NAMESPACE_URL, f"{sp_list.site_id}/{sp_list.list_id}/{item.item_id}")
        etag = f'"{guid},{item.version}"'
        who = {"user": {"displayName": "Fake User", "email": "fake.user@contoso.test"}}
        body: Json = {
            "@odata.etag": etag,
            "createdDateTime": item.created,
            "eTag": etag,
            "id": item.item_id,
            "lastModifiedDateTime": item.modified,
            "webUrl": item.web_url,
            "createdBy": who,
            "lastModifiedBy": who,
            "parentReference": {"id": sp_list.list_id, "siteId": sp_list.site_id},
            "contentType": {"id": "0x0100FAKE", "name": "Item"},
        }
        if expanded:
            fragment = (
                f"sites('{quote(sp_list.site_id, safe='')}')/lists('{quote(sp_list.list_id)}')"
                f"/items('{quote(item.item_id)}')/fields/$entity"
            )
            names = (
                list(item.fields) if selected is None else [n for n in selected if n in item.fields]
            )
            body["fields@odata.context"] = _odata_context(request, fragment)
            body["fields"] = {
                "@odata.etag": etag,
                **{n: item.fields[n] for n in names},
                "id": item.item_id,
            }
        return body

    # ---- internals: mail -------------------------------------------------------------------

    def _mailbox(self, request: Request) -> str:
        user = request.path_params["user"]
        mailbox = self.users.get(user.casefold())
        if mailbox is None:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{user}' is invalid.")
        return mailbox

    async def _send_mail(self, request: Request) -> Response:
        mailbox = self._mailbox(request)
        if request.headers.get("content-type", "").startswith("text/plain"):
            mail = self._mime_mail(mailbox, await request.body())
        else:
            mail = self._json_mail(mailbox, await self._json_body(request))
        if not mail.recipients:
            raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient is not valid.")
        self.sent_mail.append(mail)
        return Response(status_code=202)

    def _json_mail(self, mailbox: str, payload: Json) -> SentMail:
        """The sendMail JSON body; parameter names compare case-insensitively (the SDK sends
        ``Message``/``SaveToSentItems``), and ``saveToSentItems`` may be the string "false"."""
        params = {k.lower(): v for k, v in payload.items()}
        message = params.get("message")
        if not isinstance(message, dict):
            raise GraphError(400, "ErrorInvalidParameter", "The message parameter is required.")
        save = params.get("savetosentitems", True)
        properties = message.get("singleValueExtendedProperties") or []
        return SentMail(
            mailbox=mailbox,
            message_id=self._message_id(),
            subject=str(message.get("subject") or ""),
            body=dict(message.get("body") or {"contentType": "text", "content": ""}),
            to=_addresses(message.get("toRecipients")),
            cc=_addresses(message.get("ccRecipients")),
            bcc=_addresses(message.get("bccRecipients")),
            attachments=list(message.get("attachments") or []),
            extended_properties={str(p.get("id")): str(p.get("value")) for p in properties},
            save_to_sent_items=str(save).lower() != "false",
            sent_at=self.clock(),
            raw=message,
        )

    def _mime_mail(self, mailbox: str, body: bytes) -> SentMail:
        try:
            mime = base64.b64decode(body, validate=True)
        except binascii.Error as exc:
            raise GraphError(
                400,
                "ErrorMimeContentInvalidBase64String",
                "Invalid base64 string for MIME content.",
            ) from exc
        parsed = email.message_from_bytes(mime, policy=email.policy.default)

        def addresses(header: str) -> list[str]:
            return [address for _, address in getaddresses(parsed.get_all(header, []))]

        return SentMail(
            mailbox=mailbox,
            message_id=self._message_id(),
            subject=str(parsed.get("Subject", "")),
            body={"contentType": "text", "content": ""},
            to=addresses("To"),
            cc=addresses("Cc"),
            bcc=addresses("Bcc"),
            attachments=[],
            extended_properties={},
            save_to_sent_items=True,
            sent_at=self.clock(),
            raw={"mime": mime.decode("utf-8", "replace")},
        )

    def _message_id(self) -> str:
        return f"AAMkAGFAKE{next(self._ids):040d}="

    async def _folder_messages(self, request: Request) -> Response:
        mailbox = self._mailbox(request)
        folder = request.path_params["folder"].lower()
        if folder == "sentitems":
            mails = self.sent_items(mailbox)
        elif folder in OTHER_WELL_KNOWN_FOLDERS:
            mails = []
        else:
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        text = request.query_params.get("$filter")
        if text:
            prop_id, value = parse_extended_filter(text)
            mails = [m for m in mails if self._has_property(m, prop_id, value)]
        return self._message_page(request, mailbox, list(reversed(mails)))

    @staticmethod
    def _has_property(mail: SentMail, prop_id: str, value: str) -> bool:
        """Ids compare per ``_property_key``; values case-insensitively (extended property page)."""
        key = _property_key(prop_id)
        return any(
            _property_key(k) == key and v.casefold() == value.casefold()
            for k, v in mail.extended_properties.items()
        )

    def _message_page(self, request: Request, mailbox: str, mails: list[SentMail]) -> Response:
        size = _int_param(request, "$top", "top") or MAIL_PAGE_DEFAULT
        start = _offset(request, "$skip")
        expand = _EXTENDED_EXPAND.search(request.query_params.get("$expand", ""))
        select = _select(request)
        values = [self._message_json(m, expand) for m in mails[start : start + size]]
        if select:
            values = [
                {k: v for k, v in m.items() if k in ("@odata.etag", "id", *select)} for m in values
            ]
        folder = request.path_params["folder"]
        fragment = f"users('{quote(mailbox, safe='')}')/mailFolders('{folder}')/messages"
        body: Json = {"@odata.context": _odata_context(request, fragment)}
        if start + size < len(mails):
            body["@odata.nextLink"] = _next_link(request, {"$skip": str(start + size)})
        body["value"] = values
        return _json(body)

    @staticmethod
    def _message_json(mail: SentMail, expand: re.Match[str] | None) -> Json:
        """A message in Sent Items; extended properties only when ``$expand``-ed."""
        sent = _iso(mail.sent_at)
        sender = {"emailAddress": {"name": mail.mailbox, "address": mail.mailbox}}
        content = str(mail.body.get("content", ""))
        body: Json = {
            "@odata.etag": f'W/"{mail.message_id[-20:]}"',
            "id": mail.message_id,
            "createdDateTime": sent,
            "lastModifiedDateTime": sent,
            "categories": [],
            "receivedDateTime": sent,
            "sentDateTime": sent,
            "hasAttachments": bool(mail.attachments),
            "internetMessageId": f"<{mail.message_id.strip('=')}@fake.outlook.test>",
            "subject": mail.subject,
            "bodyPreview": re.sub(r"<[^>]+>", "", content)[:255],
            "importance": "normal",
            "parentFolderId": SENT_ITEMS_FOLDER_ID,
            "isRead": True,
            "isDraft": False,
            "body": mail.body,
            "sender": sender,
            "from": sender,
            "toRecipients": _recipients(mail.to),
            "ccRecipients": _recipients(mail.cc),
            "bccRecipients": _recipients(mail.bcc),
        }
        if expand is not None:
            wanted = _property_key(expand[1].replace("''", "'")) if expand[1] else None
            body["singleValueExtendedProperties"] = [
                {"id": k, "value": v}
                for k, v in mail.extended_properties.items()
                if wanted is None or _property_key(k) == wanted
            ]
        return body

    # ---- internals: webhooks and bodies ----------------------------------------------------

    async def _webhook(self, request: Request) -> Response:
        """Teams Workflows stand-in: 202 for an adaptive-card envelope, 413 over 28 KB."""
        body = await request.body()
        post = WebhookPost(request.path_params["hook_id"], body, 202)
        self.webhook_posts.append(post)
        if len(body) > WEBHOOK_LIMIT:
            post.status = 413
            raise GraphError(
                413, "RequestEntityTooLarge", f"The message exceeds {WEBHOOK_LIMIT} bytes."
            )
        if not self._is_card_envelope(body):
            post.status = 400
            raise GraphError(
                400,
                "InvalidRequestContent",
                "Expected {type: message, attachments: [adaptive card]}.",
            )
        return Response(status_code=202, headers={"x-ms-workflow-run-id": uuid.uuid4().hex.upper()})

    @staticmethod
    def _is_card_envelope(body: bytes) -> bool:
        try:
            payload = json.loads(body)
        except ValueError:
            return False
        attachments = payload.get("attachments") if isinstance(payload, dict) else None
        return (
            payload.get("type") == "message"
            and isinstance(attachments, list)
            and bool(attachments)
            and all(
                isinstance(a, dict)
                and a.get("contentType") == "application/vnd.microsoft.card.adaptive"
                and isinstance(a.get("content"), dict)
                for a in attachments
            )
        )

    @staticmethod
    async def _json_body(request: Request, *, required: bool = True) -> Json:
        raw = await request.body()
        if not raw.strip() and not required:
            return {}
        try:
            payload = json.loads(raw)
        except ValueError as exc:
            raise GraphError(400, "BadRequest", "Unable to read JSON request payload.") from exc
        if not isinstance(payload, dict):
            raise GraphError(400, "BadRequest", "The request body must be a JSON object.")
        return payload
