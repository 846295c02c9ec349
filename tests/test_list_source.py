"""Specs for the local list source: a CSV or .xlsx file standing in for a SharePoint list."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from automation.backends.local import LocalListSource
from automation.errors import DataError
from automation.ports import ListItem

HEADER = ["ID", "対象期間", "部局", "事業名", "進捗状況", "リンク", "更新日時"]
ROW = [
    "101",
    "令和8年度上期",
    "健康福祉部",
    "オンライン診療支援",
    "順調",
    "https://example.jp/items/101",
    "2026-10-01 10:00",
]
COLUMNS = ("対象期間", "部局", "事業名", "進捗状況")
EXPECTED_FIELDS = {
    "対象期間": "令和8年度上期",
    "部局": "健康福祉部",
    "事業名": "オンライン診療支援",
    "進捗状況": "順調",
}


def csv_text(rows: Sequence[Sequence[object]]) -> str:
    """Rows as CSV text, header first."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


def write_xlsx(path: Path, rows: Sequence[Sequence[object]]) -> None:
    """Rows as the first sheet of an .xlsx file, header first."""
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(list(row))
    book.save(path)


def read(
    folder: Path,
    name: str,
    columns: Sequence[str] = COLUMNS,
    *,
    link_column: str | None = "リンク",
    modified_column: str | None = "更新日時",
) -> list[ListItem]:
    """Every item of the list file ``name`` under ``folder``."""
    source = LocalListSource(folder)
    return asyncio.run(
        source.items(
            name,
            columns,
            id_column="ID",
            link_column=link_column,
            modified_column=modified_column,
        )
    )


@pytest.fixture
def bom_csv(tmp_path: Path) -> str:
    """The list saved by Excel as 「CSV UTF-8」 (with a byte order mark)."""
    (tmp_path / "bom.csv").write_text(csv_text([HEADER, ROW]), encoding="utf-8-sig")
    return "bom.csv"


@pytest.fixture
def plain_csv(tmp_path: Path) -> str:
    """The list as UTF-8 without a byte order mark."""
    (tmp_path / "plain.csv").write_text(csv_text([HEADER, ROW]), encoding="utf-8")
    return "plain.csv"


@pytest.fixture
def sjis_csv(tmp_path: Path) -> str:
    """The list saved by older Excel as plain 「CSV」 (Shift_JIS / cp932)."""
    (tmp_path / "sjis.csv").write_bytes(csv_text([HEADER, ROW]).encode("cp932"))
    return "sjis.csv"


@pytest.fixture
def workbook(tmp_path: Path) -> str:
    """The list as the first sheet of an .xlsx file."""
    write_xlsx(tmp_path / "list.xlsx", [HEADER, ROW])
    return "list.xlsx"


def test_csv_with_bom_reads_japanese_header_and_values(tmp_path: Path, bom_csv: str) -> None:
    """A UTF-8 CSV with BOM: the first header is 「ID」, not 「\\ufeffID」, and values are intact."""
    (item,) = read(tmp_path, bom_csv)
    assert (item.id, dict(item.fields)) == ("101", EXPECTED_FIELDS)


def test_csv_without_bom_reads_the_same(tmp_path: Path, plain_csv: str) -> None:
    """A UTF-8 CSV without BOM reads exactly like one with it."""
    (item,) = read(tmp_path, plain_csv)
    assert (item.id, dict(item.fields)) == ("101", EXPECTED_FIELDS)


def test_shift_jis_csv_reads_the_same(tmp_path: Path, sjis_csv: str) -> None:
    """A Shift_JIS (cp932) CSV is recognised and decoded to the same header and values."""
    (item,) = read(tmp_path, sjis_csv)
    assert (item.id, dict(item.fields)) == ("101", EXPECTED_FIELDS)


def test_all_csv_encodings_give_equal_items(
    tmp_path: Path, bom_csv: str, plain_csv: str, sjis_csv: str
) -> None:
    """BOM, no BOM and Shift_JIS yield equal items, link and modification time included."""
    assert read(tmp_path, bom_csv) == read(tmp_path, plain_csv) == read(tmp_path, sjis_csv)


def test_xlsx_list_reads_the_same_as_csv(tmp_path: Path, workbook: str, bom_csv: str) -> None:
    """The first sheet of an .xlsx file yields the same items as the CSV export."""
    assert read(tmp_path, workbook) == read(tmp_path, bom_csv)


