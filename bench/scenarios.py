"""Deterministic scenarios for the side-by-side benchmark, seeded into the workbook fake.

Three jobs, each the same for every contender:

* **rollup S x R**: a damage workbook of S department sheets with R municipality rows
  each (the generator of ``bench/damage_rollup.py``: 12 item columns, full-width digits,
  blanks, dashes, 未確認 and a few unreadable cells, a total row). The job reads every
  department's figures, writes a consolidated file next to the workbook and reports to
  the response team (one mail, one Teams webhook card). Then, unchanged, it is polled.
* **progress N**: a SharePoint list of N half-year progress items over 80 departments
  (the generator of ``bench/progress_collection.py``) with Japanese columns whose internal
  names are hex-escaped as SharePoint makes them, plus columns the flow does not read.
  The job reads the items and works out who has not reported (no messages sent).
* **deliveries D**: the rollup of a small workbook (10 x 50) reported to D recipients on
  one channel, under rate limits chosen so the run takes seconds.

The floor of each job is the fewest requests Graph allows for it (see ``floor_requests``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from automation.jobs.progress import list_columns
from bench.damage_rollup import ITEM_HEADERS, department_names, write_workbook
from bench.progress_collection import (
    HEADER,
    REMINDER_AT,
    build_directory,
    build_params,
    generate_rows,
)

TOKEN = "bench-fake-token"
DRIVE = "b!bench-drive-0000000000000001"
FOLDER = "01BENCHGENERALFOLDER000000000001"
BOOK = "01BENCHDAMAGEWORKBOOK00000000001"
BOOK_NAME = "被害状況報告.xlsx"
SITE = (
    "contoso.sharepoint.com,00000000-0000-0000-0000-0000000be001,"
    "00000000-0000-0000-0000-0000000be002"
)
LIST = "00000000-0000-0000-0000-0000000be0c1"
MAILBOX = "bousai-automation@pref.example.lg.jp"
HQ_MAIL = "bousai-soukatsu@pref.example.lg.jp"
ROLLUP_NOW = "2026-09-01T09:00:00+09:00"
ITEM_COLUMNS = 12
DEPARTMENTS = 80  # progress list
LIST_PAGE_CAP = 200  # the fake's list page size (ours reads whole pages of it)
WORKBOOK_ROW_CAP = 1000  # the fake's table-rows page size (not documented by Graph)
PA_ROWS_PAGE = 256  # Excel connector: List rows present in a table
PA_ITEMS_PAGE = 100  # SharePoint connector: Get items
EXTRA_COLUMNS = ("担当者", "備考", "関連資料")  # in the list, not read by the flow
SKIP_COLUMNS = ("ID", "リンク", "更新日時")  # listItem properties, not fields

Channel = Literal["mail", "teams_webhook"]


@dataclass(frozen=True)
class Scenario:
    """One job: ``kind`` with its size; limits are per mailbox and per webhook."""

    kind: Literal["rollup", "progress", "deliveries"]
    sheets: int = 0
    rows: int = 0
    items: int = 0
    recipients: int = 0
    channel: Channel = "mail"
    mails_per_minute: int = 30
    webhook_per_second: float = 4.0

    @property
    def name(self) -> str:
        """A short label: ``rollup 60x300``, ``progress 20000``, ``deliveries 20 mail``."""
        if self.kind == "rollup":
            return f"rollup {self.sheets}x{self.rows}"
        if self.kind == "progress":
            return f"progress {self.items}"
        return f"deliveries {self.recipients} {self.channel}"

    @property
    def slug(self) -> str:
        """The name as a folder name."""
        return self.name.replace(" ", "_")

    @property
    def interval(self) -> float:
        """Seconds between two sends on this scenario's delivery channel."""
        if self.channel == "mail":
            return 60 / self.mails_per_minute
        return 1 / self.webhook_per_second


