"""報告の推移: the key figures across reports, each report's changes, and an SVG chart whose
coordinates are computed here so the template only places numbers (no chart script)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

SERIES: tuple[tuple[str, str, str | None, str | None], ...] = (
    # (name, unit, category, item code): a category sums its items in that unit
    ("人的被害", "人", "人的被害", None),
    ("住家被害", "棟", "住家被害", None),
    ("避難者数", "人", None, "evacuees"),
)
WIDTH, HEIGHT, PAD = 320, 120, 24


@dataclass(frozen=True)
class Chart:
    """One series ready to draw: its polyline points and labelled extremes."""

    name: str
    unit: str
    points: str
    dots: list[tuple[float, float, int, str]]  # x, y, report number, value
    maximum: str


def _number(value: Any) -> Decimal | None:
    try:
        return None if value is None else Decimal(str(value))
    except InvalidOperation:
        return None


def figure(report: dict[str, Any], unit: str, category: str | None, code: str | None) -> Decimal:
    """The series' value in one report (items without a number count as 0)."""
    total = Decimal(0)
    for item_code, item in (report.get("totals") or {}).items():
        wanted = item_code == code if code else item.get("category") == category
        if wanted and item.get("unit") == unit:
            total += _number(item.get("value")) or Decimal(0)
    return total


def charts(reports: list[dict[str, Any]]) -> list[Chart]:
    """The key series across reports (given newest first), oldest on the left."""
    ordered = list(reversed(reports))
    result = []
    for name, unit, category, code in SERIES:
        values = [figure(r, unit, category, code) for r in ordered]
        top = max(values, default=Decimal(0)) or Decimal(1)
        step = (WIDTH - 2 * PAD) / max(len(values) - 1, 1)
        dots = [
            (
                round(PAD + i * step, 1),
                round(HEIGHT - PAD - float(v / top) * (HEIGHT - 2 * PAD), 1),
                int(r.get("number", 0)),
                format(v, "f"),
            )
            for i, (v, r) in enumerate(zip(values, ordered, strict=True))
        ]
        points = " ".join(f"{x},{y}" for x, y, _, _ in dots)
        result.append(Chart(name, unit, points, dots, format(max(values, default=0), "f")))
    return result


@dataclass(frozen=True)
class Moved:
    """An item whose total moved between two reports (a figure None where there was none)."""

    code: str
    label: str
    unit: str
    before: Any
    after: Any

    @property
    def before_text(self) -> str:
        """The total before, with its unit (``5世帯``), ``—`` where there was none."""
        return shown(self.before, self.unit)

    @property
    def after_text(self) -> str:
        """The total after, with its unit, ``—`` where there is none."""
        return shown(self.after, self.unit)

    @property
    def before_number(self) -> str:
        """The total before as text without its unit (``5``), ``—`` where there was none."""
        return shown(self.before, "")

    @property
    def after_number(self) -> str:
        """The total after as text without its unit, ``—`` where there is none."""
        return shown(self.after, "")


def shown(value: Any, unit: str) -> str:
    """A total with its unit (``5世帯``), ``—`` where there is none."""
    return "—" if value is None or value == "" else f"{value}{unit}"


def changes(reports: list[dict[str, Any]]) -> list[list[Moved]]:
    """Per report (newest first), the items whose total moved since the report before it,
    each with its unit: an item counted in several units (半壊 in 棟, 世帯 and 人) appears
    once per unit, and only the unit tells them apart."""
    result = []
    for index, report in enumerate(reports):
        before = reports[index + 1].get("totals", {}) if index + 1 < len(reports) else {}
        moved = []
        for item_code, item in (report.get("totals") or {}).items():
            old = (before.get(item_code) or {}).get("value")
            if old != item.get("value"):
                label, unit = str(item.get("label", item_code)), str(item.get("unit") or "")
                moved.append(Moved(str(item_code), label, unit, old, item.get("value")))
        result.append(moved)
    return result
