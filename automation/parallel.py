"""Map a pure function over items on several cores: the same list as ``[f(x) for x in xs]``;
or start one pure call on another core now and take its result later (:class:`Ahead`).

A large workbook's sheets are read one by one, each on its own; on a machine with more than
one core the run forks helper processes that read a share each while this process reads its
own, so the report is out sooner. Forking shares what is already loaded (the workbook, the
configuration, the imported readers): nothing is sent to a helper; each result comes back
pickled, through an unlinked temporary file (a pipe would stall a helper that runs ahead of
this process's reading), and this process, done with its own share, reads back what the
helpers have written while they go on (unpickling is this process's alone: left to the end
it would be the time everyone waits for).

The helpers are an optimisation that can never change the result:

- this process, done with its own share, takes over a helper's unstarted items from the end
  of its list, so a slow, stuck or killed helper costs time, never a wrong or missing item;
- whatever a helper could not finish (its function raised, its result would not pickle, it
  died) is computed here, in order, so an exception is the one a plain map raises first;
- a helper touches nothing but its function and its own file: no logging, no database, no
  network, signals as the system's defaults, and it leaves with ``os._exit``;
- a helper never outlives this process: on Linux the kernel kills it when the thread that
  forked it ends, however that ends (a ``SIGKILL`` included).

Only a pure function belongs here (a flow's reading of one sheet): it must not write
anything, since a helper's effects are lost and an item may be computed twice.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import io
import os
import select
import signal
import sys
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Generic, Protocol, TypeVar

T = TypeVar("T")
U = TypeVar("U")
R = TypeVar("R")

MAX_AUTO_PROCESSES = 4  # beyond this the results' unpickling here outweighs a fifth core
_DONE = b"!"  # a helper's last byte on its progress pipe: every item of its share is written
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>: the signal a process gets when its parent ends
# How long ``Ahead.result`` waits for its helper at least, and in proportion to how long the
# helper has had its value (since ``give``; before that it may only wait); past that the
# helper is taken as stuck, ended, and the call is made here.
AHEAD_PATIENCE_S = 5.0
AHEAD_PATIENCE_RATIO = 3.0
AHEAD_NICE = 10  # a helper ahead yields the cores to this process when both want them


@dataclass
class _Tally:
    delivered: int = 0


_TALLY = _Tally()


def delivered_by_helpers() -> int:
    """How many items' results this process has taken from its helpers so far (a call
    whose helpers all failed adds none: everything was computed here)."""
    return _TALLY.delivered


class Mapper(Protocol):
    """``mapper(function, items, costs)`` returns ``[function(x) for x in items]``."""

    def __call__(
        self, function: Callable[[T], R], items: Sequence[T], costs: Sequence[int] | None = None
    ) -> list[R]: ...


def serial(
    function: Callable[[T], R], items: Sequence[T], costs: Sequence[int] | None = None
) -> list[R]:
    """The plain map, in this process."""
    return [function(item) for item in items]


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def processes_for(setting: int | str, platform: str = sys.platform) -> int:
    """How many processes (this one included) a run uses for ``setting``: ``auto`` is the
    usable CPUs, at most ``MAX_AUTO_PROCESSES``, on Linux (elsewhere a fork without exec is
    unsafe with some system libraries, macOS's among them: 1 unless a number is set); 1
    without ``os.fork``."""
    if not hasattr(os, "fork"):
        return 1
    if setting == "auto":
        if not platform.startswith("linux"):
            return 1
        return max(1, min(usable_cpus(), MAX_AUTO_PROCESSES))
    return max(1, int(setting))


@dataclass(frozen=True)
class Forked:
    """A mapper that shares the items among ``processes`` processes (this one included)."""

    processes: int
    min_weight: int = 0  # items of less cost than this in all are not worth a fork

    def __call__(
        self, function: Callable[[T], R], items: Sequence[T], costs: Sequence[int] | None = None
    ) -> list[R]:
        weights = list(costs) if costs is not None else [1] * len(items)
        if self.processes <= 1 or len(items) < 2 or sum(weights) < self.min_weight:
            return serial(function, items)
        if not hasattr(os, "fork"):
            return serial(function, items)
        # Items that cost nothing (a sheet whose stored reading holds) stay in this process:
        # only items with a cost are shared, and only when two or more have one.
        costly = [i for i, weight in enumerate(weights) if weight > 0]
        if len(costly) < 2:
            return serial(function, items)
        shares = _shares(weights, costly, min(self.processes, len(costly)))
        shares[0] = sorted(shares[0] + [i for i, weight in enumerate(weights) if weight <= 0])
        known: dict[int, R] = {}
        helpers: list[_Helper] = []
        try:
            for share in shares[1:]:
                helper = _Helper.start(function, items, share)
                if helper is not None:
                    helpers.append(helper)
                else:  # no fork today (out of processes or memory): this process reads it
                    shares[0].extend(share)
            _run_own(function, items, shares[0], known, helpers, weights)
        finally:
            for helper in helpers:
                helper.stop()
        # What no helper delivered is computed here, in order: a raise is map's first raise.
        return [known[i] if i in known else function(items[i]) for i in range(len(items))]


class Ahead(Generic[T, U, R]):
    """``function(item, given)`` started now in a forked helper while this process goes on,
    ``given()`` returning (once it is) what :meth:`give` is given later: the helper does what
    it can before, then waits for the rest. Its result, taken with :meth:`result`, is always
    ``function(item, given)``: the helper's when it delivered it, else made here (the helper
    died, raised, was refused a fork, wrote what would not unpickle, or took so long it was
    taken as stuck: ``AHEAD_PATIENCE_S``). So ``function`` must be pure, as for
    :class:`Forked`, and the helper keeps the same rules (no I/O of this process's; it ends
    with the thread that forked it). Worth it for a call of tens of milliseconds or more:
    the fork costs a few."""

    def __init__(
        self,
        function: Callable[[T, Callable[[], U]], R],
        item: T,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._function, self._item, self._clock = function, item, clock
        self._started = clock()
        self._given: tuple[U] | None = None
        self._channel = _Channel.open()
        self._helper: _Helper | None = None
        if self._channel is not None and hasattr(os, "fork"):
            channel = self._channel

            def niced(x: T) -> R:  # pragma: no cover  # runs in the forked helper
                os.nice(AHEAD_NICE)
                return function(x, channel.received)

            self._helper = _Helper.start(niced, [item], [0], channel.fds)
        if self._helper is None and self._channel is not None:  # no helper to send to
            self._channel.close()
            self._channel = None
        self._forked = self._helper is not None
        # Let go without result() or cancel() (a run cancelled while it planned): the helper
        # is ended, its descriptors closed, when this is collected, not left waiting for ever.
        self._end = weakref.finalize(self, _end_ahead, self._helper, self._channel)

    @property
    def forked(self) -> bool:
        """Whether a helper was started for the call (else :meth:`result` makes it here)."""
        return self._forked

    def give(self, value: U) -> None:
        """What ``given()`` returns, to the helper (pickled) and to a call made here."""
        self._started = self._clock()  # the helper's patience counts from here (see result)
        self._given = (value,)
        if self._helper is not None and self._channel is not None:
            self._channel.send(value)

    def result(self) -> R:
        """``function(item, given)``: the helper's, waited for, or made here (see the class);
        what it raises when made here is raised."""
        helper, known = self._helper, dict[int, R]()
        if helper is not None:
            if self._given is None and self._channel is not None:
                self._channel.none_will()  # the helper's given() raises: nothing to wait for
            waited = self._clock() - self._started
            helper.wait(max(AHEAD_PATIENCE_S, AHEAD_PATIENCE_RATIO * waited))
            try:
                helper.collect(known)
            finally:
                self.cancel()
        if 0 in known:
            return known[0]
        return self._function(self._item, self._given_here)

    def cancel(self) -> None:
        """End the helper, its result not wanted (nothing is made here)."""
        self._helper = self._channel = None
        self._end()

    def _given_here(self) -> U:
        if self._given is None:
            raise RuntimeError("Ahead.result() before give(): nothing to make the call with")
        return self._given[0]


def _end_ahead(helper: _Helper | None, channel: _Channel | None) -> None:
    """End an :class:`Ahead`'s helper and close what it shared with this process."""
    if helper is not None:
        helper.stop()
    if channel is not None:
        channel.close()


