"""Specs for mail of any size through Graph, each message sent once.

Against the fake Graph in process: up to Graph's 4 MB request (attachments of 3 MB at most)
a mail is one sendMail; above, a draft gets its attachments (an upload session of ranged
PUTs for those over 3 MB) and is sent; an attachment too large for the mailbox is linked.
Leftover drafts from an interrupted try are found by the message's key and finished or
replaced, never sent twice.
"""

from __future__ import annotations

import asyncio
import base64
import random
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from automation.backends.graph.backend import GraphDeliverer
from automation.backends.graph.gateway import GraphGateway, StaticToken
from automation.backends.local import LocalArtefactStore, LocalListSource, LocalWorkbookSource
from automation.config.models import GraphBackend, OutboxPolicy
from automation.errors import DataError
from automation.ports import Backend
from automation.runner import deliver_pending
from automation.state import OutboxEntry, Store
from automation.timeutil import JST
from tests.fake_graph import GRAPH_BASE_URL, FakeGraph

MAILBOX = "bousai-automation@pref.example"
NAME = "被害状況集計_第3報.xlsx"
LINK = "https://contoso.sharepoint.com/sites/bousai/Shared%20Documents/report.xlsx"
NOON = datetime(2026, 9, 1, 12, 0, tzinfo=JST)
MB = 1024 * 1024


def workbook(size: int) -> bytes:
    """``size`` bytes that do not compress (like a large xlsx)."""
    return random.Random(size).randbytes(size)


@pytest.fixture
def fake() -> FakeGraph:
    """The fake Graph with the sending mailbox."""
    fake = FakeGraph(token="t")
    fake.add_user(MAILBOX)
    return fake


