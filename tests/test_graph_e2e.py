"""End to end on Microsoft Graph: the CLI as a subprocess against the fake Graph over loopback.

The same demo workspace runs once on the local backend and once on a fake tenant holding the
same workbook and list; the reports, statuses, problems and deliveries must be the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from automation.demo import (
    PROGRESS_ROUND,
    ROUND_1,
    ROUND_2,
    WORKBOOK,
    edit_workbook,
    write_workspace,
)
from tests import graph_tenant
from tests.fake_graph import FakeGraph

pytestmark = pytest.mark.e2e


def cli(config: Path, *args: str) -> dict[str, Any]:
    """Run ``automation run ... --json`` with the fake's token; return the run record."""
    env = {**os.environ, "FAKE_GRAPH_TOKEN": graph_tenant.TOKEN}
    result = subprocess.run(
        [sys.executable, "-m", "automation", "run", *args, "-c", str(config), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    record: dict[str, Any] = json.loads(result.stdout)
    return record


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A demo workspace on the local backend."""
    write_workspace(tmp_path / "local")
    return tmp_path / "local"


@pytest.fixture
def fake(workspace: Path) -> FakeGraph:
    """A fake tenant seeded with the workspace's workbook, list and mailbox."""
    fake = FakeGraph(token=graph_tenant.TOKEN, list_page_cap=7)
    graph_tenant.seed(fake, workspace)
    return fake


@pytest.fixture
def graph_config(workspace: Path, fake: FakeGraph) -> Iterator[Path]:
    """The workspace's configuration on the Graph backend, the fake served on 127.0.0.1."""
    with fake.serve() as base_url:
        path = workspace.parent / "graph" / "automation.yaml"
        path.parent.mkdir()
        (path.parent / "directory.yaml").write_bytes((workspace / "directory.yaml").read_bytes())
        local = (workspace / "automation.yaml").read_text(encoding="utf-8")
        path.write_text(graph_tenant.graph_config(local, base_url), encoding="utf-8")
        yield path


def same_report(record: dict[str, Any]) -> dict[str, Any]:
    """What must agree between backends: everything but versions and where files went."""
    keep = ("status", "report_number", "as_of", "totals", "statuses", "changes", "departments")
    deliveries = sorted(
        (d["kind"], d["channel"], d["recipient"], d["subject"], d["status"])
        for d in record["deliveries"]
    )
    return {
        **{k: record.get(k) for k in keep},
        "not_reported": record.get("not_reported"),
        "problems": record.get("problems"),
        "deliveries": deliveries,
    }


def test_two_report_rounds_on_graph_match_the_local_backend(
    workspace: Path, fake: FakeGraph, graph_config: Path
) -> None:
    """第1報 and 第2報 read from the channel's workbook equal those read from the folder."""
    local_config = workspace / "automation.yaml"
    on_graph = [cli(graph_config, "typhoon_damage", "--now", ROUND_1)]
    on_local = [cli(local_config, "typhoon_damage", "--now", ROUND_1)]
    edit_workbook(workspace / "inputs" / WORKBOOK)
    fake.set_content(
        graph_tenant.DRIVE, graph_tenant.BOOK, (workspace / "inputs" / WORKBOOK).read_bytes()
    )
    on_graph.append(cli(graph_config, "typhoon_damage", "--now", ROUND_2))
    on_local.append(cli(local_config, "typhoon_damage", "--now", ROUND_2))
    assert [r["report_number"] for r in on_graph] == [1, 2]
    assert [same_report(r) for r in on_graph] == [same_report(r) for r in on_local]


def test_report_on_graph_is_uploaded_mailed_and_posted(fake: FakeGraph, graph_config: Path) -> None:
    """The merged workbook lands next to the source; mail and card arrive once each."""
    record = cli(graph_config, "typhoon_damage", "--now", ROUND_1)
    assert record["status"] == "ok", record.get("error")
    uploaded = fake.file_at(graph_tenant.DRIVE, "/General/被害状況集計_第1報.xlsx")
    assert uploaded is not None and uploaded.content.startswith(b"PK")
    sent = fake.sent_items(graph_tenant.MAILBOX)
    assert len(sent) == sum(1 for d in record["deliveries"] if d["channel"] == "mail")
    webhooks = [d for d in record["deliveries"] if d["channel"] == "teams_webhook"]
    assert [c["body"][0]["text"] for c in fake.cards()] == ["令和8年台風第10号 被害状況 第1報"]
    assert len(webhooks) == 1
    assert fake.authorization_leaks() == []


def test_a_report_records_the_web_address_of_its_source_workbook(
    workspace: Path, fake: FakeGraph, graph_config: Path
) -> None:
    """On Graph the run record names the source workbook with its webUrl; locally only its name."""
    # (the console links it)
    book = fake.file_at(graph_tenant.DRIVE, f"/General/{WORKBOOK}")
    assert book is not None
    on_graph = cli(graph_config, "typhoon_damage", "--now", ROUND_1)
    on_local = cli(workspace / "automation.yaml", "typhoon_damage", "--now", ROUND_1)
    assert on_graph["source_workbook"] == {"name": WORKBOOK, "web_url": book.web_url}
    assert on_local["source_workbook"] == {"name": WORKBOOK, "web_url": None}


def test_an_unchanged_workbook_costs_one_request_on_graph(
    fake: FakeGraph, graph_config: Path
) -> None:
    """The second poll of an unchanged workbook is one conditional GET answered 304."""
    cli(graph_config, "typhoon_damage", "--now", ROUND_1)
    before = len(fake.calls)
    again = cli(graph_config, "typhoon_damage", "--now", ROUND_1)
    assert again["status"] == "unchanged"
    assert [(c.method, c.status) for c in fake.calls[before:]] == [("GET", 304)]


def test_a_changed_workbook_costs_the_fewest_requests_on_graph(
    workspace: Path, fake: FakeGraph, graph_config: Path
) -> None:
    """A new version costs its item, its download, one upload and one request per message."""
    # the web address comes with the item (eTag, webUrl, download URL): no request of its own
    cli(graph_config, "typhoon_damage", "--now", ROUND_1)
    edit_workbook(workspace / "inputs" / WORKBOOK)
    fake.set_content(
        graph_tenant.DRIVE, graph_tenant.BOOK, (workspace / "inputs" / WORKBOOK).read_bytes()
    )
    before = len(fake.calls)
    record = cli(graph_config, "typhoon_damage", "--now", ROUND_2)
    calls = fake.calls[before:]
    reads = [c for c in calls if c.method == "GET" and WORKBOOK in c.path]
    sent = [d for d in record["deliveries"] if d["status"] == "sent"]
    assert record["source_workbook"]["web_url"] is not None
    assert [c.query for c in reads] == [
        {"select": "eTag,webUrl,@microsoft.graph.downloadUrl,parentReference"}
    ]
    assert len([c for c in calls if c.path.startswith("/download/")]) == 1
    assert len(calls) == 2 + 1 + len(sent), [(c.method, c.path) for c in calls]


def test_a_moved_channel_folder_is_looked_up_again(
    fake: FakeGraph, graph_config: Path, workspace: Path
) -> None:
    """A remembered files folder that no longer holds the workbook is looked up once more."""
    cli(graph_config, "typhoon_damage", "--now", ROUND_1)
    moved = fake.add_folder(graph_tenant.DRIVE, "01MOVEDFOLDER", "/Renamed")
    fake.channels[(graph_tenant.TEAM, graph_tenant.CHANNEL)].folder_item_id = moved.item_id
    edit_workbook(workspace / "inputs" / WORKBOOK)
    fake.add_drive_item(
        graph_tenant.DRIVE,
        "01MOVEDBOOK",
        WORKBOOK,
        (workspace / "inputs" / WORKBOOK).read_bytes(),
        parent_path="/Renamed",
    )
    fake.drives[graph_tenant.DRIVE].items.pop(graph_tenant.BOOK)
    record = cli(graph_config, "typhoon_damage", "--now", ROUND_2)
    assert (record["status"], record["report_number"]) == ("ok", 2)
    assert len(fake.requests_to(r"/filesFolder$")) == 2


def test_progress_round_on_graph_matches_the_local_backend(
    workspace: Path, graph_config: Path
) -> None:
    """Reminders and problems from the SharePoint list equal those from the CSV."""
    on_graph = cli(graph_config, "dx_progress", "--now", PROGRESS_ROUND)
    on_local = cli(workspace / "automation.yaml", "dx_progress", "--now", PROGRESS_ROUND)
    keep = ("status", "period", "phase", "items", "complete", "completion", "status_counts")
    assert {k: on_graph.get(k) for k in keep} == {k: on_local.get(k) for k in keep}
    assert sorted(i["id"] for i in on_graph["incomplete"]) == sorted(
        i["id"] for i in on_local["incomplete"]
    )
    assert on_graph["problems"] == on_local["problems"]
    assert same_report(on_graph)["deliveries"] == same_report(on_local)["deliveries"]


def test_a_lists_columns_are_read_once_per_installation(
    fake: FakeGraph, graph_config: Path
) -> None:
    """The display-name lookup is remembered: a second progress run reads only item pages."""
    cli(graph_config, "dx_progress", "--now", PROGRESS_ROUND)
    cli(graph_config, "dx_progress", "--now", PROGRESS_ROUND)
    assert len(fake.requests_to(r"/columns$")) == 1


def test_reminders_link_each_sharepoint_item_without_extra_requests(
    fake: FakeGraph, graph_config: Path
) -> None:
    """Reminders link each item's webUrl, read with the items: one request a page, none an item."""
    # (listitem-list.md; resources/listitem.md webUrl)
    sp_list = fake.lists[(graph_tenant.SITE, graph_tenant.LIST)]
    web_urls = {i.item_id: i.web_url for i in sp_list.items}
    record = cli(graph_config, "dx_progress", "--now", PROGRESS_ROUND)
    assert record["incomplete"]
    assert {i["id"]: i["link"] for i in record["incomplete"]} == {
        i["id"]: web_urls[i["id"]] for i in record["incomplete"]
    }
    pages = -(-len(sp_list.items) // 7)  # the fake serves 7 items a page
    assert len(fake.requests_to(r"/items$", "GET")) == pages
