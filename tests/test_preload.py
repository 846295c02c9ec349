"""Loading modules while a run waits on the network (automation.preload)."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from automation.backends.local import LocalWorkbookSource
from automation.config.loader import LoadedConfig
from automation.config.models import FileRef
from automation.jobs import damage as damage_job
from automation.ports import Arriving, Backend, FetchedWorkbook
from automation.preload import SWITCH_INTERVAL_S, Preload
from tests.test_report_first import config, ports, run, workspace  # noqa: F401  # fixtures

WAIT_S = 60.0  # an upper bound for a thread's step, never slept


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    """Throw-away modules, and a ``gate`` module their bodies signal through."""
    gate = SimpleNamespace(
        entered=threading.Event(),
        preload=None,
        intervals=[],
    )
    monkeypatch.setitem(sys.modules, "preload_gate", gate)  # type: ignore[arg-type]  # a stand-in
    bodies = {
        "pre_a": "",
        "pre_b": "",
        "pre_interval": "import sys, preload_gate\n"
        "preload_gate.intervals.append(sys.getswitchinterval())\n",
        "pre_entered": "import preload_gate\npreload_gate.entered.set()\n",
        "pre_slow": "import preload_gate\npreload_gate.entered.set()\n"
        f"preload_gate.preload.stopping.wait({WAIT_S})\n",
        "pre_broken": "import preload_gate\npreload_gate.entered.set()\nraise ImportError('broken')\n",
    }
    for name, body in bodies.items():
        (tmp_path / f"{name}.py").write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield gate
    for name in bodies:
        sys.modules.pop(name, None)


def test_every_module_is_loaded_in_order_while_nothing_stops_it(modules: SimpleNamespace) -> None:
    """Started, a preload loads each module in the order given."""
    preload = Preload(["pre_a", "pre_b", "pre_entered"])
    preload.start()
    assert modules.entered.wait(WAIT_S)
    preload.stop()
    assert preload.loaded == ["pre_a", "pre_b", "pre_entered"]
    assert {"pre_a", "pre_b"} <= set(sys.modules)


def test_stop_waits_for_the_module_being_loaded_and_loads_no_more(
    modules: SimpleNamespace,
) -> None:
    """stop() returns once the module being loaded is loaded; the rest are left unloaded."""
    # then no thread imports while the run forks its helpers
    preload = Preload(["pre_slow", "pre_a"])
    modules.preload = preload
    preload.start()
    assert modules.entered.wait(WAIT_S)
    preload.stop()
    assert preload.loaded == ["pre_slow"]
    assert "pre_slow" in sys.modules
    assert "pre_a" not in sys.modules


def test_a_module_that_fails_to_load_ends_the_preload_quietly(
    modules: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A module that raises ends the preload: nothing escapes, no later module is loaded."""
    # the run's own import of it meets the same error, with the message it always had
    escaped: list[object] = []
    monkeypatch.setattr(threading, "excepthook", escaped.append)
    preload = Preload(["pre_broken", "pre_a"])
    preload.start()
    assert modules.entered.wait(WAIT_S)
    preload.stop()
    assert (preload.loaded, escaped) == ([], [])
    assert "pre_a" not in sys.modules


def test_the_switch_interval_is_cut_while_loading_and_restored_after(
    modules: SimpleNamespace,
) -> None:
    """While a preload runs the interpreter switches threads every 0.5 ms; after, as before."""
    before = sys.getswitchinterval()
    preload = Preload(["pre_interval", "pre_entered"])
    preload.start()
    assert modules.entered.wait(WAIT_S)
    preload.stop()
    assert modules.intervals == [SWITCH_INTERVAL_S]
    assert sys.getswitchinterval() == before


def test_overlapping_preloads_restore_the_interval_when_the_last_stops() -> None:
    """Two runs preloading at once: the interval stays cut until both have stopped."""
    before = sys.getswitchinterval()
    first, second = Preload([]), Preload([])
    first.start()
    second.start()
    first.stop()
    assert sys.getswitchinterval() == SWITCH_INTERVAL_S
    second.stop()
    assert sys.getswitchinterval() == before


def test_starting_twice_loads_once_and_stopping_twice_or_unstarted_does_nothing(
    modules: SimpleNamespace,
) -> None:
    """start() and stop() are safe to repeat; stop() before start() changes nothing."""
    before = sys.getswitchinterval()
    Preload(["pre_a"]).stop()
    preload = Preload(["pre_entered"])
    preload.start()
    preload.start()
    assert modules.entered.wait(WAIT_S)
    preload.stop()
    preload.stop()
    assert preload.loaded == ["pre_entered"]
    assert sys.getswitchinterval() == before
    later = Preload([])  # the count of running preloads came back to none, not below
    later.start()
    assert sys.getswitchinterval() == SWITCH_INTERVAL_S
    later.stop()


class Announcing(LocalWorkbookSource):
    """A folder that, as Graph does, announces a new version before its transfer, which here
    lasts until the preload has loaded its last module."""

    gate: SimpleNamespace

    async def fetch(
        self, ref: FileRef, known_version: str | None, *, arriving: Arriving = None
    ) -> FetchedWorkbook:
        fetched = await super().fetch(ref, known_version)
        if fetched.data is not None and arriving is not None:
            arriving()
            await asyncio.to_thread(self.gate.entered.wait, WAIT_S)
        return fetched


def test_a_run_loads_what_a_new_version_needs_while_it_downloads(
    modules: SimpleNamespace,
    workspace: Path,  # noqa: F811  # the fixture imported above
    config: LoadedConfig,  # noqa: F811  # the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A damage run preloads its new-version modules during the download, stopped after it."""
    monkeypatch.setattr(damage_job, "NEW_VERSION_MODULES", ("pre_a", "pre_entered"))
    before = sys.getswitchinterval()
    local = ports(workspace)
    source = Announcing(workspace / "inputs")
    source.gate = modules
    backend = Backend(source, local.artefacts, local.deliverer, local.lists)

    result = run(config, 0, backend)

    assert result.record["status"] == "ok", result.record.get("error")
    assert {"pre_a", "pre_entered"} <= set(sys.modules)
    assert not [t for t in threading.enumerate() if t.name == "preload"]
    assert sys.getswitchinterval() == before  # stopped: the interval is as it was
