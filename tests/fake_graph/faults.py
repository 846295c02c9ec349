"""Faults, authentication and the call log: queued OData errors, connection resets, the bearer
check on ``/v1.0`` (and the refusal of a token on upload URLs) and the error handlers
(concepts/errors.md).
"""

from __future__ import annotations

import re
import socket
import struct
from dataclasses import dataclass

import httpx
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tests.fake_graph.wire import (
    PREFIX,
    Call,
    FakeState,
    GraphError,
    _json,
    _segments,
    odata_error,
)

RESET_MESSAGE = "[Errno 104] Connection reset by peer"
PREAUTHENTICATED_UPLOADS = ("/upload/", "/outlook-upload/")  # their URLs carry their own auth
WWW_AUTHENTICATE = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize",'
    ' client_id="00000003-0000-0000-c000-000000000000"'
)


@dataclass
class Fault:
    """A queued failure (``status``), or a connection reset (``status`` None): before the fake
    acts on the request, or after (``after_acting``: the reply is lost, the change is made)."""

    method: str
    pattern: re.Pattern[str]
    remaining: int | None
    status: int | None = None
    retry_after: int | str | None = None
    code: str | None = None
    message: str | None = None
    after_acting: bool = False
    skip: int = 0  # matching requests let through before the fault applies
    empty_page: bool = False  # answer 200 with no results and a nextLink (see empty_page)
    claims: str | None = None  # a 401's claims challenge (base64), see fail()

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to the request."""
        return self.method in ("*", method) and self.pattern.search(path) is not None


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


def _empty_page(call: Call) -> Response:
    """A page of no results whose nextLink asks the same query again (with a marker the
    endpoints ignore)."""
    link = f"{call.url}{'&' if '?' in call.url else '?'}fakeEmptyPage={len(call.url)}"
    return _json({"value": [], "@odata.nextLink": link})


class FaultsAndAuth(FakeState):
    """Fault injection, the bearer check, error handlers and call-log queries."""

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
        skip: int = 0,
        claims: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests (None: all) with an OData error, after
        letting ``skip`` of them through.

        ``method`` is an HTTP method or "*"; ``path_regex`` is searched in the decoded path
        (``/v1.0/...``, ``/download/...``). Default codes: 401 InvalidAuthenticationToken,
        403 accessDenied, 404 itemNotFound, 423 resourceLocked, 429 activityLimitReached,
        503 serviceNotAvailable, 504 gatewayTimeout. A 401 also carries WWW-Authenticate;
        with ``claims`` (base64 JSON) a 401 or 403 is a claims challenge (entra claims-challenge page:
        ``error="insufficient_claims", claims="..."``), what Graph sends a CAE-capable client.
        """
        self._queue(
            Fault(
                method.upper(),
                re.compile(path_regex),
                times,
                status,
                retry_after,
                code,
                message,
                skip=skip,
                claims=claims,
            )
        )

    def reset_connection(
        self, method: str, path_regex: str, times: int | None = 1, *, skip: int = 0
    ) -> None:
        """Drop the connection of the next ``times`` matching requests (see the module notes),
        after letting ``skip`` of them through."""
        self._queue(Fault(method.upper(), re.compile(path_regex), times, skip=skip))

    def lose_reply(
        self, method: str, path_regex: str, times: int | None = 1, *, skip: int = 0
    ) -> None:
        """Act on the next ``times`` matching requests, then drop the connection unanswered.

        The change is made (a mail is in Sent Items, a post in the channel, a fragment stored,
        a list read) but the client never hears of it: what a reset after the server
        committed looks like from the client. ``skip`` matching requests go through first.
        """
        self._queue(
            Fault(method.upper(), re.compile(path_regex), times, after_acting=True, skip=skip)
        )

    def empty_page(self, path_regex: str, times: int | None = 1, *, skip: int = 0) -> None:
        """Answer the next ``times`` matching GETs with a page of no results and an
        ``@odata.nextLink`` to the same query (paging.md: "A page of results may contain zero
        or more results"); following the link reads the collection as usual."""
        self._queue(
            Fault("GET", re.compile(path_regex), times, status=200, empty_page=True, skip=skip)
        )

    def faults_pending(self) -> int:
        """How many queued faults have not been used up."""
        return len(self._faults)

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
            for c in self.requests_to(r"^/(download|upload|outlook-upload|webhooks|workflows)/")
            if "authorization" in c.headers
        ]

    def _queue(self, fault: Fault) -> None:
        if fault.remaining is not None and fault.remaining < 1:
            raise ValueError("times must be at least 1 (or None for every request)")
        self._faults.append(fault)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.matches(method, path):
                if fault.skip > 0:
                    fault.skip -= 1
                    return None
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                return fault
        return None

    def _fault_response(self, scope: Scope, fault: Fault, call: Call) -> Response | None:
        assert fault.status is not None
        if fault.empty_page:
            return self._auth_response(scope, call) or _empty_page(call)
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        if fault.status == 401:
            headers["WWW-Authenticate"] = WWW_AUTHENTICATE
        if fault.claims:  # on a 401, or a 403 from Conditional Access (errors.md)
            headers["WWW-Authenticate"] = (
                f'{WWW_AUTHENTICATE}, error="insufficient_claims", claims="{fault.claims}"'
            )
        return odata_error(scope, fault.status, fault.code, fault.message, headers)

    def _auth_response(self, scope: Scope, call: Call) -> Response | None:
        if call.method == "PUT" and call.path.startswith(PREAUTHENTICATED_UPLOADS):
            if "authorization" not in call.headers:
                return None
            # driveitem-createuploadsession.md: "If you include the Authorization header when
            # issuing the PUT call, it may result in an HTTP 401 Unauthorized response";
            # outlook-large-attachments.md: "Do not specify an Authorization request header."
            message = "Send fragments to the upload URL without an Authorization header."
            return odata_error(scope, 401, "unauthenticated", message)
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
