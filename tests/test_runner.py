"""Specs for running a flow on the local backend: state, outbox, failures, dry runs."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from automation import runner
from automation.backends.local import (
    LocalArtefactStore,
    LocalDeliverer,
    LocalListSource,
    LocalWorkbookSource,
)
from automation.config.loader import LoadedConfig, load_config
from automation.errors import ConfigError, TransientError
from automation.plan import LIST_LIMIT
from automation.ports import Backend
from automation.runner import RunResult, run_flow
from automation.state import SCHEMA_VERSION, OutboxEntry, Store
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
      contacts: [{channel: mail, address: kiki@example.jp}]
flows:
  - id: damage
    kind: damage_rollup
    params:
      disaster: 台風
      workbook: book.xlsx
      report_to: [{channel: mail, address: bousai@example.jp}]
      municipalities: [前橋市, 高崎市]
      max_workbook_mb: 1
"""
HEADER = ["市町村", "死者", "軽傷者"]


def at(hour: int, minute: int = 0) -> datetime:
    """A time on 2026-09-01 in JST."""
    return datetime(2026, 9, 1, hour, minute, tzinfo=JST)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A folder with a configuration and an input workbook."""
    (tmp_path / "automation.yaml").write_text(CONFIG, encoding="utf-8")
    write_book(tmp_path, [["前橋市", 1, 2], ["高崎市", 0, 3]])
    return tmp_path


@pytest.fixture
def config(workspace: Path) -> LoadedConfig:
    """The workspace's loaded configuration."""
    return load_config(workspace / "automation.yaml")


def write_book(folder: Path, rows: list[list[object]]) -> None:
    """Write the department workbook."""
    (folder / "inputs").mkdir(exist_ok=True)
    (folder / "inputs" / "book.xlsx").write_bytes(xlsx_bytes({"危機管理課": [HEADER, *rows]}))


def run(config: LoadedConfig, now: datetime, **kwargs: object) -> RunResult:
    """Run the flow once."""
    return asyncio.run(run_flow(config, "damage", now, **kwargs))  # type: ignore[arg-type]


def sent_envelopes(folder: Path) -> list[dict[str, object]]:
    """Every delivery written by the local backend."""
    return [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted((folder / "sent").glob("*.envelope.json"))
    ]


def test_run_writes_report_artefact_and_deliveries(config: LoadedConfig, workspace: Path) -> None:
    """A first run stores the merged workbook and delivers report and feedback as files."""
    result = run(config, at(9))
    assert (result.record["status"], result.record["report_number"]) == ("ok", 1)
    assert (workspace / "out" / "被害状況集計_第1報.xlsx").exists()
    assert sorted(e["kind"] for e in sent_envelopes(workspace)) == ["feedback", "report"]
    assert {d["status"] for d in result.record["deliveries"]} == {"sent"}


def test_rerun_sends_nothing_twice(config: LoadedConfig, workspace: Path) -> None:
    """Running again on the same workbook issues no report and delivers nothing new."""
    run(config, at(9))
    second = run(config, at(9, 5))
    assert (second.record["status"], second.record["report_number"]) == ("unchanged", 1)
    assert len(sent_envelopes(workspace)) == 2


def test_changed_workbook_gets_next_number(config: LoadedConfig, workspace: Path) -> None:
    """An edited sheet produces 第2報 with its diff in the run record."""
    run(config, at(9))
    write_book(workspace, [["前橋市", 2, 2], ["高崎市", 0, 3]])
    second = run(config, at(10))
    assert second.record["report_number"] == 2
    assert second.record["changes"][0] | {} == {
        "code": "dead",
        "label": "死者",
        "unit": "人",
        "status": None,
        "before": 1,
        "after": 2,
        "before_unconfirmed": 0,
        "after_unconfirmed": 0,
        "before_unreadable": 0,
        "after_unreadable": 0,
        "parts": [
            {
                "municipality": "前橋市",
                "before": 1,
                "after": 2,
                "before_mark": None,
                "after_mark": None,
                "departments": ["危機管理課"],
                "text": "前橋市 1 → 2（+1、危機管理課）",
            }
        ],
        "parts_total": 1,
    }


