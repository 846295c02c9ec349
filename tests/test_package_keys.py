"""Specs for the sheets' package keys (issue 18): equal keys read equal values, whatever the
package holds, and a save that only renumbered the shared strings keeps a sheet's key.

A sheet's stored reading is reused, unparsed, while its package key holds, so a key that
stayed while the values changed would report stale figures: the soundness spec draws pairs
of packages, hostile cell forms and duplicate shared strings included, and requires that
equal keys parse to equal contents. A stored key is kept without unpacking anything while the
zip directory entries it was computed from are the same, so equal entries must give equal
keys whatever else a save changed."""

from __future__ import annotations

import io
import struct
import zipfile
from dataclasses import dataclass, replace

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from automation.damage.workbook import parse_workbook
from automation.errors import DataError
from tests.workbook_builders import (
    MAIN_NS,
    SHEET_NAME,
    XML_DECL,
    package,
    parts,
    workbook_xml,
    xlsx,
)

# <si> items: some read the same text from different XML (rich text runs, phonetic runs).
ITEMS = (
    "<si><t>市町村</t></si>",
    "<si><t>前橋市</t></si>",
    "<si><r><t>前橋</t></r><r><rPr><b/></rPr><t>市</t></r></si>",
    '<si><t>課</t><rPh sb="0" eb="1"><t>カ</t></rPh><phoneticPr fontId="1"/></si>',
    '<si><t>課</t><rPh sb="0" eb="1"><t>ケ</t></rPh><phoneticPr fontId="1"/></si>',
    '<si><t xml:space="preserve"> 死者 </t></si>',
    "<si><t>死者</t></si>",
)
# How a cell refers to shared string N: as Excel writes it, then forms calamine also reads
# (or reads as something else: a second type attribute, a repeated style that hides the
# type, a text that holds what looks like one, in a CDATA section or as markup).
EXCEL_FORMS = (
    '<c r="{ref}" t="s"><v>{n}</v></c>',
    '<c r="{ref}" s="1" t="s"><v>{n}</v></c>',
    '<c r="{ref}" s="1" t="s" ph="1"><v>{n}</v></c>',
)
OTHER_FORMS = (
    '<c t="s" r="{ref}"><v>{n}</v></c>',
    '<c r="{ref}" t = "s"><v>{n}</v></c>',
    "<c r=\"{ref}\" t='s'><v>{n}</v></c>",
    '<c r="{ref}" t="n" s="0" t="s"><v>{n}</v></c>',
    '<c r="{ref}" s="1" s="2" t="s"><v>{n}</v></c>',
    '<c r="{ref}" r="{ref}" r="{ref}" t="s"><v>{n}</v></c>',
    '<c r="{ref}" t="s"><v>0{n}</v></c>',
    '<c r="{ref}" t="inlineStr"><is><t><![CDATA[<c r="A1" t="s"><v>{n}</v></c>]]></t></is></c>',
    '<c r="{ref}" t="inlineStr"><is><t>x<c r="A1" t="s"><v>{n}</v></c></t></is></c>',
    '<c r="{ref}" t="str"><v>x<c r="A1" t="s"><v>{n}</v></c></v></c>',
)


@dataclass(frozen=True)
class Cell:
    """A cell of column A..: shared string ``item`` in ``form``, or the number ``number``."""

    form: str
    item: int = 0
    number: int = 0


@dataclass(frozen=True)
class Book:
    """A one-sheet package: its shared strings' items and its cells, one a row."""

    items: tuple[str, ...]
    cells: tuple[Cell, ...]
    junk: tuple[int, str] = (0, "")  # written before the item at that position

    def data(self, order: tuple[int, ...]) -> bytes:
        """The package with the items written in ``order`` (item ``order[k]`` at k)."""
        at = {item: k for k, item in enumerate(order)}
        rows = "".join(
            f'<row r="{r}">'
            + cell.form.format(ref=f"A{r}", n=at[cell.item], number=cell.number)
            + "</row>"
            for r, cell in enumerate(self.cells, start=1)
        )
        written = [self.items[k] for k in order]
        written.insert(min(self.junk[0], len(written)), self.junk[1])
        strings = "".join(written)
        return xlsx(
            sheet=f'{XML_DECL}<worksheet xmlns="{MAIN_NS}"><sheetData>{rows}</sheetData></worksheet>',
            strings=f'{XML_DECL}<sst xmlns="{MAIN_NS}" count="{len(self.cells)}" '
            f'uniqueCount="{len(order)}">{strings}</sst>',
        )


