"""The fake Graph plus the Excel workbook API, site and list resources, and a metered call log.

:class:`WorkbookFakeGraph` extends :class:`tests.fake_graph.FakeGraph` with what a Power
Automate flow (Excel Online connector) and python-o365 ask of Graph when they read a workbook
through the Excel REST API instead of downloading it. The workbook is computed from the xlsx
bytes of the drive item (parsed with python-calamine, cached by content), so the
same seeded file serves our download path and the workbook API alike.

============================================================  ====================================
request (below ``/drives/{d}/items/{i}/workbook``)            page
============================================================  ====================================
POST /createSession -> 201 {id, persistChanges}               workbook-createsession.md
POST /closeSession, /refreshSession -> 204                    workbook-closesession.md
GET  /worksheets, /worksheets/{name}, /worksheets('{id}')     worksheet-list.md, worksheet-get.md
GET  .../worksheets(...)/usedRange[(valuesOnly=true)]         worksheet-usedrange.md
GET  .../worksheets(...)/range(address='A1:C3')               worksheet-range.md
GET  /tables, .../worksheets(...)/tables, /tables/{name}      table-list.md, table-get.md
GET  .../tables(...)/rows?$top=&$skip=                        table-list-rows.md
GET  .../tables(...)/columns, /headerRowRange, /dataBodyRange  table-list-columns.md, table-*.md
============================================================  ====================================

Also ``GET /drives/{d}`` (drive-get.md), ``GET /sites/{s}`` (site-get.md) and
``GET /sites/{s}/lists/{l}`` (list-get.md), which python-o365 reads before the items.

Choices where the pages are silent (not documented):

* **Tables**: one per worksheet, as if each department had formatted its block as a table.
  The header is the first row of the used range with at least two values; the table runs
  to the row before the first empty row below it and spans the header's columns.
* **Row pages**: ``rows`` answers at most ``workbook_row_cap`` rows (default 1,000) per
  request; ``$top`` lowers that. When rows remain, the page carries an absolute
  ``@odata.nextLink`` with the next ``$skip``. table-list-rows.md only says "for reliable
  results, use $top and $skip"; a client that ignores both gets the first page only.
* **Values** are those Excel's API returns: numbers as JSON numbers (whole numbers as
  integers), text as strings, empty cells as ``""``, dates as serial numbers.
* ``//`` in a path is read as ``/`` (python-o365's app-only URLs contain ``//drives/``).
* Sessions are recorded (``sessions``) but not required.
* Unfiltered list-item pages are served from a cached ID order (see ``_list``), so a
  20,000-item read does not spend more time in the fake than in the modelled latency.
* Over loopback every accepted connection gets TCP_NODELAY (see ``_no_delay``): without
  it each response waits ~40 ms for a delayed ACK, which would swamp a 50 ms latency.

Every request also gets a :class:`Meter` (``meters[i]`` belongs to ``calls[i]``): arrival
and finish times on ``time.monotonic()`` and the response body size, so a test or benchmark
can check pacing and what was transferred. :meth:`WorkbookFakeGraph.capture_bodies` keeps
the response bodies of matching paths.
"""

from __future__ import annotations

import bisect
import contextvars
import hashlib
import io
import re
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from tests.fake_graph import (
    PREFIX,
    XLSX_MIME,
    Call,
    DriveItem,
    FakeGraph,
    GraphError,
    ListItem,
    SpList,
)
from tests.fake_graph.lists import _id_order, _skiptoken_id
from tests.fake_graph.wire import _int_param, _iso, _json, _next_link, _odata_context, _offset

Json = dict[str, Any]
WORKBOOK_ROW_CAP = 1000
BOOK_CACHE = 4  # parsed workbooks kept (by content)
EXCEL_EPOCH = datetime(1899, 12, 30)
_SEGMENT = re.compile(r"^(?P<name>[A-Za-z]+)(?:\((?P<arg>.*)\))?$")
_A1 = re.compile(r"^\$?(?P<col>[A-Za-z]{1,3})\$?(?P<row>\d+)$")
_METER: contextvars.ContextVar[Meter | None] = contextvars.ContextVar("meter", default=None)


# --------------------------------------------------------------------------------------------
# The workbook as the Excel API sees it
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BookTable:
    """A table: the header cells and the data rows below it (0-based sheet coordinates)."""

    table_id: str
    name: str
    legacy_id: str
    sheet: str
    top: int  # the header row
    left: int
    header: tuple[Any, ...]
    rows: tuple[tuple[Any, ...], ...]

    @property
    def width(self) -> int:
        """Number of columns."""
        return len(self.header)


