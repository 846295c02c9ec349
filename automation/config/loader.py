"""Load and validate configuration, reporting every problem as FILE:LINE:COL.

YAML is composed into nodes first so that each value keeps its position; pydantic's
error locations are then mapped back to those positions. ``${NAME}`` in a string is
replaced by the environment variable NAME; a missing variable is a problem at its line.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from automation.config.models import (
    UNION_TAGS,
    AppConfig,
    DamageRollupFlow,
    DamageRollupParams,
    Directory,
    GraphBackend,
    PlacedValueError,
    ProgressCollectionFlow,
    ProgressCollectionParams,
)
from automation.errors import ConfigError

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")  # ${NAME} or ${NAME:-default}

Loc = tuple[str | int, ...]
# libyaml's loader composes the same nodes with the same marks, several times faster.
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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


class ConfigValidationError(ConfigError):
    """The configuration has one or more problems; all are listed."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class _Positions:
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


@dataclass
class LoadedConfig:
    """A validated configuration and where it came from."""

    config: AppConfig
    path: Path

    @property
    def base_dir(self) -> Path:
        """Folder that relative paths in the configuration are resolved against."""
        return self.path.parent

    def resolve(self, path: Path) -> Path:
        """Resolve a configured path relative to the configuration file."""
        return path if path.is_absolute() else (self.base_dir / path)


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    """Read, substitute, validate and cross-check a configuration file.

    Every problem found is reported at once: unset variables, problems in the directory
    file and schema problems in the main file together. Cross-checks between sections
    (departments named by flows exist, ids are unique) run once the schema is valid.
    """
    env = os.environ if environ is None else environ
    data, positions, fatal, problems = _read_yaml(path, env, CONFIG_SHAPE)
    if fatal:
        raise ConfigValidationError(fatal)
    directory_ok = True
    if isinstance(data.get("directory"), str):
        directory_ok, directory_problems = _load_directory(path, data, positions, env)
        problems += directory_problems
    substituted = {p.path for p in problems if p.file == positions.file}
    config = None
    try:
        config = AppConfig.model_validate(data)
    except ValidationError as err:
        # A value emptied because its variable is unset is reported once, as unset.
        problems += [
            p for p in _problems(err, data, positions, AppConfig) if p.path not in substituted
        ]
    if config is not None and directory_ok and not problems:
        problems += _cross_check(config, positions)
    if problems or config is None:
        order = {name: index for index, name in reversed(list(enumerate(p.file for p in problems)))}
        problems.sort(key=lambda p: (order[p.file], p.line, p.column))
        raise ConfigValidationError(problems)
    from automation.redaction import register  # noqa: PLC0415  # light: no dependencies

    register(config.secrets())
    return LoadedConfig(config, path)


def _load_directory(
    path: Path, data: dict[str, Any], positions: _Positions, env: Mapping[str, str]
) -> tuple[bool, list[ConfigProblem]]:
    """Replace ``directory: FILE`` by that file's departments; return (ok, problems)."""
    directory_path = path.parent / data["directory"]
    data["directory"] = {"departments": []}  # placeholder so the main file still validates
    if not directory_path.is_file():
        line, col = positions.find(("directory",))
        return False, [
            ConfigProblem(
                str(path),
                line,
                col,
                "directory",
                f"directory file {directory_path} does not exist; "
                + _did_you_mean(directory_path.name, _yaml_files(directory_path.parent))
                + "create it or list departments inline",
            )
        ]
    dir_data, dir_positions, fatal, problems = _read_yaml(directory_path, env, DIRECTORY_SHAPE)
    if fatal:
        return False, fatal
    try:
        data["directory"] = Directory.model_validate(dir_data).model_dump()
    except ValidationError as err:
        return False, problems + _problems(err, dir_data, dir_positions, Directory)
    return not problems, problems


CONFIG_SHAPE = "expected a mapping with 'version: 1' at the top"
DIRECTORY_SHAPE = "expected a mapping with 'departments:' at the top"


