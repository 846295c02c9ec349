"""Specs for the run boundary: every failure inside a run ends its record, nothing escapes.

A failed artefact upload, an unexpected exception and a crash that left a run ``running``
all end as a record in history (and on ``automation run --json``), counted toward the
flow's failure streak that alerts the admins.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from automation.backends.local import (
    LocalArtefactStore,
    LocalDeliverer,
    LocalListSource,
    LocalWorkbookSource,
)
from automation.config.loader import LoadedConfig, load_config
from automation.errors import TransientError
from automation.ports import Backend, Near
from automation.runner import RunResult, run_flow
from automation.state import Store
from automation.timeutil import JST
from tests.builders import xlsx_bytes

CONFIG = """\
version: 1
state: {path: state/db.sqlite}
backend: {type: local, root: inputs, artefacts: out, deliveries: sent}
directory:
  departments:
    - name: 危機管理課
      sheet: 危機管理課
service:
  alerts: [{channel: mail, address: admin@example.jp}]
  alert_after_failures: 2
flows:
  - id: damage
    kind: damage_rollup
    params:
      disaster: 台風
      workbook: book.xlsx
      report_to: [{channel: mail, address: bousai@example.jp}]
"""


def at(minute: int) -> datetime:
    """A time on 2026-09-01 09:MM JST."""
    return datetime(2026, 9, 1, 9, minute, tzinfo=JST)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A configuration and a one-department workbook."""
    (tmp_path / "automation.yaml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "inputs").mkdir()
    sheet = [["市町村", "死者"], ["前橋市", 1]]
    (tmp_path / "inputs" / "book.xlsx").write_bytes(xlsx_bytes({"危機管理課": sheet}))
    return tmp_path


@pytest.fixture
def config(workspace: Path) -> LoadedConfig:
    """The loaded configuration."""
    return load_config(workspace / "automation.yaml")


class BrokenStore(LocalArtefactStore):
    """An artefact store whose upload fails with ``error``."""

    def __init__(self, root: Path, error: Exception) -> None:
        super().__init__(root)
        self.error = error

    async def put(self, name: str, data: bytes, near: Near = None) -> str:
        """Fail."""
        raise self.error


def backend(workspace: Path, artefacts: LocalArtefactStore | None = None) -> Backend:
    """The local backend, with another artefact store if given."""
    return Backend(
        LocalWorkbookSource(workspace / "inputs"),
        artefacts or LocalArtefactStore(workspace / "out"),
        LocalDeliverer(workspace / "sent"),
        LocalListSource(workspace / "inputs"),
    )


def run(config: LoadedConfig, minute: int, chosen: Backend) -> RunResult:
    """Run the flow at 09:MM with ``chosen`` backend."""
    return asyncio.run(
        run_flow(config, "damage", at(minute), backend=chosen, clock=lambda: at(minute))
    )


def history(workspace: Path) -> list[dict[str, Any]]:
    """Every run, oldest first."""
    with Store(workspace / "state" / "db.sqlite") as store:
        return list(reversed(store.runs("damage")))


def alerts(workspace: Path) -> list[str]:
    """Subjects of the admin alerts queued so far."""
    with Store(workspace / "state" / "db.sqlite") as store:
        return [e.subject for e in store.outbox("_alerts")]


def test_a_failed_artefact_upload_leaves_the_report_issued_and_the_workbook_owed(
    config: LoadedConfig, workspace: Path
) -> None:
    """A failed workbook upload after the report ends the run partial, the workbook owed."""
    # a 503 on the upload: 第1報 stays issued, the mail attaching the workbook waits for it
    broken = BrokenStore(workspace / "out", TransientError("upload: Graph is busy (HTTP 503)"))
    result = run(config, 1, backend(workspace, broken))
    assert result.record["status"] == "partial"
    assert "Graph is busy (HTTP 503)" in result.record["undelivered"]["message"]
    assert [d["status"] for d in result.record["deliveries"]] == ["waiting"]
    assert [r["status"] for r in history(workspace)] == ["partial"]
    with Store(workspace / "state" / "db.sqlite") as store:
        assert store.flow_state("damage")[1] == 1


def test_the_next_run_stores_the_owed_workbook_and_sends_the_mail_waiting_for_it(
    config: LoadedConfig, workspace: Path
) -> None:
    """After an upload that failed, the next run stores the workbook and sends its mail once."""
    broken = BrokenStore(workspace / "out", TransientError("upload: Graph is busy (HTTP 503)"))
    run(config, 1, backend(workspace, broken))
    second = run(config, 2, backend(workspace))
    third = run(config, 3, backend(workspace))
    assert (second.record["status"], third.record["status"]) == ("unchanged", "unchanged")
    assert (workspace / "out" / "被害状況集計_第1報.xlsx").exists()
    assert len(list((workspace / "sent").glob("*.envelope.json"))) == 1


def test_an_unexpected_exception_ends_the_run_as_internal_and_logs_it(
    config: LoadedConfig, workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Any exception ends the record as failed (kind internal) with its type and message."""
    broken = BrokenStore(workspace / "out", RuntimeError("socket closed unexpectedly"))
    result = run(config, 1, backend(workspace, broken))
    assert result.record["error"]["kind"] == "internal"
    assert result.record["error"]["message"] == "RuntimeError: socket closed unexpectedly"
    stored = json.loads(history(workspace)[0]["record"])
    assert stored["error"]["kind"] == "internal"
    assert "Traceback" in caplog.text


def test_unexpected_failures_count_toward_the_alert_streak(
    config: LoadedConfig, workspace: Path
) -> None:
    """Two internal failures in a row (alert_after_failures: 2) queue exactly one alert."""
    broken = backend(workspace, BrokenStore(workspace / "out", KeyError("item")))
    for minute in (1, 2, 3):
        run(config, minute, broken)
    assert alerts(workspace) == ["【自動連携】フロー damage が失敗しています"]


def test_a_run_left_running_by_a_crash_is_marked_interrupted_at_the_next_start(
    config: LoadedConfig, workspace: Path
) -> None:
    """A run row still 'running' is closed as 'interrupted' before the next run begins."""
    with Store(workspace / "state" / "db.sqlite") as store:
        store.start_run("damage", at(0), at(0))
    run(config, 1, backend(workspace))
    statuses = [r["status"] for r in history(workspace)]
    assert statuses == ["interrupted", "ok"]
    assert json.loads(history(workspace)[0]["record"])["error"]["message"] == (
        "the process stopped during this run (killed, crashed or restarted)"
    )


def test_an_interrupted_run_keeps_the_number_of_the_report_it_issued(
    config: LoadedConfig, workspace: Path
) -> None:
    """A run killed after saving 第1報 is recorded interrupted with report number 1."""
    run(config, 1, backend(workspace))
    with Store(workspace / "state" / "db.sqlite") as store:
        store._db.execute("UPDATE runs SET status = 'running', report_number = NULL")
    run(config, 2, backend(workspace))
    assert [(r["status"], r["report_number"]) for r in history(workspace)] == [
        ("interrupted", 1),
        ("unchanged", 1),
    ]
