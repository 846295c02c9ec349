"""Positions of YAML keys and values by their path, and a problem placed at one of them."""

from __future__ import annotations

from dataclasses import dataclass, field

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One configuration problem with its position."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


@dataclass
class Positions:
    """Start marks of YAML keys and values by their path in the document."""

    file: str
    keys: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    values: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    env_refs: dict[Loc, tuple[str, ...]] = field(default_factory=dict)  # ${NAME}s in a value

    def forget(self, loc: Loc) -> None:
        """Drop the marks at and under ``loc`` (a duplicate key replaces its first value)."""
        for marks in (self.keys, self.values):
            for known in [k for k in marks if k[: len(loc)] == loc]:
                del marks[known]

    def find(self, loc: Loc, *, prefer_key: bool = False) -> tuple[int, int]:
        """Position of the deepest known path prefix of ``loc``."""
        for end in range(len(loc), -1, -1):
            prefix = loc[:end]
            first, second = (self.keys, self.values) if prefer_key else (self.values, self.keys)
            if prefix in first:
                return first[prefix]
            if prefix in second:
                return second[prefix]
        return (1, 1)

    def problem(self, loc: Loc, message: str, *, prefer_key: bool = False) -> ConfigProblem:
        """A problem about the value at ``loc``, placed where :meth:`find` finds it."""
        line, col = self.find(loc, prefer_key=prefer_key)
        return ConfigProblem(self.file, line, col, dotted(loc), message)


def dotted(loc: Loc) -> str:
    """``loc`` as the admin reads it: ``flows[0].params.workbook``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
