"""Text as a terminal shows it: a full-width character (漢字, かな, full-width digits) takes
two columns, so tables of Japanese names line up only when padded by columns, not
characters."""

from __future__ import annotations

import unicodedata


def display_width(text: str) -> int:
    """Terminal columns of ``text``: full-width and wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def padded(text: str, width: int) -> str:
    """``text`` followed by spaces up to ``width`` terminal columns (as is when wider)."""
    return text + " " * max(0, width - display_width(text))