NUMBER_FORM = '<c r="{ref}"><v>{number}</v></c>'
TEXT_FORMS = (  # a formula's text result, as Excel writes it (calamine reads its text)
    '<c r="{ref}" t="str"><f>"x"&amp;{number}</f><v>x{number}</v></c>',
    '<c r="{ref}" t="str"><f t="shared" si="0"/><v>x{number}</v></c>',
)
# What a crafted table may hold between its items that calamine numbers, or skips, or that
# hides an item: an item without text, an empty or a prefixed one, a comment, a CDATA section.
JUNK = (
    "",
    "<si></si>",
    '<si><rPh sb="0" eb="1"><t>カ</t></rPh></si>',
    "<si/>",
    f'<x:si xmlns:x="{MAIN_NS}"><t>市町村</t></x:si>',
    "<!-- <si><t>前橋市</t></si> -->",
    "<si><t><![CDATA[</si><si>]]></t></si>",
)


@st.composite
def books(draw: st.DrawFn, forms: tuple[str, ...] = EXCEL_FORMS + OTHER_FORMS) -> Book:
    """Items (repeats allowed: a crafted table may hold one text twice), junk among them and
    cells using them."""
    items = tuple(draw(st.lists(st.sampled_from(ITEMS), min_size=1, max_size=5)))
    cell = st.one_of(
        st.builds(Cell, st.sampled_from(forms), st.integers(0, len(items) - 1)),
        st.builds(Cell, st.sampled_from((NUMBER_FORM, *TEXT_FORMS)), number=st.integers(0, 12)),
    )
    junk = draw(st.tuples(st.integers(0, len(items)), st.sampled_from(JUNK)))
    return Book(items, tuple(draw(st.lists(cell, min_size=1, max_size=4))), junk)


@st.composite
def saves(draw: st.DrawFn, book: Book) -> Book:
    """``book`` after one save: a cell, the item a cell names, an item or the junk changed,
    or nothing."""
    kind = draw(st.sampled_from(["nothing", "cell", "index", "index", "item", "junk"]))
    if kind == "junk":
        return replace(book, junk=draw(books()).junk)
    if kind == "index":  # the same cell naming another item (the same text, if repeated)
        r = draw(st.integers(0, len(book.cells) - 1))
        cell = replace(book.cells[r], item=draw(st.integers(0, len(book.items) - 1)))
        return replace(book, cells=(*book.cells[:r], cell, *book.cells[r + 1 :]))
    if kind == "cell":
        r = draw(st.integers(0, len(book.cells) - 1))
        new = draw(books()).cells[0]
        cell = replace(new, item=min(new.item, len(book.items) - 1))
        return replace(book, cells=(*book.cells[:r], cell, *book.cells[r + 1 :]))
    if kind == "item":
        k = draw(st.integers(0, len(book.items) - 1))
        items = (*book.items[:k], draw(st.sampled_from(ITEMS)), *book.items[k + 1 :])
        return replace(book, items=items)
    return book


def orders(book: Book) -> st.SearchStrategy[tuple[int, ...]]:
    return st.permutations(range(len(book.items))).map(tuple)


def key_and_content(data: bytes) -> tuple[str, str]:
    """The sheet's package key, and its parsed content (or why it could not be parsed)."""
    workbook = parse_workbook(data, "book.xlsx", max_bytes=10**7, lazy=True)
    try:
        content = workbook.sheets[SHEET_NAME].content
    except DataError as err:
        content = str(err)
    return workbook.packages[SHEET_NAME], content


