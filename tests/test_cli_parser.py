"""Specs for the command line's parser: only the named command's options are built."""

from __future__ import annotations

import contextlib
import io

import pytest

from automation.cli import _parser

COMMAND_LINES = [
    ["validate", "-c", "a.yaml", "--check-inputs"],
    ["schema"],
    ["run", "rollup", "-c", "a.yaml", "--now", "2026-09-01T09:00+09:00", "--json", "--dry-run"],
    ["history", "-c", "a.yaml", "--flow", "f", "--limit", "5"],
    ["outbox", "-c", "a.yaml", "--status", "failed", "--status", "dead"],
    ["serve", "-c", "a.yaml", "--health-port", "9464", "--ui-port", "8080"],
    ["login", "-c", "a.yaml"],
    ["doctor", "-c", "a.yaml", "--send-test", "a@example.jp", "--json"],
    ["state", "migrate", "--from", "a.sqlite", "--to", "postgresql://h/db"],
    ["console", "user", "add", "taro", "-c", "a.yaml", "--role", "operator"],
    ["demo", "--workspace", "ws"],
    ["provision", "workbook", "-c", "a.yaml", "--flow", "f", "--upload", "--replace"],
    ["provision", "list", "-c", "a.yaml", "--flow", "f", "--apply"],
    ["incident", "open", "-c", "a.yaml", "--flow", "f", "--name", "台風第10号"],
    ["incident", "close", "-c", "a.yaml", "--flow", "f", "--dry-run"],
    ["incident", "list", "-c", "a.yaml", "--json"],
]


@pytest.mark.parametrize("argv", COMMAND_LINES, ids=lambda argv: " ".join(argv[:2]))
def test_a_command_parses_as_with_every_commands_options_built(argv: list[str]) -> None:
    """The parser built for one command reads its line as the parser of all commands does."""
    assert vars(_parser(argv).parse_args(argv)) == vars(_parser([]).parse_args(argv))


def _help(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        _parser(argv).parse_args(argv)
    return out.getvalue()


def test_the_list_of_commands_is_the_same_whichever_command_is_named() -> None:
    """--help lists every command with its help, also when a command is named after it."""
    assert _help(["-h", "run"]) == _help(["-h"])
    assert "incident" in _help(["-h"]) and "validate" in _help(["-h"])


def test_a_named_commands_help_shows_all_its_options() -> None:
    """`automation run --help` shows run's options as the parser of all commands does."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        _parser([]).parse_args(["run", "--help"])
    assert _help(["run", "--help"]) == out.getvalue()
    assert "--dry-run" in out.getvalue()
