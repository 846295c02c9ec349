"""The doctor's rows as a terminal table."""

from __future__ import annotations

from collections.abc import Sequence

from automation.doctor.rows import Row
from automation.summary import clean_terminal
from automation.textwidth import display_width, padded


def _cut(text: str, width: int) -> str:
    """``text`` cut to ``width`` terminal columns with an ellipsis in the middle."""
    if display_width(text) <= width:
        return text
    head, tail = "", ""
    for ch in text:
        if display_width(head + ch) > width // 2:
            break
        head += ch
    for ch in reversed(text):
        if display_width(head + "…" + ch + tail) > width:
            break
        tail = ch + tail
    return head + "…" + tail


def format_table(
    rows: Sequence[Row], target_width: int = 44, again: str = "automation doctor"
) -> str:
    """The rows as a terminal table; a failure's fix and README point on lines of their own;
    ``again`` is the command to run once the failures are fixed."""
    checks = max(display_width(r.check) for r in [*rows, Row("check", "", "OK", "")])
    targets = min(
        target_width, max(display_width(r.target) for r in [*rows, Row("", "target", "OK", "")])
    )
    indent = " " * (checks + targets + 6 + 6)

    def line(check: str, target: str, result: str, detail: str) -> str:
        return f"{padded(check, checks)}  {padded(_cut(target, targets), targets)}  {result:<6}  {detail}"

    out = [line("check", "target", "result", "detail")]
    for row in rows:
        details = row.detail.splitlines() or [""]
        out.append(line(row.check, row.target, row.result, details[0]))
        extra = details[1:]
        if row.fix:
            extra.append(f"{'fix' if row.result in ('FAIL', 'WARN') else 'to check'}: {row.fix}")
        if row.see:
            extra.append(f"see: {row.see}")
        out += [indent + text for text in extra]
    failed = sum(r.result == "FAIL" for r in rows)
    passed = sum(r.result == "OK" for r in rows)
    skipped = sum(r.result == "SKIP" for r in rows)
    warned = sum(r.result == "WARN" for r in rows)
    warnings = f"{warned} warning{'s' if warned != 1 else ''}, " if warned else ""
    out.append("")
    out.append(
        f"{failed} failed, {warnings}{passed} passed, {skipped} skipped"
        + (f"; fix the failures and run `{again}` again" if failed else "")
    )
    return "\n".join(clean_terminal(text).rstrip() for text in out) + "\n"