@dataclass
class _Channel:
    """What :meth:`Ahead.give` sends its helper: the value pickled into an unlinked file, then
    one byte on a pipe (so a large value never blocks this process on a full pipe)."""

    data: BinaryIO
    ready: int  # read end: one byte once ``data`` holds the value, its end when none will
    ready_w: int

    @classmethod
    def open(cls) -> _Channel | None:
        try:
            import tempfile  # noqa: PLC0415  # see _Helper.start

            data = tempfile.TemporaryFile()  # noqa: SIM115  # closed by close()
        except OSError:
            return None
        try:
            ready, ready_w = os.pipe()
        except OSError:
            data.close()
            return None
        return cls(data, ready, ready_w)

    @property
    def fds(self) -> tuple[int, ...]:
        """What the helper keeps open of this process's descriptors."""
        return (self.data.fileno(), self.ready)

    def send(self, value: object) -> None:
        import pickle  # noqa: PLC0415  # see _Helper.start

        pickle.dump(value, self.data, protocol=pickle.HIGHEST_PROTOCOL)
        self.data.flush()
        os.write(self.ready_w, b"!")

    def received(self) -> Any:  # pragma: no cover  # runs in the forked helper
        """The value sent, once it is; raises ``EOFError`` if none will be."""
        if not os.read(self.ready, 1):
            raise EOFError("nothing was given")
        import pickle  # noqa: PLC0415  # see _Helper.start

        self.data.seek(0)
        return pickle.load(self.data)

    def none_will(self) -> None:
        """Tell the helper nothing will be sent: its ``received`` raises ``EOFError``."""
        if self.ready_w >= 0:
            with contextlib.suppress(OSError):
                os.close(self.ready_w)
            self.ready_w = -1  # closed once: its number may be another descriptor's by now

    def close(self) -> None:
        self.none_will()
        with contextlib.suppress(OSError):
            os.close(self.ready)
        self.data.close()


