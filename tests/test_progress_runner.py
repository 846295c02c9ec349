"""Idempotency of the progress flow on the local backend: reruns, fixes, crashes."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import pytest

from automation.backends.local import (
    LocalArtefactStore,
    LocalListSource,
    LocalWorkbookSource,
)
from automation.config.loader import LoadedConfig, load_config
from automation.errors import TransientError
from automation.ports import Backend
from automation.runner import RunResult, run_flow
from automation.state import OutboxEntry
from automation.timeutil import JST

CONFIG = """\
version: 1
state: {path: state/db.sqlite}
backend: {type: local, root: inputs, artefacts: out, deliveries: sent}
directory:
  departments:
    - name: 総務部
      dx_leaders: [{channel: mail, address: somu-dx@example.jp}]
      escalation: [{channel: mail, address: somu-head@example.jp}]
    - name: 農政部
      dx_leaders: [{channel: mail, address: nousei-dx@example.jp}]
      escalation: [{channel: mail, address: nousei-head@example.jp}]
flows:
  - id: progress
    kind: progress_collection
    params:
      programme: DX推進計画
      list: list.csv
      rounds: [{deadline: 2026-10-15}]
      required: [実績, 進捗状況]
      secretariat: [{channel: mail, address: secretariat@example.jp}]
