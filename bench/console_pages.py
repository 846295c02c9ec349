"""Benchmark: the console's server time per page, and the daemon's RSS with the console on.

Builds a state database with one incident of ``--reports`` reports over ``--departments``
departments (every item of the FDMA form, a few unreadable cells per report; each
department's figures for three items in each of 群馬県's 35 municipalities, as stored for
the per-municipality table), renders 現在の報告, 報告の推移, 進捗, 運用 and the API
``--repeat`` times each in process (the time from request to
full body: an upper bound of server time) and prints p50/p95 per page. Then starts
``automation serve --ui-port`` on that database, signs in over HTTP, opens every page 50
times and reads the daemon's ``VmRSS``.

Targets: p95 < 100 ms per page; daemon RSS < 200 MB with the console on.
Usage: python bench/console_pages.py [--reports 50] [--departments 60] [--repeat 200]
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

from starlette.testclient import TestClient

from automation.console.accounts import hash_password
from automation.console.app import ConsoleSettings, create_app
from automation.damage.catalogue import DEFAULT_ITEMS as ITEMS
from automation.demo import GUNMA_MUNICIPALITIES as MUNICIPALITIES
from automation.state import Fingerprint, Store
from automation.timeutil import JST

START = datetime(2026, 9, 1, 6, 0, tzinfo=JST)
PASSWORD = "bench password 1"
CONFIG = """\
version: 1
state: {path: state/db.sqlite}
backend: {type: local, root: inputs, artefacts: out, deliveries: sent}
directory:
  departments:
    - name: 危機管理課
      sheet: 危機管理課
      contacts: [{channel: mail, address: kiki@example.jp}]
flows:
  - id: damage
    kind: damage_rollup
    params:
      disaster: 台風
      workbook: book.xlsx
      report_to: [{channel: mail, address: bousai@example.jp}]
"""


def figures(names: list[str], number: int) -> dict[str, dict[str, object]]:
    """Each department's figures: three items for every municipality, one flag each."""
    stored: dict[str, dict[str, object]] = {}
    for d, name in enumerate(names):
        codes = [ITEMS[(d * 3 + k) % len(ITEMS)].code for k in range(3)]
        amounts = {m: {c: str(number + d + k) for k, c in enumerate(codes)} for m in MUNICIPALITIES}
        stored[name] = {
            "amounts": amounts,
            "unconfirmed": [[MUNICIPALITIES[d % len(MUNICIPALITIES)], codes[0]]],
            "statuses": {},
        }
    return stored


def progress_record(names: list[str]) -> dict[str, object]:
    """A progress round over the same departments: 10 entries each, 4 of them incomplete."""
    return {
        "kind": "progress_collection",
        "period": "2026H1",
        "period_ja": "2026年度上半期",
        "deadline": "2026-10-09",
        "phase": "reminder",
        "today": "2026-10-05",
        "items": 10 * len(names),
        "complete": 6 * len(names),
        "completion": {n: {"total": 10, "complete": 6, "percent": 60} for n in names},
        "incomplete": [
            {
                "id": f"{d}-{k}",
                "department": n,
                "project": f"事業{k}",
                "link": f"https://example.sharepoint.com/Lists/p/DispForm.aspx?ID={d}{k}",
                "issues": [{"field": "進捗率", "reason": "未入力"}],
            }
            for d, n in enumerate(names)
            for k in range(4)
        ],
        "delayed": [],
        "problems": [],
    }


