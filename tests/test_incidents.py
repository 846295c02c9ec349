"""Specs for ``automation incident``: each incident of a damage flow gets its own workbook,
its own 第1報, an announcement sent once, and a close that issues the final report, archives
the workbook and leaves the flow idle (local backend; Graph in test_incidents_graph.py)."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from automation.cli import main
from automation.config.loader import LoadedConfig
from automation.configuration import load_config
from automation.errors import ConfigError
from automation.incident import OpenRequest, Tools, close_incident, open_incident
from automation.inputs_check import check_inputs
from automation.runner import run_flow
from automation.state import OutboxEntry, Store
from automation.textwidth import display_width
from automation.timeutil import JST

CONFIG = """\
version: 1
state: {path: state/db.sqlite}
backend: {type: local, root: inputs, artefacts: out, deliveries: sent}
directory:
  departments:
    - name: 危機管理課
      sheet: 危機管理課
      contacts: [{channel: mail, address: kikikanri@example.jp}]
    - name: 県土整備部
      sheet: 県土整備部
      contacts: [{channel: mail, address: kendo@example.jp}]
flows:
  - id: damage
    kind: damage_rollup
    params:
      disaster: 令和8年台風
      workbook: 報告/被害状況報告.xlsx
      report_to: [{channel: mail, address: bousai@example.jp}]
      municipalities: [前橋市, 高崎市]
      deadlines: {every_hours: 3, remind_minutes_before: 30}
"""
NAME = "令和8年台風第10号"
NOW = datetime(2026, 9, 1, 9, 0, tzinfo=JST)
WORKBOOK = Path("inputs/報告/令和8年台風第10号_被害状況報告.xlsx")
ARCHIVED = Path("inputs/報告/アーカイブ/令和8年台風第10号_被害状況報告.xlsx")


@pytest.fixture
def loaded(tmp_path: Path) -> LoadedConfig:
    """The damage flow on the local backend, in a fresh folder."""
    path = tmp_path / "automation.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_config(path)


def tools() -> Tools:
    return Tools(clock=lambda: NOW)


def opened(loaded: LoadedConfig, name: str = NAME, at: datetime = NOW) -> str:
    """Open incident ``name``; what the command printed."""
    out = io.StringIO()
    assert open_incident(loaded, OpenRequest("damage", name), at, out, tools()) == 0
    return out.getvalue()


def closed(loaded: LoadedConfig, at: datetime) -> str:
    out = io.StringIO()
    assert close_incident(loaded, "damage", at, out, tools=tools()) == 0
    return out.getvalue()


def type_figure(path: Path, value: int) -> None:
    """危機管理課 types ``value`` 死者 for 前橋市 into the provisioned workbook."""
    book = load_workbook(path)
    sheet = book["危機管理課"]
    header = next(r for r in sheet.iter_rows() if r[0].value == "市町村")
    row = next(r for r in sheet.iter_rows(min_row=header[0].row) if r[0].value == "前橋市")
    row[1].value = value
    book.save(path)


def run(loaded: LoadedConfig, at: datetime) -> dict[str, object]:
    return asyncio.run(run_flow(loaded, "damage", at, clock=lambda: at)).record


def sent(loaded: LoadedConfig, kind: str) -> list[dict[str, object]]:
    """Envelopes the local backend delivered for messages of ``kind``."""
    folder = loaded.path.parent / "sent"
    envelopes = [json.loads(p.read_text()) for p in sorted(folder.glob("*.envelope.json"))]
    return [e for e in envelopes if e.get("kind") == kind]


def test_open_creates_the_incident_workbook_beside_the_configured_one(
    loaded: LoadedConfig,
) -> None:
    """The workbook is named after the incident, in the configured workbook's folder."""
    printed = opened(loaded)

    path = loaded.path.parent / WORKBOOK
    assert path.is_file()
    assert load_workbook(path)["危機管理課"]["A1"].value == f"危機管理課 被害状況（{NAME}）"
    assert f"opened incident '{NAME}' of flow damage\ncreated " in printed


def test_open_announces_the_workbook_once_to_the_team_and_each_department(
    loaded: LoadedConfig,
) -> None:
    """The response team and every department's contact get one announcement, not again."""
    opened(loaded)
    run(loaded, NOW + timedelta(minutes=1))

    envelopes = sent(loaded, "incident_open")
    assert sorted(str(e["recipient"]) for e in envelopes) == [
        "bousai@example.jp",
        "kendo@example.jp",
        "kikikanri@example.jp",
    ]
    assert {str(e["subject"]) for e in envelopes} == {
        f"【{NAME}】被害報告の受付を開始しました（報告用ブックのご案内）"
    }


