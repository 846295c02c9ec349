"""A run's results are data: nothing on a command's path copies them into a repr.

Python 3.11's ``asyncio.run`` builds the repr of its coroutine's result while it restores the
SIGINT handler; on a 60-department workbook that repr was gigabytes and a minute of CPU.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from automation import cli
from automation.config.loader import LoadedConfig
from automation.config.models import DamageRollupFlow
from automation.demo import ROUND_1, write_workspace
from automation.flows import damage_rollup
from automation.flows.damage_rollup import DamageInputs, DamagePlan, DamageState
from automation.runner import run_flow
from automation.timeutil import parse_now

REPR_BOUND = 600  # characters: a handful of identifying fields, never the data


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A generated demo workspace's configuration."""
    write_workspace(tmp_path / "ws")
    return tmp_path / "ws" / "automation.yaml"


def test_the_reprs_of_a_run_and_its_plan_stay_short(config: Path) -> None:
    """A run's result, plan, report, readings and inputs have reprs of bounded length."""
    from automation.config.loader import load_config  # noqa: PLC0415

    loaded = load_config(config)
    result = asyncio.run(run_flow(loaded, "typhoon_damage", parse_now(ROUND_1), dry_run=True))
    plan = _plan(loaded, config.parent / "inputs")
    report = plan.report
    large = [
        result,
        plan,
        report,
        report.consolidated,
        *report.readings.values(),
        *report.consolidated.figures.values(),
    ]
    assert report.readings and len(result.record["deliveries"]) > 5  # a run with real content
    assert max(len(repr(obj)) for obj in large) < REPR_BOUND


def _plan(loaded: LoadedConfig, inputs: Path) -> DamagePlan:
    """The damage flow's plan of its workbook in ``inputs`` at ROUND_1 (pure path)."""
    from automation.damage.workbook import parse_workbook  # noqa: PLC0415

    flow = loaded.config.flow("typhoon_damage")
    assert isinstance(flow, DamageRollupFlow) and isinstance(flow.params.workbook, str)
    data = (inputs / flow.params.workbook).read_bytes()
    book = parse_workbook(data, flow.params.workbook, max_bytes=10**8)
    return damage_rollup.plan(
        flow.params,
        loaded.config.directory,
        DamageInputs("v1", book),
        DamageState(),
        parse_now(ROUND_1),
    )


def test_a_workbook_repr_names_it_without_its_cells() -> None:
    """A parsed workbook and its sheets show their names, not their cells."""
    from automation.damage.workbook import Sheet, Workbook  # noqa: PLC0415

    rows = tuple((f"地区{r}", *range(50)) for r in range(2_000))
    book = Workbook("book.xlsx", {"部局": Sheet("部局", rows)})
    assert repr(book) == "Workbook(name='book.xlsx')"
    assert len(repr(book.sheets["部局"])) < REPR_BOUND


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "typhoon_damage", "--now", ROUND_1],
        ["run", "typhoon_damage", "--now", ROUND_1, "--dry-run", "--json", "--show"],
        ["run", "dx_progress", "--now", "2026-10-14T09:00"],
    ],
    ids=["run", "dry-run-json-show", "progress"],
)
def test_a_command_gets_only_an_exit_code_back_from_asyncio_run(
    config: Path, argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every asyncio.run on a command's path returns an exit code or a flag, never a result."""
    returned = _record_asyncio_run(monkeypatch)
    cli.main([*argv, "-c", str(config)])
    assert returned
    assert all(value is None or isinstance(value, int) for value in returned), returned


def test_the_demo_gets_only_flags_back_from_asyncio_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo's rounds print inside their coroutine and return whether they succeeded."""
    returned = _record_asyncio_run(monkeypatch)
    assert cli.main(["demo", "--workspace", str(tmp_path / "demo")]) == 0
    assert returned == [True, True, True]
    assert "第2報" in capsys.readouterr().out


def _record_asyncio_run(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Wrap asyncio.run so the test sees the type of everything it returns."""
    real = asyncio.run
    returned: list[object] = []

    def recording(main: Coroutine[Any, Any, object], **kwargs: Any) -> object:
        value = real(main, **kwargs)
        returned.append(value if value is None or isinstance(value, int) else type(value))
        return value

    run: Callable[..., object] = recording
    monkeypatch.setattr(asyncio, "run", run)
    return returned
