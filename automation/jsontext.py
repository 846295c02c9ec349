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
