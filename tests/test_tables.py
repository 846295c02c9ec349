"""Specs for finding and reading the table on a department's sheet (matrix and records)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import pytest

from automation.config.models import MatrixLayout, RecordsLayout
from automation.damage.catalogue import Catalogue
from automation.damage.reading import SheetReading, municipality_index, read_matrix, read_records
from tests.builders import Rows, sheet

TITLE: Rows = [["令和8年台風第10号 被害状況報告"], ["報告日時: 9月1日"], []]


@pytest.fixture
def towns() -> Mapping[str, str]:
    """Three known municipalities."""
    index = municipality_index(("前橋市", "高崎市", "桐生市"))
    assert index is not None
    return index


def matrix(
    rows: Rows,
    catalogue: Catalogue,
    towns: Mapping[str, str] | None = None,
    merges: tuple[str, ...] = (),
) -> SheetReading:
    """Read ``rows`` as a matrix sheet named 部局."""
    return read_matrix(sheet(rows, merges), "部局", MatrixLayout(), catalogue, towns)


def amounts(reading: SheetReading) -> dict[tuple[str, str], int]:
    """Amounts as plain ints for comparison."""
    return {key: int(value) for key, value in reading.amounts.items()}


def test_title_rows_above_the_table_are_skipped(catalogue: Catalogue) -> None:
    """The header is found below title and date rows."""
    reading = matrix([*TITLE, ["市町村", "死者"], ["前橋市", 2]], catalogue)
    assert amounts(reading) == {("前橋市", "dead"): 2}


def test_merged_two_row_header(catalogue: Catalogue) -> None:
    """A group title merged over its sub-columns combines with each sub-header."""
    rows = [*TITLE, ["市町村", "全壊", None, None], [None, "棟", "世帯", "人"], ["前橋市", 1, 2, 5]]
    reading = matrix(rows, catalogue, merges=("A4:A5", "B4:D4"))
    assert amounts(reading) == {
        ("前橋市", "house_full_bldg"): 1,
        ("前橋市", "house_full_hh"): 2,
        ("前橋市", "house_full_ppl"): 5,
    }


def test_unmerged_two_row_header(catalogue: Catalogue) -> None:
    """Without merges, a group title covers the blank cells to its right."""
    rows = [["市町村", "半壊", None], [None, "棟", "世帯"], ["高崎市", 3, 4]]
    reading = matrix(rows, catalogue)
    assert amounts(reading) == {("高崎市", "house_half_bldg"): 3, ("高崎市", "house_half_hh"): 4}


def test_total_row_is_not_counted(catalogue: Catalogue) -> None:
    """A 計 or 合計 row is skipped, so nothing is counted twice."""
    rows = [["市町村", "死者"], ["前橋市", 1], ["高崎市", 2], ["合　計", 3], ["計", 3]]
    assert amounts(matrix(rows, catalogue)) == {("前橋市", "dead"): 1, ("高崎市", "dead"): 2}


def test_blank_separator_rows_are_skipped(catalogue: Catalogue) -> None:
    """Blank rows inside the table neither end it nor count."""
    rows = [["市町村", "死者"], ["前橋市", 1], [], [None, None], ["高崎市", 2]]
    assert amounts(matrix(rows, catalogue)) == {("前橋市", "dead"): 1, ("高崎市", "dead"): 2}


def test_notes_end_the_table(catalogue: Catalogue) -> None:
    """A ※ note below the table ends it; rows under the note are not read."""
    rows = [["市町村", "死者"], ["前橋市", 1], ["※ 未確認は調査中を含む"], ["高崎市", 9]]
    assert amounts(matrix(rows, catalogue)) == {("前橋市", "dead"): 1}


def test_unknown_municipality_is_a_problem(catalogue: Catalogue, towns: Mapping[str, str]) -> None:
    """A row name not in the configured list is reported and its row is not counted."""
    reading = matrix([["市町村", "死者"], ["前橋", 1]], catalogue, towns)
    assert reading.amounts == {}
    assert [(p.where, p.value) for p in reading.problems] == [("部局!A2", "前橋")]


def test_municipality_names_ignore_width_and_spaces(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """前 橋 市 with a space is 前橋市."""
    reading = matrix([["市町村", "死者"], ["前 橋 市", 1]], catalogue, towns)
    assert amounts(reading) == {("前橋市", "dead"): 1}


def test_duplicate_municipality_row_counts_once(catalogue: Catalogue) -> None:
    """A municipality listed twice is a problem; only the first row is counted."""
    reading = matrix([["市町村", "死者"], ["前橋市", 1], ["前橋市", 5]], catalogue)
    assert amounts(reading) == {("前橋市", "dead"): 1}
    assert "「前橋市」の行が2つあります（部局!A2 と重複）" in reading.problems[0].message


def test_unknown_column_is_a_problem_at_its_header(catalogue: Catalogue) -> None:
    """A renamed column is reported at its header cell and its values are not counted."""
    reading = matrix([["市町村", "死者", "ペット"], ["前橋市", 1, 4]], catalogue)
    assert amounts(reading) == {("前橋市", "dead"): 1}
    assert [(p.where, p.value) for p in reading.problems] == [("部局!C1", "ペット")]


def test_missing_key_column_means_no_table(catalogue: Catalogue) -> None:
    """Without the 市町村 header the table is not found; one sheet-level problem says so."""
    reading = matrix([["地域名", "死者"], ["前橋市", 1]], catalogue)
    assert not reading.table_found
    assert reading.problems[0].where == "部局"


def test_cell_problems_carry_address_value_and_fix(catalogue: Catalogue) -> None:
    """An unreadable cell is reported as sheet!cell with the raw value and the item."""
    reading = matrix([["市町村", "死者"], ["前橋市", "多数"]], catalogue)
    (found,) = reading.problems
    assert (found.where, found.value) == ("部局!B2", "多数")
    assert found.message.startswith("死者(人): 「多数」は数値として読めません。")
    assert reading.amounts == {}


def test_unconfirmed_cells_are_recorded_apart(catalogue: Catalogue) -> None:
    """未確認 cells go to ``unconfirmed``, not to amounts."""
    reading = matrix([["市町村", "死者"], ["前橋市", "未確認"]], catalogue)
    assert (reading.amounts, reading.unconfirmed) == ({}, {("前橋市", "dead")})


ROADS = RecordsLayout(statuses=("通行止め", "規制解除"))


def records(rows: Rows, catalogue: Catalogue, layout: RecordsLayout = ROADS) -> SheetReading:
    """Read ``rows`` as a records sheet."""
    return read_records(sheet(rows), "県土整備部", layout, catalogue, None)


def test_records_count_per_item_and_status(catalogue: Catalogue) -> None:
    """Each row is one incident, counted per item, municipality and status."""
    reading = records(
        [
            *TITLE,
            ["No", "被害種別", "市町村", "状況"],
            [1, "道路", "前橋市", "通行止め"],
            [2, "道路", "前橋市", "規制解除"],
            [3, "がけ崩れ", "高崎市", "通行止め"],
        ],
        catalogue,
    )
    assert reading.amounts == {
        ("前橋市", "roads"): Decimal(2),
        ("高崎市", "landslides"): Decimal(1),
    }
    assert dict(reading.statuses["roads"]) == {"通行止め": 1, "規制解除": 1}


def test_unknown_record_type_is_a_problem(catalogue: Catalogue) -> None:
    """A type that is no catalogue item is reported and not counted."""
    reading = records([["被害種別", "市町村", "状況"], ["倒木", "前橋市", "通行止め"]], catalogue)
    assert reading.amounts == {}
    assert reading.problems[0].message.startswith("被害種別「倒木」が項目一覧にありません。")


def test_unknown_record_status_is_a_problem(catalogue: Catalogue) -> None:
    """With statuses configured, anything else is reported with the allowed choices."""
    reading = records([["被害種別", "市町村", "状況"], ["道路", "前橋市", "通行可"]], catalogue)
    assert reading.amounts == {}
    assert "次のいずれかを入力してください: 通行止め、規制解除" in reading.problems[0].message


def test_record_sheet_without_municipality_column_is_not_read(catalogue: Catalogue) -> None:
    """A records sheet missing its 市町村 column reports the table as not found."""
    reading = records([["被害種別", "場所", "状況"], ["道路", "前橋", "通行止め"]], catalogue)
    assert not reading.table_found


def test_ambiguous_header_names_the_candidates(catalogue: Catalogue) -> None:
    """A header 全壊 without its unit is reported with the items it could be."""
    reading = matrix([["市町村", "全壊"], ["前橋市", 1]], catalogue)
    assert reading.problems[0].message == (
        "見出し「全壊」がどの項目か決められません（候補: 全壊(棟)、全壊(世帯)、全壊(人)）。"
        "単位（棟・世帯・人など）や区分（住家・非住家など）を見出しに書いてください。"
    )