def test_the_flow_reads_the_incident_workbook_and_numbers_from_1(loaded: LoadedConfig) -> None:
    """After open, the next report is 第1報 of the incident, read from its workbook."""
    opened(loaded)
    type_figure(loaded.path.parent / WORKBOOK, 3)

    record = run(loaded, NOW + timedelta(minutes=10))

    assert (record["report_number"], record["new_report"]) == (1, True)
    assert [d["subject"] for d in record["deliveries"] if d["kind"] == "report"] == [  # type: ignore[attr-defined]
        f"【{NAME}】被害状況 第1報（2026年9月1日9時10分現在）"
    ]


def test_a_second_incident_restarts_at_1_and_sends_its_1_again(loaded: LoadedConfig) -> None:
    """Report numbers and message keys are per incident: the next one's 第1報 goes out."""
    opened(loaded)
    type_figure(loaded.path.parent / WORKBOOK, 3)
    run(loaded, NOW + timedelta(minutes=10))
    closed(loaded, NOW + timedelta(hours=1))
    opened(loaded, "令和8年台風第11号", NOW + timedelta(days=7))
    second = loaded.path.parent / "inputs/報告/令和8年台風第11号_被害状況報告.xlsx"
    type_figure(second, 1)

    record = run(loaded, NOW + timedelta(days=7, minutes=10))

    assert record["report_number"] == 1
    assert [d["status"] for d in record["deliveries"] if d["kind"] == "report"] == ["sent"]  # type: ignore[attr-defined]
    assert (loaded.path.parent / "out/令和8年台風第11号_被害状況集計_第1報.xlsx").is_file()
    assert (loaded.path.parent / "out/令和8年台風第10号_被害状況集計_第1報.xlsx").is_file()