def test_corrupt_workbook_fails_without_touching_state(
    config: LoadedConfig, workspace: Path
) -> None:
    """A broken file gives a failed record with the fix; the last report stays as it was."""
    run(config, at(9))
    (workspace / "inputs" / "book.xlsx").write_bytes(b"PK\x03\x04 this is not a workbook")
    failed = run(config, at(10))
    assert failed.record["status"] == "failed"
    assert failed.record["error"]["kind"] == "data"
    assert "book.xlsx: ファイルが壊れています" in failed.record["error"]["message"]
    write_book(workspace, [["前橋市", 1, 2], ["高崎市", 0, 3]])
    assert run(config, at(11)).record["status"] == "unchanged"


def test_password_protected_workbook_is_refused_with_the_fix(
    config: LoadedConfig, workspace: Path
) -> None:
    """An encrypted workbook is a data problem telling how to remove the password."""
    encrypted = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64 + "EncryptionInfo".encode("utf-16-le")
    )
    (workspace / "inputs" / "book.xlsx").write_bytes(encrypted)
    message = run(config, at(9)).record["error"]["message"]
    assert message.startswith("book.xlsx: パスワードで保護（暗号化）されているため読めません。")


def test_oversized_workbook_is_refused(config: LoadedConfig, workspace: Path) -> None:
    """A file above max_workbook_mb is refused before parsing, naming the limit."""
    (workspace / "inputs" / "book.xlsx").write_bytes(b"PK" + b"\0" * (2 * 1024 * 1024))
    message = run(config, at(9)).record["error"]["message"]
    assert "上限 1.0 MB を超えています" in message


def test_missing_workbook_is_a_data_error_naming_the_path(
    config: LoadedConfig, workspace: Path
) -> None:
    """A workbook that was moved away fails with the path to check."""
    (workspace / "inputs" / "book.xlsx").unlink()
    record = run(config, at(9)).record
    assert (record["status"], record["error"]["kind"]) == ("failed", "data")
    assert "報告用ブックが見つかりません" in record["error"]["message"]


def test_failed_run_is_kept_in_history(config: LoadedConfig, workspace: Path) -> None:
    """Run history records failed runs with their reason."""
    (workspace / "inputs" / "book.xlsx").unlink()
    run(config, at(9))
    with Store(workspace / "state" / "db.sqlite") as store:
        (latest,) = store.runs("damage", limit=1)
    assert latest["status"] == "failed"
    assert "報告用ブックが見つかりません" in latest["error"]


def test_dry_run_records_and_delivers_nothing(config: LoadedConfig, workspace: Path) -> None:
    """--dry-run renders every message but writes no state, artefact or delivery."""
    result = run(config, at(9), dry_run=True)
    assert {d["status"] for d in result.record["deliveries"]} == {"dry-run"}
    assert len(result.rendered) == 2
    assert not (workspace / "state" / "db.sqlite").exists()
    assert not (workspace / "sent").exists()
    assert not (workspace / "out").exists()


class FlakyDeliverer:
    """Fails the first ``failures`` deliveries, then writes files like the local backend."""

    def __init__(self, folder: Path, failures: int) -> None:
        self.inner = LocalDeliverer(folder)
        self.failures = failures

    async def deliver(self, entry: OutboxEntry, attachments: Mapping[str, bytes]) -> str:
        """Deliver, or fail while failures remain."""
        if self.failures:
            self.failures -= 1
            raise TransientError("mail server unavailable")
        return await self.inner.deliver(entry, attachments)


