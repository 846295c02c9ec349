"""The console inside ``automation serve --ui-port``: uvicorn on the daemon's event loop,
with operator actions that go through the same flow lock and outbox as the CLI."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path

import uvicorn

from automation.config.models import OutboxPolicy
from automation.console.app import ConsoleSettings, Retry, RunNow, create_app
from automation.console.command import session_secret
from automation.console.oidc import EntraSignIn
from automation.errors import TransientError
from automation.health import HealthSource
from automation.ports import Backend
from automation.runner import deliver_pending, flow_lock
from automation.state import Store

RETRYABLE = ("failed", "dead")


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the daemon owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def outbox_retry(
    state_path: Path | str,
    locks: Path,
    backend: Callable[[], Backend],
    clock: Callable[[], datetime],
    policy: OutboxPolicy,
) -> Retry:
    """Retry one failed message: requeue it and deliver its flow's outbox under the flow lock."""

    async def retry(key: str) -> str:
        with Store(state_path) as store:
            entry = store.get_entry(key)
            if entry is None or entry.status not in RETRYABLE:
                found = "none" if entry is None else entry.status
                return f"refused: status {found}, expected one of {', '.join(RETRYABLE)}"
            try:
                with flow_lock(locks, entry.flow):
                    store.mark(entry.key, "pending", clock())
                    await deliver_pending(store, backend(), entry.flow, clock, policy=policy)
            except TransientError as err:
                return f"busy: {err.message}"
            after = store.get_entry(key)
            return after.status if after else "unknown"

    return retry


def start_console(
    state_path: Path | str,
    host: str,
    port: int,
    *,
    retry: Retry,
    clock: Callable[[], datetime],
    secure_cookies: bool,
    health: HealthSource | None = None,
    run_now: RunNow | None = None,
    flows: Callable[[], Mapping[str, str]] = dict,
    artefacts: Path | None = None,
    entra: EntraSignIn | None = None,
) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """Serve the console on the running loop; stop it with ``server.should_exit = True``."""
    with Store(state_path) as store:
        secret = session_secret(store)
    settings = ConsoleSettings(
        state_path=state_path,
        secret=secret,
        clock=clock,
        secure_cookies=secure_cookies,
        retry=retry,
        health=health,
        run_now=run_now,
        flows=flows,
        artefacts=artefacts,
        entra=entra,
    )
    # No lifespan: the app has no start-up or shut-down hooks, and uvicorn's lifespan task,
    # cancelled when the daemon's loop ends, would print a traceback on every clean stop.
    config = uvicorn.Config(
        create_app(settings), host=host, port=port, log_level="warning", lifespan="off"
    )
    server = _QuietServer(config)
    return server, asyncio.ensure_future(server.serve())
