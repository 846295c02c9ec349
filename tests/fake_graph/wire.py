"""Shared wire shapes of the fake Graph: constants, the call log record, OData errors, paging
parameters, timestamps, and the state every area of the fake reads.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

if TYPE_CHECKING:
    from tests.fake_graph.drafts import AttachmentSession
    from tests.fake_graph.drives import Drive, UploadSession
    from tests.fake_graph.faults import Fault
    from tests.fake_graph.lists import SpList
    from tests.fake_graph.mail import SentMail
    from tests.fake_graph.teams import Channel, WebhookPost


Json = dict[str, Any]
Endpoint = Callable[[Request], Awaitable[Response]]
GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"
PREFIX = "/v1.0"
REQUEST_LIMIT = (
    4 * 1024 * 1024
)  # Graph refuses larger request bodies (outlook-large-attachments.md)
ODATA_JSON = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8"
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


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime, *, millis: bool = False) -> str:
    """A Graph timestamp: ``2026-10-03T01:07:14Z`` (or with milliseconds)."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{moment.microsecond // 1000:03d}Z" if millis else f"{text}Z"


def _segments(path: str) -> list[str]:
    return [part for part in path.split("/") if part]


def _origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


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


class FakeState:
    """State shared by every area of the fake (set by :class:`FakeGraph`), and request bodies."""

    token: str
    list_page_cap: int
    simple_upload_limit: int
    upload_fragment_unit: int
    download_origin: str | None
    upload_origin: str | None
    outlook_origin: str | None
    latency: float
    clock: Callable[[], datetime]
    channel_sender: dict[str, str]
    calls: list[Call]
    drives: dict[str, Drive]
    site_drives: dict[str, str]
    lists: dict[tuple[str, str], SpList]
    channels: dict[tuple[str, str], Channel]
    users: dict[str, str]
    sent_mail: list[SentMail]
    drafts: dict[str, SentMail]
    attachment_sessions: dict[str, AttachmentSession]
    webhook_posts: list[WebhookPost]
    upload_sessions: dict[str, UploadSession]
    _downloads: dict[str, tuple[str, str]]
    _faults: list[Fault]
    _ids: Iterator[int]
    _last_message_id: int

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
