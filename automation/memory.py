"""Giving a large run's memory back to the system once the run is over.

A run of a 60-department workbook allocates hundreds of MB of small, short-lived objects.
CPython's own allocator (pymalloc) keeps them in 1 MiB arenas, and an arena goes back to
the system only when every object in it is gone: the few objects a run leaves behind
(compiled templates, lazily imported modules, cached cell readings) pinned over 200 arenas,
so the daemon idled at the size of its largest run (627 MB after 60 x 2,000 runs, even with
malloc_trim). ``automation serve`` therefore runs on the system allocator
(``PYTHONMALLOC=malloc``, set by re-executing itself at start, same process id), whose
freed pages ``malloc_trim(0)`` returns after each run, wherever they lie in the heaps
(glibc >= 2.8). Measured in bench/serve_runs.py; figures in README "Running headless".
Elsewhere (musl, macOS) trimming does nothing: those allocators return memory on their
own or offer no such call.
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import NoReturn

LOG = logging.getLogger(__name__)


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, if this process runs on glibc."""
    import ctypes  # noqa: PLC0415  # at the first trim (a changed run, the daemon): start-up skips ctypes
    import ctypes.util  # noqa: PLC0415

    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_memory() -> bool:
    """Collect cyclic garbage and hand free heap pages back; True when malloc_trim ran."""
    gc.collect()
    return trim_heap()


def trim_heap() -> bool:
    """Hand the heap's free pages back to the system, collecting nothing (a few ms); True
    when malloc_trim ran.

    For the peaks of one run: the plan of a 60 x 2,000 run frees about 25 MB that the
    allocator keeps (freed texts and buffers between live objects) before the merged
    workbook's build takes its own; handed back first, the build's peak sits that much
    lower."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


# The cyclic collector's thresholds while a run is on (CPython's own: 700, 10, 10). A 60 x
# 2,000 run keeps millions of small containers alive, none of them garbage cycles: at 700
# the collector ran 3,000 young and 21 full collections over them (1.2-2.3 s of a 12 s
# run), finding about 3,400 objects in cycles. Measured, at 10,000: 169 young collections,
# no full one, the same objects found, the same peak memory.
RUN_THRESHOLDS = (10_000, 10, 10)


class _Collector:
    """The runs in progress, which share the process's one collector."""

    lock = threading.Lock()
    runs = 0
    saved = gc.get_threshold()


@contextmanager
def collector_for_a_run() -> Iterator[None]:
    """The cyclic collector tuned for one run, then put back as it was.

    What exists when a run starts (modules, configuration, a daemon's state) is frozen out
    of the collections (``gc.freeze``), and young collections are rarer
    (:data:`RUN_THRESHOLDS`); reference counting still frees whatever dies. When the last
    run in progress ends, the thresholds are restored and the frozen objects unfrozen (the
    daemon's :func:`release_memory` after each run then collects over all of them)."""
    with _Collector.lock:
        _Collector.runs += 1
        if _Collector.runs == 1:
            _Collector.saved = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(*RUN_THRESHOLDS)
    try:
        yield
    finally:
        with _Collector.lock:
            _Collector.runs -= 1
            if _Collector.runs == 0:
                gc.set_threshold(*_Collector.saved)
                gc.unfreeze()


@contextmanager
def start_up_collector() -> Iterator[None]:
    """No cyclic collection while a command starts; what it built is then frozen out of them.

    Start-up builds modules, classes and the configuration, which live as long as the
    command: the young collections CPython runs every 700 new objects (and a full one now
    and then) find nothing in them to free. Frozen (``gc.freeze``), they are not walked by
    the collections after start-up either, as :func:`collector_for_a_run` does for a run's
    start; that run's end unfreezes them with its own."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_on:
            gc.enable()


@cache
def freeze_at_exit() -> None:
    """Have the process end without walking what it built (once per process).

    At exit CPython collects over every object still alive, modules and classes included
    (70-120 ms of an ``automation run`` that takes 0.4-0.7 s); frozen (``gc.freeze``, at the
    start of the exit, after the handlers registered later), they are skipped and freed with
    the process. Files, connections and locks are closed by the code that opened them, and
    the exit handlers (logging's flush among them) still run."""
    atexit.register(gc.freeze)


def exit_without_teardown(code: int) -> NoReturn:
    """End the process with ``code`` as an exit would, without tearing the interpreter down.

    The exit handlers run (logging's flush and close, multiprocessing's among them), then
    stdout and stderr are flushed, then the process ends (``os._exit``). What CPython's own
    exit would still do is free every object alive, module by module (10-30 ms after a
    changed run), which the system does at once by taking the whole address space; a
    command's files, databases and locks are closed by the code that opened them (each in a
    ``with``: SQLite has committed, PostgreSQL's transaction is over), so no buffer is left
    for the teardown to flush. With another thread still alive, or a standard stream that
    cannot be flushed (a reader gone), the ordinary exit runs instead: it joins the thread,
    or reports the stream, as it always did.
    """
    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:  # None: started with the descriptor closed
                stream.flush()
    except (OSError, ValueError):  # a reader that left, a stream closed: the exit says so
        sys.exit(code)
    os._exit(code)


ALLOCATOR = "PYTHONMALLOC"


def reexec_with_system_allocator(environ: Mapping[str, str] | None = None) -> None:
    """Start this command again on the system allocator, unless an allocator was chosen.

    ``os.execve`` keeps the process id (systemd and health checks see one daemon); it must
    run before the daemon opens anything (locks, the state database, sockets). Setting
    ``PYTHONMALLOC`` yourself (``pymalloc`` included) is respected and never overridden.
    """
    env = dict(os.environ if environ is None else environ)
    if ALLOCATOR in env or _malloc_trim() is None:
        return
    env[ALLOCATOR] = "malloc"
    os.execve(sys.executable, list(sys.orig_argv), env)
