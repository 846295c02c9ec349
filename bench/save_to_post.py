"""Benchmark: from a department's save to the consolidated report in the response team's channel.

What the response team feels is the time from a save in the shared workbook to the next
第N報 in their Teams channel. This runs ``automation serve`` (a subprocess) on the Graph
backend against the fake Graph (``tests/fake_graph_workbook.py``) on 127.0.0.1 with
``--latency`` added to every request, the damage flow polling the workbook every ``--poll``
seconds (``schedule: every_seconds``) and reporting to a ``teams_channel`` contact (and the
HQ mailbox). After the first report it waits a random moment (uniform over one poll
interval), then saves: the workbook in the fake's drive is replaced by the same package with
one department's sheet edited (a few figures and that sheet's total, every other part byte
for byte as before), which gives the item a new eTag and cTag as a save in Excel does. It
then waits for the next channel message. Per save it records:

- save -> posted: the message's ``createdDateTime`` minus the item's new
  ``lastModifiedDateTime``, both from the fake's clock;
- download -> posted: from the end of the workbook download the report came from to the
  channel post's arrival (the fake's call log): our own time between having the bytes and
  the report leaving;
- the run's own breakdown (``timings_s`` of the run record in the state database);
- how many channel messages the save produced and the 第N報 they carry: exactly one report
  each, numbered one after the other, and none while nothing changed.

Target (issue 18): p95 save -> posted <= poll interval + 1 s at 60 x 300.

A daemon that exits, a report that does not come within ``--timeout`` seconds of a poll, or
an interrupt stops the measurement with the daemon's last log lines; the daemon is always
stopped (SIGTERM, then SIGKILL).

With ``--every-sheet`` each save changes every department's sheet instead: the run reads the
whole workbook again, which gives the daemon's figure for a full re-read (poll -> posted:
the run's requests and our own time up to the report, interpreter start and imports long
done, as the peers in ``bench/compare.py`` are measured).

Usage: python bench/save_to_post.py [--rows 300] [--saves 30] [--poll 10] [--latency 0.05]
       [--every-sheet] [--quick] [--out DIR]
Writes DIR/save_to_post_60xROWS[_every_sheet].json (``_quick`` for --quick; DIR defaults to bench/results)
and rewrites DIR/save_to_post.md from every save_to_post_*.json there.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import process, scenarios
from bench.serve_idle import free_port, wait_healthy

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
WORK = ROOT / "bench" / "out"
TEAM = "00000000-0000-0000-0000-0000000be7a1"
CHANNEL = "19:bench-response-team@thread.tacv2"
CHANNEL_FOLDER = "01BENCHRESPONSETEAMFOLDER0000001"
REPORT_NUMBER = re.compile(r"第\s*(\d+)\s*報")
# Starts the daemon (argv[1:]) so that it gets SIGTERM when the bench dies, even by SIGKILL:
# Linux's prctl(PR_SET_PDEATHSIG) survives the exec; elsewhere the bench's cleanup is all.
END_WITH_PARENT = """
import ctypes, os, signal, sys
if sys.platform == "linux":
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
os.execv(sys.argv[1], sys.argv[1:])
"""
QUICK = {"sheets": 5, "rows": 20, "saves": 3, "poll": 1}
SHEET_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"


class BenchError(RuntimeError):
    """The measurement cannot go on (the daemon died, a report never came)."""


# --------------------------------------------------------------------------------------------
# A department's save: one sheet part edited, every other part as it was
# --------------------------------------------------------------------------------------------


def sheet_parts(package: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> its part (``xl/worksheets/sheetN.xml``), from workbook.xml and its rels."""
    book = ElementTree.fromstring(package.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(package.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): str(r.get("Target")) for r in rels}
    parts = {}
    for sheet in book.iter(f"{SHEET_NS}sheet"):
        target = targets[sheet.get(f"{REL_NS}id")].lstrip("/")
        parts[str(sheet.get("name"))] = target if target.startswith("xl/") else f"xl/{target}"
    return parts


