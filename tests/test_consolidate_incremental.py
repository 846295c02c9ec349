"""Specs for adding up only what changed (issue 18): a report's totals, sums per department
and per cell, signature and diff are the same whether the departments whose figures did
not change contribute what the previous report's sums kept for them, or everything is
added up again from every department's figures; and a report's figures and sums come back
from the state database as they were saved."""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from automation.damage import totals
from automation.damage.catalogue import DEFAULT_CATALOGUE
from automation.damage.totals import (
    GRID_AT,
    Consolidated,
    Figures,
    Sums,
    _moved_cells,
    amounts_of,
    consolidate,
    diff,
)
from automation.jsontext import compact
from automation.state import Store
from automation.timeutil import JST

DEPARTMENTS = ("危機管理課", "土木部", "農政部", "企業局", "健康福祉部")
TOWNS = ("前橋市", "高崎市", "桐生市", "館林市")
CODES = ("dead", "injured", "houses_full", "roads")
# Non-negative as the reader gives them (integers, normalised decimals), with some that
# need all 28 digits of the decimal context when added up: those sums would round.
VALUES = st.one_of(
    st.integers(0, 30).map(Decimal),
    st.sampled_from([Decimal("1.5"), Decimal("0.25"), Decimal("10")]),
    st.sampled_from([Decimal("999999999999"), Decimal("0.12345678901234567")]),
)
CELLS = st.tuples(st.sampled_from(TOWNS), st.sampled_from(CODES))
STEPS = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def figures(draw: st.DrawFn) -> Figures:
    """One department's figures: amounts, 未確認 and unreadable cells, statuses, incidents."""
    statuses = draw(
        st.dictionaries(
            st.sampled_from(CODES),
            st.dictionaries(st.sampled_from(["通行止め", "解除"]), st.integers(1, 3), min_size=1),
            max_size=2,
        )
    )
    incidents = {
        f"k{n}": ("roads", "道路", town, f"国道{n}号", "通行止め")
        for n, town in enumerate(draw(st.lists(st.sampled_from(TOWNS), max_size=2)))
    }
    return Figures(
        draw(st.dictionaries(CELLS, VALUES, max_size=10)),
        draw(st.sets(CELLS, max_size=4)),
        statuses,
        draw(st.sets(CELLS, max_size=3)),
        incidents,
    )


@dataclass
class Report:
    """A report as the next run gets it back: its snapshot and sums through JSON."""

    snapshot: dict[str, Any]
    sums: dict[str, Any] | None
    figures: dict[str, Figures]  # as the next run loads them (kept as text until read)


def saved(consolidated: Consolidated) -> Report:
    """What the state database gives the next run for this report."""
    texts = consolidated.figure_texts
    snapshot = {
        "totals": consolidated.totals_dump(),
        "statuses": consolidated.statuses,
        "signature": consolidated.signature,
        "figures": texts,
    }
    sums = None if consolidated.sums is None else json.loads(compact(consolidated.sums.dump()))
    loaded = {d: Figures.of_text(texts.text(d)) for d in texts}
    return Report(snapshot, sums, loaded)


def edited(draw: st.DrawFn, before: dict[str, Figures]) -> dict[str, Figures]:
    """The next run's figures: each department kept (the very same figures: its sheet did
    not change, or it is missing and carried), read again, added or gone."""
    after: dict[str, Figures] = {}
    for dept in DEPARTMENTS:
        action = draw(st.sampled_from(["keep"] * 5 + ["new", "gone", "same"]))
        if dept in before and action == "keep":
            after[dept] = before[dept]
        elif dept in before and action == "same":  # read again, nothing changed
            after[dept] = Figures.load(before[dept].dump())
        elif action in ("new", "same") or (action == "keep" and draw(st.booleans())):
            after[dept] = draw(figures())
    return after


def observed(consolidated: Consolidated) -> dict[str, Any]:
    """Everything a report shows or keeps of its consolidation."""
    sums = consolidated.sums
    return {
        "totals": consolidated.totals,
        "by_municipality": consolidated.by_municipality,
        "by_department": consolidated.by_department,
        "statuses": (
            consolidated.statuses,
            [list(s.items()) for s in consolidated.statuses.values()],
        ),
        "signature": consolidated.signature,
        "figures": {d: consolidated.figure_texts.text(d) for d in consolidated.figure_texts},
        "parts": None if sums is None else {d: p.dump() for d, p in sums.parts.items()},
        "cells": None if sums is None else {c: e for c, e in sums.cells.items()},
    }


