"""Specs for mapping a pure function on several processes (automation.parallel): the result
is the plain map's, whatever the helpers do (die, hang, raise, return what cannot be
pickled), and no helper outlives the call."""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import select
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automation import parallel
from automation.config.models import CpuConfig
from automation.jobs.damage import FORK_AT_BYTES, sheet_mapper
from automation.parallel import Ahead, Forked, processes_for, serial

PARENT = os.getpid()
T = TypeVar("T")


def in_helper() -> bool:
    return os.getpid() != PARENT


def square(x: int) -> tuple[int, str]:
    return x * x, "x" * (x % 7)


@pytest.fixture(autouse=True)
def no_helper_left() -> Iterator[None]:
    """Every helper a call forked is reaped before the call returns."""
    yield
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(0, 1000), max_size=30),
    st.integers(1, 4),
    st.lists(st.integers(0, 5000), min_size=30, max_size=30),
)
def test_the_result_is_the_plain_map_in_item_order(
    items: list[int], processes: int, costs: list[int]
) -> None:
    """Whatever the number of processes and the items' costs, the list is [f(x) for x]."""
    assert Forked(processes)(square, items, costs[: len(items)]) == [square(x) for x in items]


def with_a_helper(
    function: Callable[[int], T], count: int = 8, *, until_delivered: bool = True
) -> list[tuple[bool, T]]:
    """``function`` over ``range(count)`` with two processes, each result with whether a
    helper computed it. This process's first item waits until the helper began its second
    item, so its first one is written and reported: the helper computes at least one,
    however slow the machine (this process takes over a reported item never). With
    ``until_delivered`` False it waits only until the helper began its first (for a helper
    that ends in it). Told through a named pipe: a helper keeps no descriptor of ours."""
    with tempfile.TemporaryDirectory() as folder:
        fifo = os.path.join(folder, "started")
        os.mkfifo(fifo)
        started = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        begun: list[int] = []  # the helper's items so far (its copy of this list)
        tell_at = 2 if until_delivered else 1

        def where(x: int) -> tuple[bool, T]:
            if in_helper():
                begun.append(x)
                if len(begun) == tell_at:
                    with open(fifo, "wb", buffering=0) as tell:
                        tell.write(b".")
            elif x == 0:
                select.select([started], [], [], 30)
            return in_helper(), function(x)

        try:
            return Forked(2)(where, list(range(count)))
        finally:
            os.close(started)


def test_the_helpers_compute_their_shares() -> None:
    """With two processes, part of the items are computed by a helper, not here."""
    found = with_a_helper(lambda x: x * 2)
    assert [value for _, value in found] == [x * 2 for x in range(8)]
    assert {helped for helped, _ in found} == {True, False}


def _written(helper: parallel._Helper, count: int) -> None:
    """Wait (on its progress pipe, not a clock) until ``helper`` has written ``count``."""
    while helper.done < count and helper.running:
        select.select([helper.progress], [], [], 10)
        helper.poll()


def test_results_written_are_taken_in_while_the_helper_goes_on() -> None:
    """A helper's written results are read back while it still computes, the rest after."""
    release, released = os.pipe()

    def third_waits(x: int) -> int:
        if x == 2:
            os.read(release, 1)
        return x * 10

    helper = parallel._Helper.start(third_waits, [0, 1, 2], [0, 1, 2], (release,))
    assert helper is not None
    known: dict[int, int] = {}
    try:
        _written(helper, 2)
        helper.take(known)
        assert (known, helper.running) == ({0: 0, 1: 10}, True)
        os.write(released, b"!")
        _written(helper, 3)
        helper.collect(known)
    finally:
        helper.stop()
        os.close(release)
        os.close(released)
    assert known == {0: 0, 1: 10, 2: 20}


_RELEASE: list[Path] = []  # the FIFO a Released result writes to as it is loaded here