def backend(fake: FakeGraph, folder: Path, mail_max_mb: float = 35) -> Backend:
    """Graph delivery on ``fake``; artefacts read from ``folder``."""
    gateway = GraphGateway(
        GRAPH_BASE_URL, StaticToken("t"), transport=httpx.ASGITransport(app=fake.app)
    )
    config = GraphBackend.model_validate(
        {
            "type": "graph",
            "auth": {"type": "access_token", "token": "t"},
            "mailbox": MAILBOX,
            "limits": {"mails_per_minute": 6000, "mail_max_mb": mail_max_mb},
        }
    )
    return Backend(
        LocalWorkbookSource(folder),
        LocalArtefactStore(folder),
        GraphDeliverer(gateway, MAILBOX, config),
        LocalListSource(folder),
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A state database with one run."""
    db = Store(tmp_path / "state.sqlite")
    db._db.execute("INSERT INTO runs (flow, started_at, now, status) VALUES ('f', '', '', 'ok')")
    return db


def queue(store: Store, folder: Path, size: int, links: bool = True) -> bytes:
    """Queue the report mail with a merged workbook of ``size`` bytes; return its bytes."""
    data = workbook(size)
    (folder / NAME).write_bytes(data)
    store.enqueue(
        OutboxEntry(
            "f:report:3",
            "f",
            1,
            "report",
            "team",
            "mail",
            "bousai@pref.example",
            "bousai@pref.example",
            "被害状況 第3報",
            {"html": "<p>第3報です。</p>"},
            (NAME,),
            "d",
            payload={"attachment_links": {NAME: LINK}} if links else {},
        ),
        NOON,
    )
    return data


def deliver(store: Store, chosen: Backend, at: datetime = NOON) -> None:
    """One outbox pass."""
    policy = OutboxPolicy(backoff_seconds=(30,))
    asyncio.run(deliver_pending(store, chosen, "f", lambda: at, policy=policy))


def status(store: Store) -> str:
    """The report mail's outbox status."""
    entry = store.get_entry("f:report:3")
    assert entry is not None
    return entry.status


def attached(fake: FakeGraph) -> list[bytes]:
    """The attachment bytes of each mail in Sent Items."""
    return [
        base64.b64decode(a["contentBytes"])
        for mail in fake.sent_items(MAILBOX)
        for a in mail.attachments
    ]


def largest_request(fake: FakeGraph) -> int:
    """The largest request body the fake received."""
    return max(len(c.body) for c in fake.calls)


def test_a_mail_within_graphs_request_limit_is_one_sendmail(
    fake: FakeGraph, store: Store, tmp_path: Path
) -> None:
    """A 1 MB workbook goes inline in a single sendMail."""
    data = queue(store, tmp_path, 1 * MB)
    deliver(store, backend(fake, tmp_path))
    assert (status(store), attached(fake)) == ("sent", [data])
    assert [c.path.rsplit("/", 1)[-1] for c in fake.calls] == ["sendMail"]


@pytest.mark.parametrize("size", [int(3.7 * MB), int(6.4 * MB)])
def test_an_attachment_over_3_mb_goes_through_a_draft_and_an_upload_session(
    fake: FakeGraph, store: Store, tmp_path: Path, size: int
) -> None:
    """3.7 MB and 6.4 MB: draft, createUploadSession, ranged PUTs under 4 MB, send."""
    data = queue(store, tmp_path, size)
    deliver(store, backend(fake, tmp_path))
    assert (status(store), attached(fake)) == ("sent", [data])
    assert fake.requests_to(r"/sendMail$") == []
    assert len(fake.requests_to(r"/attachments/createUploadSession$")) == 1
    assert largest_request(fake) < 4 * MB
    assert fake.drafts == {}


def test_a_complete_draft_left_by_a_failed_send_is_sent_not_rebuilt(
    fake: FakeGraph, store: Store, tmp_path: Path
) -> None:
    """An uncertain send's complete draft is found by its key and sent; no second draft is made."""
    # the send's connection broke and the message is not in Sent Items
    data = queue(store, tmp_path, int(3.7 * MB))
    fake.reset_connection("POST", r"/send$")
    chosen = backend(fake, tmp_path)
    deliver(store, chosen)
    assert status(store) == "uncertain"
    deliver(store, chosen, NOON + timedelta(minutes=5))  # outbox.mail_settle_seconds passed
    assert (status(store), attached(fake)) == ("sent", [data])
    assert len(fake.requests_to(r"/messages$", "POST")) == 1


def test_a_leftover_draft_is_found_past_an_empty_page_of_drafts(
    fake: FakeGraph, store: Store, tmp_path: Path
) -> None:
    """Drafts are searched to the last page (paging.md: a page may hold no results)."""
    data = queue(store, tmp_path, int(3.7 * MB))
    fake.reset_connection("POST", r"/send$")
    chosen = backend(fake, tmp_path)
    deliver(store, chosen)
    fake.empty_page(r"/mailFolders/drafts/messages$")
    deliver(store, chosen, NOON + timedelta(minutes=5))  # outbox.mail_settle_seconds passed
    assert (status(store), attached(fake)) == ("sent", [data])
    assert len(fake.requests_to(r"/messages$", "POST")) == 1
    assert fake.drafts_of(MAILBOX) == []


def test_a_send_whose_reply_was_lost_is_confirmed_in_sent_items(
    fake: FakeGraph, store: Store, tmp_path: Path
) -> None:
    """The draft was sent but the answer lost: Sent Items has it, nothing is sent again."""
    queue(store, tmp_path, int(3.7 * MB))
    fake.lose_reply("POST", r"/send$")
    chosen = backend(fake, tmp_path)
    deliver(store, chosen)
    deliver(store, chosen, NOON + timedelta(seconds=30))
    assert (status(store), len(fake.sent_items(MAILBOX))) == ("sent", 1)
    assert len(fake.requests_to(r"/send$")) == 1


def test_an_incomplete_leftover_draft_is_deleted_and_built_again(
    fake: FakeGraph, store: Store, tmp_path: Path
) -> None:
    """An attachment upload that failed leaves a draft without it: deleted, then rebuilt."""
    data = queue(store, tmp_path, int(6.4 * MB))
    fake.fail("PUT", r"^/outlook-upload/", 400, skip=1)
    chosen = backend(fake, tmp_path)
    deliver(store, chosen)
    assert (status(store), len(fake.drafts)) == ("failed", 1)
    deliver(store, chosen, NOON + timedelta(seconds=30))
    assert (status(store), attached(fake), fake.drafts) == ("sent", [data], {})
    assert len(fake.requests_to(r"/messages/[^/]+$", "DELETE")) == 1


def test_a_draft_whose_creation_reply_was_lost_is_not_duplicated(
    fake: FakeGraph, store: Store, tmp_path: Path
) -> None:
    """Graph made the draft but the answer was lost: the next try finds it by key."""
    data = queue(store, tmp_path, int(3.7 * MB))
    fake.lose_reply("POST", r"/users/[^/]+/messages$")
    chosen = backend(fake, tmp_path)
    deliver(store, chosen)
    assert status(store) == "failed"  # a draft is not a sent mail: nothing is uncertain
    deliver(store, chosen, NOON + timedelta(seconds=30))
    assert (status(store), attached(fake), fake.drafts) == ("sent", [data], {})


def test_an_attachment_too_large_for_the_mailbox_is_linked_instead(
    fake: FakeGraph, store: Store, tmp_path: Path
) -> None:
    """Over mail_max_mb the workbook is not attached; the mail links where it is stored."""
    queue(store, tmp_path, 2 * MB)
    deliver(store, backend(fake, tmp_path, mail_max_mb=1))
    (mail,) = fake.sent_items(MAILBOX)
    assert (status(store), mail.attachments) == ("sent", [])
    assert f'<a href="{LINK}">{NAME}</a>' in mail.body["content"]
    assert "メールの上限（1 MB）を超えるため" in mail.body["content"]


def test_an_attachment_too_large_without_a_link_is_not_sent_and_says_why(
    fake: FakeGraph, store: Store, tmp_path: Path
) -> None:
    """No web address to link: the message fails with the size, the limit and the fix."""
    queue(store, tmp_path, 2 * MB, links=False)
    chosen = backend(fake, tmp_path, mail_max_mb=1)
    entry = store.get_entry("f:report:3")
    assert entry is not None
    with pytest.raises(DataError, match=r"\(2.0 MB\) is too large for the mailbox's 1 MB limit"):
        asyncio.run(chosen.deliverer.deliver(entry, {NAME: (tmp_path / NAME).read_bytes()}))
    assert fake.sent_mail == []
