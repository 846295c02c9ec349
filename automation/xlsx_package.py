"""XlsxWriter's package, cheaper: cell notes written one string each, parts streamed.

The merged workbook notes every unreadable cell (thousands at 60 x 2,000). XlsxWriter writes
each note's VML shape and comment element through a dozen generic XML calls: about 0.25 ms a
note, a third of the workbook's package time. ``PackageWorkbook`` packages the same bytes
(the specs compare them with XlsxWriter's own) with one format string per note, and leaves
every other part to XlsxWriter. A sheet's notes can also arrive rendered already
(``RenderedNotes`` on a ``NotedSheet``: the merged workbook renders them where it composes
the sheet, in a helper process or once for several builds), written as they are.

An in-memory XlsxWriter package holds every part as text until the last is written, then
zips them: at 60 x 2,000 some 70 MB of XML at once, the run's peak. Here each part goes into
its zip entry as it is written (``StreamedPart``: encoded and deflated 64 K characters at a
time), in the order and with the entry headers XlsxWriter's own zip would have, so the
package is byte for byte XlsxWriter's and no part is ever held whole (nor compressed twice,
as keeping parts packed until the zip took them did). A sheet's rows deflated where they
were composed (``DeflatedRows``) go into their part as they are, between full flushes of
the part's own deflating: the part's text is the same, its deflated bytes are not those of
one pass. It relies on XlsxWriter's internals (pinned below 3.4) and, for ``DeflatedRows``,
on the fields of zipfile's entry writer (Python 3.11 to 3.13).
"""

from __future__ import annotations

import functools
import io
import zlib
from dataclasses import dataclass
from io import StringIO
from typing import IO, Any
from zipfile import ZIP_DEFLATED, ZipFile, ZipInfo

import xlsxwriter
from xlsxwriter.comments import Comments, CommentType
from xlsxwriter.packager import Packager
from xlsxwriter.sharedstrings import SharedStrings
from xlsxwriter.utility import _preserve_whitespace, xl_rowcol_to_cell
from xlsxwriter.vml import Vml
from xlsxwriter.worksheet import Worksheet

_VML, _XML = Vml(), Comments()  # their escaping and unit conversion (no state of theirs)


def _shape_xml(shape_id: object, z_index: int, comment: Any, vertices: list[Any]) -> str:
    """A note's VML shape, as XlsxWriter writes it."""
    left, top, width, height = _VML._pixels_to_points(vertices)
    col_start, row_start, x1, y1, col_end, row_end, x2, y2 = vertices[:8]
    fill = _VML._escape_attributes(comment.color._vml_rgb_hex_value())
    shown = "visible" if comment.is_visible else "hidden"
    visible = "<x:Visible/>" if comment.is_visible else ""
    return (
        f'<v:shape id="_x0000_s{shape_id}" type="#_x0000_t202" style="position:absolute;'
        f"margin-left:{left:.15g}pt;margin-top:{top:.15g}pt;width:{width:.15g}pt;"
        f'height:{height:.15g}pt;z-index:{z_index};visibility:{shown}" fillcolor="{fill}" '
        'o:insetmode="auto"><v:fill color2="#ffffe1"/>'
        '<v:shadow on="t" color="black" obscured="t"/><v:path o:connecttype="none"/>'
        '<v:textbox style="mso-direction-alt:auto"><div style="text-align:left"></div>'
        '</v:textbox><x:ClientData ObjectType="Note"><x:MoveWithCells/><x:SizeWithCells/>'
        f"<x:Anchor>{col_start}, {x1}, {row_start}, {y1}, {col_end}, {x2}, {row_end}, {y2}"
        f"</x:Anchor><x:AutoFill>False</x:AutoFill><x:Row>{comment.row}</x:Row>"
        f"<x:Column>{comment.col}</x:Column>{visible}</x:ClientData></v:shape>"
    )