@dataclass(frozen=True)
class BookSheet:
    """A worksheet: its used range (rectangular, ``""`` for empty) and its tables."""

    sheet_id: str
    name: str
    position: int
    top: int
    left: int
    values: tuple[tuple[Any, ...], ...]
    tables: tuple[BookTable, ...]


@dataclass(frozen=True)
class Book:
    """Every worksheet of a workbook, in order."""

    sheets: tuple[BookSheet, ...]

    @property
    def tables(self) -> list[BookTable]:
        """Every table, in sheet order."""
        return [t for s in self.sheets for t in s.tables]


def sheet_id(position: int) -> str:
    """A worksheet id as Excel gives them: ``{00000000-0001-0000-0000-000000000000}``."""
    return f"{{00000000-{position + 1:04X}-0000-0000-000000000000}}"


def table_id(number: int) -> str:
    """A table id in the braces form Excel uses."""
    return f"{{7A6B{number:04X}-0000-4000-8000-000000000000}}"


def column_letters(col: int) -> str:
    """Excel column letters of a 0-based index: 0 -> A, 26 -> AA."""
    letters, n = "", col + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def a1_range(top: int, left: int, height: int, width: int) -> str:
    """``A1:C3`` for a block of cells (0-based top-left)."""
    start = f"{column_letters(left)}{top + 1}"
    if height <= 1 and width <= 1:
        return start
    return f"{start}:{column_letters(left + max(width, 1) - 1)}{top + max(height, 1)}"


def _parse_a1(text: str) -> tuple[int, int]:
    match = _A1.match(text.strip())
    if match is None:
        raise GraphError(400, "invalidArgument", f"The argument is invalid: {text}")
    col = 0
    for ch in match["col"].upper():
        col = col * 26 + ord(ch) - 64
    return int(match["row"]) - 1, col - 1


def excel_value(value: object) -> object:
    """A cell value as the Excel API returns it (whole numbers as ints, dates as serials)."""
    if value is None:
        return ""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, datetime):
        return (value - EXCEL_EPOCH) / timedelta(days=1)
    if isinstance(value, date):
        return float((value - EXCEL_EPOCH.date()).days)
    if isinstance(value, clock_time):
        seconds = value.hour * 3600 + value.minute * 60 + value.second
        return seconds / 86400
    if isinstance(value, timedelta):
        return value / timedelta(days=1)
    return value


def find_table(values: Sequence[Sequence[Any]]) -> tuple[int, int, int, int] | None:
    """(header row, first column, end row, end column) of a sheet's table, ends exclusive.

    The header is the first row with at least two values; the table ends before the first
    empty row below it and spans the header row's first to last value.
    """
    for r, row in enumerate(values):
        filled = [c for c, v in enumerate(row) if v != ""]
        if len(filled) >= 2:
            end = r + 1
            while end < len(values) and any(v != "" for v in values[end]):
                end += 1
            return r, filled[0], end, filled[-1] + 1
    return None


def parse_book(data: bytes) -> Book:
    """The worksheets and tables of xlsx bytes."""
    from python_calamine import CalamineWorkbook  # noqa: PLC0415

    workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
    sheets: list[BookSheet] = []
    tables = 0
    for position, name in enumerate(workbook.sheet_names):
        raw = workbook.get_sheet_by_name(name)
        top, left = raw.start or (0, 0)
        grid = [[excel_value(v) for v in row] for row in raw.to_python()]
        width = max((len(row) for row in grid), default=0)
        values = tuple(tuple(row + [""] * (width - len(row))) for row in grid)
        found = find_table(values)
        sheet_tables: tuple[BookTable, ...] = ()
        if found is not None:
            head, first, end, last = found
            tables += 1
            sheet_tables = (
                BookTable(
                    table_id=table_id(tables),
                    name=f"tbl_{name}",
                    legacy_id=str(tables),
                    sheet=name,
                    top=top + head,
                    left=left + first,
                    header=values[head][first:last],
                    rows=tuple(row[first:last] for row in values[head + 1 : end]),
                ),
            )
        sheets.append(
            BookSheet(sheet_id(position), name, position, top, left, values, sheet_tables)
        )
    return Book(tuple(sheets))


# --------------------------------------------------------------------------------------------
# Wire shapes
# --------------------------------------------------------------------------------------------


def _value_type(value: object) -> str:
    if value == "":
        return "Empty"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int | float):
        return "Double"
    return "String"