def _released(value: int) -> int:
    fd = os.open(_RELEASE[0], os.O_WRONLY | os.O_NONBLOCK)  # ENXIO once its reader is gone
    os.write(fd, b"!")
    os.close(fd)
    return value


def _within(seconds: float, fifo: Path | int) -> bool:
    """Read a byte from ``fifo`` once one comes (True), or go on after ``seconds`` (never
    hang)."""
    fd = fifo if isinstance(fifo, int) else os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    watch = select.poll()
    watch.register(fd, select.POLLIN)
    deadline = time.monotonic() + seconds
    try:
        while (left := deadline - time.monotonic()) > 0 and watch.poll(left * 1000):
            with contextlib.suppress(BlockingIOError):
                if os.read(fd, 1):
                    return True
        return False
    finally:
        os.close(fd)


class Released(int):
    """A result whose loading in this process releases the helper (see below)."""

    def __reduce__(self) -> tuple[Callable[[int], int], tuple[int]]:
        return _released, (int(self),)


def test_this_process_takes_in_a_helper_s_results_before_it_waits_for_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Done with its own share, this process reads back what a helper wrote while the helper
    goes on: a helper whose last item waits for its first result to be read here is not
    taken over, and delivers both (FIFOs: a helper keeps none of this process's
    descriptors)."""
    started, release = tmp_path / "started", tmp_path / "release"
    os.mkfifo(started)
    os.mkfifo(release)
    _RELEASE[:] = [release]

    def item(x: int) -> int:  # own share [0, 2], the helper's [1, 3]
        if x == 1 and in_helper():
            return Released(10)
        if x == 3 and in_helper():
            waiting = os.open(release, os.O_RDONLY | os.O_NONBLOCK)
            started.write_bytes(b"!")  # item 1 is written: its byte went before
            if not _within(30, waiting):  # never released: this helper ends, delivering 1
                os._exit(1)
        if x == 2 and not in_helper():
            _within(30, started)
        return x * 10

    # However slow the machine, the helper's last item is waited for, not taken over.
    monkeypatch.setattr(parallel._Clock, "expected", lambda _, weight: 60.0)
    before = parallel.delivered_by_helpers()
    assert Forked(2)(item, [0, 1, 2, 3]) == [0, 10, 20, 30]
    assert parallel.delivered_by_helpers() - before == 2


def test_a_result_that_will_not_load_ends_the_taking() -> None:
    """A written result that does not unpickle: it and those after it are left to be
    computed here, the ones before it are kept."""
    helper = parallel._Helper.start(lambda x: x * 10, [0, 1, 2], [0, 1, 2])
    assert helper is not None
    known: dict[int, int] = {}
    try:
        _written(helper, 3)
        fd = helper.results.fileno()
        first = len(pickle.dumps((0, 0), protocol=pickle.HIGHEST_PROTOCOL))
        os.pwrite(fd, b"\x00" * 8, first)  # the second result torn
        helper.collect(known)
    finally:
        helper.stop()
    assert (known, helper.torn) == ({0: 0}, True)


def test_a_helper_holds_none_of_this_process_s_sockets_or_files() -> None:
    """A helper closes what it inherited (a daemon's listening socket, its database): a
    helper that outlived a killed daemon must not hold its port."""
    with socket.socket() as listening, tempfile.TemporaryFile() as database:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        fds = (listening.fileno(), database.fileno())

        def open_fds(_: int) -> list[int]:
            return [fd for fd in fds if _is_open(fd)]

        found = with_a_helper(open_fds)
    assert {tuple(fds_open) for helped, fds_open in found if helped} == {()}
    assert {tuple(fds_open) for helped, fds_open in found if not helped} == {fds}


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_a_helper_runs_none_of_this_process_s_signal_handlers() -> None:
    """A signal this process handles in Python (a daemon's loop handles SIGHUP) takes the
    system's default action in a helper: the helper ends, its items are computed here."""
    handled = signal.signal(signal.SIGUSR1, lambda *_: None)
    try:
        found = with_a_helper(
            lambda x: os.kill(os.getpid(), signal.SIGUSR1) if in_helper() else x,
            until_delivered=False,
        )
    finally:
        signal.signal(signal.SIGUSR1, handled)
    assert found == [(False, x) for x in range(8)]


def told_by_a_helper(observe: Callable[[], str]) -> str:
    """What ``observe()`` returned in the helper of a two-process call, told through a named
    pipe while this process's own item waits for it (up to a minute): known whether or not
    the helper's result is the one this process keeps."""
    with tempfile.TemporaryDirectory() as folder:
        fifo = os.path.join(folder, "told")
        os.mkfifo(fifo)
        heard = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        told: list[bytes] = []

        def item(_: int) -> None:
            if in_helper():
                with open(fifo, "wb", buffering=0) as tell:
                    tell.write(observe().encode())
            elif not told:
                ready = select.select([heard], [], [], 60)[0]
                told.append(os.read(heard, 4096) if ready else b"")

        try:
            Forked(2)(item, [0, 1])
        finally:
            os.close(heard)
    return told[0].decode()


def test_a_helper_has_this_process_s_signal_mask_and_so_has_this_process_after() -> None:
    """Signals are blocked only across the fork: a helper computes with the signal mask this
    process had, and this process has it again when the call returns."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
    try:
        told = told_by_a_helper(lambda: repr(sorted(signal.pthread_sigmask(signal.SIG_BLOCK, []))))
        after = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
    assert told == repr(sorted(after))
    assert after == before | {signal.SIGUSR2}


def test_a_helper_s_collections_skip_this_process_s_objects() -> None:
    """A helper starts with this process's objects frozen out of its collections (gc.freeze
    before the fork), and this process's collector is as it was after the call."""
    frozen = gc.get_freeze_count()
    gc.unfreeze()
    try:
        told = told_by_a_helper(lambda: str(gc.get_freeze_count() > 0))
        assert gc.get_freeze_count() == 0
    finally:
        if frozen:
            gc.freeze()
    assert told == "True"


def test_what_a_run_froze_stays_frozen() -> None:
    """Objects frozen before the call (a run freezes at its start, unfreezes at its end)
    are still frozen after it: the call thaws nothing it did not freeze."""
    gc.freeze()
    frozen = gc.get_freeze_count()
    told_by_a_helper(lambda: "")
    assert gc.get_freeze_count() >= frozen


BLOCKED_RUN = textwrap.dedent(
    """
    import os, sys
    from automation.parallel import Forked

    told, gate = sys.argv[1:]
    parent = os.getpid()

    def blocks(x):
        if os.getpid() != parent:
            with open(told, "w") as tell:
                tell.write(str(os.getpid()))
        with open(gate, "rb") as wait:  # no writer ever comes
            wait.read()
        return x

    Forked(2)(blocks, [0, 1])
    """
)


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="watches the helper with a pidfd")
def test_a_helper_ends_with_the_process_that_forked_it() -> None:
    """A run SIGKILLed while its helper works on an item: the helper ends too (the kernel
    kills it when its parent ends); it does not live on, holding memory and a core."""
    with tempfile.TemporaryDirectory() as folder:
        told, gate = os.path.join(folder, "told"), os.path.join(folder, "gate")
        for fifo in (told, gate):
            os.mkfifo(fifo)
        heard = os.open(told, os.O_RDONLY | os.O_NONBLOCK)
        run = subprocess.Popen([sys.executable, "-c", BLOCKED_RUN, told, gate])
        helper = 0
        try:
            assert select.select([heard], [], [], 60)[0], "the helper never began its item"
            helper = int(os.read(heard, 64))
            watch = os.pidfd_open(helper)
            run.kill()
            run.wait()
            ended = select.select([watch], [], [], 60)[0]
            os.close(watch)
        finally:
            run.kill()
            run.wait()
            os.close(heard)
            if helper:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(helper, signal.SIGKILL)
        assert ended, f"helper {helper} outlived the killed run"


