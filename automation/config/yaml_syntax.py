"""A YAML syntax error said the way an admin can act on: where the mistake is, and its fix."""

from __future__ import annotations

import re

import yaml

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


def syntax_problem(err: yaml.MarkedYAMLError, text: str) -> tuple[int, int, str]:
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
