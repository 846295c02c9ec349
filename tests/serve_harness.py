"""Run ``automation serve`` as a subprocess against the fake Graph, and kill it at chosen points.

A :class:`KillSwitch` wraps the fake's ASGI app: armed, it kills the daemon (SIGKILL) at the
n-th request it sees, either before the fake acts on the request (nothing happened) or after
the fake acted but before the answer leaves (the send happened; the daemon never hears of
it). The second is the hard case for exactly-once delivery: a mail in Sent Items or a post
in the channel whose outbox entry still says ``sending``. Armed on a kind of request
(:meth:`KillSwitch.arm_on`), it can also lose the reply instead: the fake acts, the
connection is reset, and the daemon lives on with a send whose outcome it does not know.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from tests.fake_graph import FakeGraph
from tests.fake_graph.faults import _reset_connection

TOKEN = "fake-graph-token"
WEBHOOK = "bousai-soukatsu"
DRIVE = "b!crash-drive"
BOOK = "01CRASHBOOK"
TEAM = "00000000-0000-0000-0000-00000000a001"
CHANNEL = "19:crash@thread.tacv2"
MAILBOX = "bousai-automation@pref.example"
REPORT_TO = ("bousai-1@pref.example", "bousai-2@pref.example")
CONFIG = """\
version: 1
state: {{path: state/db.sqlite}}
backend:
  type: graph
  base_url: {base_url}
  auth: {{type: access_token, token: '${{FAKE_GRAPH_TOKEN}}'}}
  mailbox: {mailbox}
  service_account: {{type: access_token, token: '${{FAKE_GRAPH_TOKEN}}'}}
  limits: {{mails_per_minute: 6000, webhook_posts_per_second: 100, channel_posts_per_second: 100}}
directory:
  departments:
    - name: 危機管理課
      sheet: 危機管理課
      contacts: [{{channel: mail, address: kiki@pref.example}}]
service:
  outbox: {{backoff_seconds: [0.5], max_attempts: 100, mail_settle_seconds: 1}}
  shutdown_grace_seconds: {grace}
flows:
  - id: damage
    kind: damage_rollup
    schedule: {{every_seconds: 1}}
    params:
      disaster: 台風
      workbook: {{drive_id: '{drive}', item_id: {book}}}
      report_to:
        - {{channel: mail, address: {first}}}
        - {{channel: mail, address: {second}}}
        - {{channel: teams_channel, address: '{team}/{channel}'}}
        - {{channel: teams_webhook, address: '{webhook}', name: 防災総括班}}
"""


def workbook(dead: int) -> bytes:
    """A one-department workbook reporting ``dead`` 死者 in 前橋市."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "危機管理課"
    sheet.append(["市町村", "死者", "軽傷者"])
    sheet.append(["前橋市", dead, 0])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def seeded_fake() -> FakeGraph:
    """The fake tenant: the workbook, the mailbox and the response team's channel."""
    fake = FakeGraph(token=TOKEN)
    fake.add_folder(DRIVE, "01CRASHFOLDER", "/General")
    fake.add_drive_item(DRIVE, BOOK, "被害報告.xlsx", workbook(0), parent_path="/General")
    fake.add_team_channel(TEAM, CHANNEL, "General", DRIVE, "01CRASHFOLDER")
    fake.add_user(MAILBOX)
    return fake