def test_blank_csv_rows_are_skipped(tmp_path: Path) -> None:
    """Empty lines and rows of empty cells between entries do not become items."""
    other = ["102", "2026上期", "農政部", "スマート農業", "遅れ", "", ""]
    text = csv_text([HEADER, ROW, [""] * len(HEADER)]) + "\r\n" + csv_text([[" ", ""], other])
    (tmp_path / "gaps.csv").write_text(text, encoding="utf-8-sig")
    assert [item.id for item in read(tmp_path, "gaps.csv")] == ["101", "102"]


def test_blank_xlsx_rows_are_skipped(tmp_path: Path) -> None:
    """Empty rows inside an .xlsx list do not become items."""
    other = [102, "2026上期", "農政部", "スマート農業", "遅れ", None, None]
    write_xlsx(tmp_path / "gaps.xlsx", [HEADER, ROW, [None] * len(HEADER), other])
    assert [item.id for item in read(tmp_path, "gaps.xlsx")] == ["101", "102"]


def test_float_id_from_xlsx_becomes_an_integer_string(tmp_path: Path) -> None:
    """An id stored as the number 101.0 is the id 「101」, not 「101.0」."""
    write_xlsx(tmp_path / "float.xlsx", [HEADER, [101.0, *ROW[1:]]])
    (item,) = read(tmp_path, "float.xlsx")
    assert item.id == "101"


def test_missing_column_error_names_the_missing_column(tmp_path: Path, bom_csv: str) -> None:
    """Asking for columns the list lacks names each of them."""
    with pytest.raises(DataError) as caught:
        read(tmp_path, bom_csv, [*COLUMNS, "実績", "次期予定"])
    assert "「実績」" in caught.value.message
    assert "「次期予定」" in caught.value.message


def test_missing_column_error_lists_existing_columns(tmp_path: Path, bom_csv: str) -> None:
    """The error lists the columns that do exist, so the operator can spot the misspelling."""
    with pytest.raises(DataError) as caught:
        read(tmp_path, bom_csv, [*COLUMNS, "実績"])
    assert "ある列: " + "、".join(HEADER) in caught.value.message


def test_missing_id_column_is_named(tmp_path: Path) -> None:
    """A list without the id column is an error naming 「ID」."""
    (tmp_path / "noid.csv").write_text(csv_text([HEADER[1:], ROW[1:]]), encoding="utf-8")
    with pytest.raises(DataError, match="「ID」"):
        read(tmp_path, "noid.csv")


def test_missing_file_error_names_the_path(tmp_path: Path) -> None:
    """A list file that does not exist is a DataError naming the full path."""
    with pytest.raises(DataError) as caught:
        read(tmp_path, "進捗管理.csv")
    assert str(tmp_path / "進捗管理.csv") in caught.value.message


def test_link_and_modified_are_none_when_not_configured(tmp_path: Path, bom_csv: str) -> None:
    """With no link or modification column configured, both are None."""
    (item,) = read(tmp_path, bom_csv, link_column=None, modified_column=None)
    assert (item.link, item.modified) == (None, None)


def test_link_and_modified_are_none_when_absent_from_the_list(tmp_path: Path) -> None:
    """Configured link and modification columns that the list lacks are not an error."""
    (tmp_path / "bare.csv").write_text(csv_text([HEADER[:5], ROW[:5]]), encoding="utf-8")
    (item,) = read(tmp_path, "bare.csv")
    assert (item.link, item.modified) == (None, None)


def test_link_and_modified_are_none_when_absent_from_the_row(tmp_path: Path) -> None:
    """A row that ends before the link and modification columns has neither."""
    (tmp_path / "short.csv").write_text(csv_text([HEADER, ROW[:5]]), encoding="utf-8")
    (item,) = read(tmp_path, "short.csv")
    assert (item.link, item.modified) == (None, None)


def test_link_is_read(tmp_path: Path, bom_csv: str) -> None:
    """The link column gives the item's URL."""
    (item,) = read(tmp_path, bom_csv)
    assert item.link == "https://example.jp/items/101"


def test_modified_text_parses_to_a_datetime(tmp_path: Path, bom_csv: str) -> None:
    """「2026-10-01 10:00」 in the modification column becomes a datetime."""
    (item,) = read(tmp_path, bom_csv)
    assert item.modified == datetime(2026, 10, 1, 10, 0)