def _comment_xml(comment: Any, author_id: int) -> str:
    """A note's comment element, as XlsxWriter writes it."""
    ref = xl_rowcol_to_cell(comment.row, comment.col)
    author = f' authorId="{author_id}"' if author_id != -1 else ""
    text = comment.text
    space = ' xml:space="preserve"' if _preserve_whitespace(text) else ""
    data = _XML._escape_control_characters(_XML._escape_data(text))
    size = _XML._escape_attributes(comment.font_size)
    font = _XML._escape_attributes(comment.font_name)
    family = _XML._escape_attributes(comment.font_family)
    return (
        f'<comment ref="{ref}"{author}><text><r><rPr><sz val="{size}"/>'
        f'<color indexed="81"/><rFont val="{font}"/><family val="{family}"/></rPr>'
        f"<t{space}>{data}</t></r></text></comment>"
    )


class _NotesVml(Vml):  # type: ignore[misc]  # XlsxWriter is untyped
    """A comment VML part whose shapes are written one string each (a sheet's
    :class:`RenderedNotes` all at once)."""

    def _write_comment_shape(self, shape_id: int, z_index: int, comment: Any) -> None:
        if isinstance(comment, RenderedNotes):
            self.fh.write(comment.shapes_from(shape_id))
            return
        self.fh.write(_shape_xml(shape_id, z_index, comment, comment.vertices))


class _NotesComments(Comments):  # type: ignore[misc]  # XlsxWriter is untyped
    """A comments part whose comment elements are written one string each (a sheet's
    :class:`RenderedNotes` all at once)."""

    def _write_comment(self, comment: Any, author_id: int) -> None:
        if isinstance(comment, RenderedNotes):
            if author_id != 0:  # never: its sheet has no other notes (see NotedSheet)
                raise ValueError(f"rendered notes with author {author_id}, expected 0")
            if isinstance(self.fh, StreamedPart):
                self.fh.write_deflated(comment.comments)
            else:  # a package XlsxWriter writes itself
                self.fh.write(comment.comments.text())
            return
        self.fh.write(_comment_xml(comment, author_id))


_DEFAULT_GEOMETRY = Worksheet()  # a sheet of default column widths and row heights


@functools.cache
def _across(col: int) -> tuple[int, int, int, int, int]:
    """A default note's horizontal vertices on a sheet of default widths (col_start, x1,
    col_end, x2, x_abs: they depend on its column alone)."""
    v = _DEFAULT_GEOMETRY._comment_vertices(CommentType(1, col, ""))
    return v[0], v[2], v[4], v[6], v[8]


@functools.cache
def _down(row: int) -> tuple[int, int, int, int, int]:
    """A default note's vertical vertices on a sheet of default heights (row_start, y1,
    row_end, y2, y_abs: they depend on its row alone)."""
    v = _DEFAULT_GEOMETRY._comment_vertices(CommentType(row, 1, ""))
    return v[1], v[3], v[5], v[7], v[9]


TEXT_MAX = 32_767  # UTF-16 units: Excel's limit on a cell's text, and on a note's


def within_text_limit(text: str) -> str:
    """``text`` cut to Excel's limit (XlsxWriter cuts a cell's text so; a note longer than
    it, a hostile cell's own text in its note, ``write_comment`` would leave out)."""
    if len(text) <= TEXT_MAX // 2:
        return text
    return text.encode("utf-16-le")[: 2 * TEXT_MAX].decode("utf-16-le", errors="ignore")


