"""Specs: the daemon's outbox worker stores a workbook a run could not (its upload failed)
between runs, backing off as the outbox does, and then sends the mail that waited for it."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from automation.backends.local import (
    LocalArtefactStore,
    LocalDeliverer,
    LocalListSource,
    LocalWorkbookSource,
)
from automation.config.loader import load_config
from automation.daemon import Daemon
from automation.errors import TransientError
from automation.ports import Backend, Near
from automation.runner import run_flow
from automation.timeutil import JST
from tests.builders import xlsx_bytes

CONFIG = """\
version: 1
state: {path: state/db.sqlite}
backend: {type: local, root: inputs, artefacts: out, deliveries: sent}
directory:
  departments:
    - {name: 危機管理課, sheet: 危機管理課}
flows:
  - id: damage
    kind: damage_rollup
    params:
      disaster: 台風
      workbook: book.xlsx
      feedback: false
      report_to:
        - {channel: teams_webhook, address: "https://example.invalid/hook"}
        - {channel: mail, address: bousai@example.jp}
"""
START = datetime(2026, 9, 1, 9, 0, tzinfo=JST)


class Store(LocalArtefactStore):
    """Artefacts as files; ``refuse``: Graph answers busy (HTTP 503). Counts the tries."""

    def __init__(self, root: Path, *, refuse: bool) -> None:
        super().__init__(root)
        self.refuse = refuse
        self.tries = 0

    async def put(self, name: str, data: bytes, near: Near = None) -> str:
        """Write the file, or refuse."""
        self.tries += 1
        if self.refuse:
            raise TransientError(f"upload {name}: Graph is busy (HTTP 503)")
        return await super().put(name, data, near)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A configuration and a one-department workbook."""
    (tmp_path / "automation.yaml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "inputs").mkdir()
    sheet = [["市町村", "死者"], ["前橋市", 1]]
    (tmp_path / "inputs" / "book.xlsx").write_bytes(xlsx_bytes({"危機管理課": sheet}))
    return tmp_path


def ports(workspace: Path, store: Store) -> Backend:
    """Local ports with ``store`` for artefacts."""
    return Backend(
        LocalWorkbookSource(workspace / "inputs"),
        store,
        LocalDeliverer(workspace / "sent"),
        LocalListSource(workspace / "inputs"),
    )


def kinds_sent(workspace: Path) -> list[str]:
    """``KIND CHANNEL`` of every delivery written so far, sorted."""
    found = []
    for path in (workspace / "sent").glob("*.envelope.json"):
        envelope = json.loads(path.read_text(encoding="utf-8"))
        found.append(f"{envelope['kind']} {envelope['channel']}")
    return sorted(found)


def report_with_refused_upload(workspace: Path) -> None:
    """A run at START whose workbook upload is refused: the card goes, the mail waits."""
    config = load_config(workspace / "automation.yaml")
    backend = ports(workspace, Store(workspace / "out", refuse=True))
    asyncio.run(run_flow(config, "damage", START, backend=backend, clock=lambda: START))


def passes_at(workspace: Path, store: Store, seconds: list[int]) -> None:
    """The daemon's outbox worker, once at each of ``seconds`` after START."""
    now = [START]
    daemon = Daemon(
        workspace / "automation.yaml",
        clock=lambda: now[0],
        backend_factory=lambda _: ports(workspace, store),
    )
    for second in seconds:
        now[0] = START + timedelta(seconds=second)
        asyncio.run(daemon.outbox_pass())


def test_the_outbox_worker_stores_an_owed_workbook_and_sends_its_mail(workspace: Path) -> None:
    """After the first backoff (30 s) the worker stores the owed workbook and sends its mail."""
    # without another run
    report_with_refused_upload(workspace)
    assert kinds_sent(workspace) == ["report teams_webhook"]
    store = Store(workspace / "out", refuse=False)
    passes_at(workspace, store, [10])
    assert (store.tries, kinds_sent(workspace)) == (0, ["report teams_webhook"])
    passes_at(workspace, store, [31])
    assert store.tries == 1
    assert kinds_sent(workspace) == ["report mail", "report teams_webhook"]


def test_a_refused_owed_upload_is_tried_again_backing_off(workspace: Path) -> None:
    """A refused owed upload is tried after 30 s, then 60 s, then 120 s: not at every pass."""
    report_with_refused_upload(workspace)
    store = Store(workspace / "out", refuse=True)
    passes_at(workspace, store, [15, 30, 45, 60, 75, 89, 90, 150, 200, 209, 210])
    assert store.tries == 3  # at 30, 90 and 210 s
    assert kinds_sent(workspace) == ["report teams_webhook"]
