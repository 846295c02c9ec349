"""Read a YAML file into data and the position of each value, substituting ``${NAME}``.

``${NAME}`` in a string is replaced by the environment variable NAME (``${NAME:-default}``
falls back to the default); a missing variable is a problem at its line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from automation.config.positions import ConfigProblem, Loc, Positions, dotted
from automation.config.yaml_aliases import alias_problem
from automation.config.yaml_syntax import syntax_problem

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")  # ${NAME} or ${NAME:-default}
# libyaml's loader composes the same nodes with the same marks, several times faster.
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(
    path: Path, env: Mapping[str, str], shape: str
) -> tuple[dict[str, Any], Positions, list[ConfigProblem], list[ConfigProblem]]:
    """Parse a YAML file keeping positions: (data, positions, fatal problems, other problems)."""
    positions = Positions(str(path))

    def fatal(
        line: int, col: int, message: str
    ) -> tuple[dict[str, Any], Positions, list[ConfigProblem], list[ConfigProblem]]:
        return {}, positions, [ConfigProblem(str(path), line, col, "", message)], []

    text, (line, col), message = _read_text(path)
    if text is None:
        return fatal(line, col, message)
    bomb = alias_problem(text, SAFE_LOADER)
    if bomb is not None:
        return fatal(*bomb)
    try:
        try:
            node, data = _compose(SAFE_LOADER, text)
        except yaml.YAMLError:
            node, data = _compose(yaml.SafeLoader, text)  # its messages are the readable ones
    except yaml.MarkedYAMLError as err:
        return fatal(*syntax_problem(err, text))
    except yaml.YAMLError as err:
        return fatal(1, 1, f"YAML: {err}; check the file's syntax")
    except _BadScalarError as err:
        return fatal(err.line, err.column, err.message)
    if node is None or not isinstance(data, dict):
        return fatal(1, 1, f"{_what_it_holds(node, data)}; {shape}")
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
    utf16 = _utf16(raw)
    if utf16:
        return (
            None,
            (1, 1),
            f"the file is {utf16} (Notepad's 'Unicode'), not UTF-8; save it as UTF-8 "
            "(in Notepad: Save As, Encoding: UTF-8)",
        )
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


def _utf16(raw: bytes) -> str | None:
    """ "UTF-16 LE"/"UTF-16 BE" when the bytes are UTF-16 (by BOM, or NULs between ASCII)."""
    if raw.startswith(b"\xff\xfe"):
        return "UTF-16 LE"
    if raw.startswith(b"\xfe\xff"):
        return "UTF-16 BE"
    head = raw[:200]
    if len(head) >= 4 and head.count(0) * 3 >= len(head):
        return "UTF-16 LE" if head[1] == 0 else "UTF-16 BE"
    return None


def _what_it_holds(node: yaml.Node | None, data: object) -> str:
    """What a file that is not a mapping holds, said plainly."""
    if node is None:
        return "the file is empty (or holds only comments)"
    if isinstance(data, list):
        return "the file holds a list (lines starting with '-')"
    if isinstance(data, str):
        shown = data if len(data) <= 40 else data[:40] + "…"
        return f"the file holds only a string ({shown!r})"
    return f"the file holds only the value {data!r}"


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


def _record(node: yaml.Node, loc: Loc, positions: Positions, problems: list[ConfigProblem]) -> None:
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
                        dotted((*loc, key)),
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
    positions: Positions,
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
            problems.append(
                positions.problem(
                    loc,
                    "a '${' here starts no complete variable reference; write ${NAME} with a "
                    "closing '}' and a name of letters, digits and '_'",
                )
            )

        def replace(match: re.Match[str]) -> str:
            name = match[1]
            if name not in env and match[2] is not None:
                return str(match[2])
            if name not in env:
                problems.append(
                    positions.problem(
                        loc,
                        f"environment variable {name} is not set; export it "
                        "(or put it in the service's environment file)",
                    )
                )
                return ""
            return env[name]

        return ENV_REF.sub(replace, value)
    return value
