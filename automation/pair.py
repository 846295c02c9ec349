"""The leader lease of an active/standby pair: several ``automation serve`` on one PostgreSQL,
one of them (the lease holder) runs schedules and deliveries.

Every ``lease_seconds / 4`` each daemon claims the lease (:meth:`Store.claim_lease`): the
holder renews it, a standby takes it once it expired, with the next fencing token. The
holder sets the process's :class:`~automation.state.Fence`, so every state write checks
the token is still current; its local validity is the renewal's start plus the lease, so a
leader paused past its lease (SIGSTOP, a frozen VM) refuses to write or send as it wakes,
before it could even ask the database. A message is claimed, and checked again right
before it is sent, only while one renewal interval of the lease is left by the local
clock and the database still names this daemon's token. A database that cannot be
reached is retried with backoff; the leader steps down when its lease runs out meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from automation.errors import AutomationError
from automation.state import Fence, Lease, Store, set_fence

LOG = logging.getLogger("automation.pair")
MAX_BACKOFF_SECONDS = 30.0


def holder_name() -> str:
    """This process among the pair: host, pid and a random tail (a pid can be reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Role:
    """What health, metrics and the log show: leader or standby, and of which lease."""

    leader: bool = False
    holder: str | None = None  # the current lease holder, as last read
    token: int | None = None
    expires_at: datetime | None = None
    database: str = "reachable"
    changes: int = 0  # how many times this daemon gained or lost the lead
    refused: str | None = None  # why this daemon will not lead now (its configuration)

    def as_dict(self) -> dict[str, Any]:
        """The health endpoint's ``pair`` section."""
        return {
            "role": "leader" if self.leader else "standby",
            "lease_holder": self.holder,
            "fencing_token": self.token,
            "lease_expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "database": self.database,
            "refused_to_lead": self.refused,
        }


class LeaseKeeper:
    """Claims and renews the lease; calls ``gained`` / ``lost`` when the lead moves. When
    ``gained`` answers False (the daemon could not start leading) the lease is given up at
    once, so the other daemon may lead; this one claims again at its next renewal."""

    def __init__(
        self,
        target: str,
        seconds: float,
        clock: Callable[[], datetime],
        gained: Callable[[Lease, str | None], Awaitable[bool]],
        lost: Callable[[str], Awaitable[None]],
        refusal: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.target = target
        self.seconds = seconds
        self.clock = clock
        self.gained = gained
        self.lost = lost
        self.refusal = refusal  # asked before a standby claims: why it must not lead, or None
        self.holder = holder_name()
        self.role = Role()
        self._valid_until = 0.0

    @property
    def every(self) -> float:
        """How often the lease is renewed (four times per lease)."""
        return max(self.seconds / 4, 0.1)

    async def run(self, stopping: asyncio.Event) -> None:
        """Claim until ``stopping`` is set; then release the lease if this daemon holds it."""
        backoff = self.every
        while not stopping.is_set():
            started = time.monotonic()
            if not self.role.leader:
                self.role.refused = self.refusal()
            try:
                lease = await asyncio.to_thread(self._claim, self.role.refused is None)
            except AutomationError as err:
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                await self._unreachable(err, backoff)
            else:
                backoff = self.every
                await self._apply(lease, started)
            with contextlib.suppress(TimeoutError):
                wait = self.every if self.role.database == "reachable" else backoff
                await asyncio.wait_for(stopping.wait(), timeout=wait)
        await self._release()

    def _claim(self, claiming: bool) -> Lease | None:
        """Claim the lease; a daemon that must not lead only reads who holds it."""
        with Store(self.target) as store:
            if not claiming:
                return store.lease()
            return store.claim_lease(self.holder, self.clock(), self.seconds)

    async def _apply(self, lease: Lease | None, started: float) -> None:
        if self.role.database != "reachable":
            LOG.warning("state database reachable again", extra={"event": "database_back"})
        self.role.database = "reachable"
        if lease is None:  # nobody ever claimed it, and this daemon may not
            self.role.holder = self.role.token = self.role.expires_at = None
            return
        previous = self.role.holder
        self.role.holder, self.role.token = lease.holder, lease.token
        self.role.expires_at = lease.expires_at
        if lease.holder == self.holder:
            self._valid_until = started + self.seconds
            set_fence(
                Fence(
                    self.holder,
                    lease.token,
                    self._valid_until,
                    send_margin=self.every,
                    lease_seconds=self.seconds,
                )
            )
            if not self.role.leader:
                self.role.leader = True
                self.role.changes += 1
                LOG.warning(
                    "leader now (lease token %d; previous holder %s)",
                    lease.token,
                    previous or "none",
                    extra={"event": "leader", "token": lease.token, "previous": previous},
                )
                if not await self.gained(lease, previous):  # it could not start leading
                    await self._step_down("it could not start leading (the error is above)")
                    with contextlib.suppress(AutomationError):
                        await asyncio.to_thread(self._release_now)  # the other may lead
        elif self.role.leader:
            await self._step_down(f"{lease.holder} holds the lease (token {lease.token})")
        elif previous != lease.holder:
            LOG.info(
                "standby: %s leads (token %d)",
                lease.holder,
                lease.token,
                extra={"event": "standby", "token": lease.token},
            )

    async def _unreachable(self, err: AutomationError, backoff: float) -> None:
        if self.role.database == "reachable":
            LOG.error(
                "state database unreachable: %s; retrying every %.0f s at most",
                err.message,
                MAX_BACKOFF_SECONDS,
                extra={"event": "database_lost"},
            )
        self.role.database = "unreachable"
        if self.role.leader and time.monotonic() > self._valid_until:
            await self._step_down("the lease ran out while the database could not be reached")

    async def _step_down(self, why: str) -> None:
        set_fence(None)
        self.role.leader = False
        self.role.changes += 1
        LOG.warning("standby now: %s", why, extra={"event": "stepped_down"})
        await self.lost(why)

    async def _release(self) -> None:
        if not self.role.leader:
            return
        set_fence(None)
        self.role.leader = False
        with contextlib.suppress(AutomationError):
            await asyncio.to_thread(self._release_now)

    def _release_now(self) -> None:
        with Store(self.target) as store:
            store.release_lease(self.holder, self.clock())