def rollup(sheets: int, rows: int) -> Scenario:
    """A changed rollup of S x R reported by one mail and one webhook card."""
    return Scenario("rollup", sheets=sheets, rows=rows)


def progress(items: int) -> Scenario:
    """A progress read of N items."""
    return Scenario("progress", items=items)


def deliveries(recipients: int, channel: Channel, per_minute: int = 30) -> Scenario:
    """A small rollup reported to D recipients on one channel (mail at ``per_minute``)."""
    return Scenario(
        "deliveries",
        sheets=10,
        rows=50,
        recipients=recipients,
        channel=channel,
        mails_per_minute=per_minute,
    )


@dataclass
class Seeded:
    """What the contenders need to know about a seeded scenario (ids, columns, sizes)."""

    scenario: Scenario
    folder: Path
    workbook_bytes: int = 0
    list_columns: dict[str, str] = field(default_factory=dict)  # display -> internal

    def recipients(self, base_url: str) -> list[dict[str, str]]:
        """The report's recipients; webhooks point at the fake's stand-in."""
        from tests.fake_graph import FakeGraph  # noqa: PLC0415

        s = self.scenario
        if s.kind == "rollup":
            return [
                {"channel": "teams_webhook", "address": FakeGraph.webhook_url("hq", base_url)},
                {"channel": "mail", "address": HQ_MAIL},
            ]
        if s.kind == "progress":
            return []
        if s.channel == "mail":
            return [
                {"channel": "mail", "address": f"member{n:03d}@pref.example.lg.jp"}
                for n in range(s.recipients)
            ]
        return [
            {"channel": "teams_webhook", "address": FakeGraph.webhook_url(f"hook{n:03d}", base_url)}
            for n in range(s.recipients)
        ]

    def job(self, base_url: str, latency: float) -> dict[str, Any]:
        """The job description every contender reads (ours also gets a configuration)."""
        s = self.scenario
        job: dict[str, Any] = {
            "scenario": s.name,
            "kind": "progress" if s.kind == "progress" else "rollup",
            "base_url": base_url,
            "token": TOKEN,
            "latency": latency,
            "drive_id": DRIVE,
            "item_id": BOOK,
            "folder_id": FOLDER,
            "site_id": SITE,
            "list_id": LIST,
            "mailbox": MAILBOX,
            "recipients": self.recipients(base_url),
            "item_headers": ["市町村", *ITEM_HEADERS[:ITEM_COLUMNS]],
            "departments": department_names(s.sheets),
            "rows_per_table": s.rows + 1,  # the municipality rows and the total row
            "items": s.items,
            "list_columns": self.list_columns,
            "read_columns": list_columns(build_params()),
            "required": list(build_params().required),
            "pace": s.kind == "deliveries",
            "interval": {
                "mail": 60 / s.mails_per_minute,
                "teams_webhook": 1 / s.webhook_per_second,
            },
            "now": REMINDER_AT if s.kind == "progress" else ROLLUP_NOW,
            "flow": s.kind if s.kind != "deliveries" else "rollup",
        }
        return job


def internal_name(display: str) -> str:
    """SharePoint's internal name for a column: non-ASCII as _xHHHH_, cut to 32 characters."""
    from tests.graph_tenant import internal_name as sharepoint_name  # noqa: PLC0415

    return sharepoint_name(display)