def _read_yaml(
    path: Path, env: Mapping[str, str], shape: str
) -> tuple[dict[str, Any], _Positions, list[ConfigProblem], list[ConfigProblem]]:
    """Parse a YAML file keeping positions: (data, positions, fatal problems, other problems)."""
    positions = _Positions(str(path))

    def fatal(
        line: int, col: int, message: str
    ) -> tuple[dict[str, Any], _Positions, list[ConfigProblem], list[ConfigProblem]]:
        return {}, positions, [ConfigProblem(str(path), line, col, "", message)], []

    text, (line, col), message = _read_text(path)
    if text is None:
        return fatal(line, col, message)
    try:
        try:
            node, data = _compose(SAFE_LOADER, text)
        except yaml.YAMLError:
            node, data = _compose(yaml.SafeLoader, text)  # its messages are the readable ones
    except yaml.MarkedYAMLError as err:
        return fatal(*_syntax_problem(err, text))
    except yaml.YAMLError as err:
        return fatal(1, 1, f"YAML: {err}; check the file's syntax")
    except _BadScalarError as err:
        return fatal(err.line, err.column, err.message)
    if node is None or not isinstance(data, dict):
        return fatal(1, 1, shape)
    problems: list[ConfigProblem] = []
    _record(node, (), positions, problems)
    data = _substitute(data, (), env, positions, problems)
    return data, positions, [], problems


