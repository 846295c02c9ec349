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
import sqlite3
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import fake_entra, fault_trials
from tests import serve_harness as h
from tests.fake_graph import FakeGraph
from tests.ports import held_port

pytestmark = pytest.mark.e2e
TRIALS = int(os.environ.get("CRASH_TRIALS", "30"))
FAULT_TRIALS = int(os.environ.get("FAULT_TRIALS", str(len(h.FAULTS) * len(h.SENDS))))


@pytest.fixture
def fake() -> FakeGraph:
    """The fake tenant with the workbook, the mailbox and the channel."""
    return h.seeded_fake()


@pytest.fixture
def switch(fake: FakeGraph) -> Iterator[h.KillSwitch]:
    """The kill switch in front of the fake (it can also hold requests back)."""
    switch = h.KillSwitch(fake.app)
    fake.app = switch
    yield switch
    switch.let_go()  # a spec that failed while holding leaves no request waiting


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
    switch.hold.add("/sendMail")  # each mail is held past the grace, until let go
    daemon = h.Daemon(config, tmp_path / "log")
    assert h.wait_for(lambda: bool(switch.held), timeout=60)
    assert daemon.terminate() == 0
    switch.let_go()
    again = h.Daemon(config, tmp_path / "log")
    assert h.wait_for(lambda: h.delivered(fake, 1), timeout=60)
    assert again.terminate() == 0
    assert h.duplicates(fake, range(1, 2)) == []


def test_throttling_and_outages_delay_deliveries_but_lose_none(
    fake: FakeGraph, base_url: str, tmp_path: Path
) -> None:
    """429 with Retry-After, 503, 504, connection resets and a 401 only delay the report."""
    fake.fail("POST", r"/sendMail$", 429, times=3, retry_after=1)
    fake.fail("GET", rf"/items/{h.BOOK}$", 503, times=2, retry_after=1)  # the workbook's read
    fake.fail("GET", rf"/items/{h.BOOK}$", 504, times=1)
    fake.reset_connection("POST", r"/messages$", times=2)
    fake.fail("POST", r"/messages$", 401, times=1)
    fake.reset_connection("PUT", r"/content$", times=1)
    daemon = h.Daemon(h.write_config(tmp_path / "d", base_url), tmp_path / "log")
    assert h.wait_for(lambda: h.delivered(fake, 1), timeout=90), (tmp_path / "log").read_text()
    assert daemon.terminate() == 0
    assert fake.faults_pending() == 0
    assert h.duplicates(fake, range(1, 2)) == []


def healthz(port: int) -> dict[str, Any]:
    """GET /healthz."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=h.AT_MOST) as response:
        body: dict[str, Any] = json.loads(response.read())
        return body


def last_status(port: int, flow: str) -> object:
    """The status of ``flow``'s last run as /healthz tells it."""
    return healthz(port)["flows"][flow]["last_status"]


def test_health_and_metrics_are_served_on_request(
    fake: FakeGraph, base_url: str, tmp_path: Path
) -> None:
    """--health-port serves /healthz (JSON) and /metrics (Prometheus) on 127.0.0.1."""
    config = h.write_config(tmp_path / "d", base_url)
    with held_port() as port:
        daemon = h.Daemon(config, tmp_path / "log", extra=["--health-port", str(port)])
        assert h.wait_for(lambda: h.delivered(fake, 1), timeout=60)
        assert h.wait_for(lambda: last_status(port, "damage") == "ok", timeout=h.AT_MOST)
        health = healthz(port)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=h.AT_MOST) as got:
            metrics = got.read().decode()
        assert daemon.terminate() == 0
    assert (health["status"], health["scheduler"]) == ("ok", "running")
    assert health["flows"]["damage"]["next_run"] is not None
    assert 'automation_runs_total{flow="damage",status="ok"}' in metrics
    assert "automation_graph_requests_total" in metrics


def test_the_daemon_runs_on_the_system_allocator_in_its_own_process(
    fake: FakeGraph, base_url: str, tmp_path: Path
) -> None:
    """serve re-executes itself with PYTHONMALLOC=malloc, keeping its process id."""
    # so a large run's memory can be handed back after it
    config = h.write_config(tmp_path / "d", base_url)
    daemon = h.Daemon(config, tmp_path / "log")
    assert h.wait_for(lambda: h.delivered(fake, 1), timeout=60)
    environ = Path(f"/proc/{daemon.pid}/environ").read_bytes().split(b"\0")
    assert daemon.terminate() == 0
    assert b"PYTHONMALLOC=malloc" in environ


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
        # the daemon polls every second, so the n-th request always comes: mid-round or after
        assert h.wait_for(lambda d=daemon: not d.alive(), timeout=h.AT_MOST), (
            f"the daemon was not killed at request n in 第{number}報's round\n"
            f"{log.read_text()[-3000:]}"
        )
        daemon.reap()
        switch.disarm()  # (a daemon that died of anything else left the count running)
        daemon = h.Daemon(config, log)
        assert h.wait_for(lambda n=number: h.delivered(fake, n), timeout=60), (
            f"第{number}報 was not delivered\n{log.read_text()[-3000:]}"
        )
    assert daemon.terminate() == 0
    assert len(switch.kills) == TRIALS, switch.kills  # the kills really happened
    assert h.duplicates(fake, range(1, TRIALS + 2)) == []
    assert set(outbox_statuses(config)) == {"sent"}