def range_json(
    sheet: str, top: int, left: int, values: Sequence[Sequence[Any]], *, values_only: bool = False
) -> Json:
    """A workbookRange (resources/range.md) over ``values`` starting at (top, left)."""
    height = len(values)
    width = max((len(row) for row in values), default=0)
    grid = [list(row) for row in values]
    address = f"{sheet}!{a1_range(top, left, height, width)}"
    body: Json = {
        "@odata.type": "#microsoft.graph.workbookRange",
        "address": address,
        "addressLocal": address,
        "cellCount": height * width,
        "columnCount": width,
        "columnHidden": False,
        "columnIndex": left,
        "rowCount": height,
        "rowHidden": False,
        "rowIndex": top,
        "hidden": False,
        "values": grid,
    }
    if not values_only:
        body |= {
            "text": [["" if v == "" else str(v) for v in row] for row in grid],
            "formulas": grid,
            "formulasLocal": grid,
            "formulasR1C1": grid,
            "numberFormat": [["General"] * len(row) for row in grid],
            "valueTypes": [[_value_type(v) for v in row] for row in grid],
        }
    return body


def _worksheet_json(sheet: BookSheet) -> Json:
    return {
        "id": sheet.sheet_id,
        "name": sheet.name,
        "position": sheet.position,
        "visibility": "Visible",
    }


def _table_json(table: BookTable) -> Json:
    return {
        "id": table.table_id,
        "name": table.name,
        "legacyId": table.legacy_id,
        "showHeaders": True,
        "showTotals": False,
        "style": "TableStyleMedium2",
        "highlightFirstColumn": False,
        "highlightLastColumn": False,
        "showBandedColumns": False,
        "showBandedRows": True,
        "showFilterButton": True,
    }


# --------------------------------------------------------------------------------------------
# Call meter
# --------------------------------------------------------------------------------------------


@dataclass
class Meter:
    """Timing and size of one request's answer (``time.monotonic()`` seconds)."""

    started: float
    finished: float | None = None
    response_bytes: int = 0
    body: bytes | None = None  # kept only for paths given to capture_bodies

    @property
    def seconds(self) -> float | None:
        """Time from arrival to the last byte of the answer."""
        return None if self.finished is None else self.finished - self.started


class MeteredCalls(list[Call]):
    """The call log; each appended call gets the meter of the request being handled."""

    def __init__(self, meters: list[Meter]) -> None:
        super().__init__()
        self.meters = meters

    def append(self, call: Call) -> None:
        """Log a call with its meter (a blank one outside a request)."""
        super().append(call)
        self.meters.append(_METER.get() or Meter(time.monotonic()))


# --------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------


@dataclass
class _Target:
    """Where a workbook path leads: a collection, an entity, rows or a range."""

    kind: str
    sheet: BookSheet | None = None
    table: BookTable | None = None
    items: list[Any] = field(default_factory=list)
    range: Json | None = None


