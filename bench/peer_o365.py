"""The peer: a short python-o365 (PyPI ``O365`` 2.1) script doing the same jobs with its own APIs.

Set up as ``../shared/notes/o365-probe.md`` records: an ``MSGraphProtocol`` subclass whose
``_protocol_url`` is the fake, a static token backend (the token never expires, so MSAL is
never contacted), app-only (``credentials``) flow, and ``requests_delay=0`` so that O365's
built-in 200 ms spacing does not hide the library. In the delivery jobs the script sets
``requests_delay`` to the configured interval before sending: that knob is the library's
only client-side pacing, one delay for every request on the connection.

Rollup: ``storage().get_drive().get_item()``, ``WorkBook(item)`` (POST createSession),
``wb.get_tables()``, then per table ``get_header_row_range()`` and the rows paged as
table-list-rows.md advises ("for reliable results, use $top and $skip"):
``get_rows(top=ROWS_PAGE, skip=n)`` until a page comes back shorter than asked (``get_rows``
itself ignores ``@odata.nextLink``, so a script that calls it once gets only the service's
first page) - then ``close_session()``, ``item.get_parent().upload_file(...)`` (the
consolidated figures as CSV), and one request per message
(``new_message(resource=mailbox).send()``; webhooks with ``con.naive_request``).
Progress: ``sharepoint().get_site()``, ``get_list_by_name()`` (which also GETs the
columns), ``get_items(expand_fields=[configured columns])``: ``$top=999``, nextLinks
followed.
"""

from __future__ import annotations

import importlib
import io
import json
import time
from pathlib import Path
from typing import Any

from bench.tally import Tally, card_envelope, incomplete_by_department

STATE = "peer_state.json"
ROWS_PAGE = 1000  # rows asked per request; a page shorter than this ends the table


def warm_up() -> None:
    """Import O365 (and requests) before the clock starts."""
    for name in ("O365", "O365.drive", "O365.excel", "O365.message", "O365.sharepoint"):
        importlib.import_module(name)


def account_for(job: dict[str, Any]) -> Any:
    """An O365 Account pointed at the fake with a fixed bearer token."""
    from O365 import Account  # noqa: PLC0415
    from O365.connection import MSGraphProtocol  # noqa: PLC0415
    from O365.utils import BaseTokenBackend  # noqa: PLC0415

    class LocalGraph(MSGraphProtocol):  # type: ignore[misc]  # untyped library
        _protocol_url = job["base_url"].removesuffix("v1.0")

    class StaticToken(BaseTokenBackend):  # type: ignore[misc]
        def __init__(self, token: str) -> None:
            super().__init__()
            self._token = {"secret": token, "expires_on": str(int(time.time()) + 10**8)}

        def load_token(self) -> bool:
            return True

        def save_token(self, force: bool = False) -> bool:
            return True

        def get_access_token(self, *, username: str | None = None) -> dict[str, str]:
            return self._token

    return Account(
        ("bench-client-id", "unused-secret"),
        protocol=LocalGraph(),
        auth_flow_type="credentials",
        tenant_id="bench-tenant",
        token_backend=StaticToken(job["token"]),
        requests_delay=0,
        timeout=300,
    )


def run(job: dict[str, Any], state_dir: Path, *, poll: bool = False) -> dict[str, Any]:
    """Run the job as the script would; return what it read and sent."""
    account = account_for(job)
    if job["kind"] == "progress":
        return _progress(account, job)
    return _rollup(account, job, state_dir, poll=poll)


def _rollup(account: Any, job: dict[str, Any], state_dir: Path, *, poll: bool) -> dict[str, Any]:
    from O365.excel import WorkBook  # noqa: PLC0415

    item = account.storage().get_drive(job["drive_id"]).get_item(job["item_id"])
    state_file = state_dir / STATE
    previous = json.loads(state_file.read_text()) if state_file.exists() else {}
    modified = item.modified.isoformat()
    if poll and previous.get("modified") == modified:
        return {"status": "unchanged"}
    book = WorkBook(item)
    tables = book.get_tables()
    tally = Tally(job["item_headers"])
    for table in tables:
        header = table.get_header_row_range().values[0]
        rows = table_rows(table)
        tally.headers = ["市町村", *header[1:]]
        tally.add(table.name.removeprefix("tbl_"), rows)
    book.session.close_session()
    data = tally.csv_bytes()
    item.get_parent().upload_file(
        None, item_name="被害状況集計_o365.csv", stream=io.BytesIO(data), stream_size=len(data)
    )
    sent = _send(account, job, tally)
    state_dir.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps({"modified": modified}))
    return {
        "status": "ok",
        "tables": len(tables),
        "rows_read": sum(tally.rows_read.values()),
        "rows_lost": tally.lost_rows(job["rows_per_table"]),
        "messages_sent": sent,
    }


def table_rows(table: Any) -> list[list[Any]]:
    """Every row of a table, ``ROWS_PAGE`` at a time with ``top`` and ``skip``."""
    rows: list[list[Any]] = []
    while True:
        page = [row.values[0] for row in table.get_rows(top=ROWS_PAGE, skip=len(rows))]
        rows.extend(page)
        if len(page) < ROWS_PAGE:
            return rows


def _send(account: Any, job: dict[str, Any], tally: Tally) -> int:
    html, card = tally.html(), card_envelope(tally.card())
    recipients = job["recipients"]
    if job["pace"] and recipients:
        account.con.requests_delay = job["interval"][recipients[0]["channel"]] * 1000
    for recipient in recipients:
        if recipient["channel"] == "mail":
            message = account.new_message(resource=job["mailbox"])
            message.to.add(recipient["address"])
            message.subject = "被害状況（集計）"
            message.body = html
            if not message.send():
                raise RuntimeError(f"sending to {recipient['address']} failed")
        else:
            account.con.naive_request(recipient["address"], "post", json=card).raise_for_status()
    return len(recipients)


def _progress(account: Any, job: dict[str, Any]) -> dict[str, Any]:
    site = account.sharepoint().get_site(job["site_id"])
    sp_list = site.get_list_by_name(job["list_id"])
    wanted = [job["list_columns"][name] for name in job["read_columns"]]
    items = [i.fields for i in sp_list.get_items(expand_fields=wanted)]
    names = job["list_columns"]
    incomplete = incomplete_by_department(items, names["部局"], [names[r] for r in job["required"]])
    return {
        "status": "ok",
        "items_read": len(items),
        "items_lost": max(0, job["items"] - len(items)),
        "incomplete": sum(incomplete.values()),
    }