def test_items_that_cost_nothing_stay_in_this_process() -> None:
    """One item with a cost among free ones (a saved sheet among stored readings): no fork."""
    where = Forked(2)(lambda _: os.getpid(), list(range(6)), [0, 0, 0, 9, 0, 0])
    assert where == [PARENT] * 6


def test_items_of_too_little_cost_in_all_are_mapped_here() -> None:
    """Below ``min_weight`` nothing is forked: the fork would cost more than it saves."""
    where = Forked(2, min_weight=100)(lambda _: os.getpid(), [1, 2, 3], [30, 30, 30])
    assert where == [PARENT] * 3


def test_a_helper_that_dies_costs_time_not_results() -> None:
    """A helper killed mid-share: its unwritten items are computed here."""

    def dies_on_5(x: int) -> int:
        if x == 5 and in_helper():
            os._exit(3)
        return x + 1

    assert Forked(2)(dies_on_5, list(range(10))) == list(range(1, 11))


def test_a_helper_that_hangs_is_taken_over_and_ended() -> None:
    """A helper stuck on an item: this process computes the item after waiting what such an
    item takes here, and the helper is killed and reaped."""

    def hangs_in_helper(x: int) -> int:
        if in_helper():
            select.select([], [], [])  # blocks for ever: the parent must not wait for it
        return -x

    assert Forked(3)(hangs_in_helper, list(range(9))) == [-x for x in range(9)]