def edit_figures(xml: str, rows: int, rng: random.Random) -> str:
    """Raise one to three numeric figures of municipality rows, and the total row with them."""
    total_row = rows + 4  # title, blank, header, the rows, then 計
    numbers = re.compile(r'<c r="([A-Z]+)(\d+)"( t="n")?><v>(\d+)</v></c>')  # n: the default
    figures = [m for m in numbers.finditer(xml) if 4 <= int(m.group(2)) < total_row]
    if not figures:
        raise BenchError("the department's sheet has no numeric figure to edit")
    edits: dict[tuple[str, int], int] = {}
    for match in rng.sample(figures, min(len(figures), rng.randint(1, 3))):
        edits[(match.group(1), int(match.group(2)))] = rng.randint(1, 9)
    raised: dict[str, int] = {}
    for (column, _), delta in edits.items():
        raised[column] = raised.get(column, 0) + delta

    def replace(match: re.Match[str]) -> str:
        column, row, value = match.group(1), int(match.group(2)), int(match.group(4))
        delta = edits.get((column, row), 0) + (raised.get(column, 0) if row == total_row else 0)
        kind = match.group(3) or ""
        return f'<c r="{column}{row}"{kind}><v>{value + delta}</v></c>' if delta else match[0]

    return numbers.sub(replace, xml)


def department_saved(data: bytes, department: str, rows: int, rng: random.Random) -> bytes:
    """``data`` as it is after ``department`` saved new figures in its sheet."""
    return departments_saved(data, [department], rows, rng)


def departments_saved(data: bytes, departments: list[str], rows: int, rng: random.Random) -> bytes:
    """``data`` as it is after each of ``departments`` saved new figures in its sheet."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        parts = {sheet_parts(package)[d] for d in departments}
        with zipfile.ZipFile(out, "w") as saved:
            for info in package.infolist():
                content = package.read(info)
                if info.filename in parts:
                    content = edit_figures(content.decode("utf-8"), rows, rng).encode("utf-8")
                saved.writestr(info, content, compress_type=info.compress_type)
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# The daemon and what the fake saw
# --------------------------------------------------------------------------------------------


@dataclass
class Daemon:
    """``automation serve`` as a subprocess, its log in a file."""

    work: Path
    config: Path
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.work / "serve.log"

    def start(self) -> None:
        """Start it and wait for its health endpoint."""
        port = free_port()
        process.forget_composed()  # its first build composes every sheet, as a new host's
        executable = Path(sys.executable).with_name("automation")
        command = [str(executable), "serve", "-c", str(self.config), "--health-port", str(port)]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", END_WITH_PARENT, *command],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.work,
            )
        try:
            wait_healthy(f"http://127.0.0.1:{port}/healthz", self.process)
        except RuntimeError as err:
            raise BenchError(f"{err}\n{self.tail()}") from err

    def check(self) -> None:
        """Raise if the daemon has exited."""
        if self.process is not None and self.process.poll() is not None:
            raise BenchError(
                f"automation serve exited with {self.process.returncode} during the measurement"
                f"\n{self.tail()}"
            )

    def tail(self, lines: int = 15) -> str:
        """The last lines of its log."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return f"last lines of {self.log_path}:\n" + "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 30 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def channel_messages(fake: Any) -> list[dict[str, Any]]:
    """The response team's channel, oldest first."""
    return list(fake.channels[(TEAM, CHANNEL)].messages)