def _read_text(path: Path) -> tuple[str | None, tuple[int, int], str]:
    """The file's text, or None with the position and message of why it cannot be read."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, (1, 1), "file not found; check the path given with -c"
    except IsADirectoryError:
        return None, (1, 1), "this is a folder, not a file; give the configuration file itself"
    except OSError as err:
        return None, (1, 1), f"cannot read file ({err.strerror}); check its permissions"
    try:
        return raw.decode("utf-8-sig"), (1, 1), ""
    except UnicodeDecodeError as err:
        line_start = raw.rfind(b"\n", 0, err.start) + 1
        line = raw.count(b"\n", 0, err.start) + 1
        col = len(raw[line_start : err.start].decode("utf-8", errors="replace")) + 1
        try:
            raw.decode("cp932")
            guess = " (it looks like Shift_JIS)"
        except UnicodeDecodeError:
            guess = ""
        return (
            None,
            (line, col),
            f"the file is not UTF-8{guess}: byte 0x{raw[err.start]:02x} cannot be read; "
            "save it as UTF-8 (in Notepad: Save As, Encoding: UTF-8)",
        )


class _BadScalarError(Exception):
    """A scalar YAML resolves as a date or number but cannot construct (2026-13-01)."""

    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(message)
        self.line, self.column, self.message = line, column, message


def _compose(loader_class: type[yaml.SafeLoader], text: str) -> tuple[yaml.Node | None, Any]:
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        try:
            return node, loader.construct_document(node)
        except (ValueError, OverflowError) as err:
            raise _bad_scalar(loader, node, err) from None
    finally:
        loader.dispose()


def _bad_scalar(loader: yaml.SafeLoader, root: yaml.Node, err: Exception) -> _BadScalarError:
    """Find the scalar whose construction raised ``err`` (libyaml says nothing about where)."""
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            stack += [n for pair in reversed(node.value) for n in reversed(pair)]
        elif isinstance(node, yaml.SequenceNode):
            stack += reversed(node.value)
        elif isinstance(node, yaml.ScalarNode) and node.tag in loader.yaml_constructors:
            try:
                loader.yaml_constructors[node.tag](loader, node)
            except (ValueError, OverflowError) as found:
                mark = node.start_mark
                return _BadScalarError(
                    mark.line + 1,
                    mark.column + 1,
                    f"{node.value!r} reads as a date but is not a real one ({found}); "
                    "write a valid date as YYYY-MM-DD (e.g. 2026-10-15), or quote it if it is text",
                )
    return _BadScalarError(1, 1, f"a value cannot be read ({err}); check dates and numbers")


# Mistakes YAML reports far from where they are, or in its own terms: what is on the line.
_FULLWIDTH_INDENT = re.compile(r"^[ ]*(\u3000)")
_FULLWIDTH_COLON = re.compile(r"^\s*(?:-\s+)?[^\s:#'\"{\[][^:#'\"]*?(\uff1a)")
_NO_SPACE_AFTER_COLON = re.compile(r"^\s*(?:-\s+)?[A-Za-z_][\w.-]*(:)(?=[^\s/:])")
_UNCLOSED = {
    "while scanning a quoted scalar": "the quote that opens here is never closed; add the "
    "closing quote",
    "while parsing a flow mapping": "the '{' that opens here is never closed; add the '}'",
    "while parsing a flow sequence": "the '[' that opens here is never closed; add the ']'",
}


def _syntax_problem(err: yaml.MarkedYAMLError, text: str) -> tuple[int, int, str]:
    """Position and message of a YAML syntax error, with the fix for the usual mistakes."""
    lines = text.splitlines()
    problem = str(err.problem or err)
    marks = [m for m in (err.problem_mark, err.context_mark) if m is not None]
    candidates = sorted({m.line for m in marks}, reverse=True)
    if candidates:
        above = [n for n in range(candidates[-1] - 1, -1, -1) if lines[n].strip()][:2]
        candidates += above
    for number in candidates:
        if number >= len(lines):
            continue
        typo = _typo(lines[number])
        if typo is not None:
            col, hint = typo
            return number + 1, col, f"YAML syntax: {hint}"
    mark = err.problem_mark or err.context_mark
    hint = "check indentation and quoting on this line"
    if "\\t" in problem:  # PyYAML shows the tab as its repr, a backslash and 't'
        hint = "indent with spaces; YAML does not allow tab characters"
    elif "another document" in problem or "single document" in str(err):
        hint = "a configuration file holds one YAML document; remove the '---' line"
    elif "undefined alias" in problem:
        name = problem.rsplit(" ", 1)[-1].strip("'")
        hint = (
            f"a value starting with '*' refers to an anchor &{name} that is not defined; "
            "quote the value if the '*' is text"
        )
    elif err.context_mark is not None and (mark is None or mark.index >= len(text.rstrip())):
        mark = err.context_mark  # the problem is only noticed at the end: point at its start
        hint = _UNCLOSED.get(
            str(err.context), f"{err.context} here is never closed; close it or quote the value"
        )
    elif mark is not None and "{" in lines[min(mark.line, len(lines) - 1)] and "${" in text:
        hint += "; quote values that contain ${VAR} inside {...} mappings"
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    return line, col, f"YAML syntax: {problem}; {hint}"


def _typo(line: str) -> tuple[int, str] | None:
    """(column, fix) for a line with a full-width space or colon, or no space after ':'."""
    if match := _FULLWIDTH_INDENT.match(line):
        return match.start(1) + 1, (
            "the line is indented with a full-width space (全角スペース); "
            "indent with half-width spaces"
        )
    if match := _FULLWIDTH_COLON.match(line):
        return match.start(1) + 1, (
            "the key ends with a full-width colon '：'; write a half-width ':' and a space"
        )
    if match := _NO_SPACE_AFTER_COLON.match(line):
        return match.start(1) + 1, "put a space after ':' (key: value)"
    return None


def _record(
    node: yaml.Node, loc: Loc, positions: _Positions, problems: list[ConfigProblem]
) -> None:
    positions.values[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            mark = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in seen:
                problems.append(
                    ConfigProblem(
                        positions.file,
                        *mark,
                        _dotted((*loc, key)),
                        f"key {key!r} appears twice in this mapping; merge the two into one "
                        "(YAML would silently keep only the last)",
                    )
                )
                positions.forget((*loc, key))  # the data holds the last one only
            seen.add(key)
            positions.keys[(*loc, key)] = mark
            _record(value_node, (*loc, key), positions, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record(item, (*loc, index), positions, problems)


def _substitute(
    value: Any,
    loc: Loc,
    env: Mapping[str, str],
    positions: _Positions,
    problems: list[ConfigProblem],
) -> Any:
    if isinstance(value, dict):
        return {
            k: _substitute(v, (*loc, str(k)), env, positions, problems) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_substitute(v, (*loc, i), env, positions, problems) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:
        positions.env_refs[loc] = tuple(m[1] for m in ENV_REF.finditer(value))
        if "${" in ENV_REF.sub("", value):
            line, col = positions.find(loc)
            problems.append(
                ConfigProblem(
                    positions.file,
                    line,
                    col,
                    _dotted(loc),
                    "a '${' here starts no complete variable reference; write ${NAME} with a "
                    "closing '}' and a name of letters, digits and '_'",
                )
            )

        def replace(match: re.Match[str]) -> str:
            name = match[1]
            if name not in env and match[2] is not None:
                return str(match[2])
            if name not in env:
                line, col = positions.find(loc)
                problems.append(
                    ConfigProblem(
                        positions.file,
                        line,
                        col,
                        _dotted(loc),
                        f"environment variable {name} is not set; export it "
                        "(or put it in the service's environment file)",
                    )
                )
                return ""
            return env[name]

        return ENV_REF.sub(replace, value)
    return value


def _problems(
    err: ValidationError, data: Any, positions: _Positions, root: type[BaseModel]
) -> list[ConfigProblem]:
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
    problems = []
    for loc, message, about_key in _without_renamed(found):
        line, col = positions.find(loc, prefer_key=about_key)
        problems.append(ConfigProblem(positions.file, line, col, _dotted(loc), message))
    return sorted(problems, key=lambda p: (p.line, p.column))


def _without_renamed(found: list[tuple[Loc, str, bool]]) -> list[tuple[Loc, str, bool]]:
    """Drop "required key X is missing" where an unknown key nearby is X misspelt or misplaced.

    The unknown key's message already says to rename or move it; one mistake, one problem.
    """
    unknown = [loc for loc, message, _ in found if message.startswith("unknown key")]

    def explained(loc: Loc) -> bool:
        name = str(loc[-1]).lower()
        for other in unknown:
            if other[:-1] == loc[:-1] and _close(str(other[-1]), [name]):
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
    error: Any, loc: Loc, data: Any, positions: _Positions, root: type[BaseModel]
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
        close = _close(str(ctx.get("tag")), tags)
        return (*loc, key), (
            f"unknown {key} {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
            + (f"; did you mean {close!r}?" if close else "; use one of these")
        )
    if kind == "union_tag_not_found":
        key = str(ctx.get("discriminator", "type")).strip("'")
        tags = _union_tags(_annotation_at(loc, data, root), key)
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
        close = _close(str(given), values)
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


def _close(word: str, choices: Any) -> str | None:
    """The choice ``word`` is most likely a misspelling or a shortening of, if any."""
    lowered = {str(c).lower(): str(c) for c in choices}
    found = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    if found:
        return lowered[found[0]]
    containing = [c for c in lowered if len(word) >= 4 and word.lower() in c]
    return lowered[containing[0]] if len(containing) == 1 else None


def _did_you_mean(word: str, choices: Any) -> str:
    close = _close(word, choices)
    return f"did you mean {close!r}? " if close else ""


def _yaml_files(folder: Path) -> list[str]:
    try:
        return [p.name for p in folder.iterdir() if p.suffix in (".yaml", ".yml")]
    except OSError:
        return []


def _node_at(loc: Loc, data: Any) -> Any:
    node = data
    for part in loc:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return None
    return node


def _resolve(annotation: Any, node: Any) -> Any:
    """``annotation`` without Annotated/Optional, the union member ``node`` selects."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, UnionType):
        members = [_resolve(a, node) for a in get_args(annotation) if a is not type(None)]
        models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        if not models:
            return members[0] if len(members) == 1 else None
        return _select_model(models, node)
    return annotation


