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

import ctypes
import ctypes.util
import gc
import logging
import os
import sys
from collections.abc import Callable, Mapping
from functools import cache

LOG = logging.getLogger(__name__)


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, if this process runs on glibc."""
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
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


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
