"""Specs for finding the table on a department's sheet and reading it (matrix and records).

DESIGN.md §4: forms carry title rows, one- or two-row (often merged) headers, blank
separator rows, total rows and notes; readers skip what is not data, never count a total
twice, and report every unreadable cell with sheet!cell, the raw value and the fix.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from decimal import Decimal

import pytest

from automation.cells import FIX_NUMBER
from automation.config.models import MatrixLayout, RecordsLayout
from automation.damage.catalogue import Catalogue
from automation.damage.reading import (
    NO_STATUS,
    CellProblem,
    SheetReading,
    municipality_index,
    read_matrix,
    read_records,
)
from tests.builders import Rows, sheet

TITLE: Rows = [["令和8年台風第10号に係る被害状況"], ["9月1日10時00分現在"], []]
GROUPED_HEADER: Rows = [
    ["市町村", "全壊", None, None, "死者"],
    [None, "棟", "世帯", "人", None],
]
GROUPED_DATA: Rows = [["前橋市", 1, 2, 3, 0], ["高崎市", 4, 5, 6, 1]]
GROUPED_AMOUNTS = {
    ("前橋市", "house_full_bldg"): 1,
    ("前橋市", "house_full_hh"): 2,
    ("前橋市", "house_full_ppl"): 3,
    ("前橋市", "dead"): 0,
    ("高崎市", "house_full_bldg"): 4,
    ("高崎市", "house_full_hh"): 5,
    ("高崎市", "house_full_ppl"): 6,
    ("高崎市", "dead"): 1,
}
GROUPED_CODES = ["house_full_bldg", "house_full_hh", "house_full_ppl", "dead"]
HEADER: Rows = [["市町村", "死者", "行方不明者"]]
ROAD_STATUSES = ("通行止め", "片側交互通行", "解除")


@pytest.fixture
def towns() -> Mapping[str, str]:
    """The configured municipalities."""
    index = municipality_index(("前橋市", "高崎市", "桐生市", "伊勢崎市"))
    assert index is not None
    return index


def matrix(
    rows: Rows, catalogue: Catalogue, towns: Mapping[str, str], merges: tuple[str, ...] = ()
) -> SheetReading:
    """Read ``rows`` (row 1 first) as a matrix sheet named 部局."""
    return read_matrix(sheet(rows, merges), "部局", MatrixLayout(), catalogue, towns)


def records(
    rows: Rows,
    catalogue: Catalogue,
    towns: Mapping[str, str],
    statuses: tuple[str, ...] | None = None,
) -> SheetReading:
    """Read ``rows`` (row 1 first) as a records sheet named 部局."""
    layout = RecordsLayout(statuses=statuses)
    return read_records(sheet(rows), "部局", layout, catalogue, towns)


def amounts(reading: SheetReading) -> dict[tuple[str, str], int]:
    """The amounts read, as plain ints."""
    return {key: int(value) for key, value in reading.amounts.items()}


def where(reading: SheetReading) -> list[str]:
    """The addresses of the problems found."""
    return [found.where for found in reading.problems]


# --- finding the table -----------------------------------------------------------------


def test_title_rows_above_the_table_are_skipped(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """Title and date lines above the header are neither headers nor data."""
    reading = matrix([*TITLE, *HEADER, ["前橋市", 1, 2]], catalogue, towns)
    assert reading.table_found
    assert reading.problems == []
    assert amounts(reading) == {("前橋市", "dead"): 1, ("前橋市", "missing"): 2}


def test_a_merged_two_row_header_maps_each_sub_column(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """A group title merged over 棟/世帯/人 combines with each sub-header."""
    rows = [*TITLE, *GROUPED_HEADER, *GROUPED_DATA]
    reading = matrix(rows, catalogue, towns, merges=("A4:A5", "B4:D4", "E4:E5"))
    assert reading.problems == []
    assert [item.code for item in reading.columns] == GROUPED_CODES
    assert amounts(reading) == GROUPED_AMOUNTS


def test_an_unmerged_two_row_header_maps_each_sub_column(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """Without merges, a group title covers the blank header cells to its right."""
    reading = matrix([*TITLE, *GROUPED_HEADER, *GROUPED_DATA], catalogue, towns)
    assert reading.problems == []
    assert [item.code for item in reading.columns] == GROUPED_CODES
    assert amounts(reading) == GROUPED_AMOUNTS


def test_an_unmerged_two_row_header_under_a_merged_title_maps_each_sub_column(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """A merged title line elsewhere does not stop an unmerged group title covering its blanks."""
    rows = [*TITLE, *GROUPED_HEADER, *GROUPED_DATA]
    reading = matrix(rows, catalogue, towns, merges=("A1:E1",))
    assert reading.problems == []
    assert amounts(reading) == GROUPED_AMOUNTS


def test_a_municipality_header_merged_over_two_columns_is_not_an_item_column(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """「市町村」 merged across A:B (names in A, B left blank) is one header, not an unknown item."""
    rows = [["市町村", None, "死者"], ["前橋市", None, 1], ["高崎市", None, 3]]
    reading = matrix(rows, catalogue, towns, merges=("A1:B1",))
    assert reading.problems == []
    assert amounts(reading) == {("前橋市", "dead"): 1, ("高崎市", "dead"): 3}


def test_names_under_a_merged_municipality_header_are_read_where_they_are_written(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """Under 「市町村」 merged across A:B, row numbers in A and names in B: the names are read."""
    rows = [["市町村", None, "死者"], [1, "前橋市", 1], [2, "高崎市", 3]]
    reading = matrix(rows, catalogue, towns, merges=("A1:B1",))
    assert reading.problems == []
    assert amounts(reading) == {("前橋市", "dead"): 1, ("高崎市", "dead"): 3}


def test_a_missing_key_column_means_no_table(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """Without a 市町村 header the sheet has no table and one sheet-level problem."""
    reading = matrix([*TITLE, ["地区", "死者"], ["前橋市", 1]], catalogue, towns)
    assert not reading.table_found
    assert reading.amounts == {}
    assert reading.problems == [
        CellProblem(
            "部局",
            "部局",
            "",
            "表の見出し（市町村・市町村名）が見つかりません。"
            "様式の見出し行（市町村の列）を元に戻してください。",
        )
    ]


def test_a_table_with_no_item_columns_is_not_found(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """A 市町村 column with only 備考 beside it has nothing to count."""
    reading = matrix([["市町村", "備考"], ["前橋市", "特になし"]], catalogue, towns)
    assert not reading.table_found
    assert where(reading) == ["部局!A1"]


# --- rows that are not data ------------------------------------------------------------


def test_a_total_row_is_not_counted(catalogue: Catalogue, towns: Mapping[str, str]) -> None:
    """計/合計 rows are skipped: totals are never added to the municipalities' figures."""
    rows = [*HEADER, ["前橋市", 1, 0], ["高崎市", 2, 0], ["計", 3, 0], ["合　計", 3, 0]]
    reading = matrix(rows, catalogue, towns)
    assert reading.problems == []
    assert amounts(reading) == {
        ("前橋市", "dead"): 1,
        ("前橋市", "missing"): 0,
        ("高崎市", "dead"): 2,
        ("高崎市", "missing"): 0,
    }