@settings(max_examples=600, deadline=None)
@given(st.data())
def test_equal_package_keys_read_equal_values(data: st.DataObject) -> None:
    """Two saves whose sheet has the same package key parse to the same values and merged cells."""
    # whatever the cells' forms, the strings' order and repeats, or the edit
    before = data.draw(books())
    after = data.draw(saves(before))
    key_before, content_before = key_and_content(before.data(data.draw(orders(before))))
    key_after, content_after = key_and_content(after.data(data.draw(orders(after))))
    event("same key" if key_before == key_after else "new key")
    if key_before == key_after:
        assert content_before == content_after


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_a_save_that_only_renumbered_the_shared_strings_keeps_the_key(
    data: st.DataObject,
) -> None:
    """A sheet keeps its key when the strings are renumbered and grow by ones it does not use."""
    # for cells written as Excel writes them
    book = replace(data.draw(books(EXCEL_FORMS)), junk=(0, ""))
    unused = tuple(data.draw(st.lists(st.sampled_from(ITEMS), max_size=3)))
    grown = replace(book, items=book.items + unused)
    first = key_and_content(book.data(tuple(range(len(book.items)))))
    assert key_and_content(grown.data(data.draw(orders(grown)))) == first


def test_a_changed_string_moves_the_key_of_the_sheets_that_use_it() -> None:
    """The text of a string a sheet shows is part of its key (the index alone is not)."""
    book = Book(ITEMS[:2], (Cell(EXCEL_FORMS[0], 1),))
    changed = replace(book, items=(ITEMS[0], "<si><t>高崎市</t></si>"))
    assert key_and_content(book.data((0, 1)))[0] != key_and_content(changed.data((0, 1)))[0]


def test_the_date_system_and_the_styles_are_part_of_every_key() -> None:
    """A number's date format and the 1904 date system change what a number reads as."""
    book = Book(ITEMS[:1], (Cell(EXCEL_FORMS[0], 0), Cell(NUMBER_FORM, number=3)))
    data = book.data((0,))
    base = key_and_content(data)[0]
    styles = f'<styleSheet xmlns="{MAIN_NS}"><numFmts count="0"/></styleSheet>'
    with_styles = xlsx(**_parts_of(book), **{"xl/styles.xml": styles})
    date1904 = xlsx(**_parts_of(book), book=workbook_xml('<workbookPr date1904="1"/>'))
    assert len({base, key_and_content(with_styles)[0], key_and_content(date1904)[0]}) == 3


def _parts_of(book: Book, order: tuple[int, ...] | None = None) -> dict[str, str]:
    """``book``'s sheet and strings parts (its strings in ``order``, else as listed), to
    build it with other parts beside them."""
    written = order if order is not None else tuple(range(len(book.items)))
    with zipfile.ZipFile(io.BytesIO(book.data(written))) as archive:
        return {
            "sheet": archive.read("xl/worksheets/sheet1.xml").decode(),
            "strings": archive.read("xl/sharedStrings.xml").decode(),
        }


# What else a save may change that a sheet's values are read with: the styles, the date
# system, and where the shared strings table is (calamine reads xl/sharedStrings.xml only).
STYLES = (
    None,
    f'<styleSheet xmlns="{MAIN_NS}"><numFmts count="0"/></styleSheet>',
    f'<styleSheet xmlns="{MAIN_NS}"><numFmts count="1"><numFmt numFmtId="164" '
    'formatCode="yyyy/m/d"/></numFmts><cellXfs count="2"><xf numFmtId="0"/>'
    '<xf numFmtId="164" applyNumberFormat="1"/></cellXfs></styleSheet>',
)
TABLES = ("xl/sharedStrings.xml", "xl/strings/sharedStrings.xml")