def built_on_sums(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A note per consolidation built on the previous sums (the real code, counted)."""
    built: list[str] = []
    real = totals._incremental

    def counted(*args: Any, **kwargs: Any) -> Consolidated:
        result = real(*args, **kwargs)
        built.append("built on the sums")
        return result

    monkeypatch.setattr(totals, "_incremental", counted)
    return built


def test_adding_up_what_changed_gives_what_adding_up_everything_gives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sums built on the previous report's equal those added up afresh, and so do their diffs."""
    # and some runs were built on the sums: had each fallen back, the two would trivially agree
    built = built_on_sums(monkeypatch)
    _incremental_runs_equal_full_runs()
    assert built


@STEPS
@given(st.data())
def _incremental_runs_equal_full_runs(data: st.DataObject) -> None:
    first = consolidate(
        data.draw(st.dictionaries(st.sampled_from(DEPARTMENTS), figures())), DEFAULT_CATALOGUE
    )
    report = saved(first)
    for _ in range(data.draw(st.integers(1, 4))):
        after = edited(data.draw, report.figures)
        sums = Sums.load(report.sums)
        incremental = consolidate(
            after, DEFAULT_CATALOGUE, None if sums is None else (report.figures, sums)
        )
        full = consolidate(after, DEFAULT_CATALOGUE)
        assert observed(incremental) == observed(full)
        towns = list(TOWNS)
        unkept = replace(full, sums=None)  # its diff adds up the unchanged departments again
        expected = diff(report.snapshot, unkept, report.figures, towns)
        assert diff(report.snapshot, incremental, report.figures, towns) == expected
        assert diff(report.snapshot, incremental, report.figures, towns, sums) == expected
        report = saved(incremental)


def test_a_sum_that_would_round_is_added_up_from_every_figure() -> None:
    """Sums past the decimal context's 28 digits are not built on: the totals add every figure."""
    big = Figures({("前橋市", "dead"): Decimal("999999999999")})
    fine = Figures({("前橋市", "dead"): Decimal("0.12345678901234567")})
    one = Figures({("前橋市", "dead"): Decimal(1)})
    first = consolidate({"a": fine, "b": one}, DEFAULT_CATALOGUE)
    assert first.sums is not None
    again = consolidate(
        {"a": fine, "b": one, "c": big}, DEFAULT_CATALOGUE, ({"a": fine, "b": one}, first.sums)
    )
    rounded = Decimal(0) + Decimal("0.12345678901234567") + Decimal(1) + Decimal("999999999999")
    assert again.sums is None
    assert again.totals[0].value == rounded != Decimal("1000000000000.12345678901234567")


def test_figures_read_from_text_are_decoded_only_when_read() -> None:
    """Figures kept as text give back their text unread, and their figures once read."""
    figures = Figures({("前橋市", "dead"): Decimal(2)}, {("高崎市", "dead")})
    loaded = Figures.of_text(figures.text, incidents=False)
    assert loaded.incidents == {}
    assert repr(loaded) == "Figures(<not decoded>)"
    assert loaded.text == figures.text
    assert loaded == figures and loaded.amounts == {("前橋市", "dead"): Decimal(2)}


def test_a_diff_leaves_the_previous_report_s_figures_as_text_and_they_read_the_same() -> None:
    """A diff drops a changed department's previous figures back to text; they read the same."""
    # (one department's previous figures held decoded at a time)
    incidents = {"k1": ("roads", "道路", "前橋市", "国道1号", "通行止め")}
    old = Figures(
        {("前橋市", "dead"): Decimal("1.50"), ("高崎市", "dead"): Decimal("1.5")},
        {("桐生市", "roads")},
        {"roads": {"通行止め": 1}},
        {("館林市", "injured")},
        incidents,
    )
    kept = Figures({("前橋市", "injured"): Decimal(4)})
    report = saved(consolidate({"土木部": old, "農政部": kept}, DEFAULT_CATALOGUE))
    sums = Sums.load(report.sums)
    assert sums is not None
    after = {
        "土木部": Figures({("前橋市", "dead"): Decimal(3)}),
        "農政部": report.figures["農政部"],
    }
    current = consolidate(after, DEFAULT_CATALOGUE, (report.figures, sums))
    changes = diff(report.snapshot, current, report.figures, TOWNS, sums)
    assert repr(report.figures["土木部"]) == "Figures(<not decoded>)"
    assert report.figures["土木部"].incidents == incidents
    assert report.figures["土木部"] == old
    fresh = Figures.of_text(report.snapshot["figures"].text("土木部"))
    assert [str(v) for v in report.figures["土木部"].amounts.values()] == [
        str(v) for v in fresh.amounts.values()
    ]
    assert diff(report.snapshot, current, report.figures, TOWNS, sums) == changes


def test_figures_not_loaded_from_text_keep_what_they_hold_when_forgotten() -> None:
    """Only figures loaded from text are dropped back to it; those read from a sheet keep theirs."""
    # (their text writes the first of equal figures: 1.50 for a later 1.5)
    figures = Figures({("前橋市", "dead"): Decimal("1.50"), ("高崎市", "dead"): Decimal("1.5")})
    assert figures.text
    figures.forget()
    assert str(figures.amounts[("高崎市", "dead")]) == "1.5"


def test_a_report_stored_with_its_figures_inline_is_read_as_before(tmp_path: Path) -> None:
    """A report saved with its figures inline reads back with them; the next run adds up afresh."""
    figures = {
        "危機管理課": {"amounts": {"前橋市": {"dead": "2"}}, "unconfirmed": [], "statuses": {}}
    }
    snapshot = {"number": 1, "as_of": "2026-09-01T09:00:00+09:00", "signature": "s"}
    at = datetime(2026, 9, 1, 9, tzinfo=JST)
    with Store(tmp_path / "state.sqlite") as store:
        run = store.start_run("damage", at, at)
        store._db.execute(
            "INSERT INTO reports (flow, incident, number, as_of, signature, snapshot, run_id) "
            "VALUES ('damage', 0, 1, ?, 's', ?, ?)",
            (snapshot["as_of"], json.dumps({**snapshot, "figures": figures}), run),
        )
        back, sums = store.latest_report_and_sums("damage")
    assert back == {**snapshot, "figures": figures} and sums is None


@STEPS
@given(figures(), figures(), st.booleans())
def test_the_cells_a_department_moved_are_those_whose_figure_or_mark_differs(
    old: Figures, new: Figures, gone: bool
) -> None:
    """A cell moved when its number, 未確認 flag or unreadable mark differs, or its department did."""
    # (compared as a number: 1.5 is 1.50; a department that came or went moved its cells)
    relisted = Figures(
        {
            cell: Decimal(f"{value}.00") if value == value.to_integral_value() else value
            for cell, value in old.amounts.items()
        },
        set(old.unconfirmed),
        old.statuses,
        set(old.unreadable),
    )
    for before, after in ((old, new), (old, relisted), (None, new), (old, None if gone else old)):
        b = before or Figures()
        a = after or Figures()
        plain = {cell for cell, _ in b.amounts.items() ^ a.amounts.items()}
        plain |= (b.unconfirmed ^ a.unconfirmed) | (b.unreadable ^ a.unreadable)
        assert _moved_cells(before, after) == plain


@st.composite
def sheet_figures(draw: st.DrawFn) -> Figures:
    """A large sheet's figures: most of its municipalities' rows filled (some cells empty,
    flagged or unreadable), or scattered thinly over many rows."""
    thin = draw(st.booleans())  # each municipality 5 of the 12 items, over 3x the rows
    towns = [f"地区{n}" for n in range(draw(st.integers(84, 130)) * (3 if thin else 1))]
    codes = [f"item{n:02d}" for n in range(12)]
    cells = [(t, c) for t in draw(st.permutations([*towns, '"市,\\町"'])) for c in codes]
    if thin:
        cells = [cell for index, cell in enumerate(cells) if (index + index // 12) % 12 < 5]
    empty = draw(st.sets(st.integers(0, len(cells) - 1), max_size=len(cells) // 4))
    spread = draw(st.lists(VALUES | st.just(Decimal("1.50")), min_size=1, max_size=5))
    amounts = {
        cell: spread[index % len(spread)] for index, cell in enumerate(cells) if index not in empty
    }
    unconfirmed = {cells[index] for index in sorted(empty)[::2]}
    return Figures(amounts, unconfirmed, {}, {cells[index] for index in sorted(empty)[1::4]})


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(sheet_figures())
def test_a_large_sheet_s_figures_are_stored_as_a_grid_and_read_back_as_they_were(
    figures: Figures,
) -> None:
    """Figures stored as a grid (GRID_AT or more, dense) or as rows read back equal either way."""
    # in municipality-then-item order, each written as its first equal figure; the console
    # reads the same rows from both
    data = json.loads(figures.text)
    texts = {value: str(value) for value in reversed(figures.amounts.values())}  # first wins
    rows: dict[str, dict[str, str]] = {}
    for (town, code), value in sorted(figures.amounts.items()):
        rows.setdefault(town, {})[code] = texts[value]
    grid = len(figures.amounts) >= GRID_AT and len(rows) * 12 <= 2 * len(figures.amounts)
    assert ("grid" in data, "amounts" in data) == (grid, not grid)
    back = Figures.load(data)
    assert back == figures and list(back.amounts) == sorted(figures.amounts)
    assert amounts_of(data) == rows
    assert Figures.of_text(figures.text).dump() == data


@STEPS
@given(figures(), st.booleans(), st.booleans())
def test_figures_pickled_come_back_equal_in_order_with_each_figure_s_text(
    figures: Figures, with_text: bool, as_text: bool
) -> None:
    """Pickled figures come back equal, in order, each with its own text, still text if text."""
    # (a helper process's figures, automation.parallel; 1.50 stays 1.50)
    figures.amounts[("館林市", "roads")] = Decimal("1.50")  # beside an equal 1.5 maybe
    if with_text:
        _ = figures.text
    if as_text:
        figures = Figures.of_text(figures.text)
    back = pickle.loads(pickle.dumps(figures))
    assert back == figures
    assert back.text == figures.text
    if as_text:
        assert repr(back) == "Figures(<not decoded>)"
    pairs = [(cell, str(value)) for cell, value in back.amounts.items()]
    assert pairs == [(cell, str(value)) for cell, value in figures.amounts.items()]
    assert back.incidents == figures.incidents


def test_figures_pickled_apart_share_their_cells_keys_when_back() -> None:
    """Figures pickled apart hold one tuple per cell between them once back, as the reader's do."""
    # (60 sheets of 2,000 rows would otherwise hold 80 MB of keys)
    first = Figures({("前橋市", "dead"): Decimal(1), ("高崎市", "dead"): Decimal(2)})
    second = Figures({("前橋市", "dead"): Decimal(3)})
    one, two = pickle.loads(pickle.dumps(first)), pickle.loads(pickle.dumps(second))
    assert next(iter(one.amounts)) is next(iter(two.amounts))


@st.composite
def grid_edits(draw: st.DrawFn) -> tuple[Figures, Figures]:
    """A large sheet's figures as the previous report kept them (text), and the sheet read
    again: one figure rewritten equal (1.5 as 1.50, 2 as 2.0) in every cell holding it,
    some figures changed or gone, some 未確認 flags moved, rarely a row more."""
    before = draw(sheet_figures())
    amounts = dict(before.amounts)
    cells = sorted(amounts)
    if draw(st.booleans()):  # one figure written otherwise wherever it stands: 1.5 as 1.50
        shown = amounts[draw(st.sampled_from(cells))]
        respelt = Decimal(f"{shown}0" if "." in str(shown) else f"{shown}.0")
        amounts = {cell: respelt if value == shown else value for cell, value in amounts.items()}
    for cell in draw(st.lists(st.sampled_from(cells), max_size=40)):
        amounts[cell] = draw(st.just(amounts[cell] + 1) | VALUES)
    for cell in draw(st.lists(st.sampled_from(cells), max_size=5)):
        amounts.pop(cell, None)
    unconfirmed = set(before.unconfirmed) ^ set(draw(st.lists(st.sampled_from(cells), max_size=3)))
    if draw(st.integers(0, 9)) == 0:
        amounts[("新町", cells[0][1])] = Decimal(1)
    after = Figures(amounts, unconfirmed, {}, set(before.unreadable))
    _ = after.text  # as a sheet read in a helper process comes back: its text made
    return Figures.of_text(before.text), after


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(grid_edits())
def test_large_sheets_kept_as_grids_move_the_cells_a_plain_comparison_moves(
    edit: tuple[Figures, Figures],
) -> None:
    """Two grids move the cells whose figure (as a number) or marks differ, texts aside."""
    old, new = edit
    plain = {cell for cell, _ in old.amounts.items() ^ new.amounts.items()}
    plain |= (old.unconfirmed ^ new.unconfirmed) | (old.unreadable ^ new.unreadable)
    again = Figures.of_text(old.text)
    assert _moved_cells(again, new) == plain


@STEPS
@given(st.dictionaries(st.sampled_from(DEPARTMENTS), figures()), st.data())
def test_each_moved_cell_lists_in_order_the_departments_whose_part_of_it_changed(
    first: dict[str, Figures], data: st.DataObject
) -> None:
    """A change in a municipality names, sorted, exactly the departments that moved its cell."""
    report = saved(consolidate(first, DEFAULT_CATALOGUE))
    after = edited(data.draw, report.figures)
    current = consolidate(after, DEFAULT_CATALOGUE)
    expected: dict[tuple[str, str], tuple[str, ...]] = {}
    for dept in sorted(set(report.figures) | set(after)):
        old, new = report.figures.get(dept), after.get(dept)
        for cell in _moved_cells(old, new) if old != new else ():
            expected[cell] = (*expected.get(cell, ()), dept)
    for change in diff(report.snapshot, current, report.figures, list(TOWNS)):
        for part in change.parts:
            assert part.departments == expected[(part.municipality, change.code)]