def test_failed_delivery_is_retried_by_the_next_run(config: LoadedConfig, workspace: Path) -> None:
    """A message whose send failed stays queued and goes out once on the next run."""
    backend = Backend(
        LocalWorkbookSource(workspace / "inputs"),
        LocalArtefactStore(workspace / "out"),
        FlakyDeliverer(workspace / "sent", failures=1),
        LocalListSource(workspace / "inputs"),
    )
    first = run(config, at(9), backend=backend, clock=lambda: at(9))
    # the feedback went first and failed; the report mail, queued once its workbook was
    # stored, went in the next pass
    statuses = {d["kind"]: d["status"] for d in first.record["deliveries"]}
    assert statuses == {"feedback": "failed", "report": "sent"}
    run(config, at(9, 5), backend=backend, clock=lambda: at(9, 5))
    assert sorted(e["kind"] for e in sent_envelopes(workspace)) == ["feedback", "report"]


def test_state_schema_is_versioned(workspace: Path) -> None:
    """A new state database carries the current schema version."""
    with Store(workspace / "state.sqlite") as store:
        assert store.schema_version == SCHEMA_VERSION


def test_newer_state_schema_is_refused(workspace: Path) -> None:
    """A database written by a newer program is not silently downgraded."""
    path = workspace / "future.sqlite"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(ConfigError, match="newer than this program"):
        Store(path)


def test_state_database_is_private(workspace: Path) -> None:
    """The state database is created readable by its owner only."""
    with Store(workspace / "private.sqlite"):
        pass
    assert (workspace / "private.sqlite").stat().st_mode & 0o077 == 0


def test_unknown_flow_is_a_config_error(config: LoadedConfig) -> None:
    """Asking for a flow that is not configured names the configured ones."""
    with pytest.raises(ConfigError, match="configured flows: damage"):
        asyncio.run(run_flow(config, "nope", at(9)))


def test_overlapping_run_of_the_same_flow_is_refused(config: LoadedConfig, workspace: Path) -> None:
    """While one run holds the flow's lock, a second run fails as transient and sends nothing."""
    from automation.runner import flow_lock  # noqa: PLC0415

    with (
        flow_lock(workspace / "state" / "db.sqlite", "damage"),
        pytest.raises(TransientError, match="still in progress"),
    ):
        run(config, at(9))
    assert not (workspace / "sent").exists()


def test_interrupted_send_that_completed_is_not_repeated(
    config: LoadedConfig, workspace: Path
) -> None:
    """An entry left 'sending' by a crash whose delivery completed is confirmed, not resent."""
    first = run(config, at(9))
    key = first.record["deliveries"][0]["key"]
    with Store(workspace / "state" / "db.sqlite") as store:
        store.mark(key, "sending", at(9, 1))
    envelope = Path(first.record["deliveries"][0]["location"])
    written = envelope.stat().st_mtime_ns
    run(config, at(9, 2))
    assert envelope.stat().st_mtime_ns == written
    with Store(workspace / "state" / "db.sqlite") as store:
        entry = store.get_entry(key)
    assert entry is not None and (entry.status, entry.location) == (
        "sent",
        "confirmed after restart",
    )


def test_interrupted_send_that_did_not_complete_is_sent(
    config: LoadedConfig, workspace: Path
) -> None:
    """An entry left 'sending' whose delivery never happened is sent on the next run."""
    first = run(config, at(9))
    key = first.record["deliveries"][0]["key"]
    envelope = Path(first.record["deliveries"][0]["location"])
    envelope.unlink()
    with Store(workspace / "state" / "db.sqlite") as store:
        store.mark(key, "sending", at(9, 1))
    run(config, at(9, 2))
    assert envelope.exists()


def test_an_unchanged_poll_shows_the_last_report_from_its_summary(
    config: LoadedConfig, workspace: Path
) -> None:
    """An unchanged workbook is not read again: its totals come from the stored summary."""
    first = run(config, at(9)).record
    with Store(workspace / "state" / "db.sqlite") as store:
        summary = store.latest_report("damage", figures=False)
    again = run(config, at(9, 1)).record
    assert summary is not None and "figures" not in summary
    assert again["status"] == "unchanged"
    assert (again["totals"], again["statuses"]) == (first["totals"], first["statuses"])


