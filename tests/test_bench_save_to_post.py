"""Specs for the save-to-post benchmark: its simulated save and its quick run (figures go in
bench/results; here only what the run must show, never how fast)."""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook

from bench.damage_rollup import write_workbook
from bench.save_to_post import department_saved, departments_saved

ROOT = Path(__file__).resolve().parent.parent


def sheet_rows(data: bytes, name: str) -> list[list[object]]:
    """A sheet's values as python-calamine reads them."""
    book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    rows: list[list[object]] = book.get_sheet_by_name(name).to_python()
    return rows


def test_a_simulated_save_changes_one_sheet_and_keeps_its_total_right(tmp_path: Path) -> None:
    """A department's save rewrites its own sheet part only; the 計 row still adds up."""
    path = tmp_path / "book.xlsx"
    write_workbook(path, 4, 20, 12)
    before = path.read_bytes()

    after = department_saved(before, "部局003", 20, random.Random(7))

    with zipfile.ZipFile(io.BytesIO(before)) as old, zipfile.ZipFile(io.BytesIO(after)) as new:
        changed = [
            a.filename
            for a, b in zip(old.infolist(), new.infolist(), strict=True)
            if a.CRC != b.CRC
        ]
    assert changed == ["xl/worksheets/sheet3.xml"]
    rows = sheet_rows(after, "部局003")
    figures, total = rows[3:23], rows[23]
    assert total[0] == "計"
    for column in range(1, 13):
        numbers = [r[column] for r in figures if isinstance(r[column], float)]
        assert total[column] == sum(numbers)
    assert rows != sheet_rows(before, "部局003")


def test_a_save_of_every_department_changes_every_sheet_and_nothing_else(tmp_path: Path) -> None:
    """--every-sheet's save rewrites each department's sheet part, every other part as before."""
    path = tmp_path / "book.xlsx"
    write_workbook(path, 4, 20, 12)
    before = path.read_bytes()
    names = ["部局001", "部局002", "部局003", "部局004"]

    after = departments_saved(before, names, 20, random.Random(7))

    with zipfile.ZipFile(io.BytesIO(before)) as old, zipfile.ZipFile(io.BytesIO(after)) as new:
        changed = [
            a.filename
            for a, b in zip(old.infolist(), new.infolist(), strict=True)
            if a.CRC != b.CRC
        ]
    assert changed == [f"xl/worksheets/sheet{n}.xml" for n in range(1, 5)]
    assert all(sheet_rows(after, n) != sheet_rows(before, n) for n in names)


@pytest.mark.e2e
def test_the_quick_run_gets_exactly_one_report_per_save(tmp_path: Path) -> None:
    """bench/save_to_post.py --quick: every save brings one numbered report in the channel."""
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "save_to_post.py"),
            "--quick",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads((tmp_path / "save_to_post_5x20_quick.json").read_text(encoding="utf-8"))
    assert result["saves"] == len(result["saves_detail"]) == 3
    assert result["complete"] and result["one_report_per_save"] and result["numbers_consecutive"]
    assert [s["reports"] for s in result["saves_detail"]] == [1, 1, 1]
    assert result["channel_messages"] == 4  # the first report, then one per save
    for key in ("save_to_post_p50_s", "save_to_post_p95_s", "poll_to_post_p50_s", "poll_s"):
        assert isinstance(result[key], int | float)
    assert "load_average_before" in result["machine"]
    assert "| 5 x 20 | one | 3 | 1 |" in (tmp_path / "save_to_post.md").read_text(encoding="utf-8")
