"""Measure a command as users run it: a subprocess, with its wall time, CPU time and peak RSS;
and the floor beside it: python-calamine alone reading the same workbook.

CPU time and peak RSS come from ``os.wait4``: the child's own resource usage. Linux counts
into a child's peak RSS the memory of the process that started it, as it was at the fork
(``ru_maxrss`` survives ``execve``); so start measured commands from a small process (the
benchmarks generate their inputs in a separate process first), and :func:`run` reports the
starter's own resident set at the fork beside the figure, so a reader can see the bound.
"""

from __future__ import annotations

import compileall
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automation.user_cache import user_cache_dir

BIN = Path(sys.executable).parent
AUTOMATION = str(BIN / "automation")


@dataclass
class Measured:
    """One finished command."""

    argv: list[str]
    returncode: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    starter_rss_mb: float
    stdout: str
    stderr: str
    started_at: float = 0.0  # time.monotonic() just before the process was started

    def record(self) -> dict[str, Any]:
        """The run record the command printed with ``--json`` (the last JSON object)."""
        start = self.stdout.find("{")
        if start < 0:
            raise ValueError(f"no JSON in the output of {' '.join(self.argv)}: {self.stderr}")
        record: dict[str, Any] = json.loads(self.stdout[start:])
        return record

    def figures(self) -> dict[str, Any]:
        """Wall, CPU and peak RSS, JSON-ready."""
        return {
            "wall_s": round(self.wall_s, 4),
            "cpu_s": round(self.cpu_s, 4),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "starter_rss_mb": round(self.starter_rss_mb, 1),
            "exit": self.returncode,
            "started_at": self.started_at,
        }


def run(argv: list[str], cwd: Path | None = None, timeout: float = 1800) -> Measured:
    """Run ``argv`` to completion and measure it (stdout and stderr are captured)."""
    starter = _rss_mb()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started_at, started = time.monotonic(), time.perf_counter()
        child = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=err, text=True)
        deadline = started + timeout
        while True:  # os.wait4 reaps the child itself: Popen.wait would lose its rusage
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                child.kill()
            time.sleep(0.002)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(
            argv=argv,
            returncode=child.returncode,
            wall_s=wall,
            cpu_s=usage.ru_utime + usage.ru_stime,
            peak_rss_mb=usage.ru_maxrss / 1024,
            starter_rss_mb=starter,
            stdout=out.read(),
            stderr=err.read(),
            started_at=started_at,
        )


def automation(*args: str, cwd: Path | None = None, keep_composed: bool = False) -> Measured:
    """``automation ARGS`` from this virtual environment, measured (its modules compiled
    to bytecode first, as an installed package's are).

    The 読取_ sheets an earlier command kept on disk (``KeptSheets``) are removed first,
    unless ``keep_composed``: a bench that alternates two versions of a workbook would
    otherwise find every sheet of a "changed" report composed already, which no real save
    gives; only a run measuring a save after the one before keeps them."""
    compile_package()
    if not keep_composed:
        forget_composed()
    return run([AUTOMATION, *args], cwd=cwd)


def forget_composed() -> None:
    """Remove the composed sheets the commands keep on disk (the user's cache folder)."""
    folder = user_cache_dir("composed")
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


@functools.cache
def compile_package() -> None:
    """Write the bytecode of the ``automation`` package, as ``pip install`` does.

    An editable checkout run with ``PYTHONDONTWRITEBYTECODE`` set (some shells and CI
    images set it) would otherwise compile every module on every command, about 0.1 s that
    no installed service pays."""
    package = Path(__file__).resolve().parent.parent / "automation"
    compileall.compile_dir(package, quiet=1)


def _rss_mb() -> float:
    """This process's resident set now (VmRSS), in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


CALAMINE_READ = """
import sys, time
from python_calamine import CalamineWorkbook
data = open(sys.argv[1], "rb").read()
best = None
for _ in range(3):
    start = time.perf_counter()
    book = CalamineWorkbook.from_filelike(__import__("io").BytesIO(data))
    for name in book.sheet_names:
        book.get_sheet_by_name(name).to_python()
    took = time.perf_counter() - start
    best = took if best is None else min(best, took)
print(best)
"""


def calamine_read_s(workbook: Path) -> float:
    """The fastest library read of the workbook's bytes: python-calamine, every sheet to
    Python values (best of three, in a fresh process, imports not counted)."""
    done = subprocess.run(
        [sys.executable, "-c", CALAMINE_READ, str(workbook)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(done.stdout.strip())