def _select_model(models: list[type[BaseModel]], node: Any) -> type[BaseModel] | None:
    if len(models) == 1:
        return models[0]
    if not isinstance(node, dict):
        return None
    for key in ("kind", "type"):
        for model in models:
            field_info = model.model_fields.get(key)
            if field_info is not None and node.get(key) in get_args(field_info.annotation):
                return model
    overlap = {m: len(set(node) & set(m.model_fields)) for m in models}
    best = max(models, key=lambda m: overlap[m])
    return best if overlap[best] else None


def _annotation_at(loc: Loc, data: Any, root: type[BaseModel]) -> Any:
    """The type the models give the value at ``loc`` (unions not yet resolved), or None."""
    annotation: Any = root
    for index, part in enumerate(loc):
        resolved = _resolve(annotation, _node_at(loc[:index], data))
        if isinstance(resolved, type) and issubclass(resolved, BaseModel):
            field_info = resolved.model_fields.get(str(part))
            if field_info is None:
                return None
            annotation = field_info.annotation
        elif get_origin(resolved) is tuple and get_args(resolved):
            annotation = get_args(resolved)[0]
        elif get_origin(resolved) is dict and len(get_args(resolved)) == 2:
            annotation = get_args(resolved)[1]
        else:
            return None
    return annotation


