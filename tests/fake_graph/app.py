"""The assembled fake: state, routes, the ASGI entry point, in-process clients and a loopback
server.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from urllib.parse import parse_qsl, quote

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.fake_graph.drafts import AttachmentSession, DraftEndpoints
from tests.fake_graph.drives import (
    SIMPLE_UPLOAD_LIMIT,
    UPLOAD_FRAGMENT_UNIT,
    Drive,
    UploadSession,
)
from tests.fake_graph.faults import (
    Fault,
    FaultsAndAuth,
    _reset_connection,
)
from tests.fake_graph.lists import (
    LIST_PAGE_CAP,
    ListEndpoints,
    SpList,
)
from tests.fake_graph.mail import SentMail
from tests.fake_graph.teams import (
    Channel,
    TeamsEndpoints,
    WebhookPost,
)
from tests.fake_graph.wire import (
    GRAPH_BASE_URL,
    PREFIX,
    REQUEST_LIMIT,
    Call,
    GraphError,
    _utcnow,
    odata_error,
)


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


async def _discarding_send(message: Message) -> None:
    """Where the answer to a request whose reply is lost goes."""


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


class _ThreadedServer(uvicorn.Server):
    """A uvicorn server that signals when it is listening."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


class FakeGraph(TeamsEndpoints, ListEndpoints, DraftEndpoints, FaultsAndAuth):
    """State, fault injection and a call log behind a starlette app (``.app``)."""

    def __init__(
        self,
        *,
        token: str = "test-token",
        list_page_cap: int = LIST_PAGE_CAP,
        simple_upload_limit: int = SIMPLE_UPLOAD_LIMIT,
        upload_fragment_unit: int = UPLOAD_FRAGMENT_UNIT,
        download_origin: str | None = None,
        upload_origin: str | None = None,
        outlook_origin: str | None = None,
    ) -> None:
        self.token = token
        self.list_page_cap = list_page_cap
        self.simple_upload_limit = simple_upload_limit
        self.upload_fragment_unit = upload_fragment_unit  # tests with tiny fragments shrink it
        self.download_origin = download_origin
        self.upload_origin = upload_origin
        self.outlook_origin = outlook_origin
        self.latency = 0.0
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # a test records it
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
        self.drafts: dict[str, SentMail] = {}
        self.attachment_sessions: dict[str, AttachmentSession] = {}
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
            if not server.ready.wait(timeout=60):  # a bound, reached only when it cannot start
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
            await self.sleep(self.latency)
        fault = self._take_fault(call.method, call.path)
        replay = _replaying_receive(body, receive)
        if fault is not None and fault.status is None:
            if fault.after_acting:  # the fake acts; its answer is thrown away
                await self._router(scope, replay, _discarding_send)
            await _reset_connection(send, receive)
            return
        stamped = _stamping_send(send, call, request_id, client_request_id)
        early = (
            self._fault_response(scope, fault, call) if fault else self._auth_response(scope, call)
        )
        if early is None and call.path.startswith(PREFIX + "/") and len(body) > REQUEST_LIMIT:
            early = odata_error(
                scope, 413, "RequestEntityTooLarge", "The request exceeds the 4 MB limit."
            )
        if early is not None:
            await early(scope, replay, stamped)
            return
        await self._router(scope, replay, stamped)

    def _routes(self) -> list[Route]:
        g = PREFIX
        return [
            Route(
                g + "/drives/{drive_id}/{rest:path}",
                self._drive_endpoint,
                methods=["GET", "PUT", "POST", "PATCH"],
            ),
            Route(
                g + "/sites/{site_id}/drive/{rest:path}",
                self._site_drive_endpoint,
                methods=["GET", "PUT", "POST", "PATCH"],
            ),
            Route(g + "/sites/{site_id}/lists", self._create_list, methods=["POST"]),
            Route(g + "/sites/{site_id}/lists/{list_id}", self._get_list, methods=["GET"]),
            Route(
                g + "/sites/{site_id}/lists/{list_id}/columns",
                self._list_columns_endpoint,
                methods=["GET", "POST"],
            ),
            Route(
                g + "/sites/{site_id}/lists/{list_id}/columns/{column_id}",
                self._update_column,
                methods=["PATCH"],
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
            Route(g + "/users/{user}/messages", self._create_draft, methods=["POST"]),
            Route(
                g + "/users/{user}/messages/{message_id}",
                self._delete_message,
                methods=["DELETE"],
            ),
            Route(
                g + "/users/{user}/messages/{message_id}/attachments",
                self._draft_attachments,
                methods=["GET", "POST"],
            ),
            Route(
                g + "/users/{user}/messages/{message_id}/attachments/createUploadSession",
                self._attachment_session,
                methods=["POST"],
            ),
            Route(
                g + "/users/{user}/messages/{message_id}/send", self._send_draft, methods=["POST"]
            ),
            Route(
                g + "/users/{user}/mailFolders/{folder}/messages",
                self._folder_messages,
                methods=["GET"],
            ),
            Route("/download/{token}", self._download, methods=["GET"]),
            Route("/upload/{session_id}", self._upload_fragment, methods=["GET", "PUT", "DELETE"]),
            Route(
                "/outlook-upload/{session_id}",
                self._attachment_fragment,
                methods=["GET", "PUT", "DELETE"],
            ),
            Route("/webhooks/{hook_id}", self._webhook, methods=["POST"]),
            Route(
                "/workflows/{hook_id}/triggers/manual/paths/invoke", self._webhook, methods=["POST"]
            ),
        ]