def test_a_raise_is_the_one_the_plain_map_raises_first() -> None:
    """Items 3 and 7 raise: the call raises item 3's error, as [f(x) for x] would, even
    when a helper met it and this process met item 7 first."""

    def fails(x: int) -> int:
        if x in (3, 7):
            raise ValueError(f"item {x}")
        return x

    with pytest.raises(ValueError, match="item 3"):
        Forked(2)(fails, list(range(10)), [1, 1, 1, 1, 1, 1, 1, 9, 1, 1])


def test_a_result_that_cannot_be_pickled_is_computed_here() -> None:
    """A helper's result that pickle refuses: the item is computed in this process."""
    items = list(range(6))
    results = Forked(2)(lambda x: lambda: x, items)
    assert [f() for f in results] == items


def test_without_fork_this_process_maps_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the system refuses a fork (out of processes), the map still completes here."""

    def refuse() -> int:
        raise OSError("fork refused")

    monkeypatch.setattr(parallel.os, "fork", refuse)
    assert Forked(3)(square, [1, 2, 3, 4]) == [square(x) for x in (1, 2, 3, 4)]


def test_the_shares_are_about_equal_in_cost() -> None:
    """Heaviest first to the lightest share: no share weighs more than half plus an item."""
    weights = [9, 1, 1, 1, 8, 2, 2, 7, 3, 3]
    shares = parallel._shares(weights, list(range(10)), 2)
    loads = [sum(weights[i] for i in share) for share in shares]
    assert sorted(i for share in shares for i in share) == list(range(10))
    assert max(loads) - min(loads) <= max(weights)
    assert all(share == sorted(share) for share in shares)


@pytest.mark.parametrize(
    ("setting", "cpus", "platform", "expected"),
    [
        ("auto", 2, "linux", 2),
        ("auto", 16, "linux", parallel.MAX_AUTO_PROCESSES),
        ("auto", 1, "linux", 1),
        (3, 16, "linux", 3),
        ("auto", 8, "darwin", 1),
        (2, 8, "darwin", 2),
    ],
)
def test_processes_for_a_setting(
    monkeypatch: pytest.MonkeyPatch, setting: int | str, cpus: int, platform: str, expected: int
) -> None:
    """auto: the CPUs this process may use, at most MAX_AUTO_PROCESSES, on Linux only (a
    fork without exec is unsafe on macOS); a number as written."""
    monkeypatch.setattr(parallel, "usable_cpus", lambda: cpus)
    assert processes_for(setting, platform) == expected


def test_serial_is_the_plain_map() -> None:
    """The one-process mapper is [f(x) for x in items]."""
    f: Callable[[int], tuple[int, str]] = square
    assert serial(f, [3, 1, 2]) == [f(3), f(1), f(2)]


def test_a_run_reads_sheets_in_the_configured_number_of_processes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """cpu.processes decides the run's mapper; under FORK_AT_BYTES of XML nothing forks."""
    monkeypatch.setattr(parallel, "usable_cpus", lambda: 8)
    assert sheet_mapper(CpuConfig(processes=1)).processes == 1
    assert sheet_mapper(CpuConfig(processes=3)).processes == 3
    assert sheet_mapper(CpuConfig()).processes == parallel.MAX_AUTO_PROCESSES
    assert sheet_mapper(CpuConfig()).min_weight == FORK_AT_BYTES