def moment(text: str) -> datetime:
    """A Graph timestamp as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def report_number(message: dict[str, Any]) -> int | None:
    """The 第N報 a channel message carries, if any."""
    text = f"{message.get('subject') or ''} {message['body']['content']}"
    found = REPORT_NUMBER.search(text)
    return int(found.group(1)) if found else None


def wait_for_messages(fake: Any, daemon: Daemon, count: int, timeout: float) -> None:
    """Until the channel holds ``count`` messages; raise if the daemon dies or time runs out."""
    deadline = time.monotonic() + timeout
    while len(channel_messages(fake)) < count:
        daemon.check()
        if time.monotonic() > deadline:
            raise BenchError(
                f"no report in the channel within {timeout:.0f} s (expected message {count}, "
                f"{len(channel_messages(fake))} so far)\n{daemon.tail()}"
            )
        time.sleep(0.01)


def idle(daemon: Daemon, seconds: float) -> None:
    """Wait, watching that the daemon lives."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        daemon.check()
        time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))


def breakdown(fake: Any, after: float) -> dict[str, float | None]:
    """Where a save's wait went, from the fake's call log (monotonic seconds since ``after``,
    the save): until the next poll's request; from the request that found the save (the last
    read of the workbook's item before its download) until the first channel post (the run
    up to the report: its requests and our own time); and from the end of the download until
    the post (our own time with the bytes in hand)."""
    polled = found = downloaded = None
    for call, meter in zip(list(fake.calls), list(fake.meters), strict=False):
        if meter.started <= after:
            continue
        fetching = call.path.startswith("/download/") or call.path.endswith("/content")
        if call.method == "GET" and scenarios.BOOK in call.path and not fetching:
            polled = meter.started if polled is None else polled  # the next poll of the workbook
            if downloaded is None:
                found = meter.started
        if call.method == "POST" and call.path.endswith("/messages") and "/channels/" in call.path:
            return {
                "poll_wait_s": _since(polled, after),
                "poll_to_post_s": _since(meter.started, found),
                "download_to_post_s": _since(meter.started, downloaded),
            }
        if call.method == "GET" and fetching and meter.finished and call.status == 200:
            downloaded = meter.finished
    return {
        "poll_wait_s": _since(polled, after),
        "poll_to_post_s": None,
        "download_to_post_s": None,
    }


def _since(moment: float | None, start: float | None) -> float | None:
    return None if moment is None or start is None else round(moment - start, 3)


# --------------------------------------------------------------------------------------------
# The measurement
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What to measure."""

    sheets: int
    rows: int
    saves: int
    poll: int
    latency: float
    seed: int
    timeout: float  # seconds a changed run may take once it starts
    work: Path  # the daemon's folder (configuration, state, log)
    every_sheet: bool = False  # each save changes every department's sheet (a full re-read)


def configure(seeded: scenarios.Seeded, base_url: str, poll: int) -> Path:
    """Our configuration: poll every ``poll`` s, report to the channel and the HQ mailbox."""
    config = scenarios.write_config(seeded, base_url)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    backend = data["backend"]
    backend["service_account"] = {"type": "access_token", "token": scenarios.TOKEN}
    backend["limits"]["channel_posts_per_second"] = 4
    flow = data["flows"][0]
    flow["schedule"] = {"every_seconds": poll}
    flow["params"]["report_to"] = [
        {"channel": "teams_channel", "address": f"{TEAM}/{CHANNEL}"},
        {"channel": "mail", "address": scenarios.HQ_MAIL},
    ]
    config.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return config


def measure(plan: Plan) -> dict[str, Any]:
    """Serve, save ``plan.saves`` times at random moments, time each report in the channel."""
    from tests.fake_graph_workbook import WorkbookFakeGraph  # noqa: PLC0415

    work = plan.work / f"save_to_post_{plan.sheets}x{plan.rows}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    fake = WorkbookFakeGraph(token=scenarios.TOKEN)
    seeded = scenarios.seed(fake, scenarios.rollup(plan.sheets, plan.rows), work)
    fake.add_team_channel(TEAM, CHANNEL, "対策本部", scenarios.DRIVE, CHANNEL_FOLDER)
    rng = random.Random(plan.seed)
    departments = sheet_names(fake)
    saves: list[dict[str, Any]] = []
    load_before = os.getloadavg()
    stopped = None
    with fake.serve() as base_url:
        fake.latency = plan.latency
        daemon = Daemon(work, configure(seeded, base_url, plan.poll))
        try:
            daemon.start()
            wait_for_messages(fake, daemon, 1, plan.poll + 2 * plan.timeout)  # the first report
            for n in range(plan.saves):
                saves.append(save_once(fake, daemon, plan, rng, departments))
                print(f"  save {n + 1:>3}: {describe(saves[-1])}", flush=True)
            idle(daemon, plan.poll + 2)  # one more poll: an unchanged workbook sends nothing
        except (BenchError, SystemExit, KeyboardInterrupt) as err:
            if not saves:
                raise
            stopped = f"{type(err).__name__}: {err}".splitlines()[0]  # keep what was measured
        finally:
            daemon.stop()
    saves[-1]["reports"] = len(channel_messages(fake)) - saves[-1]["message_index"]
    result = summarise(plan, saves, channel_messages(fake), load_before)
    return result | {"complete": stopped is None, "stopped_by": stopped}


def sheet_names(fake: Any) -> list[str]:
    """The departments' sheets in the seeded workbook."""
    data = fake.drives[scenarios.DRIVE].items[scenarios.BOOK].content
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        return list(sheet_parts(package))