def test_an_unchanged_poll_keeps_only_its_outcome_in_history(
    config: LoadedConfig, workspace: Path
) -> None:
    """History keeps the report with the run that issued it; a poll keeps only its outcome."""
    first = run(config, at(9)).record
    again = run(config, at(9, 1)).record
    with Store(workspace / "state" / "db.sqlite") as store:
        issued, polled = (store.run(r["run_id"]) for r in (first, again))
    assert issued is not None and polled is not None
    kept, poll = json.loads(issued["record"]), json.loads(polled["record"])
    assert "totals" in kept and "problems" in kept
    assert "totals" not in poll and "problems" not in poll and "departments" not in poll
    assert (poll["status"], poll["report_number"]) == ("unchanged", first["report_number"])


def test_the_record_lists_at_most_list_limit_problems_and_counts_them_all(
    config: LoadedConfig, workspace: Path
) -> None:
    """5,000 unreadable rows: the record lists 100 problems and says how many there are."""
    write_book(
        workspace, [["前橋市", 1, 2], *[[f"前橋市{n}", "多数", "多数"] for n in range(5_000)]]
    )
    record = run(config, at(9)).record
    assert len(record["problems"]) == LIST_LIMIT
    assert record["problems_total"] == 5_000
    assert all(len(t["unreadable_where"]) <= LIST_LIMIT for t in record["totals"].values())


def test_the_record_lists_at_most_list_limit_moved_municipalities_per_item(
    workspace: Path,
) -> None:
    """150 municipalities moved: each change lists 100 of them and says how many moved."""
    path = workspace / "automation.yaml"
    path.write_text(CONFIG.replace("      municipalities: [前橋市, 高崎市]\n", ""), "utf-8")
    config = load_config(path)
    write_book(workspace, [[f"前橋市{n}", 1, 2] for n in range(150)])
    run(config, at(9))
    write_book(workspace, [[f"前橋市{n}", 3, 2] for n in range(150)])
    record = run(config, at(10)).record
    moved = [c for c in record["changes"] if c["parts"]]
    assert moved and all(len(c["parts"]) == LIST_LIMIT for c in moved)
    assert all(c["parts_total"] == 150 for c in moved)


CHANNEL_CONFIG = """\
version: 1
state: {path: state/db.sqlite}
backend: {type: local, root: inputs, artefacts: out, deliveries: sent}
directory:
  departments:
    - name: 危機管理課
      sheet: 危機管理課
      contacts:
        - channel: teams_channel
          address: 00000000-0000-0000-0000-00000000a001/19:bousai@thread.tacv2
          mentions: [{user_id: 00000000-0000-0000-0000-0000000000d1, name: 山田 太郎}]
flows:
  - id: damage
    kind: damage_rollup
    params:
      disaster: 台風
      workbook: book.xlsx
      report_to:
        - channel: teams_channel
          address: 00000000-0000-0000-0000-00000000a001/19:bousai@thread.tacv2
          name: 防災総括班
          mention_channel: true
"""


def test_each_queued_channel_post_carries_its_own_contacts_mentions(workspace: Path) -> None:
    """Report and feedback to one channel: each outbox entry holds only its contact's mentions."""
    (workspace / "automation.yaml").write_text(CHANNEL_CONFIG, encoding="utf-8")
    run(load_config(workspace / "automation.yaml"), at(9))
    with Store(workspace / "state" / "db.sqlite") as store:
        payloads = {e.kind: dict(e.payload) for e in store.outbox("damage")}
    assert payloads["report"] == {
        "mentions": [],
        "mention_channel": True,
        "channel_name": "防災総括班",
    }
    assert payloads["feedback"] == {
        "mentions": [{"user_id": "00000000-0000-0000-0000-0000000000d1", "name": "山田 太郎"}],
        "mention_channel": False,
        "channel_name": None,
    }


