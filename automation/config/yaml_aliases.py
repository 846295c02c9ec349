"""Refuse YAML whose aliases expand beyond a small budget ("billion laughs").

An alias (``*name``) repeats the anchored value (``&name``); nested, ten levels of ten aliases
make ten billion values out of a few lines, and anything that walks the data (positions,
``${NAME}`` substitution, validation) never finishes. The file's parse events are scanned
once, before anything is built: each anchor's expanded size is known when its value ends,
so the scan is linear in the file and its memory bounded by the nesting depth and the number
of anchors. The first alias that takes the expansion past the budget is reported at its
line and column.
"""

from __future__ import annotations

import yaml

ALIAS_BUDGET = 10_000  # values an alias may add to the document, in all


def alias_problem(text: str, loader: type[yaml.SafeLoader]) -> tuple[int, int, str] | None:
    """(line, column, message) of the alias that expands the document too far, or None.

    Syntax errors are left to the reader, which reports them with their position.
    """
    if "*" not in text or "&" not in text:
        return None
    sizes: dict[str, int] = {}  # anchor -> values it stands for, aliases inside expanded
    open_nodes: list[tuple[str | None, int]] = []  # (anchor, values so far) per collection
    added = 0
    try:
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, yaml.CollectionStartEvent):
                open_nodes.append((event.anchor, 1))
                continue
            if isinstance(event, yaml.AliasEvent):
                if any(anchor == event.anchor for anchor, _ in open_nodes):
                    return (*_where(event), _loop(str(event.anchor)))
                size = sizes.get(str(event.anchor), 1)
                added += size
                if added > ALIAS_BUDGET:
                    return (*_where(event), _message(str(event.anchor), size))
            elif isinstance(event, yaml.ScalarEvent):
                size = 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, size = open_nodes.pop()
                if anchor is not None:
                    sizes[anchor] = size
            else:
                continue
            if open_nodes:
                anchor, count = open_nodes[-1]
                open_nodes[-1] = (anchor, count + size)
    except yaml.YAMLError:
        return None
    return None


def _where(event: yaml.Event) -> tuple[int, int]:
    """The 1-based line and column where ``event`` starts."""
    mark = event.start_mark
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def _message(anchor: str, size: int) -> str:
    stands_for = f"{size:,}" if size <= 10**12 else "more than a trillion"
    return (
        f"the alias *{anchor} stands for {stands_for} values, and with the aliases before it "
        f"the file expands to more than {ALIAS_BUDGET:,} values through aliases (nested "
        "anchors, a 'billion laughs'); a configuration needs far fewer: write the repeated "
        "values out, or use aliases only for small repeated parts"
    )


def _loop(anchor: str) -> str:
    return (
        f"the alias *{anchor} is inside the value &{anchor} it repeats, so the value would "
        "contain itself without end; repeat a value only after it is complete"
    )