def save_once(
    fake: Any,
    daemon: Daemon,
    plan: Plan,
    rng: random.Random,
    departments: list[str],
) -> dict[str, Any]:
    """One department (every one, with ``plan.every_sheet``) saves at a random moment; wait
    for the report it causes."""
    item = fake.drives[scenarios.DRIVE].items[scenarios.BOOK]
    saving = departments if plan.every_sheet else [rng.choice(departments)]
    department = "every department" if plan.every_sheet else saving[0]
    saved_bytes = departments_saved(item.content, saving, plan.rows, rng)
    before = len(channel_messages(fake))
    idle(daemon, rng.uniform(0, plan.poll))
    early = len(channel_messages(fake)) - before  # a report no save asked for
    mark = time.monotonic()
    item = fake.set_content(scenarios.DRIVE, scenarios.BOOK, saved_bytes)
    saved_at = item.modified
    index = before + early
    wait_for_messages(fake, daemon, index + 1, plan.poll + plan.timeout)
    message = channel_messages(fake)[index]
    number = report_number(message)
    return {
        "department": department,
        "saved_at": saved_at.isoformat(),
        "posted_at": message["createdDateTime"],
        "save_to_post_s": round((moment(message["createdDateTime"]) - saved_at).total_seconds(), 3),
        **breakdown(fake, mark),
        "report_number": number,
        "unasked_reports_before": early,
        "message_index": index,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def describe(save: dict[str, Any]) -> str:
    """One progress line."""
    after_download = save["download_to_post_s"]
    return (
        f"{save['department']} saved; 第{save['report_number']}報 posted "
        f"{save['save_to_post_s']:6.2f} s later"
        + (f" ({after_download:.2f} s after its download)" if after_download is not None else "")
    )


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def summarise(
    plan: Plan,
    saves: list[dict[str, Any]],
    messages: list[dict[str, Any]],
    load_before: tuple[float, float, float],
) -> dict[str, Any]:
    """Figures, checks and where they were measured."""
    for n, save in enumerate(saves[:-1]):
        save["reports"] = saves[n + 1]["message_index"] - save["message_index"]
    latencies = [s["save_to_post_s"] for s in saves]
    after_download = [s["download_to_post_s"] for s in saves if s["download_to_post_s"] is not None]
    after_poll = [s["poll_to_post_s"] for s in saves if s.get("poll_to_post_s") is not None]
    numbers = [s["report_number"] for s in saves]
    p95 = percentile(latencies, 95)
    return {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(load_before),
        "sheets": plan.sheets,
        "rows": plan.rows,
        "every_sheet": plan.every_sheet,
        "saves": len(saves),
        "poll_s": plan.poll,
        "latency_s": plan.latency,
        "save_to_post_p50_s": round(statistics.median(latencies), 3),
        "save_to_post_p95_s": round(p95, 3),
        "save_to_post_max_s": round(max(latencies), 3),
        "download_to_post_p50_s": _median_of(saves, "download_to_post_s"),
        "download_to_post_p95_s": _round(
            percentile(after_download, 95) if after_download else None
        ),
        "poll_wait_p50_s": _median_of(saves, "poll_wait_s"),
        "poll_to_post_p50_s": _median_of(saves, "poll_to_post_s"),
        "poll_to_post_p95_s": _round(percentile(after_poll, 95) if after_poll else None),
        "target_p95_s": plan.poll + 1.0,
        "target_met": p95 <= plan.poll + 1.0,
        "one_report_per_save": all(
            s["reports"] == 1 and not s["unasked_reports_before"] for s in saves
        ),
        "numbers_consecutive": all(
            b is not None and a is not None and b == a + 1 for a, b in itertools.pairwise(numbers)
        ),
        "channel_messages": len(messages),
        "saves_detail": saves,
    }


def _median_of(saves: list[dict[str, Any]], key: str) -> float | None:
    values = [s[key] for s in saves if s.get(key) is not None]
    return round(statistics.median(values), 3) if values else None


def machine(load_before: tuple[float, float, float]) -> dict[str, Any]:
    """The machine and its load before and after the measurement."""
    cpu, memory = platform.processor(), ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "memory": memory,
        "python": platform.python_version(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "shared": "other processes ran on the same cores; wall times carry their load",
    }


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


def markdown(results: list[dict[str, Any]]) -> str:
    """A short page over every measured size."""
    lines = [
        "# Save to report in the channel (`automation serve`, fake Graph)",
        "",
        "`bench/save_to_post.py`: `automation serve` on the Graph backend against the fake Graph",
        "over 127.0.0.1, a department saves its sheet at a random moment (a new eTag and cTag,",
        "one sheet part changed), time from the save to the 第N報 in the Teams channel, both on",
        "the fake's clock. Target: p95 <= poll interval + 1 s at 60 x 300. With `--every-sheet`",
        "each save changes every department's sheet: the daemon reads the whole workbook again",
        "(the full re-read the Power Automate pattern does on every run).",
        "",
        "| workbook | sheets saved | saves | poll s | latency ms | p50 s | p95 s | max s | "
        "target p95 s | wait for the poll p50 s | poll -> post p50 / p95 s | "
        "download -> post p50 / p95 s | one report per save | measured | load |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---|---|---|---|---|",
    ]
    for r in results:
        m = r["machine"]
        load = f"{m['load_average_before'][0]:.2f} -> {m['load_average_after'][0]:.2f}"
        target = f"{r['target_p95_s']:g} ({'met' if r['target_met'] else '**missed**'})"
        saves = str(r["saves"]) if r.get("complete", True) else f"{r['saves']} (stopped early)"
        lines.append(
            f"| {r['sheets']} x {r['rows']:,} | {'every' if r.get('every_sheet') else 'one'} | "
            f"{saves} | {r['poll_s']} | "
            f"{r['latency_s'] * 1000:g} | {r['save_to_post_p50_s']:.2f} | "
            f"{r['save_to_post_p95_s']:.2f} | {r['save_to_post_max_s']:.2f} | {target} | "
            f"{_fmt(r['poll_wait_p50_s'])} | "
            f"{_fmt(r.get('poll_to_post_p50_s'))} / {_fmt(r.get('poll_to_post_p95_s'))} | "
            f"{_fmt(r['download_to_post_p50_s'])} / {_fmt(r['download_to_post_p95_s'])} | "
            f"{'yes' if r['one_report_per_save'] else '**no**'} | "
            f"{r['measured_at']} | {load} |"
        )
    if results:
        m = results[-1]["machine"]
        lines += [
            "",
            f"Machine: {m['cpu']}, {m['cpu_count']} CPUs, {m['memory']}, Python {m['python']}; "
            "shared with other work (load average, 1 min, before -> after each measurement).",
            "A save lands at a uniformly random moment of the poll interval, so save -> post is",
            "about half an interval on average plus the run (download, reading, report) and the",
            "post; p95 is about a whole interval plus the run. Poll -> post is the run itself up",
            "to the report: from the poll's request that found the save to the channel post.",
        ]
    return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def write_results(result: dict[str, Any], out: Path, quick: bool) -> Path:
    """The JSON of this measurement, and the page over every JSON in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    suffix = ("_every_sheet" if result.get("every_sheet") else "") + ("_quick" if quick else "")
    path = out / f"save_to_post_{result['sheets']}x{result['rows']}{suffix}.json"
    path.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    found = [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(out.glob("save_to_post_*.json"))
        if not p.stem.endswith("_quick") or quick
    ]
    documents = sorted((d for d in found if "saves_detail" in d and "sheets" in d), key=_size)
    (out / "save_to_post.md").write_text(markdown(documents), encoding="utf-8")
    return path


def _size(result: dict[str, Any]) -> tuple[int, int, bool]:
    return result["sheets"], result["rows"], bool(result.get("every_sheet"))


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> int:
    """Measure, write the figures, print the summary."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=300, help="rows per department sheet")
    parser.add_argument("--sheets", type=int, default=60, help="department sheets")
    parser.add_argument("--saves", type=int, default=30)
    parser.add_argument("--poll", type=int, default=10, help="the flow's every_seconds")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added per request")
    parser.add_argument("--timeout", type=float, default=180, help="seconds a run may take")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--every-sheet",
        action="store_true",
        help="each save changes every department's sheet (the daemon reads the whole workbook)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a small run for CI: {QUICK['sheets']} x {QUICK['rows']}, {QUICK['saves']} saves, "
        f"polling every {QUICK['poll']} s",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results are written")
    parser.add_argument("--work", type=Path, default=WORK, help="where the daemon runs")
    args = parser.parse_args()
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    plan = Plan(
        args.sheets,
        args.rows,
        args.saves,
        args.poll,
        args.latency,
        args.seed,
        args.timeout,
        args.work,
        args.every_sheet,
    )
    print(
        f"automation serve, {plan.sheets} x {plan.rows}, polling every {plan.poll} s at "
        f"{plan.latency * 1000:g} ms a request, {plan.saves} saves"
        + (", each changing every sheet" if plan.every_sheet else ""),
        flush=True,
    )
    signal.signal(signal.SIGTERM, _stop)  # so that measure()'s cleanup stops the daemon
    try:
        result = measure(plan)
    except BenchError as err:
        print(f"save_to_post: {err}", file=sys.stderr)
        return 1
    path = write_results(result, args.out, args.quick)
    if not result["complete"]:
        print(f"save_to_post: stopped after {result['saves']} saves ({result['stopped_by']})")
    print(
        f"  save -> posted     p50 {result['save_to_post_p50_s']:.2f} s, "
        f"p95 {result['save_to_post_p95_s']:.2f} s (target p95 <= {result['target_p95_s']:g} s: "
        f"{'met' if result['target_met'] else 'MISSED'})\n"
        f"  poll -> posted     p50 {_fmt(result['poll_to_post_p50_s'])} s, "
        f"p95 {_fmt(result['poll_to_post_p95_s'])} s\n"
        f"  download -> posted p50 {_fmt(result['download_to_post_p50_s'])} s, "
        f"p95 {_fmt(result['download_to_post_p95_s'])} s\n"
        f"  one report per save: {'yes' if result['one_report_per_save'] else 'NO'}; "
        f"written to {path}"
    )
    return 0 if result["complete"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
