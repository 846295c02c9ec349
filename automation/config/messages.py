"""Pydantic's validation errors said the way an admin can act on: found, expected, the fix.

Each error's location in the models is mapped back to the path in the YAML, so that the
problem stands at the line of the value (or of the key) it is about.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError

from automation.config.models import UNION_TAGS, PlacedValueError
from automation.config.positions import ConfigProblem, Loc, Positions
from automation.config.schema_lookup import (
    annotation_at,
    field_at,
    model_at,
    node_at,
    resolve,
    union_tags,
)
from automation.config.spelling import closest


def schema_problems(
    err: ValidationError, data: Any, positions: Positions, root: type[BaseModel]
) -> list[ConfigProblem]:
    """The problems ``err`` found validating ``data`` as ``root``, each at its line."""
    errors = err.errors()
    deeper = {tuple(e["loc"][:i]) for e in errors for i in range(len(e["loc"]))}
    found: list[tuple[Loc, str, bool]] = []  # (where, message, whether it is about the key)
    for error in errors:
        if error["type"] == "too_short" and tuple(error["loc"]) in deeper:
            continue  # a list is short only because its invalid items were dropped
        loc = _data_loc(tuple(error["loc"]), data)
        placed = (error.get("ctx") or {}).get("error")
        if isinstance(placed, PlacedValueError):
            loc = (*loc, *placed.at)
        loc, message = _message(error, loc, data, positions, root)
        found.append((loc, message, error["type"] in ("extra_forbidden", "invalid_key")))
    problems = [
        positions.problem(loc, message, prefer_key=about_key)
        for loc, message, about_key in _without_renamed(found)
    ]
    return sorted(problems, key=lambda p: (p.line, p.column))


def _without_renamed(found: list[tuple[Loc, str, bool]]) -> list[tuple[Loc, str, bool]]:
    """Drop "required key X is missing" where an unknown key nearby is X misspelt or misplaced.

    The unknown key's message already says to rename or move it; one mistake, one problem.
    """
    unknown = [loc for loc, message, _ in found if message.startswith("unknown key")]

    def explained(loc: Loc) -> bool:
        name = str(loc[-1]).lower()
        for other in unknown:
            if other[:-1] == loc[:-1] and closest(str(other[-1]), [name]):
                return True
            if other[:-1] == loc[:-2] and str(other[-1]).lower() == name:
                return True
        return False

    return [
        item for item in found if not (item[1].startswith("required key") and explained(item[0]))
    ]


INPUT_KINDS: dict[type, str] = {dict: "a mapping", list: "a list", type(None): "nothing"}
# Patterns in the models, said the way an admin can act on.
PATTERN_FIXES = {
    r"^[A-Za-z0-9_-]+$": "use only ASCII letters, digits, '_' and '-', e.g. typhoon_damage",
    r"^[a-z][a-z0-9_]*$": "use lowercase ASCII letters, digits and '_', starting with a letter, "
    "e.g. welfare_facilities",
}
BOUND_FIXES = {
    "greater_than_equal": ("ge", "set {} or more"),
    "greater_than": ("gt", "set a value above {}"),
    "less_than_equal": ("le", "set {} or less"),
    "less_than": ("lt", "set a value below {}"),
}
TYPE_FIXES = {
    "bool": "Input should be true or false (got {got}); write true or false",
    "int": "Input should be a whole number (got {got}); write digits only, e.g. {example}",
    "float": "Input should be a valid number (got {got}); write digits only, without units, "
    "e.g. {example}",
    "date": "Input should be a date (got {got}); write YYYY-MM-DD, e.g. 2026-10-15",
    "datetime": "Input should be a date and time (got {got}); write e.g. 2026-09-01T06:00+09:00",
    "time": "Input should be a time of day (got {got}); write HH:MM in quotes, e.g. '09:00'",
    "path": "Input should be a file path (got {got}); write the path as text",
    "dict": "Input should be a mapping (got {got}); write its 'key: value' lines indented under it",
}
TYPE_FAMILIES = {
    "bool_parsing": "bool",
    "bool_type": "bool",
    "int_parsing": "int",
    "int_type": "int",
    "int_from_float": "int",
    "float_parsing": "float",
    "float_type": "float",
    "date_parsing": "date",
    "date_type": "date",
    "date_from_datetime_parsing": "date",
    "date_from_datetime_inexact": "date",
    "datetime_parsing": "datetime",
    "datetime_type": "datetime",
    "datetime_from_date_parsing": "datetime",
    "time_parsing": "time",
    "time_type": "time",
    "path_type": "path",
    "model_type": "dict",
    "model_attributes_type": "dict",
    "dict_type": "dict",
}


def _message(
    error: Any, loc: Loc, data: Any, positions: Positions, root: type[BaseModel]
) -> tuple[Loc, str]:
    """Where a pydantic error belongs in the YAML and what to tell the admin: found,
    expected, and the fix."""
    kind = str(error["type"])
    ctx = error.get("ctx") or {}
    given = error.get("input")
    got = _shown(given)
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "union_tag_invalid":
        key = str(ctx.get("discriminator", "type")).strip("'")
        tags = re.findall(r"'([^']*)'", str(ctx.get("expected_tags", "")))
        close = closest(str(ctx.get("tag")), tags)
        return (*loc, key), (
            f"unknown {key} {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
            + (f"; did you mean {close!r}?" if close else "; use one of these")
        )
    if kind == "union_tag_not_found":
        key = str(ctx.get("discriminator", "type")).strip("'")
        tags = union_tags(annotation_at(loc, data, root), key)
        choices = " or ".join(f"{key}: {tag}" for tag in tags) or f"{key}:"
        return loc, f"no {key!r} given; add {choices}"
    if kind == "extra_forbidden":
        return loc, _unknown_key(loc, data, root)
    if kind == "invalid_key":
        return (*loc[:-1], str(loc[-1])), (
            f"key {given!r} is not text; quote it or write a key name (see 'automation schema')"
        )
    if kind == "missing":
        name = str(loc[-1])
        description = _description(loc, data, root)
        return loc, f"required key {name!r} is missing here; add it" + (
            f" ({description.rstrip('.')})" if description else ""
        )
    if kind == "literal_error":
        expected = str(ctx.get("expected", ""))
        values = re.findall(r"'([^']*)'", expected) or [expected]
        if str(given) in values:  # version: "1" is the text '1', not the number
            return loc, f"{message} (got {got}); write it without quotes: {given}"
        close = closest(str(given), values)
        fix = f"write {expected}" if len(values) == 1 else "use one of these"
        return loc, f"{message} (got {got}); " + (f"did you mean {close!r}?" if close else fix)
    if kind == "string_too_short":
        names = positions.env_refs.get(loc)
        if names:
            return loc, (
                f"environment variable {', '.join(names)} is set but empty; export its value"
            )
        return loc, "must not be empty (got ''); write a value"
    if kind == "too_short":
        least = ctx.get("min_length", 1)
        return loc, (
            f"needs at least {least} entr{'y' if least == 1 else 'ies'} "
            f"(got {ctx.get('actual_length', 0)}); add one"
        )
    if kind in BOUND_FIXES:
        bound, fix = BOUND_FIXES[kind]
        limit = ctx.get(bound)
        shown = f"{limit:g}" if isinstance(limit, int | float) else str(limit)
        return loc, f"{message} (got {got}); {fix.format(shown)}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern"))
        return loc, f"{got} does not fit; " + PATTERN_FIXES.get(
            pattern, f"write a value matching {pattern}"
        )
    if kind == "string_type":
        if isinstance(given, int | float | bool):
            return loc, f"Input should be text (got the number {got}); quote it: '{given}'"
        return loc, f"Input should be text (got {got}); write a single value"
    if kind in ("tuple_type", "list_type", "set_type", "frozen_set_type"):
        return loc, _list_fix(given, got)
    if kind in TYPE_FAMILIES:
        family = TYPE_FAMILIES[kind]
        return loc, TYPE_FIXES[family].format(got=got, example=_example(loc, data, root, family))
    return loc, message if kind == "value_error" else f"{message} (got {got})"


def _shown(value: object) -> str:
    """How a found value is quoted in a message."""
    for kind, shown in INPUT_KINDS.items():
        if isinstance(value, kind):
            return shown
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _list_fix(given: object, got: str) -> str:
    fix = "write one '- ' line per entry, or [a, b]"
    if isinstance(given, str) and re.search("[、,，]", given):
        parts = [p.strip() for p in re.split("[、,，]", given) if p.strip()]
        fix = f"write [{', '.join(parts)}] (entries separated by ', ' inside [ ])"
    return f"Input should be a list (got {got}); {fix}"


def _description(loc: Loc, data: Any, root: type[BaseModel]) -> str | None:
    field_info = field_at(loc, data, root)
    return field_info.description if field_info else None


def _example(loc: Loc, data: Any, root: type[BaseModel], family: str) -> str:
    """The field's default as an example of a good value, else a plain one."""
    field_info = field_at(loc, data, root)
    default = field_info.default if field_info else None
    if isinstance(default, int | float) and not isinstance(default, bool):
        return f"{default:g}"
    return "3" if family == "int" else "25"


