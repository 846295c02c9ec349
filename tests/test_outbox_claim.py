"""Specs for claiming outbox messages in an active/standby pair: a claim is one transaction with
the fencing-token check (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), and a leader that lost
its lease between the claim and the send sends nothing and leaves the message to the new
leader, who reconciles it before sending it once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from automation.backends.local import LocalListSource, LocalWorkbookSource
from automation.ports import Backend, Near
from automation.runner import deliver_pending
from automation.state import Fence, FencedError, OutboxEntry, Store, set_fence
from tests.pg_server import PgServer
from tests.test_outbox import NOON, POLICY, Recipient, queue, status
from tests.test_state_store import state_target


class PausingArtefacts:
    """Attachments whose reading runs ``pause`` first: what happens while the leader is
    stopped between claiming a message and sending it."""

    def __init__(self, pause: Callable[[], None]) -> None:
        self.pause = pause

    async def put(self, name: str, data: bytes, near: Near = None) -> str:
        """Not used by deliveries."""
        raise NotImplementedError

    async def get(self, name: str, near: Near = None) -> bytes:
        """Run the pause, then hand the attachment back."""
        self.pause()
        return b"xlsx"


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh state database with one run, once per backend."""
    pg = request.getfixturevalue("pg") if request.param == "postgresql" else None
    where = state_target(str(request.param), tmp_path, pg)
    assert isinstance(where, str)
    with Store(where) as db:
        db.start_run("f", NOON, NOON)
    return where


@pytest.fixture
def fenced() -> Iterator[None]:
    """No fence is left behind for the next spec."""
    yield
    set_fence(None)


def queue_with_attachment(store: Store, key: str) -> None:
    """Queue a mail message with the merged workbook attached."""
    store.enqueue(
        OutboxEntry(
            key, "f", 1, "report", "team", "mail", "a@example.jp", "a", "件名",
            {"txt": "本文"}, ("merged.xlsx",), "d",
        ),
        NOON,
    )  # fmt: skip


def pass_with(store: Store, recipient: Recipient, artefacts: PausingArtefacts) -> None:
    """One outbox pass whose attachments come from ``artefacts``."""
    backend = Backend(LocalWorkbookSource(Path()), artefacts, recipient, LocalListSource(Path()))
    asyncio.run(deliver_pending(store, backend, "f", lambda: NOON, policy=POLICY))


def test_a_claimed_message_is_not_claimed_again(target: str) -> None:
    """A claim marks the message ``sending``; a second claim of it gets nothing."""
    with Store(target) as store:
        queue(store, "k")
        claimed = store.claim("k", NOON)
        assert claimed is not None and claimed.status == "sending"
        assert store.claim("k", NOON) is None
        assert status(store, "k") == "sending"


def test_a_replaced_leader_cannot_claim_a_message(target: str, fenced: None) -> None:
    """The claim checks the fencing token in its transaction: a stale token claims nothing."""
    with Store(target) as db:
        lease = db.claim_lease("a", NOON, 10)
        queue(db, "k")
        db.claim_lease("b", NOON + timedelta(seconds=10), 10)
    set_fence(Fence("a", lease.token))
    with Store(target) as old, pytest.raises(FencedError, match="b with token 2"):
        old.claim("k", NOON)
    set_fence(None)
    with Store(target) as db:
        assert status(db, "k") == "pending"


def test_a_leader_with_too_little_lease_left_claims_nothing(target: str, fenced: None) -> None:
    """With less than the send margin left on the local clock, no message is claimed."""
    # (other writes still go through until the lease itself runs out)
    with Store(target) as db:
        lease = db.claim_lease("a", NOON, 10)
        queue(db, "k")
    set_fence(Fence("a", lease.token, valid_until=time.monotonic() + 60, send_margin=120))
    with Store(target) as old, pytest.raises(FencedError, match="less than 120 s left"):
        old.claim("k", NOON)
    set_fence(None)
    with Store(target) as db:
        assert status(db, "k") == "pending"


def test_a_message_locked_by_another_transaction_is_skipped_not_waited_for(
    pg: PgServer,
) -> None:
    """On PostgreSQL a message locked by another transaction is skipped, then delivered once."""
    # (FOR UPDATE ... SKIP LOCKED)
    url = pg.new_database()
    recipient = Recipient()
    with Store(url) as store:
        store.start_run("f", NOON, NOON)
        queue(store, "k")
        store.database.execute("SET lock_timeout = '5s'")  # a wait would fail, not hang
        conninfo = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo) as other, other.transaction():
            other.execute("SELECT key FROM outbox WHERE key = 'k' FOR UPDATE")
            pass_with(store, recipient, PausingArtefacts(lambda: None))
            assert recipient.arrived == []
        assert status(store, "k") == "pending"
        pass_with(store, recipient, PausingArtefacts(lambda: None))
        assert (recipient.arrived, status(store, "k")) == (["k"], "sent")


def test_a_leader_replaced_after_claiming_sends_nothing_and_the_new_one_sends_once(
    target: str, fenced: None
) -> None:
    """A leader losing its lease between claim and send sends nothing; the new one sends once."""
    # the message stays ``sending``; the new leader reconciles it (not arrived) first
    recipient = Recipient()
    with Store(target) as db:
        lease = db.claim_lease("a", NOON, 10)
        queue_with_attachment(db, "k")

    def taken_over() -> None:
        with Store(target) as standby:
            standby.claim_lease("b", NOON + timedelta(seconds=10), 10)

    set_fence(Fence("a", lease.token))
    with Store(target) as old, pytest.raises(FencedError, match="b with token 2"):
        pass_with(old, recipient, PausingArtefacts(taken_over))
    assert recipient.arrived == []
    set_fence(Fence("b", lease.token + 1))
    with Store(target) as new:
        assert status(new, "k") == "sending"
        pass_with(new, recipient, PausingArtefacts(lambda: None))
        assert (recipient.arrived, status(new, "k")) == (["k"], "sent")


def test_a_leader_whose_lease_runs_short_before_the_send_sends_nothing(
    target: str, fenced: None
) -> None:
    """Less than the send margin left when the send is due: nothing is sent, the message waits."""
    # (renewals stalled: the message waits for a leader)
    recipient = Recipient()
    with Store(target) as db:
        lease = db.claim_lease("a", NOON, 10)
        queue_with_attachment(db, "k")

    def paused() -> None:
        set_fence(Fence("a", lease.token, valid_until=0.0, send_margin=2.5))

    set_fence(Fence("a", lease.token, send_margin=2.5))
    with Store(target) as old, pytest.raises(FencedError, match="ran out"):
        pass_with(old, recipient, PausingArtefacts(paused))
    assert recipient.arrived == []
