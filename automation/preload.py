"""Loading the modules a run will need while it waits on the network.

A cron run that finds a new version of the workbook next downloads it (one round trip or
more to SharePoint), then parses, plans and renders it, loading the sheet readers, the
workbook writer and the templates as it first uses them: some 70 ms of imports on the path
to the report, with the processor idle during the download. :class:`Preload` loads them
during the download instead, in a thread.

While it loads, the interpreter's switch interval is cut from 5 ms to 0.5 ms, so the event
loop, woken by the download's answer, has the interpreter back within half a millisecond
instead of waiting out an import's 5 ms turn at each read. ``stop()`` waits for the module
being loaded (never more than one) and loads no more: what is left loads when first used,
as it would without this, and no thread is importing when the run forks its helpers (a
forked process would inherit the module's import lock held). A module already loaded (a
daemon's later runs) costs a dictionary lookup.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
from collections.abc import Sequence

LOG = logging.getLogger("automation.runs")
SWITCH_INTERVAL_S = 0.0005  # while loading: the loop waits at most this for the interpreter


class _Interval:
    """The switch interval cut while any preload runs (daemon runs may overlap)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._before = 0.0

    def enter(self) -> None:
        with self._lock:
            if self._running == 0:
                self._before = sys.getswitchinterval()
                sys.setswitchinterval(min(self._before, SWITCH_INTERVAL_S))
            self._running += 1

    def leave(self) -> None:
        with self._lock:
            self._running -= 1
            if self._running == 0:
                sys.setswitchinterval(self._before)


_INTERVAL = _Interval()


class Preload:
    """Loads ``modules`` in order in a thread, from ``start()`` until all are loaded or
    ``stop()``.

    Starting again changes nothing. A module that fails to load ends the preload quietly:
    the run meets the same error where it imports the module itself, with the message it
    always had."""

    def __init__(self, modules: Sequence[str]) -> None:
        self._modules = tuple(modules)
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()  # set once stop() is called
        self.loaded: list[str] = []  # in this preload, in order (what it imported or found)

    def start(self) -> None:
        """Begin loading."""
        if self._thread is not None:
            return
        _INTERVAL.enter()
        self._thread = threading.Thread(target=self._load, name="preload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Load no further module; return once the one being loaded is."""
        if self._thread is None or self.stopping.is_set():
            return
        self.stopping.set()
        self._thread.join()
        _INTERVAL.leave()

    def _load(self) -> None:
        for name in self._modules:
            if self.stopping.is_set():
                return
            try:
                importlib.import_module(name)
            except Exception as err:  # any: the run's own import reports it
                LOG.debug("preloading stopped at %s: %s", name, err)
                return
            self.loaded.append(name)
