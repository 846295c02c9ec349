"""Specs for composed sheets kept on disk (automation/sheet_files.py): what is read back is
what was written or nothing, the folder stays within its limit, and nothing fails a build."""

from __future__ import annotations

import os
from pathlib import Path

from automation.sheet_files import MAGIC, SheetFiles


def test_written_bytes_are_read_back(tmp_path: Path) -> None:
    """A sheet's bytes written under a name are read back as written, from an owner-only file."""
    files = SheetFiles(tmp_path)
    files.write("a", b"composed rows")
    assert SheetFiles(tmp_path).read("a") == b"composed rows"
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o600


def test_a_damaged_file_reads_as_missing_and_is_removed(tmp_path: Path) -> None:
    """A file altered or cut short after it was written is not read back: it is removed."""
    files = SheetFiles(tmp_path)
    files.write("altered", b"composed rows")
    files.write("short", b"composed rows")
    data = (tmp_path / "altered").read_bytes()
    (tmp_path / "altered").write_bytes(data[:-1] + b"X")
    (tmp_path / "short").write_bytes(data[: len(MAGIC) + 5])
    assert (files.read("altered"), files.read("short")) == (None, None)
    assert sorted(os.listdir(tmp_path)) == []


def test_a_missing_file_reads_as_missing(tmp_path: Path) -> None:
    """A name never written reads as None."""
    assert SheetFiles(tmp_path).read("never") is None


def test_the_folder_is_trimmed_to_its_limit_the_files_used_longest_ago_first(
    tmp_path: Path,
) -> None:
    """Past its limit the folder loses the files used longest ago; reading marks a file used."""
    files = SheetFiles(tmp_path, limit=10_000)
    for number, name in enumerate("abcd"):
        files.write(name, b"x" * 2_000)
        os.utime(tmp_path / name, (1_000 + number, 1_000 + number))  # written in order
    assert files.read("a") is not None  # now the most recently used
    files.write("e", b"x" * 2_000)
    files.trim()
    assert sorted(os.listdir(tmp_path)) == ["a", "c", "d", "e"]


def test_a_write_that_fails_is_no_error(tmp_path: Path) -> None:
    """A folder that went away: the write is dropped (the sheet is composed again later)."""
    files = SheetFiles(tmp_path / "gone")
    files.write("a", b"composed rows")
    assert files.read("a") is None


def test_clear_removes_every_file(tmp_path: Path) -> None:
    """clear() leaves the folder empty."""
    files = SheetFiles(tmp_path)
    for name in "abc":
        files.write(name, b"rows")
    files.clear()
    assert os.listdir(tmp_path) == []