def _run_own(
    function: Callable[[T], R],
    items: Sequence[T],
    own: list[int],
    known: dict[int, R],
    helpers: list[_Helper],
    weights: list[int],
) -> None:
    """This process's share, then helpers' unstarted items from the end of their lists,
    then the results the helpers wrote. An item that raises here ends this process's part:
    which error the call raises is decided in item order (see ``Forked``)."""
    clock = _Clock()

    def compute(index: int) -> None:
        with clock.timing(weights[index]):
            try:
                known[index] = function(items[index])
            except Exception as err:  # raised again in item order by the caller's map
                raise _ItemError from err

    try:
        for index in own:
            compute(index)
        # What a helper has written is taken in while it goes on (this process unpickles it
        # sooner or later, and later it would wait alone), before any item is taken over.
        while (stolen := _next_item(_taking(helpers, known), known, clock, weights)) is not None:
            compute(stolen)
    except _ItemError:  # only the function's own errors: the machinery's are raised
        pass
    finally:
        for helper in helpers:
            helper.collect(known)


class _ItemError(Exception):
    """The mapped function raised on an item computed here (see ``_run_own``)."""


def _taking(helpers: list[_Helper], known: dict[int, Any]) -> list[_Helper]:
    """``helpers``, each one's results written so far taken into ``known``."""
    for helper in helpers:
        helper.poll()
        helper.take(known)
    return helpers


def _next_item(
    helpers: list[_Helper], known: dict[int, Any], clock: _Clock, weights: list[int]
) -> int | None:
    """The next item this process takes over from a helper, or None when the helpers have
    the rest in hand: from the end of the list of the helper with the most left; a
    helper's last item only once it took three times what it takes here."""
    while True:
        for helper in helpers:
            helper.poll()
        behind = [h for h in helpers if h.running and h.unstarted(known) > 1]
        if behind:
            return max(behind, key=lambda h: h.left_weight(known, weights)).last_unstarted(known)
        waiting = [h for h in helpers if h.running and h.unstarted(known) == 1]
        if not waiting:
            return None
        index = waiting[0].last_unstarted(known)
        if not waiting[0].wait(clock.expected(weights[index])):
            return index


@dataclass
class _Clock:
    """Seconds per unit of cost, as this process measured its own items."""

    seconds: float = 0.0
    weight: int = 0

    @contextlib.contextmanager
    def timing(self, weight: int) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.seconds += time.perf_counter() - started
        self.weight += max(weight, 1)

    def expected(self, weight: int) -> float:
        """How long to wait for a helper's item of ``weight``: three times what this
        process took for as much, and never less than 50 ms (a helper shares the machine)."""
        per_unit = self.seconds / self.weight if self.weight else 0.0
        return max(0.05, 3 * per_unit * max(weight, 1))


def _shares(weights: list[int], indexes: list[int], count: int) -> list[list[int]]:
    """``indexes`` in ``count`` shares of about equal weight, each share in item order
    (heaviest item first to the lightest share)."""
    shares: list[list[int]] = [[] for _ in range(count)]
    loads = [0] * count
    for index in sorted(indexes, key=lambda i: -weights[i]):
        lightest = loads.index(min(loads))
        shares[lightest].append(index)
        loads[lightest] += max(weights[index], 1)
    return [sorted(share) for share in shares]