"""
HEADER = ["ID", "対象期間", "部局", "事業名", "実績", "進捗状況"]
REMINDER_DAY = datetime(2026, 10, 14, 9, tzinfo=JST)


def write_list(folder: Path, rows: list[list[object]]) -> None:
    """Write the list CSV as Excel does (UTF-8 with BOM)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows([HEADER, *rows])
    (folder / "inputs").mkdir(exist_ok=True)
    (folder / "inputs" / "list.csv").write_text(buffer.getvalue(), encoding="utf-8-sig")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A configuration and a list where both departments have an incomplete entry."""
    (tmp_path / "automation.yaml").write_text(CONFIG, encoding="utf-8")
    write_list(
        tmp_path,
        [
            [1, "2026上期", "総務部", "電子申請", "", "順調"],
            [2, "2026上期", "農政部", "スマート農業", "実施", ""],
        ],
    )
    return tmp_path


@pytest.fixture
def config(workspace: Path) -> LoadedConfig:
    """The loaded configuration."""
    return load_config(workspace / "automation.yaml")


def run(config: LoadedConfig, now: datetime, backend: Backend | None = None) -> RunResult:
    """One run of the progress flow, at ``now`` by the wall clock too (for retry backoff)."""
    return asyncio.run(run_flow(config, "progress", now, backend=backend, clock=lambda: now))


def reminders(folder: Path) -> list[str]:
    """Recipients of every reminder delivered so far."""
    envelopes = [
        json.loads(p.read_text(encoding="utf-8")) for p in (folder / "sent").glob("*.envelope.json")
    ]
    return sorted(e["recipient"] for e in envelopes if e["kind"] == "reminder")


def test_ten_runs_on_one_day_send_each_leader_one_reminder(
    config: LoadedConfig, workspace: Path
) -> None:
    """However often the flow runs on a reminder day, each leader is reminded once."""
    for minute in range(10):
        run(config, REMINDER_DAY.replace(minute=minute * 5))
    assert reminders(workspace) == ["nousei-dx@example.jp", "somu-dx@example.jp"]


def test_leader_who_completes_gets_no_further_reminder(
    config: LoadedConfig, workspace: Path
) -> None:
    """Completing the entries between two reminder days stops the reminders for that leader."""
    run(config, datetime(2026, 10, 9, 9, tzinfo=JST))
    write_list(
        workspace,
        [
            [1, "2026上期", "総務部", "電子申請", "実施", "順調"],
            [2, "2026上期", "農政部", "スマート農業", "実施", ""],
        ],
    )
    run(config, REMINDER_DAY)
    assert reminders(workspace) == [
        "nousei-dx@example.jp",
        "nousei-dx@example.jp",
        "somu-dx@example.jp",
    ]


class CrashingDeliverer:
    """Raises on every delivery: the process 'dies' after planning, before sending."""

    async def deliver(self, entry: OutboxEntry, attachments: Mapping[str, bytes]) -> str:
        """Fail."""
        raise TransientError("connection reset")


def test_crash_between_planning_and_delivery_loses_nothing(
    config: LoadedConfig, workspace: Path
) -> None:
    """Reminders planned by a run whose sends failed are delivered by the next run, once."""
    broken = Backend(
        LocalWorkbookSource(workspace / "inputs"),
        LocalArtefactStore(workspace / "out"),
        CrashingDeliverer(),
        LocalListSource(workspace / "inputs"),
    )
    first = run(config, REMINDER_DAY, broken)
    # the first send fails; the channel's other messages wait for the next try
    assert {d["status"] for d in first.record["deliveries"]} == {"failed", "pending"}
    run(config, REMINDER_DAY.replace(hour=10))
    run(config, REMINDER_DAY.replace(hour=11))
    assert reminders(workspace) == ["nousei-dx@example.jp", "somu-dx@example.jp"]


def test_unknown_list_column_names_the_columns_that_exist(
    config: LoadedConfig, workspace: Path
) -> None:
    """A required field missing from the list fails the run with the columns that do exist."""
    (workspace / "inputs" / "list.csv").write_text(
        "ID,対象期間,部局,事業名,実績\n", encoding="utf-8"
    )
    record = run(config, REMINDER_DAY).record
    assert record["status"] == "failed"
    assert record["error"]["message"] == (
        "list.csv: 列 「進捗状況」 がありません。ある列: ID、対象期間、部局、事業名、実績。"
        "設定の列名（fields / required など）を一覧の見出しに合わせてください。"
    )


def delivered(folder: Path, kind: str) -> list[dict[str, object]]:
    """Envelopes of every delivered message of ``kind``, with its text body read in."""
    found = []
    for path in sorted((folder / "sent").glob("*.envelope.json")):
        envelope = json.loads(path.read_text(encoding="utf-8"))
        if envelope["kind"] == kind:
            text = (folder / "sent" / envelope["bodies"]["txt"]).read_text(encoding="utf-8")
            found.append({**envelope, "text": text})
    return found


def test_a_list_notice_is_sent_once_over_daily_runs(config: LoadedConfig, workspace: Path) -> None:
    """農政部 has no entry: the secretariat hears it once in the round, not every day."""
    write_list(workspace, [[1, "2026上期", "総務部", "電子申請", "", "順調"]])
    for day in range(7, 20):
        run(config, datetime(2026, 10, day, 9, tzinfo=JST))
    notices = delivered(workspace, "input_problems")
    assert [n["recipient"] for n in notices] == ["secretariat@example.jp"]
    assert "農政部: この期間の項目が一覧にありません。" in str(notices[0]["text"])


def test_the_closing_summary_says_what_changed_since_the_one_on_demand(
    config: LoadedConfig, workspace: Path
) -> None:
    """HQ asks on 10/14; entries are completed; the summary of 10/16 names the change."""
    asyncio.run(
        run_flow(config, "progress", REMINDER_DAY, summary=True, clock=lambda: REMINDER_DAY)
    )
    write_list(
        workspace,
        [
            [1, "2026上期", "総務部", "電子申請", "実施", "順調"],
            [2, "2026上期", "農政部", "スマート農業", "実施", "順調"],
        ],
    )
    run(config, datetime(2026, 10, 16, 9, tzinfo=JST))
    texts = {
        "10月14日時点" in str(s["text"]): str(s["text"]) for s in delivered(workspace, "summary")
    }
    first, closing = texts[True], texts[False]
    assert "からの変化" not in first
    assert (
        "■ 前回のまとめ（10月14日(水) 09:00）からの変化\n"
        "・記入済み: 0/2件 → 2/2件\n"
        "・総務部: 0/1 → 1/1\n"
        "・農政部: 0/1 → 1/1\n"
    ) in closing
