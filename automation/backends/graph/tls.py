"""The TLS context of Graph's HTTP client, made while the Graph libraries load.

httpx makes its client's TLS context (``httpx.create_ssl_context``: certifi's bundle, or
``SSL_CERT_FILE`` / ``SSL_CERT_DIR``) when the client is built, reading and parsing the
certificate authorities: some 20 ms of every Graph command's start. OpenSSL does that with
the interpreter released, so :func:`prepare`, called before msgraph-core and kiota are
imported, makes it in a thread while they load, and the first gateway takes it
(:func:`context`); the same context httpx would have made. Later gateways (a reload, the
channel poster's) make their own, as httpx would.
"""

from __future__ import annotations

import os
import ssl
import threading
from typing import Any

_lock = threading.Lock()
_made: dict[str, Any] = {}  # "thread": the thread making it; "context" or "error": its outcome


def prepare() -> None:
    """Start making the TLS context in a thread (once; nothing if one is waiting)."""
    with _lock:  # started before it is listed: whoever takes it can join it
        if "thread" in _made:
            return
        thread = threading.Thread(target=_make, name="tls-context", daemon=True)
        thread.start()
        _made["thread"] = thread


def context() -> ssl.SSLContext:
    """The context made ahead when there is one (taken: the next caller gets a new one),
    else one made now; an error making it ahead is raised here, as httpx would have."""
    with _lock:
        thread = _made.pop("thread", None)
    if thread is None:
        return _create()
    thread.join()
    outcome = _made.pop("context", None) or _made.pop("error", None)
    if outcome is None:  # the thread ended without either (a BaseException): made now
        return _create()
    if isinstance(outcome, BaseException):
        raise outcome
    made: ssl.SSLContext = outcome
    return made


def _make() -> None:
    try:
        _made["context"] = _create()
    except Exception as err:  # any: the gateway's caller meets it (see context)
        _made["error"] = err


def _create() -> ssl.SSLContext:
    """``httpx.create_ssl_context()`` as httpx 0.28-0.29 makes it by default (trusting the
    environment): written out, not called, so the thread imports nothing the run's own
    imports may be loading at the same time (two threads importing into each other's
    modules can meet a module half made). ``tests/test_graph_tls.py`` holds the two equal."""
    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    import certifi  # noqa: PLC0415  # httpx's bundle; loaded only by a Graph command

    return ssl.create_default_context(cafile=certifi.where())
