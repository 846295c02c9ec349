"""One contract for every backend: the local folder, Graph on the fake, Graph on cassettes.

Flows see only the ports (automation/ports.py). Each backend here holds the same data (the
tiny workbook and three-item list that the cassettes were written with, from the Microsoft
Graph reference pages), and every test runs against all three, so the fake cannot drift from
the documented wire format and the local backend cannot drift from Graph.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from openpyxl import Workbook

from automation.backends.graph.backend import (
    GraphArtefactStore,
    GraphDeliverer,
    GraphListSource,
    GraphWorkbookSource,
)
from automation.backends.graph.gateway import GraphGateway, StaticToken
from automation.backends.local import (
    LocalArtefactStore,
    LocalDeliverer,
    LocalListSource,
    LocalWorkbookSource,
)
from automation.config.models import DriveFile, FileRef, GraphBackend, ListRef, SiteList
from automation.damage.workbook import parse_workbook
from automation.errors import DataError
from automation.ports import ArtefactStore, ListSource, WorkbookSource
from automation.state import OutboxEntry
from automation.timeutil import JST
from tests.cassette_tools import BASE_URL, PLACEHOLDERS, make_vcr
from tests.fake_graph import FakeGraph

T = TypeVar("T")
VCR = make_vcr()
DRIVE = PLACEHOLDERS["GRAPH_TEST_DRIVE_ID"]
BOOK = PLACEHOLDERS["GRAPH_TEST_ITEM_ID"]
SITE = PLACEHOLDERS["GRAPH_TEST_SITE_ID"]
LIST = PLACEHOLDERS["GRAPH_TEST_LIST_ID"]
MAILBOX = PLACEHOLDERS["GRAPH_TEST_MAILBOX"]
FOLDER = "01BOUSAIFAKECHANNELFOLDER000000002"
REPORT = "被害状況集計_第1報.xlsx"
REPORT_BYTES = "被害状況集計 第1報 (xlsx bytes)".encode()
COLUMNS = [
    ("Title", "タイトル"),
    ("_x90e8__x5c40_", "部局"),
    ("_x4e8b__x696d__x540d_", "事業名"),
    ("_x5bfe__x8c61__x671f__x9593_", "対象期間"),
    ("_x9032__x6357__x72b6__x6cc1_", "進捗状況"),
]
ITEMS = [
    ("1", "2026-10-01T01:02:03Z", "行政手続オンライン化", "総務部", "順調"),
    ("2", "2026-10-02T06:30:00Z", "ぐんまDX加速化", "企画部", "やや遅れ"),
    ("3", "2026-09-30T08:00:00Z", "オンライン診療の普及", "健康福祉部", "遅れ"),
]
WANTED = ["タイトル", "部局", "進捗状況"]
SENT_KEY = "damage-typhoon10-1-soumu"
UNSENT_KEY = "damage-typhoon10-1-kikaku"


def workbook_bytes() -> bytes:
    """The cassettes' workbook: sheet 総務部 with 市町村 / 全壊 / 半壊 and 前橋市 / 0 / 2."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "総務部"
    sheet.append(["市町村", "全壊", "半壊"])
    sheet.append(["前橋市", 0, 2])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def mail(key: str) -> OutboxEntry:
    """The cassettes' reminder mail to 総務部, under idempotency key ``key``."""
    return OutboxEntry(
        key=key,
        flow="damage",
        run_id=1,
        kind="reminder",
        audience="総務部",
        channel="mail",
        recipient="soumu@pref.example",
        recipient_label="soumu@pref.example",
        subject="【令和8年台風第10号】被害状況の報告依頼（第1報）",
        bodies={"html": "<p>総務部 ご担当者様</p><p>被害状況の報告をお願いします。</p>"},
        attachments=(),
        digest="0" * 64,
    )


