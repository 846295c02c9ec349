"""Loopback ports for servers that a spec starts in another process (a daemon, PostgreSQL).

A port found free and then closed can be handed to anyone before the server binds it. A
held port stays bound, not listening, until the block ends: the kernel hands it to no one
else, a connection to it is refused, and the server the spec starts can still bind it,
since it asks for SO_REUSEADDR as asyncio, uvicorn and PostgreSQL do (Linux lets sockets
that all ask for it share a port while none of them listens).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def held_port() -> Iterator[int]:
    """A port the OS assigned on 127.0.0.1, held for the server to take while the block runs."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])
