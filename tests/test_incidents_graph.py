"""Specs for incidents on the Graph backend, against the fake Graph: the workbook goes into
the flow's Teams channel folder, the announcement carries its web URL, and close moves it
into アーカイブ as driveitem-move.md describes; refusals name the grant or the clash and
change nothing."""

from __future__ import annotations

import asyncio
import io
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from automation.backends.graph.gateway import GraphGateway, StaticToken
from automation.backends.graph.provision import GraphProvisioner
from automation.cli import main
from automation.config.models import ChannelFile
from automation.configuration import load_config
from automation.errors import AuthError, ConfigError
from automation.incident import close_incident
from automation.state import Store
from automation.timeutil import JST
from tests.fake_graph import FakeGraph
from tests.fake_graph.wire import GRAPH_BASE_URL

DRIVE, FOLDER = "b!drive-0001", "01CHANNELFOLDER"
TEAM = "00000000-0000-0000-0000-00000000a001"
CHANNEL = "19:0000000000000000000000000000a002@thread.tacv2"
NAME = "令和8年台風第10号"
BOOK = f"/General/被害/{NAME}_被害状況報告.xlsx"
ARCHIVED = f"/General/被害/アーカイブ/{NAME}_被害状況報告.xlsx"
NOW = datetime(2026, 9, 1, 9, 0, tzinfo=JST)
CONFIG = """\
version: 1
state: {{path: state/db.sqlite}}
backend: {{type: graph, base_url: '{base_url}', auth: {{type: access_token, token: t}}, mailbox: bousai@example.jp}}
directory:
  departments:
    - name: 危機管理課
      sheet: 危機管理課
      contacts: [{{channel: mail, address: kikikanri@example.jp}}]
flows:
  - id: damage
    kind: damage_rollup
    params:
      disaster: 令和8年台風
      workbook: {{team_id: '{team}', channel_id: '{channel}', path: 被害/被害状況報告.xlsx}}
      report_to: [{{channel: mail, address: bousai@example.jp}}]
      municipalities: [前橋市, 高崎市]
"""


def tenant() -> FakeGraph:
    fake = FakeGraph(token="t")
    fake.add_team_channel(TEAM, CHANNEL, "General", DRIVE, FOLDER)
    fake.add_user("bousai@example.jp")
    return fake


def provisioner(fake: FakeGraph) -> GraphProvisioner:
    transport = httpx.ASGITransport(app=fake.app)
    return GraphProvisioner(GraphGateway(GRAPH_BASE_URL, StaticToken("t"), transport=transport))


def workbook_ref() -> ChannelFile:
    return ChannelFile(team_id=TEAM, channel_id=CHANNEL, path=f"被害/{NAME}_被害状況報告.xlsx")


def archive(fake: FakeGraph) -> str:
    return asyncio.run(provisioner(fake).archive_workbook(workbook_ref(), "アーカイブ"))


