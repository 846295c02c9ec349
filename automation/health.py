"""A tiny HTTP endpoint: GET /healthz (JSON) and GET /metrics (Prometheus).

Served on the caller's event loop with asyncio streams: two read-only paths need no
web framework. Bind it to 127.0.0.1 (the default) or put it behind the host's proxy.
What it shows comes from a :class:`HealthSource` (the daemon is one), so any long-running
process can serve it without this module knowing that process.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Protocol

REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


class HealthSource(Protocol):
    """What the endpoint shows: health as JSON (``status`` "ok" or not) and metrics text."""

    def health(self) -> dict[str, Any]:
        """What /healthz reports; a ``status`` other than "ok" answers 503."""
        ...

    def metrics_text(self) -> str:
        """What /metrics reports, in the Prometheus text format."""
        ...


async def start_health_server(
    source: HealthSource, host: str, port: int
) -> asyncio.base_events.Server:
    """Listen on (host, port) until the returned server is closed."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            writer.close()
            return
        method, _, rest = request.decode("latin-1").partition(" ")
        path = rest.split(" ", 1)[0].split("?", 1)[0]
        status, kind, body = answer(source, method, path)
        head = (
            f"HTTP/1.1 {status} {REASONS[status]}\r\nContent-Type: {kind}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode("latin-1") + body)
        try:
            await writer.drain()
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)


def answer(source: HealthSource, method: str, path: str) -> tuple[int, str, bytes]:
    """(status, content type, body) for one request."""
    if method != "GET":
        return 405, "text/plain", b"only GET\n"
    if path == "/healthz":
        health = source.health()
        status = 200 if health["status"] == "ok" else 503
        return status, "application/json", json.dumps(health, ensure_ascii=False).encode()
    if path == "/metrics":
        return 200, "text/plain; version=0.0.4", source.metrics_text().encode()
    return 404, "text/plain", b"try /healthz or /metrics\n"