def _unknown_key(loc: Loc, data: Any, root: type[BaseModel]) -> str:
    """Name the key meant: a close spelling here, or the section the key belongs to."""
    key = str(loc[-1])
    model = model_at(loc[:-1], data, root)
    if model is None:
        return f"unknown key {key!r}; check its spelling (see 'automation schema')"
    close = closest(key, model.model_fields)
    if close:
        return f"unknown key {key!r}; did you mean {close!r}? rename it (see 'automation schema')"
    for name, field_info in model.model_fields.items():
        child = resolve(field_info.annotation, node_at((*loc[:-1], name), data))
        if isinstance(child, type) and issubclass(child, BaseModel) and key in child.model_fields:
            return f"unknown key {key!r} here; it belongs under {name!r}: indent it there"
    return f"unknown key {key!r}; check its spelling (keys here: {', '.join(model.model_fields)})"


def _data_loc(loc: Loc, data: Any) -> Loc:
    """Drop pydantic's union-tag steps (``'matrix'``) that do not exist in the YAML.

    A tag step comes first in a mapping, and once: ``type: client_secret`` selects the model
    that also has a ``client_secret`` key, so the step after the tag is that key. An index
    into a scalar (a single cron string read as a one-item list) is not in the YAML either.
    """
    result: list[str | int] = []
    node = data
    tagged = False  # whether the current mapping's tag step was already dropped
    for part in loc:
        if isinstance(node, dict):
            is_tag = (isinstance(part, str) and node.get("type") == part) or node.get(
                "kind"
            ) == part
            if not tagged and (is_tag or (part in UNION_TAGS and part not in node)):
                tagged = True
                continue
            result.append(part)
            node = node.get(part)
            tagged = False
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            result.append(part)
            node = node[part]
            tagged = False
        elif isinstance(part, int) and isinstance(node, str | int | float | bool):
            continue
        else:
            result.append(part)
            node = None
    return tuple(result)
