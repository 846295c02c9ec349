"""Specs for storing a department's reading between runs (automation.damage.stored).

A stored reading comes back exactly as it was read: figures (their Decimal spelling too),
flags, unreadable cells with their problems, rows as read and incidents. A blob that is
not what ``encode`` wrote is refused with ValueError, never half-read.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automation.config.models import MatrixLayout, RecordsLayout
from automation.damage.catalogue import DEFAULT_CATALOGUE
from automation.damage.reading import SheetReading, municipality_index, read_matrix, read_records
from automation.damage.stored import FORMAT, decode, encode
from automation.damage.workbook import Sheet
from tests.test_reading_fast import HEADER, RAW, TOWNS

NAMES = st.sampled_from([*TOWNS, "計", "不明町", "", "※ 注記", " 前橋市 "])


def same(left: SheetReading, right: SheetReading) -> bool:
    """Equal readings, each amount spelt alike (Decimal("1.50") == Decimal("1.5"))."""
    spelt = {key: str(value) for key, value in left.amounts.items()}
    return left == right and spelt == {key: str(value) for key, value in right.amounts.items()}


def roundtrip(reading: SheetReading) -> SheetReading:
    head, body = encode(reading)
    return decode(head, body, DEFAULT_CATALOGUE)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(NAMES, st.lists(RAW, min_size=len(HEADER) - 1, max_size=len(HEADER) - 1)),
        max_size=8,
    )
)
def test_a_table_comes_back_as_it_was_read(rows: list[tuple[str, list[object]]]) -> None:
    """A table sheet's reading decodes to exactly what was read."""
    # figures in people, ha and 千円, flags, unreadable cells, total rows, unknown and
    # repeated towns
    cells = [HEADER, *([name, *values] for name, values in rows)]
    sheet = Sheet("部局", tuple(tuple(row) for row in cells))
    reading = read_matrix(
        sheet, "部局", MatrixLayout(), DEFAULT_CATALOGUE, municipality_index(TOWNS)
    )
    assert same(roundtrip(reading), reading)


def test_an_amount_with_more_digits_than_a_float_holds_comes_back_exactly() -> None:
    """12.3456789012345678901 ha, typed as text, keeps every digit through storage."""
    sheet = Sheet("部局", (("市町村", "田 流失・埋没"), ("前橋市", "12.3456789012345678901")))
    reading = read_matrix(sheet, "部局", MatrixLayout(), DEFAULT_CATALOGUE, None)
    assert str(roundtrip(reading).amounts[("前橋市", "paddy_washed")]) == "12.3456789012345678901"


def test_an_incident_list_comes_back_as_it_was_read() -> None:
    """A records sheet's reading (counts, statuses, incidents, rows) decodes as read."""
    sheet = Sheet(
        "道路",
        (
            ("番号", "被害種別", "市町村", "状況", "箇所"),
            (1.0, "道路", "前橋市", "通行止め", "国道17号"),
            (2.0, "河川", "高崎市", "", "烏川"),
            (None, "不明", "高崎市", "解除", ""),
        ),
    )
    reading = read_records(sheet, "道路", RecordsLayout(), DEFAULT_CATALOGUE, None)
    assert reading.incidents and reading.problems
    assert same(roundtrip(reading), reading)


def test_a_reading_not_as_a_reader_leaves_it_is_stored_cell_by_cell() -> None:
    """A reading not made by the matrix reader is stored cell by cell and comes back whole."""
    # (its figures need not be its rows')
    reading = SheetReading("部局", "部局", "matrix")
    reading.columns = [DEFAULT_CATALOGUE.by_code["dead"]]
    reading.amounts = {("前橋市", "dead"): Decimal("1.50")}
    reading.rows = [("前橋市", {}), ("高崎市", {"dead": 2})]
    reading.statuses = {"dead": Counter({"x": 1})}
    assert same(roundtrip(reading), reading)


def _body(**change: Any) -> bytes:
    sheet = Sheet("部局", (("市町村", "死者"), ("前橋市", 3.0), ("高崎市", "多数")))
    _, body = encode(read_matrix(sheet, "部局", MatrixLayout(), DEFAULT_CATALOGUE, None))
    data = json.loads(zlib.decompress(body))
    data.update(change)
    return zlib.compress(json.dumps(data).encode())


@pytest.mark.parametrize(
    "change",
    [
        {"format": FORMAT - 1},
        {"table": [["前橋市", [1]], ["高崎市", "要修正: 多数"]]},
        {"table": [["前橋市", True], ["高崎市", "要修正: 多数"]]},
        {"table": [["前橋市", 3], ["高崎市", "何か"]]},
        {"unreadable": [[5, 0, 0]]},
        {"exact": {"0:0": "三"}},
    ],
)
def test_a_stored_body_not_as_encode_wrote_it_is_refused(change: dict[str, Any]) -> None:
    """A body not as encode wrote it raises ValueError, never a half reading."""
    # another format, or cells not figures, flags or unreadable cells; the sheet is read again
    sheet = Sheet("部局", (("市町村", "死者"), ("前橋市", 3.0), ("高崎市", "多数")))
    head, _ = encode(read_matrix(sheet, "部局", MatrixLayout(), DEFAULT_CATALOGUE, None))
    with pytest.raises(ValueError):
        decode(head, _body(**change), DEFAULT_CATALOGUE)