def write_config(folder: Path, base_url: str, grace: float = 5) -> Path:
    """The daemon's configuration for the fake at ``base_url``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "automation.yaml"
    path.write_text(
        CONFIG.format(
            base_url=base_url,
            mailbox=MAILBOX,
            grace=grace,
            drive=DRIVE,
            book=BOOK,
            first=REPORT_TO[0],
            second=REPORT_TO[1],
            team=TEAM,
            channel=CHANNEL,
            webhook=FakeGraph.webhook_url(WEBHOOK, base_url),
        ),
        encoding="utf-8",
    )
    return path


# Faults a trial can inject at a send: SIGKILL before the fake acts, SIGKILL after it acted
# (before the answer leaves), or the answer lost after it acted (the daemon lives on).
FAULTS = ("kill_before", "kill_after", "reply_lost")
HOLD_AT_MOST = 120.0  # seconds: a held request goes on by then even if no spec lets it go
AT_MOST = 60.0  # seconds: a bound on waiting for a daemon to start or end, never a timing
# The request of each kind of send, as (method, path pattern).
SENDS = {
    "mail": ("POST", re.compile(r"/sendMail$")),
    "channel": ("POST", re.compile(r"/channels/[^/]+/messages$")),
    "webhook": ("POST", re.compile(r"^/webhooks/")),
    "upload": ("PUT", re.compile(r"/content$")),
}


@dataclass
class KillSwitch:
    """An ASGI wrapper that SIGKILLs the daemon at the n-th request once armed, or at the
    first request of a kind of send (killing it, or losing the reply)."""

    app: Any
    pid: int | None = None
    countdown: int = 0
    after_acting: bool = True
    target: tuple[str, re.Pattern[str]] | None = None  # (method, path) armed with arm_on
    fault: str = "kill_after"
    kills: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    hold: set[str] = field(default_factory=set)  # path fragments held until let_go()
    released: threading.Event = field(default_factory=threading.Event)
    held: list[str] = field(default_factory=list)  # paths of the requests held so far
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def arm(self, pid: int, nth: int, after_acting: bool) -> None:
        """Kill ``pid`` at the ``nth`` request from now."""
        with self._lock:
            self.pid, self.countdown, self.after_acting = pid, nth, after_acting

    def arm_on(self, pid: int, send: str, fault: str) -> None:
        """Inject ``fault`` (one of FAULTS) at the next request of kind ``send`` (SENDS)."""
        with self._lock:
            self.pid, self.target, self.fault = pid, SENDS[send], fault
            self.after_acting = fault != "kill_before"

    def disarm(self) -> None:
        """Kill nobody."""
        with self._lock:
            self.countdown = 0
            self.target = None

    def let_go(self) -> None:
        """Pass the held requests on to the fake, and hold no more."""
        self.hold.clear()
        self.released.set()

    def _due(self, method: str, path: str) -> str | None:
        """The fault to inject at this request, if any (counts it down)."""
        with self._lock:
            if self.target is not None:
                if method != self.target[0] or not self.target[1].search(path):
                    return None
                self.target = None
                return self.fault
            if self.countdown > 0:
                self.countdown -= 1
                if self.countdown == 0:
                    return "kill_after" if self.after_acting else "kill_before"
            return None

    def _fire(self, path: str) -> None:
        if self.pid is not None:
            self.kills.append(path)
            os.kill(self.pid, signal.SIGKILL)
            self.pid = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Forward to the fake, killing the daemon around the chosen request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if any(fragment in path for fragment in self.hold):
            self.held.append(path)
            await asyncio.to_thread(self.released.wait, HOLD_AT_MOST)
        fault = self._due(scope["method"], path)
        if fault == "kill_before":
            self._fire(path)
            return
        if fault == "reply_lost":

            async def discard(message: Any) -> None:
                return None

            await self.app(scope, receive, discard)  # the fake acts; the answer is lost
            self.lost.append(path)
            await _reset_connection(send, receive)
            return

        async def guarded_send(message: Any) -> None:
            if fault == "kill_after" and message["type"] == "http.response.start":
                self._fire(path)  # the fake acted; the answer never reaches the daemon
            await send(message)

        await self.app(scope, receive, guarded_send)


class Daemon:
    """One ``automation serve`` subprocess."""

    def __init__(
        self,
        config: Path,
        log: Path,
        extra: list[str] | None = None,
        *,
        env: dict[str, str] | None = None,
        module: str = "automation",
    ) -> None:
        env = {**os.environ, "FAKE_GRAPH_TOKEN": TOKEN, **(env or {})}
        self.log_path = log
        self.starts_before = self._starts()
        self.log = log.open("ab")
        root = str(Path(__file__).resolve().parents[1])  # so `-m tests.fake_entra` imports
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, "serve", "-c", str(config), *(extra or [])],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=config.parent,
        )

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    def alive(self) -> bool:
        """Whether it still runs."""
        return self.process.poll() is None

    def _starts(self) -> int:
        """How many daemons have logged that they serve (into the shared log)."""
        if not self.log_path.exists():
            return 0
        return self.log_path.read_text(encoding="utf-8", errors="replace").count('"started"')

    def ready(self, timeout: float = AT_MOST) -> bool:
        """Wait until this daemon serves (its signal handlers are in place)."""
        return wait_for(lambda: self._starts() > self.starts_before, timeout)

    def terminate(self, timeout: float = AT_MOST) -> int:
        """SIGTERM once it serves, then wait for the exit code."""
        self.ready()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self.log.close()
        return code

    def reap(self) -> int | None:
        """Wait for a killed process."""
        try:
            return self.process.wait(timeout=AT_MOST)
        finally:
            self.log.close()


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def mails(fake: FakeGraph, recipient: str, marker: str) -> int:
    """Mails in Sent Items to ``recipient`` whose subject contains ``marker``."""
    return sum(
        1 for m in fake.sent_items(MAILBOX) if recipient in m.recipients and marker in m.subject
    )


def posts(fake: FakeGraph, marker: str) -> int:
    """Channel posts whose subject contains ``marker``."""
    return sum(
        1 for m in fake.channels[(TEAM, CHANNEL)].messages if marker in str(m.get("subject") or "")
    )


def delivered(fake: FakeGraph, number: int) -> bool:
    """Whether report ``number`` reached every recipient (at least once)."""
    marker = f"第{number}報"
    return all(mails(fake, r, marker) >= 1 for r in REPORT_TO) and posts(fake, marker) >= 1


def duplicates(fake: FakeGraph, numbers: range) -> list[str]:
    """Every (report, recipient) that got more than one copy."""
    found = []
    for number in numbers:
        marker = f"第{number}報"
        found += [f"{marker} {r}" for r in REPORT_TO if mails(fake, r, marker) > 1]
        if posts(fake, marker) > 1:
            found.append(f"{marker} channel")
    return found


def cards(fake: FakeGraph, number: int) -> int:
    """Webhook cards whose title names report ``number``."""
    marker = f"第{number}報"
    titles = [str((card.get("body") or [{}])[0].get("text", "")) for card in fake.cards(WEBHOOK)]
    return sum(1 for title in titles if marker in title)


def artefact(fake: FakeGraph, number: int) -> bool:
    """Whether the merged workbook of report ``number`` is stored once next to the workbook."""
    name = f"被害状況集計_第{number}報"
    items = fake.drives[DRIVE].items.values()
    return sum(1 for item in items if item.name.startswith(name)) == 1


def runs(config: Path) -> list[tuple[str, int | None]]:
    """(status, report number) of every run in the daemon's history, oldest first."""
    rows = _query(config, "SELECT status, report_number FROM runs ORDER BY id")
    return [(str(status), number) for status, number in rows or []]


def _query(config: Path, sql: str) -> list[tuple[Any, ...]] | None:
    """Rows of ``sql`` on the daemon's state database; None while the daemon has not yet
    created it (no file, or its tables not yet there)."""
    path = config.parent / "state" / "db.sqlite"
    if not path.exists():
        return None
    try:
        with sqlite3.connect(path) as db:
            return db.execute(sql).fetchall()
    except sqlite3.OperationalError as err:
        if "no such table" in str(err):
            return None
        raise


def settled(config: Path) -> bool:
    """Every queued message is sent and no run but the newest is still running."""
    unsent = _query(config, "SELECT COUNT(*) FROM outbox WHERE status != 'sent'")
    running = _query(
        config,
        "SELECT COUNT(*) FROM runs WHERE status = 'running' AND id < (SELECT MAX(id) FROM runs)",
    )
    return unsent is not None and running is not None and unsent[0][0] == running[0][0] == 0
