"""Specs for the outbox: each message is delivered once, retried with backoff, or given up."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from automation.backends.local import LocalArtefactStore, LocalListSource, LocalWorkbookSource
from automation.config.models import OutboxPolicy
from automation.errors import ConfigError, TransientError, UncertainError
from automation.ports import Backend
from automation.runner import deliver_pending
from automation.state import OutboxEntry, Store
from automation.timeutil import JST
from tests.test_state_store import state_target

NOON = datetime(2026, 9, 1, 12, 0, tzinfo=JST)
POLICY = OutboxPolicy(max_attempts=3, backoff_seconds=(30, 120))


class Recipient:
    """A channel that records what arrives and can be told to fail or to forget."""

    def __init__(self) -> None:
        self.arrived: list[str] = []
        self.failures: list[Exception] = []
        self.lost_replies = 0  # sends that arrive, but whose answer is lost on the way back
        self.can_tell = True

    async def deliver(self, entry: OutboxEntry, attachments: Mapping[str, bytes]) -> str:
        """Accept ``entry``, or raise the next queued failure."""
        if self.failures:
            raise self.failures.pop(0)
        self.arrived.append(entry.key)
        if self.lost_replies:
            self.lost_replies -= 1
            raise UncertainError("connection reset after the request was sent")
        return "delivered"

    async def confirm(self, entry: OutboxEntry) -> bool | None:
        """Whether ``entry`` arrived (None when this channel cannot tell)."""
        if not self.can_tell or entry.channel == "teams_webhook":
            return None
        return entry.key in self.arrived


class DeadLetterBox:
    """Collects the messages given up."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def dead(self, store: Store, entry: OutboxEntry, now: datetime) -> None:
        """Note that ``entry`` was given up."""
        self.keys.append(entry.key)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """An empty state database, once on SQLite and once on PostgreSQL."""
    pg = request.getfixturevalue("pg") if request.param == "postgresql" else None
    db = Store(state_target(str(request.param), tmp_path, pg))
    db._db.execute("INSERT INTO runs (flow, started_at, now, status) VALUES ('f', '', '', 'ok')")
    return db


@pytest.fixture
def recipient() -> Recipient:
    """A channel that accepts everything."""
    return Recipient()


@pytest.fixture
def dead_letters() -> DeadLetterBox:
    """Where given-up messages are noted."""
    return DeadLetterBox()


def queue(store: Store, key: str, channel: str = "mail") -> None:
    """Queue one message."""
    store.enqueue(
        OutboxEntry(
            key,
            "f",
            1,
            "report",
            "team",
            channel,
            "a@example.jp",
            "a",
            "件名",
            {"txt": "本文"},
            (),
            "d",
        ),
        NOON,
    )


def deliver(
    store: Store,
    recipient: Recipient,
    at: datetime,
    dead: DeadLetterBox | None = None,
    policy: OutboxPolicy = POLICY,
) -> None:
    """One pass of the outbox worker at ``at``."""
    backend = Backend(
        LocalWorkbookSource(Path()), LocalArtefactStore(Path()), recipient, LocalListSource(Path())
    )
    asyncio.run(deliver_pending(store, backend, "f", lambda: at, policy=policy, dead_letters=dead))


def status(store: Store, key: str) -> str:
    """The status of ``key``."""
    entry = store.get_entry(key)
    assert entry is not None
    return entry.status


def test_a_queued_message_is_delivered_once(store: Store, recipient: Recipient) -> None:
    """Two passes deliver a message one time."""
    queue(store, "k")
    deliver(store, recipient, NOON)
    deliver(store, recipient, NOON + timedelta(minutes=1))
    assert (recipient.arrived, status(store, "k")) == (["k"], "sent")


def test_an_interrupted_send_that_arrived_is_not_sent_again(
    store: Store, recipient: Recipient
) -> None:
    """A message left 'sending' by a crash is confirmed by the channel and marked sent."""
    queue(store, "k")
    recipient.arrived.append("k")  # it reached the recipient, then the process died
    store.mark("k", "sending", NOON)
    deliver(store, recipient, NOON)
    assert (recipient.arrived, status(store, "k")) == (["k"], "sent")


def test_an_interrupted_send_that_did_not_arrive_is_sent_once(
    store: Store, recipient: Recipient
) -> None:
    """The channel says it never arrived: it is sent, once."""
    queue(store, "k")
    store.mark("k", "sending", NOON)
    deliver(store, recipient, NOON)
    assert (recipient.arrived, status(store, "k")) == (["k"], "sent")


def test_an_interrupted_webhook_post_is_resent_by_default(
    store: Store, recipient: Recipient
) -> None:
    """A webhook cannot be checked; the default policy resends (at least once)."""
    queue(store, "k", channel="teams_webhook")
    store.mark("k", "sending", NOON)
    deliver(store, recipient, NOON)
    assert (recipient.arrived, status(store, "k")) == (["k"], "sent")