def build(path: Path, reports: int, departments: int) -> None:
    """An incident with ``reports`` reports over ``departments`` departments."""
    names = [f"部局{i:02d}" for i in range(departments)]
    with Store(path) as store:
        store.save_user("bench", hash_password(PASSWORD), "operator", START)
        for number in range(1, reports + 1):
            now = START + timedelta(hours=number)
            run = store.start_run("damage", now, now)
            store.finish_run(run, "ok", now, {}, number)
            totals = {
                item.code: {
                    "label": item.label,
                    "unit": item.unit,
                    "category": item.category,
                    "value": str(number * (i + 1)),
                    "unconfirmed": i % 3,
                    "unconfirmed_where": names[: i % 3],
                    "unreadable": 0,
                    "unreadable_where": [],
                }
                for i, item in enumerate(ITEMS)
            }
            problems = [
                {
                    "department": n,
                    "where": f"{n}!C7",
                    "value": "多数",
                    "message": "数字を入力",
                    "municipality": "",
                    "item": "",
                }
                for n in names[:5]
            ]
            snapshot = {
                "number": number,
                "as_of": now.isoformat(),
                "signature": str(number),
                "totals": totals,
                "statuses": {},
                "problems": problems,
                "figures": figures(names, number),
            }
            store.save_report("damage", snapshot, run)
        run = store.start_run("progress", START, START)
        store.finish_run(run, "ok", START, progress_record(names))
        store.save_fingerprints(
            "damage",
            [Fingerprint(n, "f", START, i % 4 == 0, i % 9 != 0) for i, n in enumerate(names)],
        )


def render_times(path: Path, repeat: int) -> dict[str, list[float]]:
    """Milliseconds per request for each page, in process."""
    settings = ConsoleSettings(
        state_path=path, secret=b"b" * 32, clock=lambda: START, secure_cookies=False
    )
    client = TestClient(create_app(settings), base_url="http://localhost")
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token
    client.post("/login", data={"csrf": token.group(1), "name": "bench", "password": PASSWORD})
    times: dict[str, list[float]] = {}
    pages = (
        "/",
        "/?sort=evacuees&dir=desc",
        "/timeline",
        "/progress",
        "/ops",
        "/api/reports/latest",
        "/api/reports/damage/municipalities.csv",
    )
    for page in pages:
        samples = []
        for _ in range(repeat):
            begin = time.perf_counter()
            assert client.get(page).status_code == 200
            samples.append((time.perf_counter() - begin) * 1000)
        times[page] = samples
    return times


def daemon_rss(folder: Path) -> float:
    """MB resident of ``automation serve --ui-port`` after every page 50 times."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    exe = str(Path(sys.executable).with_name("automation"))
    proc = subprocess.Popen(  # our own CLI
        [
            exe,
            "serve",
            "-c",
            str(folder / "automation.yaml"),
            "--ui-port",
            str(port),
            "--insecure-cookies",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        for _ in range(200):
            try:
                login = opener.open(f"{base}/login", timeout=5).read().decode()
                break
            except OSError:
                time.sleep(0.1)
        token = re.search(r'name="csrf" value="([^"]+)"', login)
        assert token
        form = urllib.parse.urlencode(
            {"csrf": token.group(1), "name": "bench", "password": PASSWORD}
        ).encode()
        opener.open(f"{base}/login", data=form, timeout=5).read()
        for _ in range(50):
            for page in ("/", "/timeline", "/progress", "/ops"):
                opener.open(f"{base}{page}", timeout=10).read()
        status = Path(f"/proc/{proc.pid}/status").read_text()
        kb = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        return kb / 1024
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def main() -> int:
    """Measure, print, and exit 1 when a target is missed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--reports", type=int, default=50)
    parser.add_argument("--departments", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "inputs").mkdir()
        (folder / "automation.yaml").write_text(CONFIG, encoding="utf-8")
        path = folder / "state" / "db.sqlite"
        build(path, args.reports, args.departments)
        ok = True
        for page, samples in render_times(path, args.repeat).items():
            p95 = statistics.quantiles(samples, n=20)[18]
            ok &= p95 < 100
            print(f"{page:<40} p50 {statistics.median(samples):6.1f} ms  p95 {p95:6.1f} ms")
        rss = daemon_rss(folder)
        ok &= rss < 200
        print(f"daemon RSS with the console on: {rss:.0f} MB (target < 200 MB)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
