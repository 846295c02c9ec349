"""A fake tenant holding the same data as a local demo workspace, and a Graph config for it.

The demo workspace's workbook goes into a Teams channel's files, its progress CSV becomes a
SharePoint list whose Japanese columns have hex-escaped internal names (as SharePoint makes
them), the response team's webhook points at the fake's webhook stand-in, and mail goes out
from one mailbox. Runs on both give the same reports, which is what the end-to-end and
contract tests compare.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from automation.demo import PROGRESS_LIST, WORKBOOK
from automation.timeutil import JST
from tests.fake_graph import FakeGraph

DRIVE = "b!bousai-fake-drive-0001"
FOLDER = "01BOUSAIFAKECHANNELFOLDER000000001"
BOOK = "01BOUSAIFAKEWORKBOOK00000000000001"
TEAM = "00000000-0000-0000-0000-00000000a001"
CHANNEL = "19:0000000000000000000000000000a002@thread.tacv2"
SITE = (
    "contoso.sharepoint.com,00000000-0000-0000-0000-00000000b001,"
    "00000000-0000-0000-0000-00000000b002"
)
LIST = "00000000-0000-0000-0000-00000000c001"
MAILBOX = "bousai-automation@pref.gunma.example.lg.jp"
WEBHOOK = "bousai-soukatsu"
TOKEN = "fake-graph-token"
SKIP_COLUMNS = ("ID", "リンク", "更新日時")  # listItem properties, not fields, on SharePoint


def internal_name(display: str) -> str:
    """SharePoint's internal name for a column: non-ASCII as _xHHHH_, cut to 32 characters."""
    escaped = "".join(ch if re.match(r"[A-Za-z0-9]", ch) else f"_x{ord(ch):04x}_" for ch in display)
    return escaped[:32]


def seed(fake: FakeGraph, workspace: Path) -> None:
    """Put the workspace's workbook, list and mailbox into ``fake``."""
    fake.add_team_channel(TEAM, CHANNEL, "General", DRIVE, FOLDER)
    data = (workspace / "inputs" / WORKBOOK).read_bytes()
    fake.add_drive_item(DRIVE, BOOK, WORKBOOK, data, parent_path="/General")
    text = (workspace / "inputs" / PROGRESS_LIST).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    names = [n for n in rows[0] if n not in SKIP_COLUMNS]
    columns = [
        {"name": "Title", "displayName": "タイトル", "indexed": False, "type": "text"},
        *({"name": internal_name(n), "displayName": n, "type": "text"} for n in names),
    ]
    items: list[dict[str, Any]] = []
    for row in rows:
        item: dict[str, Any] = {"id": row["ID"]}
        if row["リンク"]:
            item["webUrl"] = row["リンク"]
        if row["更新日時"]:
            modified = datetime.fromisoformat(row["更新日時"]).replace(tzinfo=JST)
            item["lastModifiedDateTime"] = modified.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        item.update({internal_name(n): row[n] for n in names if row[n] != ""})
        items.append(item)
    fake.add_list(SITE, LIST, columns, items)
    fake.add_user(MAILBOX)


def graph_config(local_config: str, base_url: str) -> str:
    """The workspace's configuration, moved onto the Graph backend at ``base_url``."""
    webhook = FakeGraph.webhook_url(WEBHOOK, base_url)
    text = re.sub(
        r"backend:\n(?:  .*\n)+",
        "backend:\n"
        "  type: graph\n"
        f"  base_url: {base_url}\n"
        "  auth: {type: access_token, token: '${FAKE_GRAPH_TOKEN}'}\n"
        f"  mailbox: {MAILBOX}\n"
        "  limits: {mails_per_minute: 6000, webhook_posts_per_second: 100}\n",
        local_config,
        count=1,
    )
    text = text.replace(
        f"workbook: {WORKBOOK}",
        f"workbook: {{team_id: '{TEAM}', channel_id: '{CHANNEL}', path: {WORKBOOK}}}",
    )
    text = text.replace(f"list: {PROGRESS_LIST}", f"list: {{site_id: '{SITE}', list_id: '{LIST}'}}")
    return re.sub(r'"\$\{DEMO_TEAMS_WEBHOOK_URL:-[^"]*\}"', f'"{webhook}"', text)