def test_ui_port_serves_the_console_and_sigterm_still_stops_the_daemon(
    fake: FakeGraph, base_url: str, tmp_path: Path
) -> None:
    """--ui-port serves the console, and SIGTERM still stops the daemon with exit code 0."""
    # sign-in required; no traceback in the log
    config = h.write_config(tmp_path / "d", base_url)
    with held_port() as port:
        daemon = h.Daemon(config, tmp_path / "log", extra=["--ui-port", str(port)])
        assert h.wait_for(lambda: h.delivered(fake, 1), timeout=60)
        assert h.wait_for(lambda: healthz(port) == {"status": "ok"}, timeout=h.AT_MOST)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=h.AT_MOST) as response:
            landed, page = response.url, response.read().decode()
        assert daemon.terminate() == 0
    assert landed.endswith("/login") and "サインイン" in page
    assert "Traceback" not in (tmp_path / "log").read_text(encoding="utf-8", errors="replace")


def test_kill_or_lost_reply_at_each_kind_of_send_delivers_as_promised(
    fake: FakeGraph, switch: h.KillSwitch, config: Path, tmp_path: Path
) -> None:
    """A kill or lost reply at any send: mail and posts arrive once, the webhook at least once."""
    # SIGKILL before/after Graph acts, or a lost reply, at mail, channel post, webhook and
    # upload; each run recorded
    table = fault_trials.run_trials(fake, switch, config, tmp_path / "daemon.log", FAULT_TRIALS)
    cells = list(table.values())
    trials = sum(c.trials for c in cells)
    assert [(k, c.lost, c.duplicated) for k, c in table.items() if c.lost or c.duplicated] == []
    assert sum(c.mail_once for c in cells) == sum(c.channel_once for c in cells) == trials
    assert sum(c.webhook_at_least_once for c in cells) == trials
    assert sum(c.upload_once for c in cells) == sum(c.record_present for c in cells) == trials
    assert len(switch.lost) == sum(table[("reply_lost", s)].trials for s in h.SENDS)
    assert "running" not in {status for status, _ in h.runs(config)[:-1]}


def test_an_expired_app_secret_fails_runs_alerts_once_and_recovers_once(
    fake: FakeGraph, base_url: str, tmp_path: Path
) -> None:
    """A refused app secret fails runs (auth) with one alert; the renewed one sends one recovery."""
    # every run is recorded failed; with the renewed secret the report goes out
    accepts = tmp_path / "accepted-secret"
    accepts.write_text("renewed", encoding="utf-8")
    config = h.write_config(tmp_path / "d", base_url)
    text = config.read_text(encoding="utf-8").replace(
        "auth: {type: access_token, token: '${FAKE_GRAPH_TOKEN}'}",
        "auth: {type: client_secret, tenant_id: 1111-tenant, client_id: 2222-app, "
        "client_secret: '${GRAPH_SECRET}'}",
    )
    alerts = FakeGraph.webhook_url("admins", base_url)
    text = text.replace(
        "service:\n",
        f"service:\n  alerts: [{{channel: teams_webhook, address: '{alerts}'}}]\n"
        "  alert_after_failures: 2\n",
    )
    config.write_text(text, encoding="utf-8")
    env = {"GRAPH_SECRET": "expired", fake_entra.ACCEPTS: str(accepts)}
    log = tmp_path / "log"

    def titles() -> list[str]:
        return [str(c["body"][0]["text"]) for c in fake.cards("admins")]

    daemon = h.Daemon(config, log, env=env, module="tests.fake_entra")
    assert h.wait_for(lambda: len(h.runs(config)) >= 4 and titles(), timeout=60), log.read_text()
    assert daemon.terminate() == 0
    failed = [json.loads(r) for r in records(config)]
    assert {(r["status"], r["error"]["kind"]) for r in failed} == {("failed", "auth")}
    assert "AADSTS7000222" in failed[0]["error"]["message"]
    assert titles() == ["フロー damage が失敗しています"]
    renewed = h.Daemon(
        config, log, env={**env, "GRAPH_SECRET": "renewed"}, module="tests.fake_entra"
    )
    assert h.wait_for(lambda: h.delivered(fake, 1) and len(titles()) == 2, timeout=60)
    assert renewed.terminate() == 0
    assert titles() == ["フロー damage が失敗しています", "フロー damage が回復しました"]
    assert "Traceback" not in log.read_text(encoding="utf-8")


def records(config: Path) -> list[str]:
    """The JSON record of every finished run."""
    with sqlite3.connect(config.parent / "state" / "db.sqlite") as db:
        rows = db.execute("SELECT record FROM runs WHERE record IS NOT NULL ORDER BY id")
        return [str(record) for (record,) in rows]