def test_an_interrupted_webhook_post_is_given_up_when_the_policy_says_so(
    store: Store, recipient: Recipient, dead_letters: DeadLetterBox
) -> None:
    """webhook_uncertain: give_up marks it dead and tells the admins (at most once)."""
    queue(store, "k", channel="teams_webhook")
    store.mark("k", "sending", NOON)
    policy = OutboxPolicy(webhook_uncertain="give_up")
    deliver(store, recipient, NOON, dead_letters, policy)
    assert (recipient.arrived, status(store, "k"), dead_letters.keys) == ([], "dead", ["k"])


def test_a_failed_send_waits_for_its_backoff(store: Store, recipient: Recipient) -> None:
    """After a failure the message is not tried again before the first backoff has passed."""
    queue(store, "k")
    recipient.failures.append(TransientError("busy"))
    deliver(store, recipient, NOON)
    deliver(store, recipient, NOON + timedelta(seconds=29))
    assert (status(store, "k"), recipient.arrived) == ("failed", [])
    deliver(store, recipient, NOON + timedelta(seconds=30))
    assert (status(store, "k"), recipient.arrived) == ("sent", ["k"])


def test_a_retry_after_longer_than_the_backoff_is_honoured(
    store: Store, recipient: Recipient
) -> None:
    """Graph's Retry-After of 300 s outweighs a 30 s backoff."""
    queue(store, "k")
    recipient.failures.append(TransientError("throttled", retry_after=300))
    deliver(store, recipient, NOON)
    deliver(store, recipient, NOON + timedelta(seconds=299))
    assert recipient.arrived == []
    deliver(store, recipient, NOON + timedelta(seconds=300))
    assert recipient.arrived == ["k"]


def test_a_message_is_dead_after_its_last_attempt(
    store: Store, recipient: Recipient, dead_letters: DeadLetterBox
) -> None:
    """max_attempts failures make it dead; the admins are told once."""
    queue(store, "k")
    recipient.failures += [ConfigError("webhook gone")] * 3
    for minutes in (0, 1, 5, 10):
        deliver(store, recipient, NOON + timedelta(minutes=minutes), dead_letters)
    assert (status(store, "k"), dead_letters.keys, recipient.arrived) == ("dead", ["k"], [])


def test_a_busy_channel_holds_its_other_messages_not_other_channels(
    store: Store, recipient: Recipient
) -> None:
    """A transient failure on mail defers the rest of the mail; the webhook still goes."""
    queue(store, "mail-1")
    queue(store, "mail-2")
    queue(store, "card-1", channel="teams_webhook")
    recipient.failures.append(TransientError("mailbox throttled"))
    deliver(store, recipient, NOON)
    assert (status(store, "mail-1"), status(store, "mail-2"), recipient.arrived) == (
        "failed",
        "pending",
        ["card-1"],
    )


def test_a_send_whose_answer_was_lost_is_uncertain_not_failed(
    store: Store, recipient: Recipient
) -> None:
    """The request left and no answer came: the message is 'uncertain', never plain 'failed'."""
    queue(store, "k")
    recipient.lost_replies = 1
    deliver(store, recipient, NOON)
    assert status(store, "k") == "uncertain"


def test_an_uncertain_send_that_arrived_is_confirmed_and_not_sent_again(
    store: Store, recipient: Recipient
) -> None:
    """After its backoff an uncertain message is looked for first; found, it is sent: once."""
    queue(store, "k")
    recipient.lost_replies = 1
    deliver(store, recipient, NOON)
    deliver(store, recipient, NOON + timedelta(seconds=30))
    assert (recipient.arrived, status(store, "k")) == (["k"], "sent")


def test_an_uncertain_send_is_not_looked_for_before_its_backoff(
    store: Store, recipient: Recipient
) -> None:
    """An uncertain message waits its backoff like a failed one (Graph may still be busy)."""
    queue(store, "k")
    recipient.failures.append(UncertainError("HTTP 504"))
    deliver(store, recipient, NOON + timedelta(seconds=1))
    assert (recipient.arrived, status(store, "k")) == ([], "uncertain")


def test_an_uncertain_send_that_never_arrived_is_sent_once(
    store: Store, recipient: Recipient
) -> None:
    """Not found at the recipient, the uncertain message is sent again, once."""
    queue(store, "k")
    recipient.failures.append(UncertainError("HTTP 504"))
    deliver(store, recipient, NOON)
    deliver(store, recipient, NOON + timedelta(seconds=30))
    assert (recipient.arrived, status(store, "k")) == (["k"], "sent")