@dataclass(frozen=True)
class Saved:
    """How a book is saved: its strings' order, the styles, the date system, the table."""

    order: tuple[int, ...]
    styles: str | None = None
    date1904: bool = False
    table: str = TABLES[0]

    def data(self, book: Book) -> bytes:
        members = parts(**_parts_of(book, self.order))
        if self.styles is not None:
            members["xl/styles.xml"] = self.styles
        if self.date1904:
            members["xl/workbook.xml"] = workbook_xml('<workbookPr date1904="1"/>')
        members[self.table] = members.pop("xl/sharedStrings.xml")
        return package(members)


@st.composite
def saved(draw: st.DrawFn, book: Book, like: Saved | None = None) -> Saved:
    """How ``book`` is saved; with ``like``, some of its choices kept (any, all or none)."""
    drawn = Saved(
        draw(orders(book)),
        draw(st.sampled_from(STYLES)),
        draw(st.booleans()),
        draw(st.sampled_from(TABLES)),
    )
    if like is None:
        return drawn
    kept = draw(st.sets(st.sampled_from(["order", "styles", "date1904", "table"])))
    if len(like.order) != len(book.items):
        kept.discard("order")
    return replace(drawn, **{name: getattr(like, name) for name in kept})


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_equal_directory_entries_give_equal_package_keys(data: st.DataObject) -> None:
    """Equal directory entries of the parts a sheet is keyed by give it an equal package key."""
    # whatever else changed (strings, their order, the styles, the date system, the table)
    before = data.draw(books())
    after = data.draw(saves(before))
    first = data.draw(saved(before))
    second = data.draw(saved(after, first))
    one, two = (
        parse_workbook(how.data(book), "book.xlsx", max_bytes=10**7, lazy=True)
        for book, how in ((before, first), (after, second))
    )
    same = one.entries[SHEET_NAME] == two.entries[SHEET_NAME]
    event("same entries" if same else "new entries")
    if same:
        assert one.packages[SHEET_NAME] == two.packages[SHEET_NAME]


def test_the_directory_entries_name_every_part_the_key_is_read_from() -> None:
    """The styles, the date system and the table's place each move a sheet's directory entries."""
    # a stored key computed without them would be kept while they changed
    book = Book(ITEMS[:1], (Cell(EXCEL_FORMS[0], 0), Cell(NUMBER_FORM, number=3)))
    members = parts(**_parts_of(book))
    variants = [
        members,
        {**members, "xl/styles.xml": STYLES[1]},
        {**members, "xl/workbook.xml": workbook_xml('<workbookPr date1904="1"/>')},
        {k if k != "xl/sharedStrings.xml" else TABLES[1]: v for k, v in members.items()},
    ]
    entries = {
        parse_workbook(package(v), "book.xlsx", max_bytes=10**7, lazy=True).entries[SHEET_NAME]
        for v in variants
    }
    assert len(entries) == len(variants)


def test_a_sheet_s_part_is_unpacked_only_when_its_key_is_looked_up() -> None:
    """A sheet's part is unpacked, and a mismatched one refused by name, only when keyed."""
    # inspecting a package leaves the sheets' parts packed
    data = xlsx(**_parts_of(Book(ITEMS[:1], (Cell(EXCEL_FORMS[0], 0),))))
    offset = _local_data_offset(data, "xl/worksheets/sheet1.xml")
    damaged = data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1 :]
    workbook = parse_workbook(damaged, "book.xlsx", max_bytes=10**7, lazy=True)
    assert SHEET_NAME in workbook.entries
    with pytest.raises(DataError) as caught:
        workbook.packages[SHEET_NAME]
    assert "部品 xl/worksheets/sheet1.xml の内容が目録と一致しません" in caught.value.message


def _local_data_offset(data: bytes, member: str) -> int:
    """Where ``member``'s packed bytes start in ``data``."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(member)
    name_length, extra_length = struct.unpack_from("<HH", data, info.header_offset + 26)
    return int(info.header_offset + 30 + name_length + extra_length)