def _model_at(loc: Loc, data: Any, root: type[BaseModel]) -> type[BaseModel] | None:
    resolved = _resolve(_annotation_at(loc, data, root), _node_at(loc, data))
    return resolved if isinstance(resolved, type) and issubclass(resolved, BaseModel) else None


def _union_tags(annotation: Any, key: str) -> list[str]:
    """The values of ``key`` that select each member of a tagged union."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    tags = []
    for member in get_args(annotation):
        field_info = getattr(member, "model_fields", {}).get(key)
        if field_info is not None:
            tags += [str(a) for a in get_args(field_info.annotation)]
    return tags


def _description(loc: Loc, data: Any, root: type[BaseModel]) -> str | None:
    model = _model_at(loc[:-1], data, root)
    field_info = model.model_fields.get(str(loc[-1])) if model else None
    return field_info.description if field_info else None


def _example(loc: Loc, data: Any, root: type[BaseModel], family: str) -> str:
    """The field's default as an example of a good value, else a plain one."""
    model = _model_at(loc[:-1], data, root)
    field_info = model.model_fields.get(str(loc[-1])) if model else None
    default = field_info.default if field_info else None
    if isinstance(default, int | float) and not isinstance(default, bool):
        return f"{default:g}"
    return "3" if family == "int" else "25"


def _unknown_key(loc: Loc, data: Any, root: type[BaseModel]) -> str:
    """Name the key meant: a close spelling here, or the section the key belongs to."""
    key = str(loc[-1])
    model = _model_at(loc[:-1], data, root)
    if model is None:
        return f"unknown key {key!r}; check its spelling (see 'automation schema')"
    close = _close(key, model.model_fields)
    if close:
        return f"unknown key {key!r}; did you mean {close!r}? rename it (see 'automation schema')"
    for name, field_info in model.model_fields.items():
        child = _resolve(field_info.annotation, _node_at((*loc[:-1], name), data))
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


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


Add = Callable[[Loc, str], None]


def _cross_check(config: AppConfig, positions: _Positions) -> list[ConfigProblem]:
    problems = []

    def add(loc: Loc, message: str) -> None:
        line, col = positions.find(loc)
        problems.append(ConfigProblem(positions.file, line, col, _dotted(loc), message))

    seen_ids: set[str] = set()
    for index, flow in enumerate(config.flows):
        loc: Loc = ("flows", index)
        if flow.id in seen_ids:
            add((*loc, "id"), f"flow id {flow.id!r} is used twice; give each flow its own id")
        seen_ids.add(flow.id)
        if isinstance(flow, DamageRollupFlow):
            _check_damage(flow.params, config, (*loc, "params"), add)
        else:
            _check_progress(flow.params, config, (*loc, "params"), add)
        _check_refs(flow, config, (*loc, "params"), add)
        if flow.params.templates is not None:
            folder = Path(positions.file).parent / flow.params.templates
            for message in _check_templates(flow, config, folder):
                add((*loc, "params", "templates"), message)
    return problems


def _check_templates(
    flow: DamageRollupFlow | ProgressCollectionFlow, config: AppConfig, folder: Path
) -> list[str]:
    """The override folder exists and each template in it renders a sample plan."""
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.is_file() else "does not exist"
        return [
            f"template folder {folder} {what}; create it with the override files, or remove "
            "templates: to use the packaged ones (a relative path starts at this file's folder)"
        ]
    from automation.config.templates_check import (  # noqa: PLC0415  # jinja2: overrides only
        check_templates,
    )

    return check_templates(flow, config.directory, folder)


def _check_refs(
    flow: DamageRollupFlow | ProgressCollectionFlow, config: AppConfig, loc: Loc, add: Add
) -> None:
    """Inputs are paths on the local backend and Graph references on the Graph backend."""
    graph = isinstance(config.backend, GraphBackend)
    key = "workbook" if isinstance(flow, DamageRollupFlow) else "list"
    ref = getattr(flow.params, key)
    if graph and isinstance(ref, str):
        shapes = (
            "{drive_id, item_id}, {team_id, channel_id, path} or {site_id, path}"
            if key == "workbook"
            else "{site_id, list_id}"
        )
        add((*loc, key), f"with backend.type: graph, give the {key} as {shapes}, not a path")
    if not graph and not isinstance(ref, str):
        add(
            (*loc, key),
            f"the local backend reads the {key} from a path under backend.root; "
            "write a path, or set backend.type: graph",
        )
    if (
        graph
        and getattr(config.backend, "service_account", None) is None
        and _uses_channel(flow, config, "teams_channel")
    ):
        add(
            ("backend",),
            "teams_channel contacts are configured but backend.service_account is not; app-only "
            "Graph cannot post to channels: add service_account: {type: device_code, tenant_id, "
            "client_id} and run `automation login`, or use teams_webhook or mail",
        )
    if graph and getattr(config.backend, "mailbox", None) is None and _uses_mail(flow, config):
        add(
            ("backend",),
            "mail contacts are configured but backend.mailbox is not; "
            "set the mailbox (UPN) that sends mail",
        )


