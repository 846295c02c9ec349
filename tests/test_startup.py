"""Commands that do not talk to Graph must not import it (msgraph/kiota/azure cost seconds)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from automation.demo import ROUND_1, write_workspace

CHECK = """
import asyncio, sys
from automation.config.loader import load_config
from automation.runner import run_flow
from automation.timeutil import parse_now
loaded = load_config(__import__("pathlib").Path(sys.argv[1]))
asyncio.run(run_flow(loaded, "dx_halfyear", parse_now("2026-10-14T09:00"), dry_run=True))
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("msgraph", "msgraph_core", "kiota_http", "azure"))
print(",".join(heavy))
"""


def test_a_local_run_imports_no_graph_libraries() -> None:
    """Validating a configuration and a local dry run leave msgraph, kiota and azure unimported."""
    config = Path(__file__).parent.parent / "config" / "progress_halfyear.yaml"
    result = subprocess.run(
        [sys.executable, "-c", CHECK, str(config)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip() == ""


def test_validate_does_not_scan_installed_packages_for_pydantic_plugins(tmp_path: Path) -> None:
    """The service uses no pydantic plugin, so validate skips pydantic's entry-point scan."""
    config = Path(__file__).parent.parent / "config" / "progress_halfyear.yaml"
    check = (
        "import os, sys; os.environ.pop('PYDANTIC_DISABLE_PLUGINS', None)\n"
        "from automation.cli import main\n"
        "code = main(['validate', '-c', sys.argv[1]])\n"
        "from pydantic.plugin import _loader\n"
        "print(code, _loader._plugins is None)"
    )

    result = subprocess.run(
        [sys.executable, "-c", check, str(config)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=tmp_path,
    )

    assert result.stdout.strip().splitlines()[-1] == "0 True", result.stdout + result.stderr


RUN_AND_LIST = """
import sys
from automation.cli import main
code = main(["run", "typhoon_damage", "-c", sys.argv[1], "--now", sys.argv[2], "--json"])
names = set(sys.argv[3].split(","))
loaded = sorted({m for m in sys.modules if m in names} | {m.split(".")[0] for m in sys.modules} & names)
print("\\nexit", code, "loaded", ",".join(loaded) or "-")
"""
RENDERING = ("jinja2", "xlsxwriter", "openpyxl")
GRAPH = ("msgraph", "msgraph_core", "kiota_http", "azure", "httpx", "tenacity")
# Ours, needed only by a run with messages to fit (fit), a flow with incidents (incident) or
# a changed workbook to parse and read (workbook, reading, cells).
LAZY = (
    "automation.fit",
    "automation.flows.incident",
    "automation.damage.workbook",
    "automation.damage.reading",
    "automation.cells",
)


def _run_listing(config: Path, now: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST, str(config), now, ",".join(RENDERING + GRAPH + LAZY)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=config.parent,
    )
    return result.stdout.strip().splitlines()[-1]


def test_an_unchanged_local_poll_loads_neither_templates_nor_writers_nor_graph(
    tmp_path: Path,
) -> None:
    """A run on an unchanged local workbook loads no template, writer, parser or Graph library."""
    # it parses, reads, renders, fits and writes nothing: jinja2, xlsxwriter, openpyxl, our
    # parser, sheet readers, message fitting and incidents (none here) stay unloaded
    config = write_workspace(tmp_path / "ws")
    first = _run_listing(config, ROUND_1)
    assert first.startswith("exit 0 loaded ")
    assert not set(first.removeprefix("exit 0 loaded ").split(",")) & set(GRAPH)
    assert _run_listing(config, "2026-09-01T09:11:00+09:00") == "exit 0 loaded -"


COLLECTIONS_BEFORE_THE_RUN = """
import gc, sys
from contextlib import contextmanager
import automation.memory as memory
from automation.cli import main
collections = []
gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(info))
tuned = memory.collector_for_a_run
@contextmanager
def run_starts():
    print("collections before the run:", len(collections))
    with tuned():
        yield
memory.collector_for_a_run = run_starts  # the runner, imported by main, takes this one
main(["run", "typhoon_damage", "-c", sys.argv[1], "--now", sys.argv[2], "--json"])
"""


def test_a_run_starts_without_a_cyclic_collection(tmp_path: Path) -> None:
    """`automation run` starts up with the collector off: no collection before the run."""
    # what start-up builds lives until the exit: about 90 collections (20-40 ms) found nothing
    config = write_workspace(tmp_path / "ws")
    result = subprocess.run(
        [sys.executable, "-c", COLLECTIONS_BEFORE_THE_RUN, str(config), ROUND_1],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=config.parent,
    )
    said = [line for line in result.stdout.splitlines() if line.startswith("collections")]
    assert said == ["collections before the run: 0"], said or result.stderr[-2000:]


WALKED_AT_EXIT = """
import atexit, gc, sys
def walked():
    print("walked at exit:", any(tracked is late for tracked in gc.get_objects()))
atexit.register(walked)  # runs after the exit handlers the command registers
from automation.cli import main
main(["validate", "-c", sys.argv[1]])
late = [[]]  # built after the command: only a freeze at the exit keeps it out of the last walk
"""


def test_a_command_ends_without_the_collector_walking_what_it_built() -> None:
    """At the exit what is alive is frozen before CPython's last collections walk it."""
    # they would walk every module, class and object the command built (60-120 ms)
    config = Path(__file__).parent.parent / "config" / "progress_halfyear.yaml"
    result = subprocess.run(
        [sys.executable, "-c", WALKED_AT_EXIT, str(config)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip().splitlines()[-1] == "walked at exit: False", result.stdout


COLLECTIONS_IN_VALIDATE = """
import gc, sys
from automation.cli import main
collections = []
gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(info))
main(["validate", "-c", sys.argv[1]])
print("collections:", len(collections))
"""


def test_validate_runs_without_a_cyclic_collection() -> None:
    """`automation validate` runs with the collector off: no collection at all."""
    # what it builds lives until the exit (about 50 collections before, in vain)
    config = Path(__file__).parent.parent / "config" / "progress_halfyear.yaml"
    result = subprocess.run(
        [sys.executable, "-c", COLLECTIONS_IN_VALIDATE, str(config)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip().splitlines()[-1] == "collections: 0", result.stdout


ENDS_WITHOUT_TEARDOWN = """
import atexit, sys
from automation.memory import exit_without_teardown
class Noisy:
    def __del__(self):
        print("torn down")
kept = Noisy()  # alive at the exit: only a teardown would free it
atexit.register(lambda: print("exit handler ran"))
print("buffered, no newline yet", end="")
exit_without_teardown(3)
"""


def test_the_program_ends_with_the_exit_handlers_and_the_output_but_no_teardown() -> None:
    """exit_without_teardown runs the exit handlers, flushes stdout, skips freeing objects."""
    result = subprocess.run(
        [sys.executable, "-c", ENDS_WITHOUT_TEARDOWN],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 3, result.stderr
    assert result.stdout == "buffered, no newline yetexit handler ran\n"


def test_a_program_started_without_stdout_still_ends_with_its_code() -> None:
    """With descriptor 1 closed (sys.stdout None) the exit flushes stderr alone, no traceback."""
    script = "from automation.memory import exit_without_teardown; exit_without_teardown(5)"
    result = subprocess.run(
        [sys.executable, "-c", script],
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=lambda: os.close(1),
    )
    assert (result.returncode, result.stderr) == (5, "")


THREAD_STILL_RUNNING = """
import sys, threading
from automation.memory import exit_without_teardown
gate = threading.Event()
worker = threading.Thread(target=lambda: (gate.wait(), print("worker finished")))
worker.start()
try:
    exit_without_teardown(4)
except SystemExit as ordinary:
    print("ordinary exit with", ordinary.code)
    gate.set()
    raise
"""


def test_with_a_thread_still_running_the_ordinary_exit_joins_it() -> None:
    """A thread still alive at the end gets the ordinary exit, which waits for it."""
    result = subprocess.run(
        [sys.executable, "-c", THREAD_STILL_RUNNING],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 4, result.stderr
    assert result.stdout.splitlines() == ["ordinary exit with 4", "worker finished"]


def test_python_dash_m_automation_exits_with_the_commands_code(tmp_path: Path) -> None:
    """`python -m automation` prints the command's output and exits with its code."""
    config = Path(__file__).parent.parent / "config" / "progress_halfyear.yaml"
    valid = subprocess.run(
        [sys.executable, "-m", "automation", "validate", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    missing = subprocess.run(
        [sys.executable, "-m", "automation", "validate", "-c", str(tmp_path / "none.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert (valid.returncode, valid.stdout.startswith(f"{config}: OK")) == (0, True), valid.stderr
    assert (missing.returncode, missing.stdout) == (2, ""), missing.stderr


HTTPX_CLIENT_ONLY = """
import sys
import automation.backends.graph.gateway
import httpx
loaded = sorted(m for m in ("click", "pygments", "rich") if m in sys.modules)
print(",".join(loaded) or "-", httpx.main.__module__)
"""


def test_the_graph_backend_loads_httpx_without_its_command_line_client() -> None:
    """Graph's modules load httpx without its CLI's click, pygments or rich; httpx.main is a stub."""
    result = subprocess.run(
        [sys.executable, "-c", HTTPX_CLIENT_ONLY],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.split() == ["-", "httpx"]
