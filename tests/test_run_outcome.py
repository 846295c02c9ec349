"""Specs for a run's status and exit code when its messages could not all be delivered."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from automation.backends.local import (
    LocalArtefactStore,
    LocalDeliverer,
    LocalListSource,
    LocalWorkbookSource,
)
from automation.cli import main
from automation.config.loader import LoadedConfig, load_config
from automation.errors import ConfigError
from automation.ports import Backend
from automation.state import OutboxEntry, Store
from automation.summary import format_summary
from tests.test_runner import CONFIG, at, run, write_book


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A folder with a configuration (report to bousai@, feedback to kiki@) and a workbook."""
    (tmp_path / "automation.yaml").write_text(CONFIG, encoding="utf-8")
    write_book(tmp_path, [["前橋市", 1, 2], ["高崎市", 0, 3]])
    return tmp_path


@pytest.fixture
def config(workspace: Path) -> LoadedConfig:
    """The workspace's loaded configuration."""
    return load_config(workspace / "automation.yaml")


class RefusingDeliverer:
    """Refuses every message to the given recipients; writes the others like the local backend."""

    def __init__(self, folder: Path, refused: set[str]) -> None:
        self.inner = LocalDeliverer(folder)
        self.refused = refused

    async def deliver(self, entry: OutboxEntry, attachments: Mapping[str, bytes]) -> str:
        """Deliver, unless the recipient is refused."""
        if entry.recipient in self.refused:
            raise ConfigError(f"mailbox {entry.recipient} does not exist")
        return await self.inner.deliver(entry, attachments)


def backend_refusing(workspace: Path, refused: set[str]) -> Backend:
    """The local backend, with a deliverer that refuses ``refused``."""
    return Backend(
        LocalWorkbookSource(workspace / "inputs"),
        LocalArtefactStore(workspace / "out"),
        RefusingDeliverer(workspace / "sent", refused),
        LocalListSource(workspace / "inputs"),
    )


def test_a_run_none_of_whose_messages_went_out_is_undelivered(
    config: LoadedConfig, workspace: Path
) -> None:
    """A recorded run whose every delivery failed is ``undelivered`` (exit 3), not ``ok``."""
    backend = backend_refusing(workspace, {"bousai@example.jp", "kiki@example.jp"})
    result = run(config, at(9), backend=backend, clock=lambda: at(9))
    assert (result.record["status"], result.exit_code, result.ok) == ("undelivered", 3, False)
    assert result.record["report_number"] == 1
    assert result.record["undelivered"]["message"].startswith(
        "2 of 2 messages not delivered (2 failed): "
    )


def test_a_run_some_of_whose_messages_went_out_is_partial(
    config: LoadedConfig, workspace: Path
) -> None:
    """A recorded run with some deliveries failed is ``partial`` (exit 4), naming the missed."""
    result = run(config, at(9), backend=backend_refusing(workspace, {"kiki@example.jp"}))
    undelivered = result.record["undelivered"]
    assert (result.record["status"], result.exit_code) == ("partial", 4)
    assert (undelivered["delivered"], undelivered["not_delivered"]) == (1, 1)
    assert "feedback to kiki@example.jp (mail)" in undelivered["message"]


def test_history_keeps_the_undelivered_status_with_what_was_missed(
    config: LoadedConfig, workspace: Path
) -> None:
    """The run history (what the console shows) carries the status and the missed messages."""
    run(config, at(9), backend=backend_refusing(workspace, {"kiki@example.jp"}))
    with Store(workspace / "state" / "db.sqlite") as store:
        (latest,) = store.runs("damage", limit=1)
    assert latest["status"] == "partial"
    assert "1 of 2 messages not delivered" in latest["error"]


def test_a_run_whose_messages_all_went_out_stays_ok(config: LoadedConfig) -> None:
    """Every delivery sent: the run is ``ok``, exit 0, with nothing undelivered."""
    result = run(config, at(9))
    assert (result.record["status"], result.exit_code, result.record["undelivered"]) == (
        "ok",
        0,
        None,
    )


def test_the_terminal_summary_says_how_many_were_not_sent(
    config: LoadedConfig, workspace: Path
) -> None:
    """``automation run`` prints how many messages wait in the outbox and where to look."""
    result = run(config, at(9), backend=backend_refusing(workspace, {"kiki@example.jp"}))
    assert (
        "  未送信: 1件（送信済み 1件）。送信待ちに残り、時間をおいて再送します。"
        "理由は automation outbox で確認できます。"
    ) in format_summary(result.record)


def test_automation_run_exits_3_when_nothing_could_be_delivered(workspace: Path) -> None:
    """The CLI exits 3 when the run was recorded but no message went out (a scheduler sees it)."""
    (workspace / "sent").write_text("a file where the deliveries folder should be")
    code = main(["run", "damage", "-c", str(workspace / "automation.yaml")])
    assert code == 3


def test_a_run_gives_its_record_as_the_history_stored_it(
    config: LoadedConfig, workspace: Path
) -> None:
    """A run's ``text`` is its record as one line of JSON, ``json.dumps`` of it, made from
    the very text the run history keeps (``run --json`` prints it as it is, not encoded
    again); none for an unchanged run, whose history omits the report it repeats."""
    result = run(config, at(9))
    with Store(workspace / "state" / "db.sqlite") as store:
        (latest,) = store.runs("damage", limit=1)
    assert result.text == json.dumps(result.record, ensure_ascii=False)
    stored = {**json.loads(latest["record"]), "timings_s": result.record["timings_s"]}
    assert stored == result.record
    assert run(config, at(10)).text is None