@pytest.fixture
def patient(monkeypatch: pytest.MonkeyPatch) -> None:
    """A helper ahead is waited for up to a minute before the call is made here: a bound
    reached only by a stuck helper (a loaded machine can keep a nice helper past 5 s)."""
    monkeypatch.setattr(parallel, "AHEAD_PATIENCE_S", 60.0)


def made_where(item: int, given: Callable[[], int]) -> tuple[int, int, int]:
    """(item + given, the process that made it, its niceness)."""
    return item + given(), os.getpid(), os.nice(0)


@pytest.mark.usefixtures("patient")
def test_a_call_ahead_is_made_in_a_helper_with_what_it_is_given_later() -> None:
    """Ahead(f, item) starts f in a helper now; give(value) hands it the rest: the result is
    f(item, lambda: value), made by the helper."""
    ahead = Ahead(made_where, 40)
    ahead.give(2)
    total, pid, _ = ahead.result()
    assert ahead.forked and total == 42 and pid != PARENT


@pytest.mark.usefixtures("patient")
def test_a_helper_ahead_yields_the_cores_to_this_process() -> None:
    """The helper runs AHEAD_NICE steps nicer than this process (the report goes first)."""
    ahead = Ahead(made_where, 0)
    ahead.give(0)
    assert ahead.result()[2] == min(os.nice(0) + parallel.AHEAD_NICE, 19)


def test_a_call_ahead_whose_helper_dies_is_made_here() -> None:
    """A helper that dies before delivering: the call is made in this process."""

    def dies_in_helper(item: int, given: Callable[[], int]) -> int:
        if in_helper():
            os._exit(3)
        return item * given()

    ahead = Ahead(dies_in_helper, 6)
    ahead.give(7)
    assert ahead.result() == 42


def test_a_call_ahead_that_raises_raises_here() -> None:
    """A call that raises in the helper is made again here, and raises here."""

    def fails(item: int, given: Callable[[], int]) -> int:
        raise ValueError(f"item {item} given {given()}")

    ahead = Ahead(fails, 1)
    ahead.give(2)
    with pytest.raises(ValueError, match="item 1 given 2"):
        ahead.result()