def _uses_mail(flow: DamageRollupFlow | ProgressCollectionFlow, config: AppConfig) -> bool:
    return _uses_channel(flow, config, "mail")


def _uses_channel(
    flow: DamageRollupFlow | ProgressCollectionFlow, config: AppConfig, channel: str
) -> bool:
    contacts = [
        c for d in config.directory.departments for c in (*d.contacts, *d.dx_leaders, *d.escalation)
    ]
    if isinstance(flow, DamageRollupFlow):
        contacts += list(flow.params.report_to)
    else:
        contacts += [*flow.params.secretariat, *flow.params.summary_to]
    return any(c.channel == channel for c in contacts)


def _known(config: AppConfig) -> str:
    return ", ".join(d.name for d in config.directory.departments)


def _check_damage(params: DamageRollupParams, config: AppConfig, loc: Loc, add: Add) -> None:
    for i, dept in enumerate(params.departments or ()):
        department = config.directory.get(dept)
        if department is None:
            add(
                (*loc, "departments", i),
                f"department {dept!r} is not in the directory; add it there or fix the name "
                f"(known: {_known(config)})",
            )
        elif department.sheet is None:
            add(
                (*loc, "departments", i),
                f"department {dept!r} has no 'sheet' in the directory; add its sheet name",
            )
    if params.departments is None and not any(d.sheet for d in config.directory.departments):
        add(loc, "no department in the directory has a 'sheet'; add sheet names")
    for dept in params.layouts:
        if config.directory.get(dept) is None:
            add(
                (*loc, "layouts", dept),
                f"layout given for {dept!r}, which is not in the directory; add it there or fix "
                f"the name (known: {_known(config)})",
            )
    from automation.damage.catalogue import DEFAULT_ITEMS  # noqa: PLC0415  # only for damage flows

    codes = {item.code for item in DEFAULT_ITEMS}
    for key in ("only", "exclude"):
        for i, code in enumerate(getattr(params.catalogue, key) or ()):
            if code not in codes:
                add(
                    (*loc, "catalogue", key, i),
                    f"unknown item code {code!r}; {_did_you_mean(code, codes)}"
                    "use a code listed in docs/catalogue.md",
                )
    for i, spec in enumerate(params.catalogue.extra):
        if spec.code in codes:
            add(
                (*loc, "catalogue", "extra", i, "code"),
                f"item code {spec.code!r} already exists; choose another code",
            )


def _check_progress(
    params: ProgressCollectionParams, config: AppConfig, loc: Loc, add: Add
) -> None:
    from automation.fiscal import parse_period  # noqa: PLC0415  # only for progress flows

    for i, dept in enumerate(params.departments or ()):
        if config.directory.get(dept) is None:
            add(
                (*loc, "departments", i),
                f"department {dept!r} is not in the directory; add it there or fix the name "
                f"(known: {_known(config)})",
            )
    for i, status in enumerate(params.delayed_statuses):
        if status not in params.statuses:
            add(
                (*loc, "delayed_statuses", i),
                f"{status!r} is not one of statuses {list(params.statuses)}; add it there or fix it",
            )
    for i, round_ in enumerate(params.rounds):
        if round_.period is not None and parse_period(round_.period, params.period_kind) is None:
            add(
                (*loc, "rounds", i, "period"),
                f"period {round_.period!r} is not a {params.period_kind}; write e.g. "
                + ("2026H1 or 令和8年度上期" if params.period_kind == "half" else "2026Q1"),
            )
    if params.status_field in params.numeric:
        add(
            (*loc, "numeric", params.numeric.index(params.status_field)),
            f"{params.status_field!r} is the status field, not a number; remove it from numeric",
        )
