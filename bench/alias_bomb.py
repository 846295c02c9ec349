"""`automation validate` on a YAML alias bomb: refused in under 0.3 s, in bounded memory.

Runs ``automation validate`` as a subprocess (interpreter start and imports included, see
bench/process.py) on configurations whose aliases nest 10, 20 and 30 levels of ten (10**10 to
10**30 values once expanded), and on the demo configuration for comparison; each five times.
Reports the median wall time, the worst, and peak RSS. Target: median < 0.3 s, exit 2.

Usage: python bench/alias_bomb.py
Writes bench/results/alias_bomb.json.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from process import automation

RESULTS = Path(__file__).resolve().parent / "results"
REPEAT = 5


def bomb(levels: int) -> str:
    """A configuration whose last line expands to 10**levels values."""
    lines = ["version: 1", "l0: &l0 [" + ", ".join(['"lol"'] * 10) + "]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 10) + "]")
    lines.append(f"flows: *l{levels - 1}")
    return "\n".join(lines) + "\n"


def measure(config: Path) -> dict[str, object]:
    """Median and worst wall time, peak RSS and exit code of REPEAT validations."""
    runs = [automation("validate", "-c", str(config)) for _ in range(REPEAT)]
    walls = [r.wall_s for r in runs]
    return {
        "median_wall_s": round(statistics.median(walls), 3),
        "max_wall_s": round(max(walls), 3),
        "peak_rss_mb": round(max(r.peak_rss_mb for r in runs), 1),
        "exit": runs[0].returncode,
        "first_line": (runs[0].stderr or runs[0].stdout).splitlines()[0][-160:],
    }


def main() -> int:
    """Measure and write the results."""
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        automation("demo", "--workspace", str(work / "demo"))
        results["demo configuration (valid)"] = measure(work / "demo" / "automation.yaml")
        for levels in (10, 20, 30):
            path = work / f"bomb{levels}.yaml"
            path.write_text(bomb(levels), encoding="utf-8")
            results[f"alias bomb, 10**{levels} values"] = measure(path)
    summary = {
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "repeat": REPEAT,
        "results": results,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "alias_bomb.json").write_text(
        json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    bombs = [v for k, v in results.items() if k.startswith("alias")]
    ok = all(b["exit"] == 2 and float(str(b["median_wall_s"])) < 0.3 for b in bombs)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
