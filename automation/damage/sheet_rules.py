"""What a worksheet enforces while someone types: its protection and its data validation.

Read from the sheet's XML (:func:`automation.damage.workbook.worksheet_xml`), pure. Excel
keeps a validation in ``<dataValidations>``, or, when its list lives on another sheet, in
the 2010 extension ``<x14:dataValidations>`` with the range in ``<xm:sqref>`` and the
source in ``<x14:formula1><xm:f>``; both forms are read, by local name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

from defusedxml import ElementTree as SafeXML  # type: ignore[import-untyped]  # ships no stubs

from automation.damage.workbook import Sheet

RANGE = re.compile(r"\$?([A-Za-z]{1,3})\$?([0-9]{1,7})(?::\$?([A-Za-z]{1,3})\$?([0-9]{1,7}))?")


@dataclass(frozen=True, slots=True)
class Validation:
    """One data validation: its type (custom, list, whole, decimal, textLength, ...), the
    0-based (top, left, bottom, right) areas it covers and its first formula."""

    kind: str
    areas: tuple[tuple[int, int, int, int], ...]
    formula: str

    def covers(self, row: int, col: int) -> bool:
        """Whether the cell at 0-based (row, col) is in one of the areas."""
        return any(t <= row <= b and left <= col <= r for t, left, b, r in self.areas)


@dataclass(frozen=True, slots=True)
class SheetRules:
    """Whether the sheet is protected, and its data validations."""

    protected: bool
    validations: tuple[Validation, ...]

    def at(self, row: int, col: int) -> Validation | None:
        """The validation of the cell at 0-based (row, col), if any."""
        return next((v for v in self.validations if v.covers(row, col)), None)


def sheet_rules(xml: bytes) -> SheetRules:
    """The protection and validations of one worksheet's XML (unreadable XML: none)."""
    try:
        root: Element = SafeXML.fromstring(xml, forbid_dtd=True)
    except (ParseError, ValueError):
        return SheetRules(False, ())
    protected = False
    validations = []
    for element in root.iter():
        name = _local(element.tag)
        if name == "sheetProtection":
            protected = element.get("sheet") in ("1", "true")
        elif name == "dataValidation":
            validations.append(_validation(element))
    return SheetRules(protected, tuple(validations))


def _validation(element: Element) -> Validation:
    sqref = element.get("sqref") or ""
    formula = ""
    for child in element.iter():
        tag = _local(child.tag)
        if tag == "sqref" and child.text:
            sqref = child.text
        elif tag == "formula1":
            formula = "".join(child.itertext()).strip()
    return Validation(element.get("type") or "any", _areas(sqref), formula)


def _areas(sqref: str) -> tuple[tuple[int, int, int, int], ...]:
    areas = []
    for part in sqref.split():
        match = RANGE.fullmatch(part)
        if match is None:
            continue
        left, top = _column(match[1]), int(match[2]) - 1
        right = _column(match[3]) if match[3] else left
        bottom = int(match[4]) - 1 if match[4] else top
        areas.append((top, left, bottom, right))
    return tuple(areas)


def list_choices(formula: str, sheets: Mapping[str, Sheet]) -> tuple[str, ...] | None:
    """The values a list validation offers: its inline list, or the cells of its source
    range in ``sheets``; None when the source cannot be resolved (a named range, ...)."""
    text = formula.lstrip("=").strip()
    if text.startswith('"') and text.endswith('"'):
        return tuple(c.strip() for c in text[1:-1].split(",") if c.strip())
    name, bang, ref = text.rpartition("!")
    sheet = sheets.get(name.strip("'").replace("''", "'")) if bang else None
    areas = _areas(ref) if RANGE.fullmatch(ref) else ()
    if sheet is None or not areas:
        return None
    top, left, bottom, right = areas[0]
    bottom, right = min(bottom, sheet.bottom - 1), min(right, sheet.right - 1)  # $A:$A: 1M rows
    values = (
        sheet.value(row, col) for row in range(top, bottom + 1) for col in range(left, right + 1)
    )
    return tuple(str(v).strip() for v in values if v is not None and str(v).strip())


def _column(letters: str) -> int:
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - 64
    return number - 1


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""
