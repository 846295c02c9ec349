"""Soak: the fuzz property of tests/test_fuzz_workbooks.py on 10,000 generated workbooks.

Half of the examples are generated workbooks (both layouts, merged headers, random cell
types, Japanese and full-width text, huge numbers, dates, formulas with and without saved
results) held to the exact property: every readable cell counted once, no reported cell
counted. The other half are byte-level corruptions of such workbooks: each must be refused
with a DataError naming the file, or be read with totals consistent with what is shown.
Failures are counted rather than stopping the run; the first ones are kept with their
traceback and input file under bench/out/fuzz_failures/.

Usage: python bench/fuzz_soak.py [--examples 10000] [--seed 0]
Prints examples run, failures and time; writes bench/out/fuzz_soak.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
KEPT_FAILURES = 20


def soak(examples: int, seed: int) -> dict[str, Any]:
    """Run the property ``examples`` times (half generated, half corrupted); tally outcomes."""
    sys.path.insert(0, str(ROOT))
    from hypothesis import HealthCheck, Phase, given, settings  # noqa: PLC0415
    from hypothesis import seed as fixed_seed  # noqa: PLC0415
    from hypothesis import strategies as st  # noqa: PLC0415

    from automation.errors import DataError  # noqa: PLC0415
    from tests.test_fuzz_workbooks import read  # noqa: PLC0415
    from tests.workbook_builders import (  # noqa: PLC0415
        check_plan,
        check_totals,
        corrupted,
        workbooks,
    )

    tally: Counter[str] = Counter()
    failures: list[dict[str, Any]] = []

    def record(kind: str, data: bytes, err: BaseException) -> None:
        _keep_failure(tally, failures, kind, data, err)

    options = settings(
        max_examples=examples // 2,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )

    @fixed_seed(seed)
    @options
    @given(workbooks())
    def generated(drawn: Any) -> None:
        tally["generated"] += 1
        try:
            book, plan = read(drawn.data, drawn.statuses)
            check_plan(drawn, book, plan)
            tally["problems"] += len(plan.report.problems)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as err:  # a panic in calamine's Rust code is a BaseException
            record("generated", drawn.data, err)

    @fixed_seed(seed + 1)
    @options
    @given(st.data())
    def damaged(data: Any) -> None:
        drawn = data.draw(workbooks())
        kind, broken = data.draw(corrupted(drawn.data))
        tally["corrupted"] += 1
        tally[f"corrupted_{kind}"] += 1
        try:
            _, plan = read(broken, drawn.statuses)
            check_totals(plan)
            tally["corrupted_read"] += 1
        except DataError as err:
            if err.message.startswith("book.xlsx: "):
                tally["corrupted_refused"] += 1
            else:
                record("corrupted", broken, err)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as err:  # a panic in calamine's Rust code is a BaseException
            record("corrupted", broken, err)

    started = time.perf_counter()
    generated()
    damaged()
    return _result(seed, tally, failures, time.perf_counter() - started)


def _keep_failure(
    tally: Counter[str], failures: list[dict[str, Any]], kind: str, data: bytes, err: BaseException
) -> None:
    """Count a failure; keep the first few inputs on disk with their traceback."""
    tally[f"{kind}_failures"] += 1
    if len(failures) < KEPT_FAILURES:
        failure_dir = OUT / "fuzz_failures"
        failure_dir.mkdir(parents=True, exist_ok=True)
        path = failure_dir / f"{kind}_{len(failures):02d}.xlsx"
        path.write_bytes(data)
        failures.append(
            {
                "kind": kind,
                "error": f"{type(err).__name__}: {err}"[:500],
                "input": str(path.relative_to(ROOT)),
                "traceback": traceback.format_exc(limit=8)[-2000:],
            }
        )


def _result(
    seed: int, tally: Counter[str], failures: list[dict[str, Any]], elapsed: float
) -> dict[str, Any]:
    """The soak's record: examples, failures, time per example and the tally."""
    total = tally["generated"] + tally["corrupted"]
    failed = tally["generated_failures"] + tally["corrupted_failures"]
    return {
        "machine": f"{platform.machine()} python {platform.python_version()}",
        "seed": seed,
        "examples": total,
        "failures": failed,
        "seconds": round(elapsed, 1),
        "per_example_ms": round(1000 * elapsed / max(total, 1), 1),
        "tally": dict(sorted(tally.items())),
        "first_failures": failures,
    }


def main() -> int:
    """Soak, print the figures, save them; exit 1 when any example failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    result = soak(args.examples, args.seed)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "fuzz_soak.json").write_text(
        json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    tally = result["tally"]
    print(
        f"examples: {result['examples']} ({tally.get('generated', 0)} generated, "
        f"{tally.get('corrupted', 0)} corrupted)"
    )
    print(f"failures: {result['failures']}")
    print(
        f"time:     {result['seconds']} s ({result['per_example_ms']} ms an example, "
        f"{result['machine']})"
    )
    print(
        f"corrupted: {tally.get('corrupted_refused', 0)} refused as data problems, "
        f"{tally.get('corrupted_read', 0)} read; {tally.get('problems', 0)} problems reported "
        "on generated workbooks"
    )
    for failure in result["first_failures"][:5]:
        print(f"  {failure['kind']}: {failure['error'][:200]} ({failure['input']})")
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
