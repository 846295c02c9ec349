"""Text normalisation shared by header matching and cell reading."""

from __future__ import annotations

import re
import unicodedata

_SPLIT = re.compile(r"[\s()\[\]{}【】〔〕<>「」『』/_:;、,。]+")
_DOTS = str.maketrans("", "", "・･")


def normalize(text: str) -> str:
    """Fold full-width forms (NFKC), drop spaces and middle dots, lower-case ASCII."""
    folded = unicodedata.normalize("NFKC", text).translate(_DOTS)
    return "".join(folded.split()).lower()


def tokens(text: str) -> list[str]:
    """Split a header or label into normalised words (parentheses and separators split)."""
    folded = unicodedata.normalize("NFKC", text).translate(_DOTS).lower()
    return [part for part in _SPLIT.split(folded) if part]
