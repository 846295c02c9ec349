"""Text that comes from a request, as the console keeps it: the sign-in name's length
limit, and audit text with control characters escaped and a length cap. (No web imports:
the command line uses it too.)"""

from __future__ import annotations

import unicodedata

MAX_NAME = 128  # characters of a sign-in name (console user add refuses longer ones)
MAX_PASSWORD = 1024


def audit_text(value: str, limit: int = 128) -> str:
    """Text from a request as the audit log and pages may keep it: control characters
    escaped (``\\x1b``, ``\\u202e``), at most ``limit`` characters, ``…`` when cut."""
    escaped = "".join(
        ch.encode("unicode_escape").decode("ascii") if _control(ch) else ch
        for ch in value[: limit + 1]
    )
    return escaped if len(escaped) <= limit else escaped[: limit - 1] + "…"


def _control(ch: str) -> bool:
    """Control, format (bidi overrides), line/paragraph separator or unassigned."""
    category = unicodedata.category(ch)
    return category.startswith("C") or category in ("Zl", "Zp")