@dataclass
class Tenant:
    """One backend holding the contract data, and how to reach it."""

    name: str
    workbooks: WorkbookSource
    artefacts: ArtefactStore
    deliverer: LocalDeliverer | GraphDeliverer
    lists: ListSource
    workbook: FileRef
    list_ref: ListRef
    cassettes: dict[str, str] = field(default_factory=dict)
    gateway: GraphGateway | None = None

    def around(self, operation: str) -> AbstractContextManager[Any]:
        """Replay the cassette of ``operation`` (cassette tenant only)."""
        if not self.cassettes:
            return nullcontext()
        return VCR.use_cassette(self.cassettes[operation], allow_playback_repeats=False)

    def run(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run one port call (inside its cassette, where there is one)."""
        with self.around(operation):
            return asyncio.run(call())


def local_tenant(root: Path) -> Tenant:
    """The local backend: a folder with the workbook and the list as a CSV export."""
    (root / "inputs").mkdir(parents=True)
    (root / "inputs" / "book.xlsx").write_bytes(workbook_bytes())
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["ID", "リンク", "更新日時", *(display for _, display in COLUMNS)])
    for item_id, modified, title, department, status in ITEMS:
        link = f"https://contoso.sharepoint.com/sites/dx/Lists/progress/{item_id}_.000"
        when = datetime.fromisoformat(modified.replace("Z", "+00:00")).astimezone(JST).isoformat()
        writer.writerow([item_id, link, when, title, department, "", "", status])
    (root / "inputs" / "list.csv").write_text(out.getvalue(), encoding="utf-8-sig")
    return Tenant(
        "local",
        LocalWorkbookSource(root / "inputs"),
        LocalArtefactStore(root / "artefacts"),
        LocalDeliverer(root / "deliveries"),
        LocalListSource(root / "inputs"),
        "book.xlsx",
        "list.csv",
    )


def graph_tenant(gateway: GraphGateway, cache: Path, cassettes: dict[str, str]) -> Tenant:
    """The Graph adapters on ``gateway``."""
    config = GraphBackend.model_validate(
        {
            "type": "graph",
            "auth": {"type": "access_token", "token": "t"},
            "mailbox": MAILBOX,
            "limits": {"mails_per_minute": 6000, "webhook_posts_per_second": 100},
        }
    )
    return Tenant(
        "graph-cassettes" if cassettes else "graph-fake",
        GraphWorkbookSource(gateway),
        GraphArtefactStore(gateway, LocalArtefactStore(cache)),
        GraphDeliverer(gateway, MAILBOX, config),
        GraphListSource(gateway),
        DriveFile(drive_id=DRIVE, item_id=BOOK),
        SiteList(site_id=SITE, list_id=LIST),
        cassettes,
        gateway,
    )


def seeded_fake() -> FakeGraph:
    """The fake Graph holding the contract data."""
    fake = FakeGraph(token="t", list_page_cap=2)
    fake.add_folder(DRIVE, FOLDER, "/General")
    fake.add_drive_item(DRIVE, BOOK, "被害報告.xlsx", workbook_bytes(), parent_path="/General")
    columns = [{"name": n, "displayName": d, "type": "text"} for n, d in COLUMNS]
    items = [
        {
            "id": item_id,
            "webUrl": f"https://contoso.sharepoint.com/sites/dx/Lists/progress/{item_id}_.000",
            "lastModifiedDateTime": modified,
            "Title": title,
            "_x90e8__x5c40_": department,
            "_x9032__x6357__x72b6__x6cc1_": status,
        }
        for item_id, modified, title, department, status in ITEMS
    ]
    fake.add_list(SITE, LIST, columns, items)
    fake.add_user(MAILBOX)
    return fake


@pytest.fixture(params=["local", "graph-fake", "graph-cassettes"])
def tenant(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Tenant]:
    """The contract data on each backend in turn."""
    if request.param == "local":
        yield local_tenant(tmp_path)
        return
    if request.param == "graph-fake":
        fake = seeded_fake()
        transport = httpx.ASGITransport(app=fake.app)
        gateway = GraphGateway(BASE_URL, StaticToken("t"), transport=transport)
        yield graph_tenant(gateway, tmp_path / "cache", {})
        return
    cassettes = {
        "download": "download_redirect.yaml",
        "unchanged": "download_not_modified.yaml",
        "list": "list_read.yaml",
        "columns": "list_columns.yaml",
        "upload": "upload_simple.yaml",
        "mail": "send_mail.yaml",
        "confirm-sent": "sent_items_found.yaml",
        "confirm-unsent": "sent_items_missing.yaml",
    }
    yield graph_tenant(GraphGateway(BASE_URL, StaticToken("t")), tmp_path / "cache", cassettes)


def test_a_workbook_is_fetched_with_a_version(tenant: Tenant) -> None:
    """fetch with no known version returns the workbook's bytes and a version tag."""
    fetched = tenant.run("download", lambda: tenant.workbooks.fetch(tenant.workbook, None))
    assert fetched.version
    assert fetched.data is not None
    sheet = parse_workbook(fetched.data, fetched.name, max_bytes=10**6).sheets["総務部"]
    assert sheet.rows[1] == ("前橋市", 0, 2)


def test_an_unchanged_workbook_comes_back_without_data(tenant: Tenant) -> None:
    """fetch with the version just seen returns no data and the same version."""
    first = tenant.run("download", lambda: tenant.workbooks.fetch(tenant.workbook, None))
    again = tenant.run("unchanged", lambda: tenant.workbooks.fetch(tenant.workbook, first.version))
    assert (again.version, again.data) == (first.version, None)


def test_a_fetch_announces_a_new_version_at_most_once_and_an_unchanged_one_never(
    tenant: Tenant,
) -> None:
    """fetch calls ``arriving`` at most once for a new version, never for an unchanged one."""
    # the Graph backend calls it before the download; a folder has no transfer to wait for
    heard: list[str] = []
    first = tenant.run(
        "download",
        lambda: tenant.workbooks.fetch(tenant.workbook, None, arriving=lambda: heard.append("new")),
    )
    count = len(heard)
    tenant.run(
        "unchanged",
        lambda: tenant.workbooks.fetch(
            tenant.workbook, first.version, arriving=lambda: heard.append("unchanged")
        ),
    )
    assert count <= 1
    assert "unchanged" not in heard


def test_list_items_carry_only_the_wanted_columns_by_display_name(tenant: Tenant) -> None:
    """Every item arrives (paging hidden) with id, link, modified time and the asked fields."""
    items = tenant.run(
        "list",
        lambda: tenant.lists.items(
            tenant.list_ref,
            WANTED,
            id_column="ID",
            link_column="リンク",
            modified_column="更新日時",
        ),
    )
    assert [(i.id, dict(i.fields)) for i in items] == [
        (item_id, {"タイトル": title, "部局": department, "進捗状況": status})
        for item_id, _, title, department, status in ITEMS
    ]
    assert [i.link for i in items] == [
        f"https://contoso.sharepoint.com/sites/dx/Lists/progress/{n}_.000" for n in "123"
    ]
    assert [i.modified.astimezone(JST).isoformat() if i.modified else None for i in items] == [
        "2026-10-01T10:02:03+09:00",
        "2026-10-02T15:30:00+09:00",
        "2026-09-30T17:00:00+09:00",
    ]


def test_an_unknown_column_is_named_with_the_columns_that_exist(tenant: Tenant) -> None:
    """Asking for a column the list lacks is bad data naming it and the columns there are."""
    with pytest.raises(DataError) as raised:
        tenant.run(
            "columns",
            lambda: tenant.lists.items(
                tenant.list_ref,
                ["部局", "予算要求"],
                id_column="ID",
                link_column="リンク",
                modified_column="更新日時",
            ),
        )
    assert "列 「予算要求」 がありません。" in raised.value.message
    assert "ある列: " in raised.value.message and "部局" in raised.value.message


def test_an_unknown_column_spelt_with_other_spaces_names_the_lists_column(
    tenant: Tenant,
) -> None:
    """A configured name that differs from a column only by spaces or full-width forms is
    named with that column, so the fix is one edit."""
    with pytest.raises(DataError) as raised:
        tenant.run(
            "columns",
            lambda: tenant.lists.items(
                tenant.list_ref,
                ["部局", "進捗 状況"],
                id_column="ID",
                link_column="リンク",
                modified_column="更新日時",
            ),
        )
    assert "「進捗 状況」は一覧の「進捗状況」のことですか。" in raised.value.message


def test_an_artefact_is_stored_and_read_back(tenant: Tenant) -> None:
    """put stores the merged workbook next to its source; get returns the same bytes."""
    location = tenant.run(
        "upload", lambda: tenant.artefacts.put(REPORT, REPORT_BYTES, near=tenant.workbook)
    )
    assert location
    assert asyncio.run(tenant.artefacts.get(REPORT, near=tenant.workbook)) == REPORT_BYTES


def test_a_delivered_mail_is_confirmed_after_a_crash(tenant: Tenant) -> None:
    """After deliver, confirm finds the message by its idempotency key."""
    entry = mail(SENT_KEY)
    tenant.run("mail", lambda: tenant.deliverer.deliver(entry, {}))
    assert tenant.run("confirm-sent", lambda: tenant.deliverer.confirm(entry)) is True


def test_an_undelivered_mail_is_not_confirmed(tenant: Tenant) -> None:
    """confirm of a message never sent says it was not delivered."""
    entry = mail(UNSENT_KEY)
    assert tenant.run("confirm-unsent", lambda: tenant.deliverer.confirm(entry)) is False