def test_a_feedback_on_thousands_of_unreadable_cells_is_queued_small(
    config: LoadedConfig, workspace: Path
) -> None:
    """5,000 rows of text where numbers belong: the queued feedback lists 100, well under 4 MB."""
    write_book(
        workspace, [["前橋市", 1, 2], *[[f"前橋市{n}", "多数", "多数"] for n in range(5_000)]]
    )
    run(config, at(9))
    with Store(workspace / "state" / "db.sqlite") as store:
        (entry,) = [e for e in store.outbox("damage") if e.kind == "feedback"]
    assert entry.bodies["html"].count("<tr><td>") == LIST_LIMIT
    assert len(json.dumps(dict(entry.bodies))) < 100_000


def test_a_cancelled_run_cancels_the_deliveries_going_on_beside_its_build() -> None:
    """Cancelled while its workbook is built, a run leaves no delivery task running."""

    async def scenario() -> list[asyncio.Task[Any]]:
        started = asyncio.Event()

        async def deliveries() -> None:
            await asyncio.Event().wait()

        async def build() -> None:
            started.set()
            await asyncio.Event().wait()

        run = asyncio.ensure_future(runner._alongside(deliveries(), build))
        await started.wait()
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    assert asyncio.run(scenario()) == []


def test_deliveries_beside_a_failed_build_finish_before_the_error_is_raised() -> None:
    """A build that fails does not cut the messages being delivered beside it."""
    finished: list[str] = []

    async def scenario() -> None:
        begun = asyncio.Event()

        async def deliveries() -> None:
            await begun.wait()
            finished.append("delivered")

        async def build() -> None:
            begun.set()
            raise RuntimeError("build failed")

        await runner._alongside(deliveries(), build)

    with pytest.raises(RuntimeError, match="build failed"):
        asyncio.run(scenario())
    assert finished == ["delivered"]


def test_a_failed_build_raises_its_own_error_not_that_of_the_deliveries_beside_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The build's error is the run's; the deliveries' own failure is logged and noted on
    it, not raised in its place."""

    async def scenario() -> None:
        begun = asyncio.Event()

        async def deliveries() -> None:
            await begun.wait()
            raise OSError("outbox store gone")

        async def build() -> None:
            begun.set()
            raise RuntimeError("build failed")

        await runner._alongside(deliveries(), build)

    with pytest.raises(RuntimeError, match="build failed") as raised:
        asyncio.run(scenario())
    assert raised.value.__notes__ == [
        "the deliveries alongside it failed too: OSError('outbox store gone')"
    ]
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        "the deliveries alongside a failed or cancelled step failed: outbox store gone"
    ]


def test_a_cancelled_run_raises_cancelled_even_after_its_deliveries_failed() -> None:
    """Cancelled during its build after the deliveries beside it failed, a run raises
    CancelledError (the deliveries' error is only logged) and leaves no task running."""

    async def scenario() -> list[asyncio.Task[Any]]:
        failed = asyncio.Event()

        async def deliveries() -> None:
            failed.set()
            raise OSError("outbox store gone")

        async def build() -> None:
            await asyncio.Event().wait()

        run = asyncio.ensure_future(runner._alongside(deliveries(), build))
        await failed.wait()
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    assert asyncio.run(scenario()) == []


def test_deliveries_that_fail_beside_a_finished_build_fail_the_step() -> None:
    """The build done, the deliveries' error is raised: the run is not recorded as done
    over a lost lease or a failed store."""

    async def scenario() -> str:
        begun = asyncio.Event()

        async def deliveries() -> None:
            await begun.wait()
            raise OSError("outbox store gone")

        async def build() -> str:
            begun.set()
            return "built"

        return await runner._alongside(deliveries(), build)

    with pytest.raises(OSError, match="outbox store gone"):
        asyncio.run(scenario())