def test_an_uncertain_webhook_post_is_sent_again_at_least_once(
    store: Store, recipient: Recipient
) -> None:
    """A webhook cannot be asked: under the default policy an uncertain card is posted again."""
    queue(store, "k", channel="teams_webhook")
    recipient.lost_replies = 1
    deliver(store, recipient, NOON)
    deliver(store, recipient, NOON + timedelta(seconds=30))
    assert (recipient.arrived, status(store, "k")) == (["k", "k"], "sent")


def test_an_uncertain_message_that_cannot_be_checked_stays_uncertain(
    store: Store, recipient: Recipient
) -> None:
    """When the check itself fails (no Mail.Read), nothing is resent blindly."""

    class Unsure(Recipient):
        async def confirm(self, entry: OutboxEntry) -> bool | None:
            raise TransientError("Sent Items unreachable")

    unsure = Unsure()
    queue(store, "k")
    unsure.lost_replies = 1
    deliver(store, unsure, NOON)
    deliver(store, unsure, NOON + timedelta(seconds=30))
    assert (unsure.arrived, status(store, "k")) == (["k"], "uncertain")


class Settling(Recipient):
    """A mail channel that accepts a send at once but shows it where ``confirm`` looks only
    once it was processed (Graph's sendMail answers 202 before that): for
    ``mail_settle_seconds`` (5 minutes by default) after a send its absence means nothing."""

    settling = frozenset({"mail"})  # with the default mail_settle_seconds, 300

    def __init__(self) -> None:
        super().__init__()
        self.shown = False  # whether what arrived is shown where confirm looks yet

    async def confirm(self, entry: OutboxEntry) -> bool | None:
        return self.shown and entry.key in self.arrived


def test_an_interrupted_mail_not_yet_shown_is_looked_for_again_not_resent(
    store: Store,
) -> None:
    """A crash mid-send, and the mail is not in Sent Items 10 s later: it stays uncertain and
    is looked for again once its send is 5 minutes old, found then, and never sent twice."""
    mail = Settling()
    queue(store, "k")
    mail.arrived.append("k")  # it went out, then the process died
    store.mark("k", "sending", NOON)
    deliver(store, mail, NOON + timedelta(seconds=10))
    entry = store.get_entry("k")
    assert entry is not None
    assert (entry.status, entry.not_before) == ("uncertain", NOON + timedelta(minutes=5))
    mail.shown = True
    deliver(store, mail, NOON + timedelta(minutes=5))
    assert (mail.arrived, status(store, "k")) == (["k"], "sent")


def test_an_interrupted_mail_still_missing_once_settled_is_sent_once(store: Store) -> None:
    """A mail not in Sent Items once its send is 5 minutes old never left: it is sent then,
    once (counted from the send, not from when it was first looked for)."""
    mail = Settling()
    queue(store, "k")
    store.mark("k", "sending", NOON)
    deliver(store, mail, NOON + timedelta(seconds=10))
    deliver(store, mail, NOON + timedelta(minutes=4))
    assert mail.arrived == []
    deliver(store, mail, NOON + timedelta(minutes=5))
    assert (mail.arrived, status(store, "k")) == (["k"], "sent")
    deliver(store, mail, NOON + timedelta(minutes=6))
    assert mail.arrived == ["k"]


def test_a_claimed_message_records_when_its_send_began(store: Store) -> None:
    """Claiming a message for sending stamps it with the claim's time (a send's start)."""
    queue(store, "k")
    claimed = store.claim("k", NOON + timedelta(minutes=1))
    stored = store.get_entry("k")
    assert claimed is not None and stored is not None
    assert claimed.updated_at == stored.updated_at == NOON + timedelta(minutes=1)


def test_a_mail_whose_answer_was_lost_is_not_resent_before_it_settled(store: Store) -> None:
    """The answer to a mail's send was lost: 30 s later, not yet in Sent Items, it is not
    sent again; it is looked for again at 5 minutes after the send."""
    mail = Settling()
    queue(store, "k")
    mail.lost_replies = 1
    deliver(store, mail, NOON)
    deliver(store, mail, NOON + timedelta(seconds=30))
    entry = store.get_entry("k")
    assert entry is not None
    assert (mail.arrived, entry.status, entry.not_before) == (
        ["k"],
        "uncertain",
        NOON + timedelta(minutes=5),
    )


def test_with_no_settle_time_an_interrupted_mail_not_found_is_sent_at_once(
    store: Store,
) -> None:
    """``mail_settle_seconds: 0``: not in Sent Items means never sent, whatever its age."""
    mail = Settling()
    queue(store, "k")
    store.mark("k", "sending", NOON)
    policy = OutboxPolicy(max_attempts=3, backoff_seconds=(30,), mail_settle_seconds=0)
    deliver(store, mail, NOON + timedelta(seconds=10), policy=policy)
    assert (mail.arrived, status(store, "k")) == (["k"], "sent")
