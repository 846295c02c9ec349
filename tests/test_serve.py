"""``automation serve`` as a subprocess against the fake Graph: stopping, faults, health."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import serve_harness as h
from tests.fake_graph import FakeGraph

pytestmark = pytest.mark.e2e


@pytest.fixture
def fake() -> FakeGraph:
    """The fake tenant with the workbook, the mailbox and the channel."""
    return h.seeded_fake()


@pytest.fixture
def switch(fake: FakeGraph) -> h.KillSwitch:
    """A wrapper in front of the fake (used here to slow requests down)."""
    switch = h.KillSwitch(fake.app)
    fake.app = switch
    return switch


@pytest.fixture
def base_url(fake: FakeGraph, switch: h.KillSwitch) -> Iterator[str]:
    """The fake served on 127.0.0.1."""
    with fake.serve() as url:
        yield url


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
