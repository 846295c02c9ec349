"""End to end: the ``automation`` CLI as a subprocess on a generated workspace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from automation.demo import ROUND_1, ROUND_2, edit_workbook, write_workspace
from automation.state import Store

pytestmark = pytest.mark.e2e
ENV = dict(os.environ)


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``python -m automation ARGS``."""
    result = subprocess.run(
        [sys.executable, "-m", "automation", *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A freshly generated demo workspace (configuration, directory, workbook)."""
    write_workspace(tmp_path / "ws")
    return tmp_path / "ws"


def run_json(workspace: Path, now: str) -> dict[str, Any]:
    """One run of the typhoon flow, returning its JSON run record."""
    out = cli(
        "run", "typhoon_damage", "-c", str(workspace / "automation.yaml"), "--now", now, "--json"
    )
    record: dict[str, Any] = json.loads(out.stdout)
    return record


def test_two_rounds_produce_two_numbered_reports(workspace: Path) -> None:
    """Round 1 issues 第1報; after two departments edit, round 2 issues 第2報 with the diff."""
    first = run_json(workspace, ROUND_1)
    assert (first["status"], first["report_number"], first["as_of_ja"]) == (
        "ok",
        1,
        "2026年9月1日9時10分現在",
    )
    assert first["totals"]["dead"] == {
        "label": "死者",
        "unit": "人",
        "category": "人的被害",
        "value": 1,
        "unconfirmed": 0,
        "unconfirmed_where": [],
        "unreadable": 0,
        "unreadable_where": [],
        "notes": "",
    }
    assert first["departments"]["農政部"] == {
        "status": "problems",
        "updated": True,
        "behind": False,
        "behind_ja": None,
        "problems": 1,
        "carried_forward": False,
        "likely_sheet": None,
        "likely_sheet_ja": None,
        "changed_at": "2026-09-01T09:10:00+09:00",
    }
    assert first["problems"] == [
        {
            "department": "農政部",
            "where": "農政部!B11",
            "value": "多数",
            "message": "田 流失・埋没(ha): 「多数」は数値として読めません。"
            "数字で入力してください（全角・半角どちらでも可）。"
            "不明な場合は「未確認」、被害がない場合は「0」または「-」と入力してください。",
            "municipality": "沼田市",
            "item": "田 流失・埋没",
            "headline": "沼田市の田 流失・埋没: 多数（読めず） 農政部!B11",
        }
    ]

    edit_workbook(workspace / "inputs" / "被害状況報告.xlsx")
    second = run_json(workspace, ROUND_2)
    assert (second["status"], second["report_number"]) == ("ok", 2)
    assert {c["code"] for c in second["changes"] if c["status"] is None} == {
        "dead",
        "injured_minor",
        "house_half_bldg",
        "house_half_hh",
        "house_half_ppl",
        "roads",
        "evacuees",
    }
    assert second["not_reported"] == ["産業経済部", "企業局"]
    reminders = sorted(d["recipient"] for d in second["deliveries"] if d["kind"] == "reminder")
    assert reminders == ["kigyou@pref.gunma.example.lg.jp", "sangyou@pref.gunma.example.lg.jp"]
    assert all(d["status"] == "sent" for d in second["deliveries"])


def test_files_written_match_the_run_record(workspace: Path) -> None:
    """Every delivery in the record exists as an envelope plus bodies; the workbook opens."""
    record = run_json(workspace, ROUND_1)
    assert record["deliveries"]
    for delivery in record["deliveries"]:
        envelope = json.loads(Path(delivery["location"]).read_text(encoding="utf-8"))
        assert envelope["key"] == delivery["key"]
        assert envelope["bodies"]
        for body in envelope["bodies"].values():
            assert (Path(delivery["location"]).parent / body).stat().st_size > 0
    (artefact,) = record["artefacts"]
    book = load_workbook(artefact["location"], read_only=True)
    assert book.sheetnames[:4] == ["集計", "市町村別", "報告状況", "要修正セル"]
    assert (
        next(book["集計"].iter_rows(max_row=1, values_only=True))[0]
        == "令和8年台風第10号 被害状況即報（第1報）"
    )


def test_a_second_run_on_the_same_workbook_sends_nothing(workspace: Path) -> None:
    """Rerunning at the same time finds the workbook unchanged and queues nothing new."""
    run_json(workspace, ROUND_1)
    again = run_json(workspace, ROUND_1)
    assert (again["status"], again["report_number"], again["deliveries"]) == ("unchanged", 1, [])
    assert len(list((workspace / "deliveries").glob("*.envelope.json"))) == 8


def test_dry_run_prints_what_would_be_sent(workspace: Path) -> None:
    """--dry-run --show prints the rendered messages and leaves no state behind."""
    out = cli(
        "run",
        "typhoon_damage",
        "-c",
        str(workspace / "automation.yaml"),
        "--now",
        ROUND_1,
        "--dry-run",
        "--show",
    )
    assert "[dry-run: 記録・送信なし]" in out.stdout
    assert "件名: 【令和8年台風第10号】被害状況 第1報（2026年9月1日9時10分現在）" in out.stdout
    assert not (workspace / "state").exists()


def test_broken_config_exits_2_with_positions(workspace: Path) -> None:
    """validate exits 2 and prints FILE:LINE:COL for each problem, never a traceback."""
    config = workspace / "automation.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("report_to:", "reprot_to:"), encoding="utf-8"
    )
    result = cli("validate", "-c", str(config), check=False)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"{config}:19:7: flows[0].params.reprot_to: unknown key 'reprot_to'; "
        "did you mean 'report_to'? rename it (see 'automation schema')",
    ]
    assert "Traceback" not in result.stderr


def test_demo_command_runs_both_rounds(tmp_path: Path) -> None:
    """`automation demo` builds its workspace and prints both reports."""
    out = cli("demo", "--workspace", str(tmp_path / "demo"))
    assert "第1報 2026年9月1日9時10分現在" in out.stdout
    assert "第2報 2026年9月1日11時40分現在" in out.stdout
    assert (tmp_path / "demo" / "artefacts" / "被害状況集計_第2報.xlsx").exists()


def test_history_lists_runs_newest_first(workspace: Path) -> None:
    """`automation history` shows each run with its status and report number."""
    run_json(workspace, ROUND_1)
    edit_workbook(workspace / "inputs" / "被害状況報告.xlsx")
    run_json(workspace, ROUND_2)
    out = cli("history", "-c", str(workspace / "automation.yaml"), "--json")
    runs = json.loads(out.stdout)
    assert [(r["flow"], r["status"], r["report_number"]) for r in runs] == [
        ("typhoon_damage", "ok", 2),
        ("typhoon_damage", "ok", 1),
    ]


def test_outbox_lists_and_retries(workspace: Path) -> None:
    """`automation outbox` lists delivered messages; --retry of an unknown key exits 2."""
    run_json(workspace, ROUND_1)
    listed = cli("outbox", "-c", str(workspace / "automation.yaml"), "--status", "sent")
    assert listed.stdout.count("[sent     ]") == 8
    missing = cli(
        "outbox", "-c", str(workspace / "automation.yaml"), "--retry", "nope", check=False
    )
    assert missing.returncode == 2


def test_outbox_retry_refuses_a_message_already_sent(workspace: Path) -> None:
    """--retry queues only a failed or dead message: a sent one is refused (exit 2)."""
    run_json(workspace, ROUND_1)
    with Store(workspace / "state" / "automation.sqlite") as store:
        sent = store.outbox(statuses=("sent",))[0]
    refused = cli(
        "outbox", "-c", str(workspace / "automation.yaml"), "--retry", sent.key, check=False
    )
    assert refused.returncode == 2
    assert f"outbox entry {sent.key!r} is sent" in refused.stderr
    assert "only a failed or dead message can be retried" in refused.stderr
    with Store(workspace / "state" / "automation.sqlite") as store:
        again = store.get_entry(sent.key)
    assert again is not None and (again.status, again.attempts) == ("sent", sent.attempts)


def test_an_unchanged_run_record_carries_the_current_report(workspace: Path) -> None:
    """The record of an unchanged poll holds 第1報's totals, problems and statuses, and says so."""
    first = run_json(workspace, ROUND_1)
    again = run_json(workspace, "2026-09-01T09:20:00+09:00")
    assert (again["status"], again["report_state"]) == ("unchanged", "stored")
    assert again["problems"] == first["problems"] != []
    assert again["totals"] == first["totals"]
    assert again["not_reported"] == first["not_reported"]
