"""Text normalisation shared by header matching and cell reading."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_BRACKETS = re.compile(r"[()\[\]{}【】〔〕<>「」『』/_:;、,。]+")
# A short label spaced out to fill its cell (死　者, 全　壊): single characters between spaces.
_SPACED_OUT = re.compile(r"(?<!\S)\S(?:\s+\S)+(?!\S)")
_DOTS = str.maketrans("", "", "・･")


@lru_cache(maxsize=8192)  # headers and names recur on every department's sheet
def normalize(text: str) -> str:
    """Fold full-width forms (NFKC), drop spaces and middle dots, lower-case ASCII."""
    folded = unicodedata.normalize("NFKC", text).translate(_DOTS)
    return "".join(folded.split()).lower()


def tokens(text: str) -> list[str]:
    """Split a header or label into normalised words (parentheses and separators split)."""
    folded = unicodedata.normalize("NFKC", text).translate(_DOTS).lower()
    words: list[str] = []
    for piece in _BRACKETS.split(folded):
        words += _SPACED_OUT.sub(lambda match: "".join(match[0].split()), piece).split()
    return words
