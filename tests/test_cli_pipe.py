"""Specs for a command whose reader stops early, as `automation history | head` does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROGRESS = Path(__file__).parent.parent / "config" / "progress_halfyear.yaml"


@pytest.mark.parametrize(
    "args",
    [
        ["schema"],  # one large write, refused at once
        ["validate", "-c", str(PROGRESS)],  # one short line, refused when stdout is flushed
    ],
    ids=["large", "short"],
)
def test_a_reader_that_left_ends_the_command_quietly(args: list[str]) -> None:
    """Output nobody reads any more ends the command with 141 (as SIGPIPE would), no traceback."""
    with subprocess.Popen(
        [sys.executable, "-m", "automation", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as command:
        assert command.stdout is not None and command.stderr is not None
        command.stdout.close()  # the reader leaves before the command writes anything
        err = command.stderr.read().decode()
        code = command.wait(timeout=60)

    assert (code, err) == (141, "")