@dataclass(frozen=True)
class RenderedNotes:
    """A sheet's cell notes (default options) rendered as its comments and VML parts hold
    them, made apart from the workbook (in a helper process, kept for the next build):
    packaging writes them as they are, each shape with the id the package gives it. For a
    sheet of default column widths and row heights only (:class:`NotedSheet`). Held
    deflated until packaged (a tenth of the text: 60 x 2,000 notes some 17 MB as text)."""

    count: int
    comments: DeflatedRows  # the <comment> elements, author 0 (the sheet's one author, "")
    shapes: DeflatedRows  # the <v:shape> elements, "{}" where each one's id goes
    corners: tuple[int, int, int, int] = (0, 0, 0, 0)  # first row and column, last ones
    author: str = ""  # what XlsxWriter's comments part lists as the notes' author

    @classmethod
    def of(cls, notes: list[tuple[int, int, str]]) -> RenderedNotes:
        """``notes`` ((row, column, text), 0-based) rendered, in row and column order."""
        comments, shapes = Deflating(), Deflating()
        width, height = _NOTE.width, _NOTE.height
        cells = {
            (row, col): within_text_limit(text) for row, col, text in notes
        }  # the last one a cell's
        for z_index, ((row, col), text) in enumerate(sorted(cells.items()), start=1):
            note = _Note(row, col, text)
            col_start, x1, col_end, x2, x_abs = _across(col)
            row_start, y1, row_end, y2, y_abs = _down(row)
            vertices = [col_start, row_start, x1, y1, col_end, row_end, x2, y2]
            vertices += [x_abs, y_abs, width, height]
            comments.add(_comment_xml(note, 0))
            shape = _shape_xml("\x00", z_index, note, vertices)
            shapes.add(shape.replace("{", "{{").replace("}", "}}").replace("\x00", "{}"))
        rows, cols = [row for row, _ in cells] or [0], [col for _, col in cells] or [0]
        corners = (min(rows), min(cols), max(rows), max(cols))
        return cls(len(cells), comments.done(), shapes.done(), corners)

    @property
    def size(self) -> int:
        """The bytes it holds."""
        return len(self.comments.data) + len(self.shapes.data)

    def shapes_from(self, first_id: int) -> str:
        """The shapes, numbered from ``first_id``."""
        return self.shapes.text().format(*range(first_id, first_id + self.count))


_NOTE = CommentType(0, 0, "")  # a note's default options (colour, size, font, hidden)


@dataclass(frozen=True)
class _Note:
    """What rendering reads of a default note."""

    row: int
    col: int
    text: str
    color: Any = _NOTE.color
    is_visible: bool = False  # a sheet's default (Worksheet.comments_visible)
    font_size: float = _NOTE.font_size
    font_name: str = _NOTE.font_name
    font_family: int = _NOTE.font_family