def test_open_while_one_is_open_exits_2_naming_it_and_the_close_command(
    loaded: LoadedConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second open changes nothing and says which incident to close, and how."""
    opened(loaded)

    code = main(["incident", "open", "-c", str(loaded.path), "--flow", "damage", "--name", "次"])

    assert code == 2
    assert capsys.readouterr().err == (
        f"incident '{NAME}' of flow 'damage' is still open; nothing was changed. Close it "
        "first with: automation incident close -c FILE --flow damage\n"
    )
    assert not (loaded.path.parent / "inputs/報告/次_被害状況報告.xlsx").exists()


def test_a_name_sharepoint_refuses_is_named_with_the_fix(
    loaded: LoadedConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    """A character SharePoint refuses in file names is named, with what to write instead."""
    code = main(
        ["incident", "open", "-c", str(loaded.path), "--flow", "damage", "--name", "台風10号/前線"]
    )

    assert code == 2
    assert capsys.readouterr().err == (
        "the incident name '台風10号/前線' contains '/', which SharePoint does not allow in "
        "file names; write the full-width '／' instead, or leave it out; nothing was changed\n"
    )
    assert not (loaded.path.parent / "state").exists()


def test_open_refuses_to_overwrite_a_file_of_the_incident_workbook_name(
    loaded: LoadedConfig,
) -> None:
    """An existing file where the workbook would go is named and left as it was."""
    path = loaded.path.parent / WORKBOOK
    path.parent.mkdir(parents=True)
    path.write_bytes(b"typed by departments")

    with pytest.raises(ConfigError) as refused:
        open_incident(loaded, OpenRequest("damage", NAME), NOW, io.StringIO(), tools())

    assert refused.value.message == (
        f"{path} already exists; incident '{NAME}' was not opened and nothing was changed. "
        "An earlier incident's workbook may still be there: move or rename that file, or give "
        "the incident another name"
    )
    assert path.read_bytes() == b"typed by departments"
    with Store(loaded.state_target) as store:
        assert store.incidents("damage") == []


def test_open_dry_run_prints_the_workbook_and_announcements_and_does_nothing(
    loaded: LoadedConfig,
) -> None:
    """--dry-run shows the workbook's sheets and every announcement; nothing is created."""
    out = io.StringIO()

    code = open_incident(loaded, OpenRequest("damage", NAME, dry_run=True), NOW, out, tools())

    printed = out.getvalue()
    assert code == 0
    assert printed.startswith(f"would create 報告/{WORKBOOK.name} (local backend):\n")
    assert "would send 3 announcements:\n--- to bousai@example.jp (mail)\n" in printed
    assert f"件名: 【{NAME}】被害報告の受付を開始しました（報告用ブックのご案内）" in printed
    assert not (loaded.path.parent / "inputs").exists()
    assert not (loaded.path.parent / "state").exists()


def test_close_issues_the_final_report_and_archives_the_workbook(loaded: LoadedConfig) -> None:
    """close sends 第N報（最終報） and moves the workbook into アーカイブ beside it."""
    opened(loaded)
    type_figure(loaded.path.parent / WORKBOOK, 3)
    run(loaded, NOW + timedelta(minutes=10))

    printed = closed(loaded, NOW + timedelta(hours=1))

    folder = loaded.path.parent
    assert not (folder / WORKBOOK).exists()
    assert (folder / ARCHIVED).is_file()
    assert printed.startswith(f"issued 第2報（最終報） of incident '{NAME}'\n")
    assert sorted(str(e["subject"]) for e in sent(loaded, "report")) == [
        f"【{NAME}】被害状況 第1報（2026年9月1日9時10分現在）",
        f"【{NAME}】被害状況 第2報（最終報）（2026年9月1日10時00分現在）",
    ]
    with Store(loaded.state_target) as store:
        (incident,) = store.incidents("damage")
    assert (incident.first_report, incident.last_report) == (1, 2)
    assert incident.archived == str(folder / ARCHIVED)


def test_after_close_the_flow_is_idle_even_in_a_reminder_window(loaded: LoadedConfig) -> None:
    """A closed incident's flow reads nothing and sends no report and no reminder."""
    opened(loaded)
    closed(loaded, NOW + timedelta(minutes=5))
    before = len(list((loaded.path.parent / "sent").iterdir()))

    record = run(loaded, datetime(2026, 9, 1, 11, 45, tzinfo=JST))  # 15 minutes before 12:00

    assert record["status"] == "unchanged"
    assert record["deliveries"] == []
    assert len(list((loaded.path.parent / "sent").iterdir())) == before


def test_close_with_no_incident_open_says_how_to_open_one(
    loaded: LoadedConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    """close without an open incident changes nothing and names the open command."""
    code = main(["incident", "close", "-c", str(loaded.path), "--flow", "damage"])

    assert code == 2
    assert capsys.readouterr().err == (
        "flow 'damage' has no open incident; nothing was changed. Open one with: automation "
        "incident open -c automation.yaml --flow damage --name NAME\n"
    )


def test_a_close_cut_short_by_the_archive_issues_no_second_final_report(
    loaded: LoadedConfig,
) -> None:
    """A refused move keeps the incident open; closing again only retries the archiving."""
    opened(loaded)
    clash = loaded.path.parent / ARCHIVED
    clash.parent.mkdir(parents=True)
    clash.write_bytes(b"an older copy")
    with pytest.raises(ConfigError) as refused:
        close_incident(loaded, "damage", NOW + timedelta(hours=1), io.StringIO(), tools=tools())
    assert refused.value.message.startswith(f"{clash} already exists; nothing was changed.")
    clash.unlink()

    printed = closed(loaded, NOW + timedelta(hours=2))

    assert printed.startswith("第1報 was already the final report; none issued again\n")
    assert len(sent(loaded, "report")) == 1


def test_close_dry_run_says_what_would_happen_and_changes_nothing(loaded: LoadedConfig) -> None:
    """--dry-run names the final report, the archive folder and the idle flow."""
    opened(loaded)
    out = io.StringIO()

    code = close_incident(loaded, "damage", NOW, out, dry_run=True, tools=tools())

    assert code == 0
    assert out.getvalue() == (
        f"would run flow damage once and issue 第1報（最終報） of incident '{NAME}' to the "
        "response team, with no reminders\n"
        f"would move 報告/{WORKBOOK.name} into the folder アーカイブ beside it\n"
        "would record the incident closed; flow damage then reads and sends nothing until the "
        "next incident is opened\n"
    )
    assert (loaded.path.parent / WORKBOOK).is_file()


def test_history_shows_and_filters_by_incident(
    loaded: LoadedConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    """history names each run's incident, and --incident keeps only that incident's runs."""
    run(loaded, NOW - timedelta(hours=1))
    opened(loaded)
    run(loaded, NOW + timedelta(minutes=10))
    capsys.readouterr()

    main(["history", "-c", str(loaded.path), "--incident", NAME])

    lines = capsys.readouterr().out.splitlines()[1:]
    assert len(lines) == 2
    assert all(NAME in line for line in lines)


def test_history_columns_line_up_with_a_japanese_incident_and_a_daemon_s_clock(
    loaded: LoadedConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    """history pads by terminal columns (a kanji takes two) and shows times to the second."""
    # an error starts where the header's "error" does
    run(loaded, NOW - timedelta(hours=1))  # fails: no workbook before an incident opens
    opened(loaded)
    run(loaded, NOW + timedelta(minutes=10, microseconds=123456))  # as a daemon's clock gives
    capsys.readouterr()

    main(["history", "-c", str(loaded.path)])

    header, *rows = capsys.readouterr().out.splitlines()
    newest, failed = rows[0], rows[-1]
    assert "2026-09-01T09:10:00+09:00 " in newest
    assert ".123456" not in newest
    error_at = display_width(header[: header.index("error")])
    assert NAME in newest
    assert display_width(newest.rstrip()) <= error_at  # no error: the row ends before it
    assert display_width(failed[: failed.index("報告/")]) == error_at
    assert display_width(newest[: newest.index(NAME)]) == display_width(
        header[: header.index("incident")]
    )


def test_incident_list_lines_up_its_columns_by_terminal_width(
    loaded: LoadedConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    """incident list pads names and numbers by terminal columns, kanji names included."""
    # the workbook column starts at the same column in the header and in a row
    opened(loaded)
    capsys.readouterr()

    main(["incident", "list", "-c", str(loaded.path)])

    header, row = capsys.readouterr().out.splitlines()
    workbook = row.split()[-1]
    assert display_width(header[: header.index("workbook")]) == display_width(
        row[: row.index(workbook)]
    )


def test_incident_list_shows_each_incident_with_its_reports(
    loaded: LoadedConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    """list --json gives name, times, workbook and first/last report of each incident."""
    opened(loaded)
    type_figure(loaded.path.parent / WORKBOOK, 3)
    run(loaded, NOW + timedelta(minutes=10))
    closed(loaded, NOW + timedelta(hours=1))
    capsys.readouterr()

    main(["incident", "list", "-c", str(loaded.path), "--json"])

    (shown,) = json.loads(capsys.readouterr().out)
    assert shown["name"] == NAME
    assert (shown["first_report"], shown["last_report"]) == (1, 2)
    assert shown["workbook"] == f"報告/{WORKBOOK.name}"
    assert shown["closed_at"] is not None


def test_check_inputs_reads_the_open_incident_workbook(loaded: LoadedConfig) -> None:
    """validate --check-inputs opens the incident's workbook, whose sheets are all there."""
    opened(loaded)

    rows = check_inputs(loaded)

    workbook = rows[0]
    assert (workbook.check, workbook.target, workbook.result) == (
        "workbook",
        f"damage: 報告/{WORKBOOK.name}",
        "OK",
    )
    assert {r.result for r in rows} == {"OK"}


def test_close_drops_the_incident_reminders_still_queued(loaded: LoadedConfig) -> None:
    """A reminder of the incident still waiting in the outbox is given up, never sent."""
    opened(loaded)
    key = "damage:reminder-left-over"
    with Store(loaded.state_target) as store:
        (run,) = store.runs("damage")
        store.enqueue(
            OutboxEntry(
                key=key,
                flow="damage",
                run_id=int(run["id"]),
                kind="reminder",
                audience="危機管理課",
                channel="mail",
                recipient="kikikanri@example.jp",
                recipient_label="kikikanri@example.jp",
                subject="督促",
                bodies={"text": "更新をお願いします"},
                attachments=(),
                digest="d",
                occasion=f"incident:{NAME}:reminder:2026-09-01T12:00:00+09:00",
            ),
            NOW,
        )

    printed = closed(loaded, NOW + timedelta(hours=1))

    assert printed.startswith(f"dropped 1 reminders still queued for incident '{NAME}'\n")
    assert sent(loaded, "reminder") == []
    with Store(loaded.state_target) as store:
        entry = store.get_entry(key)
    assert entry is not None and entry.status == "dead"
    assert entry.last_error == (
        f"not sent: incident '{NAME}' was closed before it could be delivered"
    )


def test_history_json_names_each_run_incident(
    loaded: LoadedConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    """history --json gives each run record the name of its incident (null: none open)."""
    run(loaded, NOW - timedelta(hours=1))
    opened(loaded)
    capsys.readouterr()

    main(["history", "-c", str(loaded.path), "--json"])

    assert [r["incident"] for r in json.loads(capsys.readouterr().out)] == [NAME, None]
