"""XlsxWriter's package, cheaper: cell notes written one string each, parts kept compressed.

The merged workbook notes every unreadable cell (thousands at 60 x 2,000). XlsxWriter writes
each note's VML shape and comment element through a dozen generic XML calls: about 0.25 ms a
note, a third of the workbook's package time. ``PackageWorkbook`` packages the same bytes
(the specs compare them with XlsxWriter's own) with one format string per note, and leaves
every other part to XlsxWriter.

An in-memory XlsxWriter package holds every part as text until the last is written, then
zips them: at 60 x 2,000 some 70 MB of XML at once, the run's peak. Here a large part (over
``PACK_ABOVE`` characters: a sheet of a thousand rows or more) is compressed (zlib, level 1)
as soon as the next one starts and expanded again only when the zip takes it; small parts,
where compressing would cost more CPU than the memory is worth, stay as they are. It relies
on XlsxWriter's internals (pinned below 3.4).
"""

from __future__ import annotations

import zlib
from io import StringIO
from typing import Any

import xlsxwriter
from xlsxwriter.comments import Comments
from xlsxwriter.packager import Packager
from xlsxwriter.utility import _preserve_whitespace, xl_rowcol_to_cell
from xlsxwriter.vml import Vml


class _NotesVml(Vml):  # type: ignore[misc]  # XlsxWriter is untyped
    """A comment VML part whose shapes are written one string each."""

    def _write_comment_shape(self, shape_id: int, z_index: int, comment: Any) -> None:
        left, top, width, height = self._pixels_to_points(comment.vertices)
        col_start, row_start, x1, y1, col_end, row_end, x2, y2 = comment.vertices[:8]
        fill = self._escape_attributes(comment.color._vml_rgb_hex_value())
        shown = "visible" if comment.is_visible else "hidden"
        visible = "<x:Visible/>" if comment.is_visible else ""
        self.fh.write(
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


class _NotesComments(Comments):  # type: ignore[misc]  # XlsxWriter is untyped
    """A comments part whose comment elements are written one string each."""

    def _write_comment(self, comment: Any, author_id: int) -> None:
        ref = xl_rowcol_to_cell(comment.row, comment.col)
        author = f' authorId="{author_id}"' if author_id != -1 else ""
        text = comment.text
        space = ' xml:space="preserve"' if _preserve_whitespace(text) else ""
        data = self._escape_control_characters(self._escape_data(text))
        size = self._escape_attributes(comment.font_size)
        font = self._escape_attributes(comment.font_name)
        family = self._escape_attributes(comment.font_family)
        self.fh.write(
            f'<comment ref="{ref}"{author}><text><r><rPr><sz val="{size}"/>'
            f'<color indexed="81"/><rFont val="{font}"/><family val="{family}"/></rPr>'
            f"<t{space}>{data}</t></r></text></comment>"
        )


PACK_ABOVE = 256 * 1024  # characters of a part (or a sheet's rows) kept compressed


class PackedPart(StringIO):
    """A package part written as text, then, if large, kept compressed until the zip asks."""

    _packed: bytes | None = None

    def pack(self) -> None:
        """Compress the text written so far and let it go (the part is complete), if it is
        over ``PACK_ABOVE`` characters."""
        if self._packed is None and self.tell() > PACK_ABOVE:
            self._packed = zlib.compress(super().getvalue().encode(), 1)
            self.seek(0)
            self.truncate()

    def getvalue(self) -> str:
        """The part's text."""
        if self._packed is None:
            return super().getvalue()
        return zlib.decompress(self._packed).decode()


class _Packager(Packager):  # type: ignore[misc]  # XlsxWriter is untyped
    """XlsxWriter's packager with the note parts above (sheets with notes only: a workbook
    with buttons or header images is left to XlsxWriter as a whole), and each part of an
    in-memory package compressed once written."""

    def _filename(self, xml_filename: str) -> Any:
        if not self.in_memory:
            return super()._filename(xml_filename)
        self._pack_last()  # parts are written one after the other: the last one is done
        part = PackedPart()
        self.filenames.append((part, xml_filename, False))
        return part

    def _create_package(self) -> Any:
        files = super()._create_package()
        self._pack_last()
        return files

    def _pack_last(self) -> None:
        if self.filenames and isinstance(self.filenames[-1][0], PackedPart):
            self.filenames[-1][0].pack()

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
    """An XlsxWriter workbook packaged with the faster note parts and its parts kept
    compressed until zipped (the same bytes)."""

    def _get_packager(self) -> Packager:
        return _Packager()
