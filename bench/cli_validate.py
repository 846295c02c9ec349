"""`automation validate` as a user runs it: the wall time of the command, start to exit.

Runs ``automation validate`` as a subprocess (interpreter start, imports and the whole check
included) ``--runs`` times on two configurations: the packaged damage-rollup example
(``config/damage_rollup.yaml``) and the side-by-side benchmark's headline configuration (60
departments on the Graph backend, as ``bench/compare.py`` measures it). With ``--against``
another install's ``automation`` (for example a virtual environment of an earlier commit)
runs interleaved with this one, run for run, so that both see the same load on a shared
machine. Also lists the modules whose import costs most in one run (``-X importtime``,
cumulative), which is where the time goes. Target (issue 6): median < 0.3 s.

Usage: python bench/cli_validate.py [--runs 21] [--against PATH/bin/automation --label-against
       before] [--label this]
Writes bench/results/cli_validate.json and cli_validate.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import scenarios

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
TARGET_S = 0.3
ENV = {"BOUSAI_TEAMS_WEBHOOK_URL": "https://example.invalid/workflows/hook"}


def configurations(folder: Path) -> dict[str, Path]:
    """The configurations validated: the packaged example and compare's headline."""
    headline = scenarios.Seeded(scenarios.rollup(60, 300), folder)
    return {
        "config/damage_rollup.yaml": ROOT / "config" / "damage_rollup.yaml",
        "compare headline (60 departments, Graph)": scenarios.write_config(
            headline, "http://127.0.0.1:9/v1.0"
        ),
    }


def once(executable: str, config: Path, env: dict[str, str]) -> float:
    """Wall seconds of one ``automation validate``; it must pass."""
    start = time.perf_counter()
    subprocess.run(
        [executable, "validate", "-c", str(config)], check=True, capture_output=True, env=env
    )
    return time.perf_counter() - start


def import_profile(executable: str, config: Path, env: dict[str, str], top: int = 12) -> list[str]:
    """The ``top`` imports by cumulative microseconds in one run (``-X importtime``)."""
    python = Path(executable).with_name("python")
    code = "import sys; from automation.cli import main; main(['validate', '-c', sys.argv[1]])"
    done = subprocess.run(
        [str(python), "-X", "importtime", "-c", code, str(config)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line.removeprefix("import time:").split("|")
            if cumulative.strip().isdigit():
                rows.append((int(cumulative), name.rstrip()))
    return [f"{us / 1000:6.1f} ms {name}" for us, name in sorted(rows, reverse=True)[:top]]


def measure(commands: dict[str, str], runs: int) -> dict[str, Any]:
    """Every command on every configuration, interleaved run for run."""
    env = {**os.environ, **ENV}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        configs = configurations(Path(folder))
        times: dict[str, dict[str, list[float]]] = {
            label: {name: [] for name in configs} for label in commands
        }
        for _ in range(runs):
            for name, config in configs.items():
                for label, executable in commands.items():
                    times[label][name].append(once(executable, config, env))
        profile = {
            label: import_profile(executable, configs["config/damage_rollup.yaml"], env)
            for label, executable in commands.items()
        }
    return {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "runs": runs,
        "target_s": TARGET_S,
        "commands": {
            label: {
                name: {
                    "median_s": round(statistics.median(ts), 4),
                    "min_s": round(min(ts), 4),
                    "max_s": round(max(ts), 4),
                }
                for name, ts in times[label].items()
            }
            for label in commands
        },
        "imports": profile,
    }


def markdown(result: dict[str, Any]) -> str:
    """The page: medians per command and configuration, and the costliest imports."""
    m = result["machine"]
    lines = [
        "# `automation validate`: the command's wall time",
        "",
        f"Measured {result['measured_at']}, {m['cpu_count']} CPUs (shared with other work), "
        f"Python {m['python']}, load average {m['load_average_before'][0]:.2f} before and "
        f"{m['load_average_after'][0]:.2f} after; {result['runs']} runs of each, interleaved. "
        f"Target: median < {result['target_s']:g} s.",
        "",
        "| command | configuration | median s | min s | max s |",
        "|---|---|---:|---:|---:|",
    ]
    for label, configs in result["commands"].items():
        for name, t in configs.items():
            lines.append(
                f"| {label} | {name} | {t['median_s']:.3f} | {t['min_s']:.3f} | {t['max_s']:.3f} |"
            )
    for label, rows in result["imports"].items():
        lines += ["", f"Costliest imports, {label} (cumulative, one run):", "", "```", *rows, "```"]
    return "\n".join(lines) + "\n"


def main() -> int:
    """Measure and write the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--label", default="this checkout")
    parser.add_argument("--against", help="another install's automation command, run interleaved")
    parser.add_argument("--label-against", default="against")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    commands = {args.label: str(Path(sys.executable).with_name("automation"))}
    if args.against:
        commands = {args.label_against: args.against, **commands}
    result = measure(commands, args.runs)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cli_validate.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    text = markdown(result)
    (args.out / "cli_validate.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