def test_a_call_ahead_whose_helper_hangs_is_made_here_once_patience_is_spent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A helper stuck past AHEAD_PATIENCE_S (and the ratio of what it ran already) is
    killed and reaped, and the call is made here."""
    monkeypatch.setattr(parallel, "AHEAD_PATIENCE_S", 0.05)

    def hangs_in_helper(item: int, given: Callable[[], int]) -> int:
        if in_helper():
            select.select([], [], [])  # blocks for ever
        return item - given()

    ahead = Ahead(hangs_in_helper, 9, clock=lambda: 0.0)  # no time passes: the floor holds
    ahead.give(2)
    assert ahead.result() == 7


def test_a_call_ahead_given_nothing_is_made_here_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """result() before give(): the helper is told nothing will come, and the call is made
    here at once (raising without its value), not once the patience is spent."""
    monkeypatch.setattr(parallel, "AHEAD_PATIENCE_S", 60.0)
    ahead = Ahead(made_where, 1)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="before give"):
        ahead.result()
    assert time.monotonic() - started < parallel.AHEAD_PATIENCE_S / 4


def test_a_cancelled_call_ahead_leaves_no_helper_and_no_descriptor() -> None:
    """cancel() before anything was given: the helper ends and is reaped, and the
    descriptors the call opened are closed."""
    before = set(os.listdir("/proc/self/fd"))
    ahead = Ahead(made_where, 1)
    ahead.cancel()
    assert ahead.forked
    assert set(os.listdir("/proc/self/fd")) == before


def test_a_call_ahead_let_go_unasked_ends_its_helper_and_closes_its_descriptors() -> None:
    """A call ahead dropped with neither result() nor cancel() (its run was cancelled while
    it planned): its helper, waiting for a value that never comes, is ended and reaped, and
    the descriptors the call opened are closed."""
    before = set(os.listdir("/proc/self/fd"))
    ahead = Ahead(made_where, 1)
    assert ahead.forked
    del ahead
    assert set(os.listdir("/proc/self/fd")) == before


def test_a_call_ahead_refused_a_fork_keeps_no_descriptor(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the system refuses a fork, what the call opened for a helper is closed at once:
    its result made here leaves no descriptor open."""

    def refuse() -> int:
        raise OSError("fork refused")

    before = set(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(parallel.os, "fork", refuse)
    ahead = Ahead(made_where, 40)
    ahead.give(2)
    assert ahead.result()[0] == 42
    assert set(os.listdir("/proc/self/fd")) == before


def test_without_fork_a_call_ahead_is_made_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the system refuses a fork, the call is made here once given its value."""

    def refuse() -> int:
        raise OSError("fork refused")

    monkeypatch.setattr(parallel.os, "fork", refuse)
    ahead = Ahead(made_where, 40)
    ahead.give(2)
    assert not ahead.forked and ahead.result()[:2] == (42, PARENT)


@pytest.mark.usefixtures("patient")
def test_a_large_value_given_never_waits_for_the_helper() -> None:
    """give() returns while the helper is still busy, whatever the value's size (it goes
    through a file, not a pipe that would fill); the helper then makes the call with it."""
    # the helper is busy until this process sends it SIGUSR1, blocked here before the fork
    # (so the helper inherits it blocked, and a signal sent early waits for its sigwait)
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})

    def busy_until_told(item: int, given: Callable[[], bytes]) -> tuple[int, int]:
        if in_helper():
            signal.sigwait({signal.SIGUSR1})
        return item + len(given()), os.getpid()

    try:
        ahead = Ahead(busy_until_told, 1)
        helper = ahead._helper
        assert helper is not None
        ahead.give(b"x" * (4 * 1024 * 1024))  # returns: the helper has read nothing yet
        os.kill(helper.pid, signal.SIGUSR1)
        total, pid = ahead.result()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
    assert total == 1 + 4 * 1024 * 1024 and pid != PARENT


def test_a_helper_s_patience_counts_from_the_value_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A helper that had its value a moment ago is waited for AHEAD_PATIENCE_S, however long
    it waited for the value before: a stuck one is not given three times the run's age."""
    monkeypatch.setattr(parallel, "AHEAD_PATIENCE_S", 0.05)
    times = iter([0.0, 1000.0, 1000.0])  # started; given 1000 s later; asked at once

    def stuck_a_while(item: int, given: Callable[[], int]) -> tuple[int, int]:
        if in_helper():
            select.select([], [], [], 2)  # longer than the patience, short of a hung suite
        return item + given(), os.getpid()

    ahead = Ahead(stuck_a_while, 1, clock=lambda: next(times))
    ahead.give(1)
    assert ahead.result() == (2, PARENT)