def seed(fake: Any, scenario: Scenario, folder: Path) -> Seeded:
    """Put the scenario's workbook or list (and the sending mailbox) into ``fake``."""
    folder.mkdir(parents=True, exist_ok=True)
    seeded = Seeded(scenario, folder)
    fake.add_user(MAILBOX)
    fake.add_folder(DRIVE, FOLDER, "/General")
    if scenario.kind in ("rollup", "deliveries"):
        path = folder / BOOK_NAME
        write_workbook(path, scenario.sheets, scenario.rows, ITEM_COLUMNS)
        data = path.read_bytes()
        fake.add_drive_item(DRIVE, BOOK, BOOK_NAME, data, parent_path="/General")
        seeded.workbook_bytes = len(data)
        return seeded
    names = [n for n in HEADER if n not in SKIP_COLUMNS] + list(EXTRA_COLUMNS)
    seeded.list_columns = {n: internal_name(n) for n in names}
    columns = [
        {"name": "Title", "displayName": "タイトル", "type": "text"},
        *({"name": internal_name(n), "displayName": n, "type": "text"} for n in names),
    ]
    items = []
    for n, row in enumerate(generate_rows(scenario.items, DEPARTMENTS)):
        item: dict[str, Any] = {
            "id": str(row["ID"]),
            "webUrl": str(row["リンク"]),
            "lastModifiedDateTime": _utc(str(row["更新日時"])),
            "Title": str(row["事業名"]),
            internal_name("担当者"): f"担当{n % 97:02d} 太郎",
            internal_name("備考"): "四半期ごとに進捗会議で確認。詳細は添付の計画書を参照。" * 2,
            internal_name("関連資料"): f"https://pref.example.lg.jp/docs/plan-{n}.pdf",
        }
        item.update(
            {internal_name(k): v for k, v in row.items() if k not in SKIP_COLUMNS and v is not None}
        )
        items.append(item)
    fake.add_list(SITE, LIST, columns, items)
    return seeded


def _utc(jst: str) -> str:
    """``2026-10-03 09:00`` in Japan as Graph's UTC timestamp."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from automation.timeutil import JST  # noqa: PLC0415

    moment = datetime.fromisoformat(jst).replace(tzinfo=JST)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_config(seeded: Seeded, base_url: str) -> Path:
    """Our configuration for the scenario on the Graph backend at ``base_url``."""
    s = seeded.scenario
    backend = {
        "type": "graph",
        "base_url": base_url,
        "auth": {"type": "access_token", "token": TOKEN},
        "mailbox": MAILBOX,
        "limits": {
            "mails_per_minute": s.mails_per_minute,
            "webhook_posts_per_second": s.webhook_per_second,
        },
    }
    config: dict[str, Any] = {"version": 1, "state": {"path": "state/bench.sqlite"}}
    config["backend"] = backend
    if s.kind == "progress":
        directory = build_directory(DEPARTMENTS).model_dump(
            mode="json", exclude_none=True, exclude_defaults=True
        )
        params = build_params().model_dump(mode="json", exclude_none=True, exclude_defaults=True)
        params["list"] = {"site_id": SITE, "list_id": LIST}
        # app-only Graph cannot post to channels: the secretariat gets mail only
        params["secretariat"] = [c for c in params["secretariat"] if c["channel"] == "mail"]
        config["directory"] = directory
        config["flows"] = [{"id": "progress", "kind": "progress_collection", "params": params}]
    else:
        config["directory"] = {
            "departments": [{"name": n, "sheet": n} for n in department_names(s.sheets)]
        }
        params = {
            "disaster": "ベンチマーク災害",
            "workbook": {"drive_id": DRIVE, "item_id": BOOK},
            "report_to": seeded.recipients(base_url),
            "feedback": False,
            "max_workbook_mb": 200,
        }
        config["flows"] = [{"id": "rollup", "kind": "damage_rollup", "params": params}]
    path = seeded.folder / "ours.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


# Before a rollup's report can be in the channel: the download URL, the download, the post.
REPORT_FLOOR_REQUESTS = 3


def floor_requests(scenario: Scenario) -> int:
    """The fewest requests the job needs on Graph.

    A changed rollup: one request for the download URL (a 302 from ``/content``, or the
    item's ``@microsoft.graph.downloadUrl``), the download itself, one upload, and one
    request per message. A poll: one conditional request. A progress read: whole pages
    of the service's page cap (200 on the fake).
    """
    if scenario.kind == "progress":
        return math.ceil(scenario.items / LIST_PAGE_CAP)
    messages = 2 if scenario.kind == "rollup" else scenario.recipients
    return 3 + messages