def test_blank_separator_rows_are_skipped(catalogue: Catalogue, towns: Mapping[str, str]) -> None:
    """A blank row inside the table neither ends it nor is a problem."""
    rows = [*HEADER, ["前橋市", 1, 0], [], [None, None, None], ["高崎市", 2, 0]]
    reading = matrix(rows, catalogue, towns)
    assert reading.problems == []
    assert {municipality for municipality, _ in reading.amounts} == {"前橋市", "高崎市"}


def test_notes_under_the_table_end_it(catalogue: Catalogue, towns: Mapping[str, str]) -> None:
    """A ※ note ends the table: nothing below it is read or reported."""
    rows = [
        *HEADER,
        ["前橋市", 1, 0],
        ["※ 数値は速報値です。", None, None],
        ["前橋市", 9, 9],
        ["報告者", "防災課", None],
    ]
    reading = matrix(rows, catalogue, towns)
    assert reading.problems == []
    assert amounts(reading) == {("前橋市", "dead"): 1, ("前橋市", "missing"): 0}


def test_a_full_width_note_marker_ends_the_table(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """（注） written with full-width brackets is a note like (注)."""
    rows = [*HEADER, ["前橋市", 1, 0], ["（注）数値は速報値です。", None, None]]
    reading = matrix(rows, catalogue, towns)
    assert reading.problems == []


def test_values_in_a_row_without_a_municipality_are_a_problem(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """Numbers in a row whose 市町村 cell is blank are reported, not counted."""
    reading = matrix([*HEADER, ["前橋市", 1, 0], [None, 5, None]], catalogue, towns)
    assert where(reading) == ["部局!A3"]
    assert ("前橋市", "dead") in reading.amounts
    assert len(reading.amounts) == 2


# --- municipalities --------------------------------------------------------------------


def test_an_unknown_municipality_is_a_problem_and_not_counted(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """A name not in the configured list is reported at its cell; its row is not counted."""
    rows = [*HEADER, ["前橋市", 1, 0], ["前橋町", 5, 5]]
    reading = matrix(rows, catalogue, towns)
    assert reading.problems == [
        CellProblem(
            "部局",
            "部局!A3",
            "前橋町",
            "市町村名「前橋町」が市町村一覧にありません。この行は集計されません。"
            "正しい市町村名（例: 前橋市）に直してください。",
        )
    ]
    assert amounts(reading) == {("前橋市", "dead"): 1, ("前橋市", "missing"): 0}


@pytest.mark.parametrize(
    ("written", "listed"),
    [("前橋", "前橋市"), ("群馬県高崎市", "高崎市"), ("山田郡桐生市", "桐生市")],
)
def test_an_unknown_municipality_close_to_a_listed_one_names_it_in_the_fix(
    catalogue: Catalogue, towns: Mapping[str, str], written: str, listed: str
) -> None:
    """前橋 (市 left off) or 群馬県高崎市 is not guessed: the fix names the listed spelling."""
    reading = matrix([*HEADER, [written, 1, 0]], catalogue, towns)
    assert [(p.where, p.value, p.message) for p in reading.problems] == [
        (
            "部局!A2",
            written,
            f"市町村名「{written}」が市町村一覧にありません。この行は集計されません。"
            f"「{listed}」のことであれば「{listed}」と入力してください。",
        )
    ]


def test_an_unknown_record_municipality_close_to_a_listed_one_names_it_in_the_fix(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """An incident's 前橋 is reported at its cell with 前橋市 as the fix."""
    reading = records([*RECORDS_HEADER, ["道路", "前橋", "国道17号", "通行止め"]], catalogue, towns)
    assert [(p.where, p.message) for p in reading.problems] == [
        (
            "部局!B2",
            "市町村名「前橋」が市町村一覧にありません。この行は集計されません。"
            "「前橋市」のことであれば「前橋市」と入力してください。",
        )
    ]


def test_a_municipality_name_with_spaces_is_the_configured_one(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """前　橋　市 (spaced to fit the cell) is 前橋市."""
    reading = matrix([*HEADER, ["前　橋　市", 1, 0]], catalogue, towns)
    assert reading.problems == []
    assert ("前橋市", "dead") in reading.amounts


def test_a_duplicate_municipality_is_a_problem_and_counted_once(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """A second row for the same municipality is reported and not added to the first."""
    rows = [*HEADER, ["前橋市", 1, 0], ["高崎市", 2, 0], ["前橋市", 7, 7]]
    reading = matrix(rows, catalogue, towns)
    assert reading.problems == [
        CellProblem(
            "部局",
            "部局!A4",
            "前橋市",
            "「前橋市」の行が2つあります（部局!A2 と重複）。この行は集計されません。"
            "1行にまとめてください。",
        )
    ]
    assert amounts(reading)[("前橋市", "dead")] == 1
    assert amounts(reading)[("前橋市", "missing")] == 0


# --- columns ---------------------------------------------------------------------------


def test_an_unknown_column_header_is_a_problem_at_the_header_cell(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """A header naming no item is reported at its cell and its values are not counted."""
    rows = [*TITLE, ["市町村", "死者", "天気", "行方不明者"], ["前橋市", 1, 99, 2]]
    reading = matrix(rows, catalogue, towns)
    assert reading.problems == [
        CellProblem(
            "部局",
            "部局!C4",
            "天気",
            "見出し「天気」に当たる項目がありません。この列は集計されません。"
            "様式の項目名に戻すか、管理者に項目の追加を依頼してください。",
        )
    ]
    assert [item.code for item in reading.columns] == ["dead", "missing"]
    assert amounts(reading) == {("前橋市", "dead"): 1, ("前橋市", "missing"): 2}


def test_an_ambiguous_column_header_lists_the_candidates(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """全壊 without a unit is reported with the items it could be."""
    reading = matrix([["市町村", "全壊", "死者"], ["前橋市", 3, 1]], catalogue, towns)
    assert where(reading) == ["部局!B1"]
    assert "候補: 全壊(棟)、全壊(世帯)、全壊(人)" in reading.problems[0].message
    assert amounts(reading) == {("前橋市", "dead"): 1}


def test_a_repeated_item_column_is_a_problem_and_counted_once(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """Two columns for the same item: the second is reported and not counted."""
    reading = matrix([["市町村", "死者", "死者数"], ["前橋市", 1, 5]], catalogue, towns)
    assert where(reading) == ["部局!C1"]
    assert amounts(reading) == {("前橋市", "dead"): 1}


def test_total_and_remark_columns_are_skipped_silently(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """計 and 備考 columns are neither counted nor reported."""
    rows = [["市町村", "死者", "行方不明者", "計", "備考"], ["前橋市", 1, 2, 3, "調査中"]]
    reading = matrix(rows, catalogue, towns)
    assert reading.problems == []
    assert [item.code for item in reading.columns] == ["dead", "missing"]


# --- cells -----------------------------------------------------------------------------


def test_a_cell_problem_carries_address_raw_value_and_message(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """An unreadable cell is reported at sheet!cell with what was found and the fix."""
    # whose figure (municipality and item) it leaves out
    reading = matrix([*TITLE, *HEADER, ["前橋市", "多数", 2]], catalogue, towns)
    assert reading.problems == [
        CellProblem(
            "部局",
            "部局!B5",
            "多数",
            f"死者(人): 「多数」は数値として読めません。{FIX_NUMBER}",
            "前橋市",
            "死者",
        )
    ]
    assert amounts(reading) == {("前橋市", "missing"): 2}


def test_a_cell_problem_is_shown_for_fixing_in_the_merged_rows(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """The as-read row shows numbers as numbers, 未確認 as such and problems as 要修正."""
    reading = matrix([*HEADER, ["前橋市", "△1", "未確認"]], catalogue, towns)
    assert reading.rows == [("前橋市", {"dead": "要修正: △1", "missing": "未確認"})]


def test_unconfirmed_cells_are_flagged_not_counted(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """未確認 is recorded in ``unconfirmed`` and not added to the amounts."""
    reading = matrix([*HEADER, ["前橋市", "（調査中）", 2]], catalogue, towns)
    assert reading.unconfirmed == {("前橋市", "dead")}
    assert amounts(reading) == {("前橋市", "missing"): 2}
    assert reading.reported


def test_blank_cells_are_not_reported_and_dashes_are_zero(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """A blank cell adds nothing; a dash is a reported zero."""
    reading = matrix([*HEADER, ["前橋市", None, "－"]], catalogue, towns)
    assert reading.amounts == {("前橋市", "missing"): Decimal(0)}
    assert reading.problems == []


def test_a_sheet_with_only_blank_cells_has_not_reported(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """A table whose cells are all blank is found but reports nothing."""
    reading = matrix([*HEADER, ["前橋市", None, None], ["高崎市", None, None]], catalogue, towns)
    assert reading.table_found
    assert not reading.reported


# --- records layout --------------------------------------------------------------------

RECORDS_HEADER: Rows = [["被害種別", "市町村", "路線名", "状況"]]
ROAD_RECORDS: Rows = [
    *RECORDS_HEADER,
    ["道路", "前橋市", "国道17号", "通行止め"],
    ["道路", "前橋市", "県道前橋赤城線", "片側交互通行"],
    ["がけ崩れ", "高崎市", "市道1号", "通行止め"],
    ["道路", "高崎市", "国道18号", "通行止め"],
]


def test_records_are_counted_per_item_and_municipality(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """Each row counts one incident for its municipality and item."""
    reading = records(ROAD_RECORDS, catalogue, towns)
    assert reading.table_found
    assert reading.problems == []
    assert amounts(reading) == {
        ("前橋市", "roads"): 2,
        ("高崎市", "landslides"): 1,
        ("高崎市", "roads"): 1,
    }


def test_records_are_counted_per_status(catalogue: Catalogue, towns: Mapping[str, str]) -> None:
    """Each item keeps a count of its incidents per status."""
    reading = records(ROAD_RECORDS, catalogue, towns)
    assert reading.statuses == {
        "roads": Counter({"通行止め": 2, "片側交互通行": 1}),
        "landslides": Counter({"通行止め": 1}),
    }


def test_a_record_without_a_status_is_counted_as_unrecorded(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """A blank status is counted under （未記入）, even when statuses are configured."""
    rows = [*RECORDS_HEADER, ["道路", "前橋市", "国道17号", None]]
    reading = records(rows, catalogue, towns, ROAD_STATUSES)
    assert reading.problems == []
    assert reading.statuses == {"roads": Counter({NO_STATUS: 1})}


def test_title_rows_above_records_are_skipped(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """Title lines above the records header are not records."""
    reading = records([*TITLE, *ROAD_RECORDS], catalogue, towns)
    assert reading.problems == []
    assert sum(amounts(reading).values()) == 4


def test_blank_rows_between_records_are_skipped(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """Blank rows are neither records nor problems."""
    rows = [*RECORDS_HEADER, [], ["道路", "前橋市", "国道17号", "通行止め"], [None] * 4, []]
    reading = records(rows, catalogue, towns)
    assert reading.problems == []
    assert amounts(reading) == {("前橋市", "roads"): 1}


def test_notes_under_records_end_them(catalogue: Catalogue, towns: Mapping[str, str]) -> None:
    """A ※ note ends the records: nothing below it is read."""
    rows = [*ROAD_RECORDS, ["※ 9時現在"], ["竜巻", "桐生市", None, None]]
    reading = records(rows, catalogue, towns)
    assert reading.problems == []
    assert sum(amounts(reading).values()) == 4


def test_an_unknown_record_type_is_a_problem_and_not_counted(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """A type naming no item is reported at its cell; the row is not counted."""
    rows = [*RECORDS_HEADER, ["道路", "前橋市", "国道17号", "通行止め"], ["竜巻", "高崎市", "", ""]]
    reading = records(rows, catalogue, towns)
    assert reading.problems == [
        CellProblem(
            "部局",
            "部局!A3",
            "竜巻",
            "被害種別「竜巻」が項目一覧にありません。この行は集計されません。"
            "道路・河川・橋りょう・崖くずれ などの種別を入力してください。",
        )
    ]
    assert amounts(reading) == {("前橋市", "roads"): 1}


def test_an_unknown_record_municipality_is_a_problem_and_not_counted(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """A municipality not in the list is reported at its own cell."""
    rows = [*RECORDS_HEADER, ["道路", "前橋町", "国道17号", "通行止め"]]
    reading = records(rows, catalogue, towns)
    assert where(reading) == ["部局!B2"]
    assert reading.problems[0].value == "前橋町"
    assert reading.amounts == {}


def test_an_unknown_status_is_a_problem_when_statuses_are_configured(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """A status outside the configured choices is reported and the row not counted."""
    rows = [*RECORDS_HEADER, ["道路", "前橋市", "国道17号", "通行止"]]
    reading = records(rows, catalogue, towns, ROAD_STATUSES)
    assert reading.problems == [
        CellProblem(
            "部局",
            "部局!D2",
            "通行止",
            "状況「通行止」は選択肢にありません。この行は集計されません。"
            "次のいずれかを入力してください: 通行止め、片側交互通行、解除",
        )
    ]
    assert reading.amounts == {}
    assert reading.statuses == {}


def test_any_status_is_accepted_when_none_are_configured(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """Without configured statuses, whatever is written is counted as written."""
    rows = [*RECORDS_HEADER, ["道路", "前橋市", "国道17号", "通行止"]]
    reading = records(rows, catalogue, towns)
    assert reading.problems == []
    assert reading.statuses == {"roads": Counter({"通行止": 1})}


def test_a_status_is_counted_under_its_configured_spelling(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """片側交互 通行 (spaces, full-width) counts as the configured 片側交互通行."""
    rows = [*RECORDS_HEADER, ["道路", "前橋市", "国道17号", "片側交互　通行"]]
    reading = records(rows, catalogue, towns, ROAD_STATUSES)
    assert reading.problems == []
    assert reading.statuses == {"roads": Counter({"片側交互通行": 1})}


def test_an_unknown_status_in_the_first_column_is_reported_at_its_cell(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """The problem points at the status cell even when 状況 is column A."""
    rows = [["状況", "被害種別", "市町村"], ["通行止", "道路", "前橋市"]]
    reading = records(rows, catalogue, towns, ROAD_STATUSES)
    assert where(reading) == ["部局!A2"]


def test_a_missing_municipality_column_means_no_table(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """Records without a 市町村 column cannot be counted: one problem at the header."""
    rows = [["被害種別", "路線名", "状況"], ["道路", "国道17号", "通行止め"]]
    reading = records(rows, catalogue, towns)
    assert not reading.table_found
    assert reading.amounts == {}
    assert reading.problems == [
        CellProblem(
            "部局",
            "部局!A1",
            "",
            "列「市町村」が見つかりません。見出し行を様式どおりに戻してください。",
        )
    ]


def test_a_missing_type_column_means_no_table(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """Records without a 被害種別 column cannot be counted: one sheet-level problem."""
    reading = records([["市町村", "状況"], ["前橋市", "通行止め"]], catalogue, towns)
    assert not reading.table_found
    assert where(reading) == ["部局"]


def test_a_problem_names_its_department_once_when_the_sheet_bears_its_name() -> None:
    """``農政部!B11``, not ``農政部 農政部!B11``; another sheet name is kept beside it."""
    same = CellProblem("農政部", "農政部!B11", "多数", "…")
    other = CellProblem("農政部", "集計表!B11", "多数", "…")
    assert (same.place, same.cell) == ("農政部!B11", "B11")
    assert (other.place, other.cell) == ("農政部 集計表!B11", "集計表!B11")


def test_a_cell_problem_headline_names_municipality_and_item_first(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """The response team reads whose figure is missing first: 「前橋市の死者: 多数（読めず）」."""
    reading = matrix([*HEADER, ["前橋市", "多数", 2]], catalogue, towns)
    assert [p.headline for p in reading.problems] == ["前橋市の死者: 多数（読めず） 部局!B2"]


def test_a_typed_total_that_disagrees_with_its_rows_is_a_problem_never_counted(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """計 318 under rows summing to 381: the department is told; the rows are what count."""
    rows = [*HEADER, ["前橋市", 300, 1], ["高崎市", 81, 2], ["計", 318, 3]]
    reading = matrix(rows, catalogue, towns)
    assert [(p.where, p.value, p.message) for p in reading.problems] == [
        (
            "部局!B4",
            "318",
            "死者(人): 計の行（B4）は 318 ですが、各行の合計は 381 です。"
            "計の行は集計に使っていません（各行の値を集計しています）。計か各行の値を直してください。",
        )
    ]
    assert amounts(reading) == {
        ("前橋市", "dead"): 300,
        ("高崎市", "dead"): 81,
        ("前橋市", "missing"): 1,
        ("高崎市", "missing"): 2,
    }


def test_a_typed_total_that_agrees_or_sums_an_unknown_cell_says_nothing(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """A right total is silent; a column with 未確認 has no known sum and is not checked."""
    rows = [*HEADER, ["前橋市", 3, "未確認"], ["高崎市", 4, 2], ["合計", 7, 9]]
    assert matrix(rows, catalogue, towns).problems == []


def test_a_subtotal_is_checked_against_the_rows_since_the_previous_total(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """小計 rows sum their own group; a grand 計 may sum every row above: both are fine."""
    rows = [
        *HEADER,
        ["前橋市", 1, 0],
        ["小計", 1, 0],
        ["高崎市", 2, 0],
        ["小計", 2, 0],
        ["計", 3, 0],
    ]
    assert matrix(rows, catalogue, towns).problems == []


def test_a_row_named_as_a_part_total_is_a_total_row(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """市部計, 町村部計 or 群馬県計 are total rows (checked, never counted), not municipalities."""
    rows = [*HEADER, ["前橋市", 1, 0], ["高崎市", 2, 0], ["市部計", 3, 0], ["群馬県計", 4, 0]]
    reading = matrix(rows, catalogue, towns)
    assert where(reading) == ["部局!B5"]  # 群馬県計 4 is not the 3 of the rows above
    assert amounts(reading) == {
        ("前橋市", "dead"): 1,
        ("前橋市", "missing"): 0,
        ("高崎市", "dead"): 2,
        ("高崎市", "missing"): 0,
    }


def test_a_typed_total_over_a_row_left_out_is_not_compared(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """A 計 summing a row that is not counted (前橋 for 前橋市) has no known sum: no mismatch."""
    rows = [*HEADER, ["前橋市", 1, 0], ["前橋", 2, 0], ["計", 3, 0]]
    assert where(matrix(rows, catalogue, towns)) == ["部局!A3"]


def test_a_total_row_above_the_rows_is_checked_against_the_rows_under_it(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """A 合計 row right under the header (as many forms have it) sums the rows below it."""
    rows = [*HEADER, ["合計", 5, 0], ["前橋市", 1, 0], ["高崎市", 3, 0]]
    reading = matrix(rows, catalogue, towns)
    assert [(p.where, p.value, p.message) for p in reading.problems] == [
        (
            "部局!B2",
            "5",
            "死者(人): 計の行（B2）は 5 ですが、各行の合計は 4 です。計の行は集計に使っていません"
            "（各行の値を集計しています）。計か各行の値を直してください。",
        )
    ]
    assert amounts(reading)[("前橋市", "dead")] + amounts(reading)[("高崎市", "dead")] == 4


def test_an_incident_list_read_as_a_table_says_which_config_line_to_add(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """No./種別/市町村/状況 headers without ``type: records``: nothing silently disappears."""
    rows = [["No", "被害種別", "市町村", "状況"], [1, "道路", "前橋市", "通行止め"]]
    reading = read_matrix(
        sheet(rows, name="県土整備部"), "県土整備部", MatrixLayout(), catalogue, towns
    )
    assert (reading.table_found, [p.message for p in reading.problems]) == (
        False,
        [
            "このシートは箇所の一覧（No・被害種別・市町村・状況 の列）のようですが、設定では"
            "市町村×項目の表として読むことになっているため、箇所は集計されていません。"
            "管理者へ: 設定の params.layouts に「県土整備部: {type: records}」を加えてください。"
        ],
    )


def test_a_table_with_a_status_note_column_is_still_a_table(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """A municipality x item table is not taken for an incident list."""
    rows = [["市町村", "死者", "状況"], ["前橋市", 1, "調査継続"]]
    reading = read_matrix(sheet(rows), "部局", MatrixLayout(), catalogue, towns)
    assert reading.table_found