@dataclass
class _Helper:
    """A forked process computing ``share`` in order; one progress byte per item written."""

    pid: int
    share: list[int]
    progress: int  # read end of the progress pipe
    results: BinaryIO
    done: int = 0  # items written, as the progress pipe says
    taken: int = 0  # of those, the ones read back (``take``)
    offset: int = 0  # where the results not yet read back start in the file
    torn: bool = False  # a result would not load: none after it is taken
    running: bool = True  # until the pipe closes
    complete: bool = False
    reaped: bool = False

    @classmethod
    def start(
        cls,
        function: Callable[[T], R],
        items: Sequence[T],
        share: list[int],
        keep: tuple[int, ...] = (),
    ) -> _Helper | None:
        try:
            import tempfile  # noqa: PLC0415  # a run that forks nothing (a poll) never loads it

            results = tempfile.TemporaryFile()  # noqa: SIM115  # closed by stop()
        except OSError:  # no room for a temporary file: this process reads it all
            return None
        try:
            read_end, write_end = os.pipe()
        except OSError:
            results.close()
            return None
        prctl = _prctl()  # looked up here: the helper only calls it
        parent = os.getpid()
        try:
            pid, mask = _fork()
        except OSError:
            for fd in (read_end, write_end):
                os.close(fd)
            results.close()
            return None
        if pid == 0:  # pragma: no cover  # the helper: measured through its results
            origin = _Origin(parent, mask, prctl)
            _helper_main(function, items, share, results, write_end, origin, keep)
        os.close(write_end)
        os.set_blocking(read_end, False)
        return cls(pid, share, read_end, results)

    def poll(self) -> None:
        """Read what the helper has said so far, without waiting."""
        while self.running:
            try:
                chunk = os.read(self.progress, 4096)
            except BlockingIOError:
                return
            if not chunk:
                self.running = False
                return
            self.done += chunk.count(b".")
            self.complete = self.complete or chunk.endswith(_DONE)

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the helper to finish; True when it has."""
        deadline = time.monotonic() + seconds
        watch = select.poll()  # not select.select: a daemon's descriptors pass 1024
        watch.register(self.progress, select.POLLIN | select.POLLHUP)
        while self.running:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if watch.poll(left * 1000):
                self.poll()
        return True

    def unstarted(self, known: dict[int, Any]) -> int:
        """Items of the share neither written by the helper nor computed here."""
        return sum(1 for index in self.share[self.done :] if index not in known)

    def last_unstarted(self, known: dict[int, Any]) -> int:
        return next(i for i in reversed(self.share[self.done :]) if i not in known)

    def left_weight(self, known: dict[int, Any], weights: list[int]) -> int:
        return sum(weights[i] for i in self.share[self.done :] if i not in known)

    def collect(self, known: dict[int, Any]) -> None:
        """End the helper, then take the rest of its written results."""
        self.halt()
        self.take(known)

    def take(self, known: dict[int, Any]) -> None:
        """Read back the results written since the last take, for the items not computed
        here, while the helper may go on writing: read at this reader's own offset (the
        file's is shared with the helper) and no further than the results the progress pipe
        counted, each written whole before its byte."""
        if self.torn or self.taken >= self.done:
            return
        import pickle  # noqa: PLC0415  # loaded by a run that forked (see start)

        fd = self.results.fileno()
        buffer = io.BytesIO(os.pread(fd, os.fstat(fd).st_size - self.offset, self.offset))
        try:
            while self.taken < self.done:
                index, result = pickle.load(buffer)  # our own helper's
                self.taken += 1
                if index not in known:
                    known[index] = result
                    _TALLY.delivered += 1
        except Exception:  # a torn file: the rest is computed here
            self.torn = True
        self.offset += buffer.tell()

    def halt(self) -> None:
        """End the helper (it may still run when this process did its items) and reap it;
        then read what it said before it ended."""
        if self.reaped:
            return
        self.poll()
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        self.reaped = True
        # It ended: what it wrote is in the pipe. Read that much and no more (another
        # process forked meanwhile may hold the pipe open: its end may never come).
        while True:
            try:
                chunk = os.read(self.progress, 4096)
            except BlockingIOError:
                break
            if not chunk:
                break
            self.done += chunk.count(b".")
            self.complete = self.complete or chunk.endswith(_DONE)
        self.running = False

    def stop(self) -> None:
        """Halt the helper and close what it shared with this process."""
        self.halt()
        with contextlib.suppress(OSError):
            os.close(self.progress)
        self.results.close()


def _close_inherited(*kept: int) -> None:  # pragma: no cover  # runs in the forked helper
    """Close every descriptor the helper inherited but ``kept`` and the standard three: a
    daemon's listening sockets, its database connections and lock files stay the
    daemon's alone (a helper that outlived a killed daemon would hold its port)."""
    low = 3
    for fd in sorted(kept):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, _max_fd())


