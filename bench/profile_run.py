"""Profile one ``automation`` command with cProfile, its worker-thread work included.

A run parses, plans, renders and builds its merged workbook in a worker thread
(``asyncio.to_thread``: the daemon's event loop stays free), which cProfile, profiling the
thread that started it, does not see. This runs the command with ``asyncio.to_thread``
done inline, so the profile holds the whole run; the timings are a breakdown, never a
headline (the headline is the command from outside: ``bench/process.py``).

Usage: python bench/profile_run.py OUT.prof run FLOW -c CONFIG [--now ...] [--json]
Then: python -c "import pstats; pstats.Stats('OUT.prof').sort_stats('cumulative').print_stats(40)"
"""

from __future__ import annotations

import asyncio
import cProfile
import sys
from collections.abc import Callable
from typing import Any


async def _inline(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    return function(*args, **kwargs)


def main(argv: list[str]) -> int:
    """Profile ``automation ARGV[1:]`` into ``ARGV[0]``."""
    out, args = argv[0], argv[1:]
    asyncio.to_thread = _inline  # type: ignore[assignment]  # inline: one thread to profile
    from automation.cli import main as automation  # noqa: PLC0415  # imports are profiled

    profiler = cProfile.Profile()
    code: int = profiler.runcall(automation, args)
    profiler.dump_stats(out)
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
