"""What the Power Automate pattern and the python-o365 script compute from what they read.

Both read department tables (header + rows) and list items as JSON; both then do what a
flow's Compose / Filter array steps or a short script would: sum the numbers per item
column, count what is not a number, and say who is incomplete. The sums are not meant to
match our readings cell for cell (we read full-width digits, units, 未確認 and dashes); the
point is the requests and the time, and whether every row arrived.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Tally:
    """Sums per department and item column, and how many rows were read."""

    headers: list[str]
    totals: dict[str, list[float]] = field(default_factory=dict)
    rows_read: dict[str, int] = field(default_factory=dict)
    not_numbers: int = 0

    def add(self, department: str, rows: Iterable[Sequence[Any]]) -> None:
        """Add a department's table rows (the first column names the municipality)."""
        sums = self.totals.setdefault(department, [0.0] * (len(self.headers) - 1))
        count = 0
        for row in rows:
            count += 1
            if row and row[0] == "計":
                continue
            for n, value in enumerate(row[1 : len(self.headers)]):
                if isinstance(value, int | float) and not isinstance(value, bool):
                    sums[n] += value
                elif value not in ("", None):
                    self.not_numbers += 1
        self.rows_read[department] = self.rows_read.get(department, 0) + count

    def lost_rows(self, expected_per_table: int) -> int:
        """Rows that should have been read but were not."""
        return sum(max(0, expected_per_table - n) for n in self.rows_read.values())

    def csv_bytes(self) -> bytes:
        """The consolidated figures as CSV (UTF-8 with BOM, as Excel opens it)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["部局", *self.headers[1:]])
        for department, sums in self.totals.items():
            writer.writerow([department, *(f"{v:g}" for v in sums)])
        return buffer.getvalue().encode("utf-8-sig")

    def html(self) -> str:
        """A mail body: one row per department."""
        head = "".join(f"<th>{h}</th>" for h in ["部局", *self.headers[1:]])
        body = "".join(
            "<tr><td>" + d + "</td>" + "".join(f"<td>{v:g}</td>" for v in sums) + "</tr>"
            for d, sums in self.totals.items()
        )
        return f"<p>被害状況（集計）</p><table><tr>{head}</tr>{body}</table>"

    def card(self) -> dict[str, Any]:
        """An Adaptive Card with the grand totals of each item column."""
        grand = [sum(col) for col in zip(*self.totals.values(), strict=False)]
        facts = [
            {"title": h, "value": f"{v:g}"} for h, v in zip(self.headers[1:], grand, strict=False)
        ]
        return {
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                {"type": "TextBlock", "text": "被害状況（集計）", "weight": "Bolder"},
                {"type": "FactSet", "facts": facts},
            ],
        }


def card_envelope(card: Mapping[str, Any]) -> dict[str, Any]:
    """The Teams Workflows webhook body around one card."""
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        ],
    }


def mail_body(recipient: str, subject: str, html: str) -> dict[str, Any]:
    """A sendMail body for one recipient."""
    return {
        "message": {
            "subject": subject,
            "body": {"contentType": "HTML", "content": html},
            "toRecipients": [{"emailAddress": {"address": recipient}}],
        }
    }


def incomplete_by_department(
    items: Iterable[Mapping[str, Any]], department: str, required: Sequence[str]
) -> Counter[str]:
    """How many items per department leave a required field empty."""
    counts: Counter[str] = Counter()
    for fields in items:
        if any(fields.get(name) in (None, "") for name in required):
            counts[str(fields.get(department, ""))] += 1
    return counts


def size_of(value: Any) -> int:
    """Bytes of a JSON value as sent."""
    return len(json.dumps(value, ensure_ascii=False).encode())