class WorkbookFakeGraph(FakeGraph):
    """FakeGraph with the Excel workbook API, site/list/drive resources and metered calls."""

    def __init__(self, *, workbook_row_cap: int = WORKBOOK_ROW_CAP, **options: Any) -> None:
        super().__init__(**options)
        self.workbook_row_cap = workbook_row_cap
        self.sessions: dict[str, bool] = {}  # open session id -> persistChanges
        self.closed_sessions: list[str] = []
        self.meters: list[Meter] = []
        self.calls = MeteredCalls(self.meters)
        self._capture: re.Pattern[str] | None = None
        self._books: dict[bytes, Book] = {}  # by content digest, the last few
        self._orders: dict[
            int, tuple[tuple[int, int, int], list[ListItem], list[tuple[int, str]]]
        ] = {}

    def capture_bodies(self, path_regex: str | None) -> None:
        """Keep the response bodies of requests whose path matches (None: keep none)."""
        self._capture = re.compile(path_regex) if path_regex else None

    def book(self, drive_id: str, item_id: str) -> Book:
        """The workbook API's view of a drive item (parsed once per distinct content)."""
        item = self.drives[drive_id].items[item_id]
        return self._book(item)

    # ---- plumbing ----------------------------------------------------------------------------

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super()._handle(scope, receive, send)
            return
        _no_delay(send)
        path = re.sub(r"/{2,}", "/", scope["path"])
        raw = re.sub(rb"/{2,}", b"/", scope.get("raw_path") or path.encode())
        scope = {**scope, "path": path, "raw_path": raw}
        meter = Meter(time.monotonic())
        keep = self._capture is not None and self._capture.search(path) is not None
        chunks: list[bytes] = []

        async def metered(message: Message) -> None:
            if message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                meter.response_bytes += len(chunk)
                if keep:
                    chunks.append(chunk)
            await send(message)

        token = _METER.set(meter)
        try:
            await super()._handle(scope, receive, metered)
        finally:
            meter.finished = time.monotonic()
            if keep:
                meter.body = b"".join(chunks)
            _METER.reset(token)

    def _routes(self) -> list[Route]:
        g = PREFIX
        return [
            Route(g + "/drives/{drive_id}", self._get_drive, methods=["GET"]),
            Route(
                g + "/drives/{drive_id}/items/{item_id}/workbook/{rest:path}",
                self._workbook,
                methods=["GET", "POST"],
            ),
            Route(g + "/sites/{site_id}", self._get_site, methods=["GET"]),
            Route(g + "/sites/{site_id}/lists/{list_id}", self._get_list, methods=["GET"]),
            *super()._routes(),
        ]

    # ---- drives, sites, lists ----------------------------------------------------------------

    def _list(self, request: Request) -> SpList:
        """The list, cut to the window one unfiltered item page needs.

        FakeGraph sorts and scans every item for each page, so reading N items costs
        O(N^2 / page) in the fake; at 20,000 items that is ~30 ms per page, more than the
        latency being modelled. The window (the items after the ``$skiptoken``, one more
        than a page) gives the same page and nextLink in O(page).
        """
        sp_list = super()._list(request)
        params = request.query_params
        if not request.url.path.endswith("/items") or params.get("$filter") or params.get("filter"):
            return sp_list
        ordered, keys = self._ordered(sp_list)
        token = params.get("$skiptoken")
        start = bisect.bisect_right(keys, _id_order(_skiptoken_id(token))) if token else 0
        top = _int_param(request, "$top", "top")
        size = min(top, self.list_page_cap) if top else self.list_page_cap
        window = ordered[start : start + size + 1]
        return SpList(sp_list.site_id, sp_list.list_id, sp_list.columns, window)

    def _ordered(self, sp_list: SpList) -> tuple[list[ListItem], list[tuple[int, str]]]:
        """The items in ID order with their sort keys, cached until the list changes."""
        items = sp_list.items
        stamp = (len(items), id(items[0]) if items else 0, id(items[-1]) if items else 0)
        cached = self._orders.get(id(sp_list))
        if cached is None or cached[0] != stamp:
            ordered = sorted(items, key=lambda i: _id_order(i.item_id))
            cached = (stamp, ordered, [_id_order(i.item_id) for i in ordered])
            self._orders[id(sp_list)] = cached
        return cached[1], cached[2]

    async def _get_drive(self, request: Request) -> Response:
        drive_id = request.path_params["drive_id"]
        drive = self.drives.get(drive_id)
        if drive is None:
            raise GraphError(404, message=f"The drive {drive_id} could not be found.")
        root = drive.items[drive.root_id]
        return _json(
            {
                "@odata.context": _odata_context(request, "drives/$entity"),
                "id": drive_id,
                "driveType": "documentLibrary",
                "name": "Documents",
                "webUrl": root.web_url,
                "createdDateTime": _iso(root.created),
                "lastModifiedDateTime": _iso(root.modified),
                "owner": {"group": {"displayName": "Fake Team"}},
            }
        )

    def _site_known(self, site_id: str) -> bool:
        return site_id in self.site_drives or any(s == site_id for s, _ in self.lists)

    async def _get_site(self, request: Request) -> Response:
        site_id = request.path_params["site_id"]
        if not self._site_known(site_id):
            raise GraphError(404, message=f"The site {site_id} could not be found.")
        host = site_id.split(",")[0]
        return _json(
            {
                "@odata.context": _odata_context(request, "sites/$entity"),
                "id": site_id,
                "name": "fake",
                "displayName": "Fake Site",
                "description": "",
                "webUrl": f"https://{host}/sites/fake",
                "createdDateTime": "2024-04-01T00:00:00Z",
                "lastModifiedDateTime": "2026-04-01T00:00:00Z",
                "siteCollection": {"hostname": host},
            }
        )

    async def _get_list(self, request: Request) -> Response:
        sp_list = self._list(request)
        return _json(
            {
                "@odata.context": _odata_context(request, "sites/lists/$entity"),
                "id": sp_list.list_id,
                "name": sp_list.list_id,
                "displayName": sp_list.list_id,
                "description": "",
                "webUrl": f"https://contoso.sharepoint.com/sites/fake/Lists/{quote(sp_list.list_id)}",
                "createdDateTime": "2024-04-01T00:00:00Z",
                "lastModifiedDateTime": "2026-04-01T00:00:00Z",
                "list": {"contentTypesEnabled": False, "hidden": False, "template": "genericList"},
            }
        )

    # ---- workbook ----------------------------------------------------------------------------

    def _book(self, item: DriveItem) -> Book:
        if item.content is None or not item.name.lower().endswith(".xlsx"):
            raise GraphError(
                400, "notSupported", f"The workbook API supports only {XLSX_MIME} files."
            )
        key = hashlib.blake2b(item.content, digest_size=16).digest()
        if key not in self._books:
            while len(self._books) >= BOOK_CACHE:
                self._books.pop(next(iter(self._books)))
            try:
                self._books[key] = parse_book(item.content)
            except Exception as exc:  # calamine raises its own error types
                raise GraphError(
                    400, "invalidWorkbook", f"The file is not a workbook: {exc}"
                ) from exc
        return self._books[key]

    async def _workbook(self, request: Request) -> Response:
        drive = self.drives.get(request.path_params["drive_id"])
        item = drive.items.get(request.path_params["item_id"]) if drive else None
        if item is None:
            raise GraphError(404)
        segments = [s for s in request.path_params["rest"].split("/") if s]
        if request.method == "POST":
            return await self._session_call(request, segments)
        target = self._navigate(self._book(item), segments)
        return self._answer(request, target)

    async def _session_call(self, request: Request, segments: list[str]) -> Response:
        action = segments[0] if len(segments) == 1 else ""
        if action == "createSession":
            payload = await self._json_body(request, required=False)
            persist = bool(payload.get("persistChanges", False))
            session_id = f"cluster=FAKE&session={uuid.uuid4().hex}"
            self.sessions[session_id] = persist
            return _json(
                {
                    "@odata.context": _odata_context(request, "microsoft.graph.sessionInfo"),
                    "id": session_id,
                    "persistChanges": persist,
                },
                201,
            )
        if action in ("closeSession", "refreshSession"):
            session_id = request.headers.get("workbook-session-id", "")
            if action == "closeSession" and self.sessions.pop(session_id, None) is not None:
                self.closed_sessions.append(session_id)
            return Response(status_code=204)
        raise GraphError(405)

    def _navigate(self, book: Book, segments: list[str]) -> _Target:
        """Walk ``worksheets(...)/tables(...)/rows``-style segments to what they address."""
        target = _Target("workbook")
        i = 0
        while i < len(segments):
            match = _SEGMENT.match(segments[i])
            if match is None:
                raise GraphError(400, "BadRequest", f"Resource not found for '{segments[i]}'.")
            name, arg = match["name"], match["arg"]
            last = i == len(segments) - 1
            if name in ("worksheets", "tables") and arg is None and not last:
                arg, i = segments[i + 1], i + 1  # path form: worksheets/{name}
            target = self._step(book, target, name, arg, last=i == len(segments) - 1)
            i += 1
        return target

    def _step(self, book: Book, at: _Target, name: str, arg: str | None, *, last: bool) -> _Target:
        key = _unquote(arg) if arg is not None else None
        if name == "worksheets" and at.kind == "workbook":
            if key is None:
                return _Target("worksheets", items=list(book.sheets))
            return _Target("worksheet", sheet=_find_sheet(book, key))
        if name == "tables" and at.kind in ("workbook", "worksheet"):
            tables = book.tables if at.sheet is None else list(at.sheet.tables)
            if key is None:
                return _Target("tables", items=tables)
            return _Target("table", table=_find_table(tables, key))
        if at.kind == "worksheet" and at.sheet is not None and last:
            sheet = at.sheet
            if name == "usedRange":
                values_only = (key or "").replace(" ", "").lower() == "valuesonly=true"
                return _Target(
                    "range",
                    range=range_json(
                        sheet.name, sheet.top, sheet.left, sheet.values, values_only=values_only
                    ),
                )
            if name == "range" and key is not None:
                return _Target("range", range=_sub_range(sheet, key))
        if at.kind == "table" and at.table is not None and last:
            table = at.table
            if name == "rows":
                return _Target("rows", table=table)
            if name == "columns":
                return _Target("columns", table=table)
            ranges = {
                "headerRowRange": (table.top, [table.header]),
                "dataBodyRange": (table.top + 1, list(table.rows)),
                "range": (table.top, [table.header, *table.rows]),
            }
            if name in ranges:
                top, values = ranges[name]
                return _Target("range", range=range_json(table.sheet, top, table.left, values))
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{name}'.")

    def _answer(self, request: Request, target: _Target) -> Response:
        if target.kind == "worksheets":
            values = [_worksheet_json(s) for s in target.items]
            return _json({"@odata.context": _odata_context(request, "worksheets"), "value": values})
        if target.kind == "tables":
            values = [_table_json(t) for t in target.items]
            return _json({"@odata.context": _odata_context(request, "tables"), "value": values})
        if target.kind == "worksheet" and target.sheet is not None:
            context = {"@odata.context": _odata_context(request, "worksheets/$entity")}
            return _json(context | _worksheet_json(target.sheet))
        if target.kind == "table" and target.table is not None:
            context = {"@odata.context": _odata_context(request, "tables/$entity")}
            return _json(context | _table_json(target.table))
        if target.kind == "rows" and target.table is not None:
            return self._rows_page(request, target.table)
        if target.kind == "columns" and target.table is not None:
            table = target.table
            columns = [
                {
                    "id": str(c + 1),
                    "index": c,
                    "name": str(header),
                    "values": [[header], *([row[c]] for row in table.rows)],
                }
                for c, header in enumerate(table.header)
            ]
            return _json({"@odata.context": _odata_context(request, "columns"), "value": columns})
        if target.kind == "range" and target.range is not None:
            return _json({"@odata.context": _odata_context(request, "range")} | target.range)
        raise GraphError(400, "BadRequest", "Resource not found.")

    def _rows_page(self, request: Request, table: BookTable) -> Response:
        top = _int_param(request, "$top", "top")
        size = min(top, self.workbook_row_cap) if top else self.workbook_row_cap
        skip = _offset(request, "$skip")
        page = table.rows[skip : skip + size]
        body: Json = {"@odata.context": _odata_context(request, "tables/rows")}
        if skip + size < len(table.rows):
            body["@odata.nextLink"] = _next_link(request, {"$skip": str(skip + size)})
        body["value"] = [{"index": skip + n, "values": [list(row)]} for n, row in enumerate(page)]
        return _json(body)