def config(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "automation.yaml"
    text = CONFIG.format(base_url=base_url, team=TEAM, channel=CHANNEL)
    path.write_text(text, encoding="utf-8")
    return path


def test_open_and_close_on_graph_create_announce_and_archive_in_the_channel(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """open puts the workbook in the channel folder and mails its web URL; close moves it."""
    fake = tenant()
    with fake.serve() as base_url:
        path = config(tmp_path, base_url)
        opened = main(["incident", "open", "-c", str(path), "--flow", "damage", "--name", NAME])
        stored = fake.file_at(DRIVE, BOOK)
        assert stored is not None
        url = stored.web_url
        closed = main(["incident", "close", "-c", str(path), "--flow", "damage"])

    out = capsys.readouterr().out
    assert (opened, closed) == (0, 0)
    assert f"created {url} (" in out
    assert fake.file_at(DRIVE, BOOK) is None
    moved = fake.file_at(DRIVE, ARCHIVED)
    assert moved is not None and moved.content is not None and moved.content.startswith(b"PK")
    assert f"archived the workbook to {moved.web_url}\n" in out
    announcements = [m for m in fake.sent_mail if "受付を開始" in m.subject]
    assert sorted(address for m in announcements for address in m.to) == [
        "bousai@example.jp",
        "kikikanri@example.jp",
    ]
    assert all(url in str(m.body["content"]) for m in announcements)


def test_archiving_creates_the_folder_and_moves_by_parent_reference() -> None:
    """A missing アーカイブ is created (conflictBehavior fail), then one PATCH moves the item."""
    fake = tenant()
    fake.add_drive_item(DRIVE, "01BOOK", f"{NAME}_被害状況報告.xlsx", b"PK typed", "/General/被害")

    archive(fake)

    patches = [c for c in fake.calls if c.method == "PATCH"]
    folder = fake.file_at(DRIVE, "/General/被害/アーカイブ")
    assert folder is not None and folder.is_folder
    assert [c.json() for c in patches] == [{"parentReference": {"id": folder.item_id}}]
    assert fake.file_at(DRIVE, ARCHIVED) is not None


def test_an_item_of_the_same_name_in_the_archive_is_named_and_nothing_moves() -> None:
    """A clash in アーカイブ: a ConfigError naming it, no PATCH, the workbook stays."""
    fake = tenant()
    fake.add_drive_item(DRIVE, "01BOOK", f"{NAME}_被害状況報告.xlsx", b"PK typed", "/General/被害")
    fake.add_drive_item(
        DRIVE, "01OLD", f"{NAME}_被害状況報告.xlsx", b"older", "/General/被害/アーカイブ"
    )

    with pytest.raises(ConfigError) as refused:
        archive(fake)

    assert refused.value.message.startswith(
        f"アーカイブ/{NAME}_被害状況報告.xlsx already exists (https://"
    )
    assert refused.value.message.endswith(
        "; nothing was changed. Rename or move that file, then run incident close again"
    )
    assert [c for c in fake.calls if c.method == "PATCH"] == []
    assert fake.file_at(DRIVE, BOOK) is not None


def test_a_move_refused_403_names_the_grant_and_the_workbook_stays(tmp_path: Path) -> None:
    """403 on the move: an AuthError naming Sites.Selected (write); nothing moved."""
    fake = tenant()
    fake.add_drive_item(DRIVE, "01BOOK", f"{NAME}_被害状況報告.xlsx", b"PK typed", "/General/被害")
    fake.fail("PATCH", "/items/01BOOK", 403)

    with pytest.raises(AuthError, match=r"Sites\.Selected \(write\) on the site"):
        archive(fake)

    assert fake.file_at(DRIVE, BOOK) is not None
    assert fake.file_at(DRIVE, ARCHIVED) is None


def test_a_close_refused_403_keeps_the_incident_open_to_close_again(tmp_path: Path) -> None:
    """A refused archive leaves the incident open (closing); the message says so."""
    fake = tenant()
    with fake.serve() as base_url:
        path = config(tmp_path, base_url)
        main(["incident", "open", "-c", str(path), "--flow", "damage", "--name", NAME])
        fake.fail("PATCH", "/items/", 403)
        loaded = load_config(path)
        out = io.StringIO()
        with pytest.raises(AuthError):
            close_incident(loaded, "damage", NOW, out)

    assert out.getvalue().startswith(f"issued 第1報（最終報） of incident '{NAME}'\n")
    with Store(loaded.state_target) as store:
        (incident,) = store.incidents("damage")
    assert incident.is_open and incident.closing
    assert fake.file_at(DRIVE, BOOK) is not None


def test_an_open_refused_403_names_the_grant_and_records_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """403 on the channel's site: exit 1 naming Sites.Selected (write); no file, no incident."""
    fake = tenant()
    fake.fail("GET", r"/items/[^/]+:/", 403, times=None)
    with fake.serve() as base_url:
        path = config(tmp_path, base_url)
        code = main(["incident", "open", "-c", str(path), "--flow", "damage", "--name", NAME])

    assert code == 1
    assert "Sites.Selected (write) on the site" in capsys.readouterr().err
    assert fake.file_at(DRIVE, BOOK) is None
    assert [c for c in fake.calls if c.method in ("PUT", "POST")] == []
    with Store(load_config(path).state_target) as store:
        assert store.incidents("damage") == []