def _max_fd() -> int:  # pragma: no cover  # runs in the forked helper
    try:
        return int(os.sysconf("SC_OPEN_MAX"))
    except (ValueError, OSError):
        return 65536


def _fork() -> tuple[int, set[int]]:
    """``os.fork()``: the new process's pid here (0 in it) and the signal mask it restores.

    Every catchable signal is blocked in this thread across the fork, and unblocked here
    right after: one sent to the helper before it set its handlers to the system's
    defaults waits for that, instead of running this process's Python handler in the
    helper (where it could reach a daemon's event loop, or raise before the helper's
    ``try`` and unwind it into this process's code).

    The collector's objects are frozen across the fork (``gc.freeze``, as the gc module's
    documentation advises before a fork), so that a collection in the helper walks none of
    this process's objects and their pages stay shared. They are unfrozen here after the
    fork unless something was frozen before: a run freezes at its start and unfreezes
    everything at its end (:func:`automation.memory.collector_for_a_run`), and an unfreeze
    here would thaw what the run froze; what this adds is then thawed with it."""
    frozen_before = gc.get_freeze_count()
    mask: set[int] = set(signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals()))
    gc.freeze()
    try:
        pid = os.fork()
    except BaseException:
        _as_before(frozen_before, mask)
        raise
    if pid != 0:
        _as_before(frozen_before, mask)
    return pid, mask


def _as_before(frozen_before: int, mask: set[int]) -> None:
    """This process's collector and signal mask after a fork as they were before it."""
    if frozen_before == 0:
        gc.unfreeze()
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)


@functools.cache
def _prctl() -> Callable[..., Any] | None:
    """The C library's ``prctl`` on Linux (looked up once, before the first fork); None
    elsewhere or when the library has none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes  # noqa: PLC0415  # a run that forks nothing never loads it

        function = ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    function.restype = ctypes.c_int
    return function


@dataclass(frozen=True)
class _Origin:
    """What a helper knows of the process that forked it."""

    pid: int
    mask: set[int]  # its signal mask before the fork
    prctl: Callable[..., Any] | None


def _become_helper(origin: _Origin) -> None:  # pragma: no cover  # runs in the forked helper
    """Signals as the system's defaults, then unblocked as they were in the parent; and
    the helper ends with the thread that forked it (``PR_SET_PDEATHSIG``), or now when
    that already ended (the race ``prctl(2)`` describes: it was adopted meanwhile)."""
    for signum in signal.valid_signals():
        try:
            handler = signal.getsignal(signum)
        except (ValueError, OSError):  # one the C library keeps for itself
            continue
        if callable(handler):  # this process's Python handler (a daemon's loop's among them)
            signal.signal(signum, signal.SIG_DFL)
    with contextlib.suppress(ValueError):
        signal.set_wakeup_fd(-1)  # the parent's event loop must not hear our signals
    if origin.prctl is not None:
        origin.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # best effort: a 0 or -1
    if os.getppid() != origin.pid:
        os._exit(1)
    signal.pthread_sigmask(signal.SIG_SETMASK, origin.mask)


def _helper_main(
    function: Callable[[T], Any],
    items: Sequence[T],
    share: list[int],
    results: BinaryIO,
    progress: int,
    origin: _Origin,
    keep: tuple[int, ...] = (),
) -> None:  # pragma: no cover  # runs in the forked helper
    """Compute the share, writing each result then its progress byte; never return. Of this
    process's descriptors, the helper keeps its own two and ``keep``."""
    code = 1
    try:
        gc.disable()  # short-lived: what it builds is freed when it leaves
        _become_helper(origin)
        _close_inherited(results.fileno(), progress, *keep)
        import pickle  # noqa: PLC0415  # see start

        pickler = pickle.Pickler(results, protocol=pickle.HIGHEST_PROTOCOL)
        for index in share:
            pickler.dump((index, function(items[index])))
            pickler.clear_memo()
            results.flush()
            os.write(progress, b".")
        os.write(progress, _DONE)
        code = 0
    except BaseException:  # the parent computes what is missing
        pass
    finally:
        os._exit(code)
