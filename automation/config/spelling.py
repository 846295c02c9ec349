"""The name an admin most likely meant, for "did you mean" hints."""

from __future__ import annotations

import difflib
from typing import Any


def closest(word: str, choices: Any) -> str | None:
    """The choice ``word`` is most likely a misspelling or a shortening of, if any."""
    lowered = {str(c).lower(): str(c) for c in choices}
    found = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    if found:
        return lowered[found[0]]
    containing = [c for c in lowered if len(word) >= 4 and word.lower() in c]
    return lowered[containing[0]] if len(containing) == 1 else None


def did_you_mean(word: str, choices: Any) -> str:
    """``did you mean X? `` (ending in a space) if a choice is close, else nothing."""
    close = closest(word, choices)
    return f"did you mean {close!r}? " if close else ""