def _no_delay(send: Send) -> None:
    """Turn Nagle off on a loopback connection (uvicorn's accepted sockets keep it on).

    ``FakeGraph.serve`` binds a socket made with protocol 0, so asyncio does not set
    TCP_NODELAY on the connections it accepts; a response written as headers then body
    then waits for the client's delayed ACK, about 40 ms per request on Linux.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _unquote(arg: str) -> str:
    arg = arg.strip()
    if len(arg) >= 2 and arg[0] == arg[-1] == "'":
        return arg[1:-1].replace("''", "'")
    return arg


def _find_sheet(book: Book, key: str) -> BookSheet:
    for sheet in book.sheets:
        if key in (sheet.sheet_id, sheet.sheet_id.strip("{}")) or key.casefold() == (
            sheet.name.casefold()
        ):
            return sheet
    raise GraphError(404, "itemNotFound", f"The worksheet '{key}' was not found.")


def _find_table(tables: Sequence[BookTable], key: str) -> BookTable:
    for table in tables:
        if key in (table.table_id, table.table_id.strip("{}"), table.legacy_id) or (
            key.casefold() == table.name.casefold()
        ):
            return table
    raise GraphError(404, "itemNotFound", f"The table '{key}' was not found.")


def _sub_range(sheet: BookSheet, arg: str) -> Json:
    """``address='B2:C4'`` on a worksheet: the cells of that block (empty outside the data)."""
    text = _unquote(arg.split("=", 1)[1]) if "=" in arg else _unquote(arg)
    text = text.split("!")[-1]
    first, _, second = text.partition(":")
    (r0, c0), (r1, c1) = _parse_a1(first), _parse_a1(second or first)
    top, left, bottom, right = min(r0, r1), min(c0, c1), max(r0, r1), max(c0, c1)

    def cell(r: int, c: int) -> object:
        rr, cc = r - sheet.top, c - sheet.left
        if 0 <= rr < len(sheet.values) and 0 <= cc < len(sheet.values[rr]):
            return sheet.values[rr][cc]
        return ""

    values = [[cell(r, c) for c in range(left, right + 1)] for r in range(top, bottom + 1)]
    return range_json(sheet.name, top, left, values)
