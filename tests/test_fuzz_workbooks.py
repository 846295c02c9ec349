"""Fuzzing specs: whatever a department's workbook holds, a run reports it and never crashes.

Issue 7: on generated workbooks (both layouts, merged two-row headers, random cell types,
Japanese and full-width text, huge numbers, dates where numbers belong, formulas with and
without saved results) and on byte-level corruptions of them, the damage flow returns a
run record with problems, raises nothing but a DataError from parsing, and never counts a
value it reported as a problem. ``bench/fuzz_soak.py`` holds the same property 10,000 times.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from automation.config.loader import load_config
from automation.config.models import DamageRollupFlow
from automation.damage.workbook import Workbook, parse_workbook
from automation.errors import DataError
from automation.flows import damage_rollup
from automation.flows.damage_rollup import DamageInputs, DamagePlan, DamageState
from automation.runner import RunResult, run_flow
from automation.timeutil import JST
from tests.workbook_builders import (
    FUZZ_DIRECTORY,
    MATRIX_SHEET,
    RECORDS_SHEET,
    STATUSES,
    TOWNS,
    DrawnBook,
    check_plan,
    check_totals,
    corrupted,
    fuzz_params,
    workbooks,
)

NOW = datetime(2026, 9, 1, 10, 0, tzinfo=JST)
FUZZ = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CONFIG = f"""\
version: 1
state: {{path: state/db.sqlite}}
backend: {{type: local, root: inputs, artefacts: out, deliveries: sent}}
directory:
  departments:
    - {{name: {MATRIX_SHEET}, sheet: {MATRIX_SHEET}, contacts: [{{channel: mail, address: kiki@example.jp}}]}}
    - {{name: {RECORDS_SHEET}, sheet: {RECORDS_SHEET}, contacts: [{{channel: mail, address: kendo@example.jp}}]}}
flows:
  - id: damage
    kind: damage_rollup
    params:
      disaster: 台風
      workbook: book.xlsx
      report_to: [{{channel: mail, address: bousai@example.jp}}]
      municipalities: [{", ".join(TOWNS)}]
      layouts: {{{RECORDS_SHEET}: {{type: records, statuses: [{", ".join(STATUSES)}]}}}}
"""


def read(data: bytes, statuses: tuple[str, ...] | None) -> tuple[Workbook, DamagePlan]:
    """Parse and plan one run, as the damage job does (pure path, no files)."""
    book = parse_workbook(data, "book.xlsx", max_bytes=10**8)
    inputs = DamageInputs("v1", book)
    plan = damage_rollup.plan(fuzz_params(statuses), FUZZ_DIRECTORY, inputs, DamageState(), NOW)
    return book, plan


def configured_plan(data: bytes) -> DamagePlan:
    """The configured flow's own plan of ``data`` (pure path): what a run of it finds."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "automation.yaml"
        path.write_text(CONFIG, encoding="utf-8")
        loaded = load_config(path)
    flow = loaded.config.flow("damage")
    assert isinstance(flow, DamageRollupFlow)
    book = parse_workbook(data, "book.xlsx", max_bytes=10**8)
    inputs = DamageInputs("v1", book)
    return damage_rollup.plan(flow.params, loaded.config.directory, inputs, DamageState(), NOW)


def run_on_disk(data: bytes) -> RunResult:
    """A dry run of the configured flow with ``data`` as the input workbook."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "automation.yaml").write_text(CONFIG, encoding="utf-8")
        (root / "inputs").mkdir()
        (root / "inputs" / "book.xlsx").write_bytes(data)
        return asyncio.run(
            run_flow(load_config(root / "automation.yaml"), "damage", NOW, dry_run=True)
        )


@FUZZ
@given(workbooks())
def test_generated_workbooks_count_exactly_what_is_not_reported(drawn: DrawnBook) -> None:
    """Every readable cell is counted once; no cell reported as a problem is counted."""
    book, plan = read(drawn.data, drawn.statuses)
    check_plan(drawn, book, plan)


@FUZZ
@given(st.data())
def test_corrupted_workbooks_are_refused_or_read_consistently(data: st.DataObject) -> None:
    """A damaged file is a DataError naming the file, or is read with consistent totals."""
    drawn = data.draw(workbooks())
    _, damaged = data.draw(corrupted(drawn.data))
    try:
        _, plan = read(damaged, drawn.statuses)
    except DataError as err:
        assert err.message.startswith("book.xlsx: ")
        return
    check_totals(plan)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workbooks())
def test_a_run_records_every_problem_it_found(drawn: DrawnBook) -> None:
    """Through run_flow, the run record lists each problem with sheet!cell, value and fix."""
    result = run_on_disk(drawn.data)
    assert result.record["status"] in ("ok", "unchanged")
    expected = [
        {"department": p.department, "where": p.where, "value": p.value, "message": p.message}
        for p in configured_plan(drawn.data).report.problems
    ]
    recorded = [
        {k: p[k] for k in ("department", "where", "value", "message")}
        for p in result.record["problems"]
    ]
    assert recorded == expected
    assert all("!" in p["where"] or p["where"] in (MATRIX_SHEET, RECORDS_SHEET) for p in expected)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_run_on_a_damaged_workbook_fails_as_a_data_problem_or_completes(
    data: st.DataObject,
) -> None:
    """Through run_flow, a damaged file never raises: a failed data record or a run."""
    drawn = data.draw(workbooks())
    _, damaged = data.draw(corrupted(drawn.data))
    record = run_on_disk(damaged).record
    if record["status"] == "failed":
        assert record["error"]["kind"] == "data"
        assert record["error"]["message"].startswith("book.xlsx: ")
    else:
        assert record["status"] in ("ok", "unchanged")
