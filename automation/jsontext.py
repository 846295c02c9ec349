"""JSON values kept as their text until one is read, and a report snapshot's text.

A damage report keeps every department's figures (megabytes at 60 sheets of 2,000 rows);
a run that read one changed sheet needs the others' only as they were. So a snapshot is
stored with one department's figures per line: loading it parses the rest and keeps each
department's figures as text (decoded on first access), and the next report writes the
same text back without encoding it again. The text stays one JSON document that any JSON
reader reads whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

KEY = "figures"  # the snapshot's key whose values are kept one per line
_OPEN = f'"{KEY}":{{'
_DECODE = json.JSONDecoder().raw_decode


def compact(value: Any) -> str:
    """``value`` as compact JSON (no spaces), non-ASCII kept as is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class JSONTexts(Mapping[str, Any]):
    """Names to JSON values, each kept as its compact text and decoded once, when read."""

    __slots__ = ("_texts", "_values")

    def __init__(self, texts: Mapping[str, str]) -> None:
        self._texts = dict(texts)
        self._values: dict[str, Any] = {}

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

    def __repr__(self) -> str:
        return f"JSONTexts({len(self._texts)} values)"


def snapshot_text(snapshot: Mapping[str, Any]) -> str:
    """``snapshot`` as JSON, its ``figures`` one value per line (the last key)."""
    figures = snapshot.get(KEY)
    if not isinstance(figures, Mapping):
        return compact(dict(snapshot))
    head = compact({k: v for k, v in snapshot.items() if k != KEY})
    texts = figures.text if isinstance(figures, JSONTexts) else None
    lines = [
        compact(name) + ":" + (texts(name) if texts else compact(figures[name])) for name in figures
    ]
    return head[:-1] + ("," if len(head) > 2 else "") + _OPEN + "\n" + ",\n".join(lines) + "\n}}"


def snapshot_of(text: str) -> dict[str, Any]:
    """Inverse of ``snapshot_text`` (and plain JSON): ``figures`` as :class:`JSONTexts`."""
    lines = text.split("\n")
    if len(lines) < 3 or not lines[0].endswith(_OPEN) or lines[-1] != "}}":
        return dict(json.loads(text))
    head = lines[0][: -len(_OPEN)]
    snapshot = dict(json.loads(head.removesuffix(",") + "}"))
    texts = {}
    for line in lines[1:-1]:
        if not line:
            continue
        name, end = _DECODE(line.removesuffix(","))
        if not isinstance(name, str) or line[end] != ":":
            return dict(json.loads(text))
        texts[name] = line[end + 1 :].removesuffix(",")
    snapshot[KEY] = JSONTexts(texts)
    return snapshot
