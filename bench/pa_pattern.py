"""The Power Automate pattern for the same jobs, request for request, against the fake Graph.

A cloud flow built from the standard connectors does, in order and one action at a time
(Apply to each runs with concurrency 1 unless changed):

* **Trigger** - SharePoint "When a file is created or modified (properties only)" polls
  the file's properties: one request per poll. A poll that sees no change ends there.
* **Excel Online (Business) "List rows present in a table"**, once per department table,
  after one "Get tables". The connector returns **256 rows per request** and pages only
  when pagination is switched on (off by default on all Microsoft connectors; here it is
  on, so every row arrives); throttled at **100 calls per connection per 60 s**; files up
  to **25 MB**; the file may stay **locked up to 6 minutes** after the connector's last
  use. (learn.microsoft.com/connectors/excelonlinebusiness, updated 2025-08-05; paging
  behaviour: dev.to/wyattdave/understanding-pagination-in-power-automate-4igh.)
* **SharePoint "Get items"** returns **100 items per request** with **all columns**
  unless a view limits them; Top Count up to 5,000, pagination threshold up to 100,000.
  (learn.microsoft.com/sharepoint/dev/business-apps/power-automate/guidance/
  working-with-get-items-and-get-files)
* **"Create file"** writes the consolidated figures (CSV) into the folder chosen at design
  time: one request.
* **One request per message**: Office 365 Outlook "Send an email (V2)" per recipient, and
  a Teams card per channel (modelled as the Workflows webhook POST). There is no client-
  side pacing; Exchange's ~30 messages/min and the Teams webhook's ~4 posts/s are met
  with 429s and the run's retry policy (Low profile: up to 2 retries, minutes apart).
  (learn.microsoft.com/power-automate/limits-and-config, stored 2025-02-11)

Column names and the table layout are fixed when the flow is designed, so no request is
spent discovering them. The Excel connector's Graph calls are not published; the
workbook-API requests below are the Graph equivalents of each action.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from bench.tally import Tally, card_envelope, incomplete_by_department, mail_body

STATE = "pattern_state.json"
NO_DELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


def warm_up() -> None:
    """Import what the job uses before the clock starts."""
    httpx.Client().close()


def run(job: dict[str, Any], state_dir: Path, *, poll: bool = False) -> dict[str, Any]:
    """Run the job as the flow would; return what it read and sent."""
    headers = {"Authorization": f"Bearer {job['token']}"}
    transport = httpx.HTTPTransport(socket_options=NO_DELAY)  # as a cloud service's client
    with httpx.Client(
        base_url=job["base_url"], headers=headers, timeout=300, transport=transport
    ) as http:
        if job["kind"] == "progress":
            return _progress(http, job)
        return _rollup(http, job, state_dir, poll=poll)


def _rollup(
    http: httpx.Client, job: dict[str, Any], state_dir: Path, *, poll: bool
) -> dict[str, Any]:
    item_url = f"/drives/{quote(job['drive_id'])}/items/{quote(job['item_id'])}"
    properties = http.get(item_url).raise_for_status().json()  # the trigger's poll
    state_file = state_dir / STATE
    previous = json.loads(state_file.read_text()) if state_file.exists() else {}
    if poll and previous.get("modified") == properties["lastModifiedDateTime"]:
        return {"status": "unchanged"}
    tables = http.get(f"{item_url}/workbook/tables").raise_for_status().json()["value"]
    tally = Tally(job["item_headers"])
    for table in tables:
        rows: list[list[Any]] = []
        url: str | None = f"{item_url}/workbook/tables/{quote(table['id'])}/rows"
        params: dict[str, str] | None = {"$top": "256", "$skip": "0"}
        while url:
            page = http.get(url, params=params).raise_for_status().json()
            rows.extend(r["values"][0] for r in page["value"])
            url, params = page.get("@odata.nextLink"), None
        tally.add(table["name"].removeprefix("tbl_"), rows)
    name = quote("被害状況集計_pa.csv")
    target = f"/drives/{quote(job['drive_id'])}/items/{quote(job['folder_id'])}:/{name}:/content"
    http.put(target, content=tally.csv_bytes()).raise_for_status()
    sent = _send(http, job, tally)
    state_dir.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps({"modified": properties["lastModifiedDateTime"]}))
    return {
        "status": "ok",
        "tables": len(tables),
        "rows_read": sum(tally.rows_read.values()),
        "rows_lost": tally.lost_rows(job["rows_per_table"]),
        "messages_sent": sent,
    }


def _send(http: httpx.Client, job: dict[str, Any], tally: Tally) -> int:
    """One request per message, back to back (no pacing)."""
    html, card = tally.html(), card_envelope(tally.card())
    for recipient in job["recipients"]:
        if recipient["channel"] == "mail":
            body = mail_body(recipient["address"], "被害状況（集計）", html)
            http.post(f"/users/{quote(job['mailbox'])}/sendMail", json=body).raise_for_status()
        else:
            http.post(recipient["address"], json=card).raise_for_status()
    return len(job["recipients"])


def _progress(http: httpx.Client, job: dict[str, Any]) -> dict[str, Any]:
    url: str | None = f"/sites/{quote(job['site_id'])}/lists/{quote(job['list_id'])}/items"
    params: dict[str, str] | None = {"$top": "100", "expand": "fields"}
    items: list[dict[str, Any]] = []
    while url:
        page = http.get(url, params=params).raise_for_status().json()
        items.extend(i.get("fields", {}) for i in page["value"])
        url, params = page.get("@odata.nextLink"), None
    names = job["list_columns"]
    incomplete = incomplete_by_department(items, names["部局"], [names[r] for r in job["required"]])
    return {
        "status": "ok",
        "items_read": len(items),
        "items_lost": max(0, job["items"] - len(items)),
        "incomplete": sum(incomplete.values()),
    }