class NotedSheet(Worksheet):  # type: ignore[misc]  # XlsxWriter is untyped
    """A worksheet whose notes arrive rendered (:class:`RenderedNotes`), not through
    ``write_comment``: the sheet keeps XlsxWriter's default column widths and row heights
    (the notes' positions were computed for them) and has no other notes. A subclass
    writes the rows (``<sheetData>``): XlsxWriter's own would count each note's cell in
    its row's spans."""

    def __init__(self) -> None:
        super().__init__()
        self.rendered_notes: RenderedNotes | None = None

    def set_notes(self, notes: RenderedNotes) -> None:
        """The sheet's notes, rendered (none: nothing changes)."""
        if not notes.count:
            return
        first_row, first_col, last_row, last_col = notes.corners
        self._check_dimensions(first_row, first_col)  # as write_comment does, note by note
        self._check_dimensions(last_row, last_col)
        self.rendered_notes = notes
        self.has_vml = self.has_comments = True

    def _prepare_vml_objects(
        self, vml_data_id: int, vml_shape_id: int, vml_drawing_id: int, comment_id: int
    ) -> int:
        notes = self.rendered_notes
        if notes is None:
            return int(
                super()._prepare_vml_objects(vml_data_id, vml_shape_id, vml_drawing_id, comment_id)
            )
        if self.comments or self.buttons_list or self.col_info or self.row_sizes:
            raise ValueError(
                "a sheet with rendered notes has other notes, buttons, column widths or row "
                "heights; expected none (its notes' positions assume the defaults)"
            )
        # As XlsxWriter's own, for one entry that writes every note.
        self.external_vml_links.append(
            ["/vmlDrawing", f"../drawings/vmlDrawing{vml_drawing_id}.vml"]
        )
        self.comments_list = [notes]
        self.external_comment_links.append(["/comments", f"../comments{comment_id}.xml"])
        data_id: int | str = vml_data_id
        for i in range(notes.count // 1024):
            data_id = f"{data_id},{vml_data_id + i + 1}"
        self.vml_data_id = data_id
        self.vml_shape_id = vml_shape_id
        return notes.count


CHUNK = 64 * 1024  # characters of a part gathered before they go into its zip entry
# Characters of a sheet's rows (merged_workbook) deflated where they are composed: the part
# they go into is larger than CHUNK, so deflated at LARGE_PART_LEVEL anyway.
PACK_ABOVE = CHUNK
# A part larger than CHUNK is deflated at level 1, not zlib's default 6: at 60 x 2,000 the
# package's deflating takes 0.9 s less and the file is about a quarter larger (7.2 ->
# 9.2 MB); smaller parts keep level 6, as XlsxWriter's own zip writes them.
LARGE_PART_LEVEL = 1

_EPOCH = (1980, 1, 1, 0, 0, 0)  # the time XlsxWriter gives every entry of its package


def _entry(name: str, level: int | None = None) -> ZipInfo:
    """A package entry as XlsxWriter makes it (fixed time, deflated), at ``level`` if given."""
    info = ZipInfo(name, _EPOCH)
    info.compress_type = ZIP_DEFLATED
    # zipfile's own field, as ZipFile.writestr sets it (Python 3.13 keeps the name as an
    # alias of compress_level); None is zlib's default level.
    info._compresslevel = level  # type: ignore[attr-defined]  # not in typeshed
    return info


@dataclass(frozen=True)
class DeflatedRows:
    """Text deflated apart from its package (where a sheet's rows are composed, perhaps in
    a helper process), to go into a part as it is (:meth:`StreamedPart.write_deflated`):
    a raw deflate stream that refers to nothing before it and ends on a byte boundary,
    with the CRC-32 and length of the UTF-8 text. Deflated once: neither packed to wait
    for the package, then unpacked and deflated again, nor held as text."""

    data: bytes
    crc: int
    size: int

    @classmethod
    def of(cls, text: str) -> DeflatedRows:
        """``text`` deflated at ``LARGE_PART_LEVEL`` (the level of the part it goes into)."""
        deflating = Deflating()
        deflating.add(text)
        return deflating.done()

    def text(self) -> str:
        """The text again."""
        return zlib.decompressobj(-15).decompress(self.data).decode()


class Deflating:
    """:class:`DeflatedRows` made a piece of text at a time, never holding the text whole
    (gathered ``CHUNK`` characters at a time, as a part is)."""

    def __init__(self) -> None:
        self._deflater = zlib.compressobj(LARGE_PART_LEVEL, zlib.DEFLATED, -15)
        self._pieces: list[str] = []
        self._gathered = 0
        self._out: list[bytes] = []
        self._crc = self._size = 0

    def add(self, text: str) -> None:
        """Add ``text``."""
        self._pieces.append(text)
        self._gathered += len(text)
        if self._gathered > CHUNK:
            self._deflate()

    def done(self) -> DeflatedRows:
        """What was added, deflated."""
        self._deflate()
        self._out.append(self._deflater.flush(zlib.Z_SYNC_FLUSH))
        return DeflatedRows(b"".join(self._out), self._crc, self._size)

    def _deflate(self) -> None:
        encoded = "".join(self._pieces).encode()
        self._pieces.clear()
        self._gathered = 0
        self._crc = zlib.crc32(encoded, self._crc)
        self._size += len(encoded)
        self._out.append(self._deflater.compress(encoded))


def _gf2_times(matrix: list[int], vector: int) -> int:
    total, n = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[n]
        vector >>= 1
        n += 1
    return total


@functools.cache
def _zeros_operator(power: int) -> list[int]:
    """The CRC-32 register's change over 2**power zero bytes (zlib's crc32_combine)."""
    if power == 0:
        bit = [0xEDB88320] + [1 << n for n in range(31)]  # one zero bit
        for _ in range(3):  # 2, 4, 8 bits
            bit = [_gf2_times(bit, row) for row in bit]
        return bit
    half = _zeros_operator(power - 1)
    return [_gf2_times(half, row) for row in half]


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """The CRC-32 of A + B from A's, B's and B's length (zlib's ``crc32_combine``, which
    Python's zlib does not offer)."""
    power = 0
    while length2:
        if length2 & 1:
            crc1 = _gf2_times(_zeros_operator(power), crc1)
        length2 >>= 1
        power += 1
    return crc1 ^ crc2


# What ``StreamedPart.write_deflated`` updates of zipfile's entry writer (Python 3.11-3.13).
_WRITER_FIELDS = ("_compressor", "_fileobj", "_compress_size", "_crc", "_file_size")


class StreamedPart(StringIO):
    """A package part whose text goes into its zip entry as it is written (encoded and
    deflated a chunk at a time), never held whole. A part that ends within its first
    ``CHUNK`` characters is written as XlsxWriter writes it; a larger one at
    ``LARGE_PART_LEVEL``."""

    def __init__(self, package: ZipFile, name: str) -> None:
        super().__init__()
        self._package, self._name = package, name
        self._entry: IO[bytes] | None = None
        self._pieces: list[str] = []
        self._size = 0

    def write(self, text: str) -> int:
        """Add ``text`` to the part."""
        self._pieces.append(text)
        self._size += len(text)
        if self._size > CHUNK:
            if self._entry is None:
                self._entry = self._package.open(_entry(self._name, LARGE_PART_LEVEL), "w")
            self._flush_pieces(self._entry)
        return len(text)

    def write_deflated(self, rows: DeflatedRows) -> None:
        """Add text deflated already (:class:`DeflatedRows`) as it is: what was written
        before it is deflated up to a full flush (nothing after refers back to it), the
        deflated bytes follow, and the part goes on deflating from there."""
        if self._entry is None:
            self._entry = self._package.open(_entry(self._name, LARGE_PART_LEVEL), "w")
        entry: Any = self._entry  # zipfile's _ZipWriteFile: its own fields, as write() keeps them
        if not all(hasattr(entry, field) for field in _WRITER_FIELDS):
            self.write(rows.text())  # a zipfile whose entry writer keeps them otherwise
            return
        self._flush_pieces(entry)
        flushed = entry._compressor.flush(zlib.Z_FULL_FLUSH)
        entry._fileobj.write(flushed)
        entry._fileobj.write(rows.data)
        entry._compress_size += len(flushed) + len(rows.data)
        entry._crc = crc32_combine(entry._crc, rows.crc, rows.size)
        entry._file_size += rows.size

    def finish(self) -> None:
        """The part is complete: its entry is closed (CRC and sizes written)."""
        if self._entry is None:
            self._entry = self._package.open(_entry(self._name), "w")
        self._flush_pieces(self._entry)
        self._entry.close()

    def _flush_pieces(self, entry: IO[bytes]) -> None:
        entry.write("".join(self._pieces).encode())
        self._pieces.clear()
        self._size = 0


SST_CHUNK = 1024  # shared strings written at a time (see _TextStrings)


class _TextStrings(SharedStrings):  # type: ignore[misc]  # XlsxWriter is untyped
    """The shared strings part with every string written as text. XlsxWriter writes a
    string that starts with ``<r>`` and ends with ``</r>`` unescaped, as the markup of its
    rich strings (which this workbook never writes): a department's cell holding such text
    would be markup in the package, shown empty or breaking the part.

    The elements are XlsxWriter's, written SST_CHUNK at a time: its writer per string (an
    attribute list, the escapes, a write each) took some 25 ms for a changed report's 6,000
    strings; the whole table in one piece added 24 MB to a 60 x 2,000 run's peak."""

    def _write_sst_strings(self) -> None:
        control, data = self._escape_control_characters, self._escape_data
        strings = self.string_table.string_array
        for start in range(0, len(strings), SST_CHUNK):
            parts = []
            for string in strings[start : start + SST_CHUNK]:
                text = control(string)
                space = ' xml:space="preserve"' if _preserve_whitespace(text) else ""
                parts.append(f"<si><t{space}>{data(text)}</t></si>")
            self.fh.write("".join(parts))


class _Packager(Packager):  # type: ignore[misc]  # XlsxWriter is untyped
    """XlsxWriter's packager with the note parts above (sheets with notes only: a workbook
    with buttons or header images is left to XlsxWriter as a whole); an in-memory package's
    parts are streamed into the zip in XlsxWriter's order as they are written."""

    def _filename(self, xml_filename: str) -> Any:
        package = getattr(self.workbook, "package", None)
        if not self.in_memory or package is None:
            return super()._filename(xml_filename)
        self._store_done(package)  # parts are written one after the other: the last is done
        part = StreamedPart(package, xml_filename)
        self.filenames.append((part, xml_filename, False))
        return part

    def _create_package(self) -> Any:
        files = super()._create_package()
        package = getattr(self.workbook, "package", None)
        if not self.in_memory or package is None:
            return files
        self._store_done(package)
        return []  # every part is in the zip already

    def _store_done(self, package: ZipFile) -> None:
        """Finish the part being written and store any XlsxWriter added itself since (an
        image, a VBA project: bytes), in the order they came."""
        for part, name, is_binary in self.filenames:
            if isinstance(part, StreamedPart):
                part.finish()
            else:
                data = part.getvalue()
                package.writestr(_entry(name), data if is_binary else data.encode())
        self.filenames.clear()

    def _write_shared_strings_file(self) -> None:
        if not self.workbook.str_table.count:
            return
        sst = _TextStrings()
        sst.string_table = self.workbook.str_table
        sst._set_xml_writer(self._filename("xl/sharedStrings.xml"))
        sst._assemble_xml_file()

    def _write_vml_files(self) -> None:
        sheets = self.workbook.worksheets()
        if any(ws.has_header_vml or ws.buttons_list for ws in sheets):
            super()._write_vml_files()
            return
        index = 1
        for worksheet in sheets:
            if not worksheet.has_vml:
                continue
            vml = _NotesVml()
            vml._set_xml_writer(self._filename(f"xl/drawings/vmlDrawing{index}.vml"))
            vml._assemble_xml_file(
                worksheet.vml_data_id,
                worksheet.vml_shape_id,
                worksheet.comments_list,
                worksheet.buttons_list,
            )
            index += 1

    def _write_comment_files(self) -> None:
        index = 1
        for worksheet in self.workbook.worksheets():
            if not worksheet.has_comments:
                continue
            comments = _NotesComments()
            comments._set_xml_writer(self._filename(f"xl/comments{index}.xml"))
            comments._assemble_xml_file(worksheet.comments_list)
            index += 1


class PackageWorkbook(xlsxwriter.Workbook):  # type: ignore[misc]  # XlsxWriter is untyped
    """An XlsxWriter workbook packaged with the faster note parts and, in memory, its parts
    streamed into the zip as they are written (the same bytes)."""

    package: ZipFile | None = None  # the zip an in-memory package is streamed into
    filename: Any  # XlsxWriter's own: where the package goes (a path or a file object)

    def _get_packager(self) -> Packager:
        return _Packager()

    def _store_workbook(self) -> None:
        if not self.in_memory:
            super()._store_workbook()
            return
        target: Any = self.filename
        self.filename = io.BytesIO()  # XlsxWriter's own zip: left empty
        self.package = ZipFile(target, "w", ZIP_DEFLATED, allowZip64=self.allow_zip64)
        try:
            super()._store_workbook()
            self.package.close()  # not on an error: a part may be half written
        finally:
            self.filename, self.package = target, None
