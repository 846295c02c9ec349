"""Specs for an owed merged workbook's recipe: small, and building the same workbook.

The recipe is stored before the report goes out (:mod:`automation.owed`), so it keeps only
what the workbook shows, the departments' readings in their stored (compressed) form; a later
run builds the workbook from it alone after a crash, and the run that made it builds from
the recipe in memory.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from automation import owed
from automation.config.models import (
    Contact,
    DamageRollupParams,
    Department,
    Directory,
    RecordsLayout,
)
from automation.flows.damage_rollup import DamageState
from automation.jobs import Artefact
from automation.merged_workbook import MergedSource, build_merged_workbook
from automation.plan import Message
from automation.render import Rendered
from automation.state import Store
from tests.test_damage_flow import at, inputs, run

ODD = ["未確認", "調査中", "多数", "約10", "=1+1", "a&b<c>", "😀", " 7 "]
MUNICIPALITIES = ["前橋市", "高崎市", "桐生市", "伊勢崎市", "太田市"]
figures = st.one_of(st.none(), st.integers(0, 5000), st.sampled_from(ODD))
kiki_rows = st.lists(st.lists(figures, min_size=3, max_size=3), min_size=1, max_size=5)
statuses = st.sampled_from(["通行止め", "規制解除", "調査中"])
road_rows = st.lists(st.tuples(st.sampled_from(MUNICIPALITIES), statuses), max_size=4)


def _report(kiki: list[list[object]], roads: list[tuple[str, str]]) -> Any:
    """The first report of a matrix sheet (危機管理課) and a records sheet (県土整備部)."""
    params = DamageRollupParams(
        disaster="令和8年台風第10号",
        workbook="book.xlsx",
        report_to=(Contact(channel="mail", address="bousai@example.jp"),),
        layouts={"県土整備部": RecordsLayout(statuses=("通行止め", "規制解除"))},
    )
    directory = Directory(
        departments=(
            Department(name="危機管理課", sheet="危機管理課"),
            Department(name="県土整備部", sheet="県土整備部"),
        )
    )
    rows = [[MUNICIPALITIES[n], *values] for n, values in enumerate(kiki)]
    records = [["道路", municipality, status] for municipality, status in roads]
    return run(params, directory, inputs(rows, records), DamageState(), at(9, 10)).report


def _parts(data: bytes) -> dict[str, bytes]:
    """The package's parts, but for its creation time (docProps/core.xml)."""
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        return {n: package.read(n) for n in package.namelist() if n != "docProps/core.xml"}


def _kept(report: Any) -> owed.Recipe:
    """The recipe of ``report``'s workbook as a later run reads it back from the database."""
    artefact = Artefact(
        "被害状況集計_第1報.xlsx", build_merged_workbook, (MergedSource.of(report),)
    )
    recipe = owed._loads(owed._dumps(owed.Recipe(artefact, None, ())))
    assert isinstance(recipe, owed.Recipe)
    return recipe


@settings(max_examples=25, deadline=None)
@given(kiki_rows, road_rows)
def test_a_workbook_built_from_the_kept_recipe_equals_one_built_from_the_report(
    kiki: list[list[object]], roads: list[tuple[str, str]]
) -> None:
    """The recipe read back from the database builds the report's workbook, part for part."""
    # cells, styles, comments, sheets
    report = _report(kiki, roads)
    assert _parts(_kept(report).artefact.data()) == _parts(build_merged_workbook(report))


def test_a_kept_recipe_holds_the_readings_in_their_stored_form_only() -> None:
    """No decoded reading (a sheet's every cell as Python objects) goes into the recipe."""
    report = _report([[1, "多数", None], [2, 3, 4]], [("前橋市", "通行止め")])
    artefact = Artefact("x.xlsx", build_merged_workbook, (MergedSource.of(report),))
    kept = owed._dumps(owed.Recipe(artefact, None, ()))
    assert b"SheetReading" not in kept and b"StoredReading" in kept
    assert b"DamageReport" not in kept and b"Consolidated" not in kept


def test_a_recipe_pickled_after_its_build_holds_no_decoded_reading_either() -> None:
    """Building from the recipe decodes each reading for its sheet and keeps none of them."""
    report = _report([[1, "多数", None]], [("前橋市", "通行止め")])
    recipe = _kept(report)
    recipe.artefact.data()
    assert b"SheetReading" not in pickle.dumps(recipe)


def test_a_message_waiting_for_the_workbook_is_kept_rendered_without_its_context(
    tmp_path: Path,
) -> None:
    """The mail attaching the workbook is kept rendered; its template's context is not kept."""
    # the report and every reading stay out of the recipe
    report = _report([[1, "多数", None]], [("前橋市", "通行止め")])
    contact = Contact(channel="mail", address="bousai@example.jp")
    mail = Message("report", "report:1", "response_team", contact, "t", {"report": report}, ("x",))
    artefact = Artefact("x", build_merged_workbook, (MergedSource.of(report),))
    with Store(tmp_path / "db.sqlite") as store:
        run_id = store.start_run("damage", at(9), at(9))
        waiting = [(mail, Rendered("件名", text="本文"))]
        owed.owe(store, "damage", run_id, [artefact], None, waiting, at(9))
        (held,) = store.held_artefacts("damage")
    recipe = owed._loads(held.recipe)
    assert isinstance(recipe, owed.Recipe)
    assert [(m.context, m.attachments, body.text) for m, body in recipe.waiting] == [
        ({}, ("x",), "本文")
    ]
    assert b"DamageReport" not in held.recipe


@settings(max_examples=25, deadline=None)
@given(kiki_rows, road_rows)
def test_a_stored_reading_shown_equals_its_full_decoding_where_the_workbook_looks(
    kiki: list[list[object]], roads: list[tuple[str, str]]
) -> None:
    """A stored reading decoded without figures shows what its full decoding shows."""
    # layout, columns, rows and unreadable cells; matrix and records sheets
    stored, catalogue = _report(kiki, roads).readings.kept()
    assert set(stored) == {"危機管理課", "県土整備部"}
    for kept in stored.values():
        shown, full = kept.shown(catalogue), kept.decode(catalogue)
        assert (shown.layout, shown.columns, shown.rows, shown.unreadable) == (
            full.layout,
            full.columns,
            full.rows,
            full.unreadable,
        )
