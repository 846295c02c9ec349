"""``automation serve`` as a subprocess against the fake Graph: crashes, stopping, faults, health.

The crash test kills the daemon with SIGKILL at varied points, restarts it, again and again:
nothing is lost and nothing is delivered twice (mail and Teams channel posts, which can be
checked). Each trial changes the departments' workbook on the fake Graph, so the daemon
issues a new report (第N報) for two mailboxes and the response team's channel, then kills the
daemon at a random request of that round: before the fake acts on it, or after the fake acted
but before the daemon hears the answer (a mail in Sent Items whose outbox entry still says
'sending'). The daemon is started again and the round must complete with exactly one copy
for everyone. ``CRASH_TRIALS`` sets the number of trials (30 by default; bench/crash_soak.py
runs 200+).
"""

from __future__ import annotations

import json
import os
import random
import socket
import sqlite3
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import serve_harness as h
from tests.fake_graph import FakeGraph

pytestmark = pytest.mark.e2e
TRIALS = int(os.environ.get("CRASH_TRIALS", "30"))


@pytest.fixture
def fake() -> FakeGraph:
    """The fake tenant with the workbook, the mailbox and the channel."""
    return h.seeded_fake()


@pytest.fixture
def switch(fake: FakeGraph) -> h.KillSwitch:
    """The kill switch in front of the fake (it can also slow requests down)."""
    switch = h.KillSwitch(fake.app)
    fake.app = switch
    return switch


@pytest.fixture
def base_url(fake: FakeGraph, switch: h.KillSwitch) -> Iterator[str]:
    """The fake served on 127.0.0.1."""
    with fake.serve() as url:
        yield url


@pytest.fixture
def config(tmp_path: Path, base_url: str) -> Path:
    """The daemon's configuration for the served fake."""
    return h.write_config(tmp_path / "daemon", base_url)


def test_sigterm_mid_delivery_exits_0_and_delivers_once_after_restart(
    fake: FakeGraph, switch: h.KillSwitch, base_url: str, tmp_path: Path
) -> None:
    """A send in flight when SIGTERM comes is finished or safely abandoned; nothing doubles."""
    config = h.write_config(tmp_path / "d", base_url, grace=0.5)
    switch.delay["/sendMail"] = 3.0  # each mail takes longer than the grace
    daemon = h.Daemon(config, tmp_path / "log")
    assert h.wait_for(lambda: bool(fake.requests_to(r"/sendMail$")), timeout=60)
    assert daemon.terminate(timeout=20) == 0
    switch.delay.clear()
    again = h.Daemon(config, tmp_path / "log")
    assert h.wait_for(lambda: h.delivered(fake, 1), timeout=60)
    assert again.terminate() == 0
    assert h.duplicates(fake, range(1, 2)) == []


def test_throttling_and_outages_delay_deliveries_but_lose_none(
    fake: FakeGraph, base_url: str, tmp_path: Path
) -> None:
    """429 with Retry-After, 503, 504, connection resets and a 401 only delay the report."""
    fake.fail("POST", r"/sendMail$", 429, times=3, retry_after=1)
    fake.fail("GET", r"/content$", 503, times=2, retry_after=1)
    fake.fail("GET", r"/content$", 504, times=1)
    fake.reset_connection("POST", r"/messages$", times=2)
    fake.fail("POST", r"/messages$", 401, times=1)
    fake.reset_connection("PUT", r"/content$", times=1)
    daemon = h.Daemon(h.write_config(tmp_path / "d", base_url), tmp_path / "log")
    assert h.wait_for(lambda: h.delivered(fake, 1), timeout=90), (tmp_path / "log").read_text()
    assert daemon.terminate() == 0
    assert fake.faults_pending() == 0
    assert h.duplicates(fake, range(1, 2)) == []


def free_port() -> int:
    """A TCP port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthz(port: int) -> dict[str, Any]:
    """GET /healthz."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
        body: dict[str, Any] = json.loads(response.read())
        return body


def test_health_and_metrics_are_served_on_request(
    fake: FakeGraph, base_url: str, tmp_path: Path
) -> None:
    """--health-port serves /healthz (JSON) and /metrics (Prometheus) on 127.0.0.1."""
    port = free_port()
    config = h.write_config(tmp_path / "d", base_url)
    daemon = h.Daemon(config, tmp_path / "log", extra=["--health-port", str(port)])
    assert h.wait_for(lambda: h.delivered(fake, 1), timeout=60)
    assert h.wait_for(lambda: healthz(port)["flows"]["damage"]["last_status"] == "ok", timeout=10)
    health = healthz(port)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        metrics = response.read().decode()
    assert daemon.terminate() == 0
    assert (health["status"], health["scheduler"]) == ("ok", "running")
    assert health["flows"]["damage"]["next_run"] is not None
    assert 'automation_runs_total{flow="damage",status="ok"}' in metrics
    assert "automation_graph_requests_total" in metrics


def outbox_statuses(config: Path) -> dict[str, int]:
    """How many messages are in each outbox status."""
    with sqlite3.connect(config.parent / "state" / "db.sqlite") as db:
        return dict(db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall())


def test_kill_nine_at_any_point_loses_nothing_and_sends_nothing_twice(
    fake: FakeGraph, switch: h.KillSwitch, config: Path, tmp_path: Path
) -> None:
    """After every SIGKILL and restart, each report reaches each recipient exactly once."""
    rng = random.Random(20260901)
    log = tmp_path / "daemon.log"
    daemon = h.Daemon(config, log)
    assert h.wait_for(lambda: h.delivered(fake, 1), timeout=60), log.read_text()
    for number in range(2, TRIALS + 2):
        switch.arm(daemon.pid, nth=rng.randint(1, 9), after_acting=rng.random() < 0.7)
        fake.set_content(h.DRIVE, h.BOOK, h.workbook(number))
        if h.wait_for(lambda d=daemon: not d.alive(), timeout=8):
            daemon.reap()
            daemon = h.Daemon(config, log)
        switch.disarm()
        assert h.wait_for(lambda n=number: h.delivered(fake, n), timeout=60), (
            f"第{number}報 was not delivered\n{log.read_text()[-3000:]}"
        )
    assert daemon.terminate() == 0
    assert len(switch.kills) >= TRIALS // 2, switch.kills  # the kills really happened
    assert h.duplicates(fake, range(1, TRIALS + 2)) == []
    assert set(outbox_statuses(config)) == {"sent"}


def test_ui_port_serves_the_console_and_sigterm_still_stops_the_daemon(
    fake: FakeGraph, base_url: str, tmp_path: Path
) -> None:
    """--ui-port serves the console (sign-in required) and the daemon keeps SIGTERM."""
    port = free_port()
    config = h.write_config(tmp_path / "d", base_url)
    daemon = h.Daemon(config, tmp_path / "log", extra=["--ui-port", str(port)])
    assert h.wait_for(lambda: h.delivered(fake, 1), timeout=60)
    assert h.wait_for(lambda: healthz(port) == {"status": "ok"}, timeout=10)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
        landed, page = response.url, response.read().decode()
    assert daemon.terminate() == 0
    assert landed.endswith("/login") and "サインイン" in page
