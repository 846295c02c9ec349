"""JSON values kept as their text until one is read.

A damage report keeps every department's figures (megabytes at 60 sheets of 2,000 rows);
a run that read one changed sheet needs the others' only as they were. So each
department's figures are stored as their own JSON text, named by digest, and loaded as
text: decoded on first access, never encoded again for a report that keeps them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any


def digest(text: str) -> str:
    """The SHA-256 of a JSON text, in hex."""
    return hashlib.sha256(text.encode()).hexdigest()


def compact(value: Any) -> str:
    """``value`` as compact JSON (no spaces), non-ASCII kept as is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def line_pieces(value: Any, depth: int = 2) -> Iterator[str]:
    """``value`` as one line of JSON, ``json.dumps(value, ensure_ascii=False)``, in pieces:
    each container ``depth`` levels down is encoded whole by json's C encoder, so a record of
    58 MB is written in seconds less than by the pure-Python encoder ``indent`` needs, and
    never held whole."""
    if depth and isinstance(value, dict) and all(isinstance(key, str) for key in value):
        separator = "{"
        for key, item in value.items():
            yield f"{separator}{json.dumps(key, ensure_ascii=False)}: "
            yield from line_pieces(item, depth - 1)
            separator = ", "
        yield "}" if value else "{}"
    elif depth and isinstance(value, list | tuple) and value:
        separator = "["
        for item in value:
            yield separator
            yield from line_pieces(item, depth - 1)
            separator = ", "
        yield "]"
    else:
        yield json.dumps(value, ensure_ascii=False)


class JSONTexts(Mapping[str, Any]):
    """Names to JSON values, each kept as its compact text and decoded once, when read."""

    __slots__ = ("_digests", "_texts", "_values")

    def __init__(self, texts: Mapping[str, str], digests: Mapping[str, str] | None = None) -> None:
        self._texts = dict(texts)
        self._values: dict[str, Any] = {}
        self._digests = dict(digests or {})  # name -> ``digest`` of its text, where known

    def __getitem__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            value = self._values[key] = json.loads(self._texts[key])
            return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._texts)

    def __len__(self) -> int:
        return len(self._texts)

    def __contains__(self, key: object) -> bool:
        return key in self._texts

    def text(self, key: str) -> str:
        """The compact JSON text of one value (not decoded)."""
        return self._texts[key]

    def digest(self, key: str) -> str:
        """The SHA-256 of one value's text (hex): equal digests, equal texts."""
        found = self._digests.get(key)
        if found is None:
            found = self._digests[key] = digest(self._texts[key])
        return found

    def __repr__(self) -> str:
        return f"JSONTexts({len(self._texts)} values)"
