"""The workbook-API fake answers from the drive item's xlsx bytes with Excel's wire shapes."""

from __future__ import annotations

import asyncio
import io
import time
from typing import Any

import httpx
import pytest
from openpyxl import Workbook

from tests.fake_graph_workbook import WorkbookFakeGraph, find_table

DRIVE = "b!fake-drive-0001"
BOOK = "01FAKEBOOK"
WB = f"/drives/{DRIVE}/items/{BOOK}/workbook"
SHEET_ID = "{00000000-0001-0000-0000-000000000000}"
SITE = "contoso.sharepoint.com,00000000-0000-0000-0000-00000000b001,00000000-0000-0000-0000-00000000b002"
LIST = "00000000-0000-0000-0000-00000000c001"


def damage_book(rows: int = 5) -> bytes:
    """Two department sheets: a title, a blank row, a header, data, a total, a note."""
    book = Workbook()
    book.remove(book.active)
    for name in ("総務部", "県土整備部"):
        sheet = book.create_sheet(name)
        sheet.append([f"{name} 被害状況報告"])
        sheet.append([])
        sheet.append(["市町村", "死者", "軽傷者"])
        for n in range(rows):
            sheet.append([f"地区{n + 1}", n, "未確認" if n == 0 else None])
        sheet.append(["計", sum(range(rows)), 0])
        sheet.append([])
        sheet.append(["※ 注記"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def seeded(**options: Any) -> WorkbookFakeGraph:
    """A fake holding the damage workbook and a two-item list."""
    fake = WorkbookFakeGraph(**options)
    fake.add_drive_item(DRIVE, BOOK, "被害報告.xlsx", damage_book())
    columns = [{"name": "Title", "displayName": "タイトル", "type": "text"}]
    fake.add_list(SITE, LIST, columns, [{"Title": "a"}, {"Title": "b"}])
    return fake


@pytest.fixture
def fake() -> WorkbookFakeGraph:
    """A seeded workbook fake."""
    return seeded()


def get(fake: WorkbookFakeGraph, url: str, **kwargs: Any) -> httpx.Response:
    """One GET through an authenticated in-process client."""

    async def scenario() -> httpx.Response:
        async with fake.client() as http:
            return await http.get(url, **kwargs)

    return asyncio.run(scenario())


def post(fake: WorkbookFakeGraph, url: str, **kwargs: Any) -> httpx.Response:
    """One POST through an authenticated in-process client."""

    async def scenario() -> httpx.Response:
        async with fake.client() as http:
            return await http.post(url, **kwargs)

    return asyncio.run(scenario())


def test_worksheets_are_listed_in_workbook_order(fake: WorkbookFakeGraph) -> None:
    """GET worksheets gives each sheet's id, name, position and visibility in order."""
    sheets = get(fake, f"{WB}/worksheets").json()["value"]
    assert [(s["name"], s["position"], s["visibility"]) for s in sheets] == [
        ("総務部", 0, "Visible"),
        ("県土整備部", 1, "Visible"),
    ]
    assert sheets[0]["id"] == SHEET_ID


@pytest.mark.parametrize(
    "address", ["worksheets/総務部", f"worksheets('{SHEET_ID}')", "worksheets('総務部')"]
)
def test_a_worksheet_is_found_by_name_id_or_path(fake: WorkbookFakeGraph, address: str) -> None:
    """A worksheet is addressed by path segment, by its id or by its name in quotes."""
    assert get(fake, f"{WB}/{address}").json()["name"] == "総務部"


def test_each_sheet_has_one_table_from_its_header_to_the_first_empty_row() -> None:
    """The table starts at the first row with two values and stops before an empty row."""
    values = [
        ["題"],
        ["", ""],
        ["市町村", "死者"],
        ["前橋市", 1],
        ["計", 1],
        ["", ""],
        ["注記", ""],
    ]
    assert find_table(values) == (2, 0, 5, 2)


def test_sheet_tables_carry_their_name_and_id(fake: WorkbookFakeGraph) -> None:
    """GET worksheets(...)/tables lists the sheet's one table, named after the sheet."""
    tables = get(fake, f"{WB}/worksheets/総務部/tables").json()["value"]
    assert [t["name"] for t in tables] == ["tbl_総務部"]
    assert tables[0]["id"].startswith("{") and tables[0]["showHeaders"] is True


def test_workbook_tables_list_every_sheet_table(fake: WorkbookFakeGraph) -> None:
    """GET /workbook/tables lists the tables of all sheets."""
    names = [t["name"] for t in get(fake, f"{WB}/tables").json()["value"]]
    assert names == ["tbl_総務部", "tbl_県土整備部"]


def test_rows_carry_excel_values(fake: WorkbookFakeGraph) -> None:
    """Rows give numbers as numbers, text as strings and empty cells as empty strings."""
    rows = get(fake, f"{WB}/tables/tbl_総務部/rows").json()["value"]
    assert rows[0] == {"index": 0, "values": [["地区1", 0, "未確認"]]}
    assert rows[1]["values"] == [["地区2", 1, ""]]
    assert rows[-1]["values"] == [["計", 10, 0]]


def test_rows_stop_at_the_page_cap_with_a_next_link() -> None:
    """Above the row cap a page carries an absolute nextLink to the next $skip."""
    fake = seeded(workbook_row_cap=4)
    body = get(fake, f"{WB}/tables/tbl_総務部/rows").json()
    assert len(body["value"]) == 4
    assert body["@odata.nextLink"].startswith("https://") and "$skip=4" in body["@odata.nextLink"]
    rest = get(fake, body["@odata.nextLink"]).json()
    assert [r["index"] for r in rest["value"]] == [4, 5]
    assert "@odata.nextLink" not in rest


def test_rows_honour_top_and_skip(fake: WorkbookFakeGraph) -> None:
    """$top and $skip choose the page; the last page has no nextLink."""
    body = get(fake, f"{WB}/tables/tbl_総務部/rows", params={"$top": "2", "$skip": "4"}).json()
    assert [r["index"] for r in body["value"]] == [4, 5]
    assert "@odata.nextLink" not in body


def test_header_row_range_holds_the_column_names(fake: WorkbookFakeGraph) -> None:
    """headerRowRange gives the header cells with their sheet address."""
    body = get(fake, f"{WB}/tables/tbl_総務部/headerRowRange").json()
    assert body["values"] == [["市町村", "死者", "軽傷者"]]
    assert body["address"] == "総務部!A3:C3"


def test_used_range_covers_every_value(fake: WorkbookFakeGraph) -> None:
    """usedRange(valuesOnly=true) spans title to note with values only."""
    body = get(fake, f"{WB}/worksheets/総務部/usedRange(valuesOnly=true)").json()
    assert body["address"] == "総務部!A1:C11"
    assert body["values"][0] == ["総務部 被害状況報告", "", ""]
    assert "valueTypes" not in body


def test_a_range_by_address_gives_those_cells(fake: WorkbookFakeGraph) -> None:
    """range(address='A3:B4') gives exactly that block."""
    body = get(fake, f"{WB}/worksheets/総務部/range(address='A3:B4')").json()
    assert body["values"] == [["市町村", "死者"], ["地区1", 0]]


def test_create_session_returns_an_id(fake: WorkbookFakeGraph) -> None:
    """POST createSession answers 201 with a session id and records it as open."""
    response = post(fake, f"{WB}/createSession", json={"persistChanges": True})
    assert response.status_code == 201
    assert fake.sessions == {response.json()["id"]: True}


def test_close_session_ends_it(fake: WorkbookFakeGraph) -> None:
    """POST closeSession with the session header answers 204 and closes it."""
    session = post(fake, f"{WB}/createSession", json={"persistChanges": False}).json()["id"]
    response = post(fake, f"{WB}/closeSession", headers={"workbook-session-id": session})
    assert response.status_code == 204
    assert (fake.sessions, fake.closed_sessions) == ({}, [session])


def test_new_content_is_read_afresh(fake: WorkbookFakeGraph) -> None:
    """After set_content the workbook API serves the new bytes."""
    fake.set_content(DRIVE, BOOK, damage_book(rows=2))
    rows = get(fake, f"{WB}/tables/tbl_総務部/rows").json()["value"]
    assert len(rows) == 3


def test_a_file_that_is_not_xlsx_is_refused(fake: WorkbookFakeGraph) -> None:
    """The workbook API answers 400 for a file that is not an .xlsx workbook."""
    fake.add_drive_item(DRIVE, "01NOTES", "notes.txt", b"text")
    response = get(fake, f"/drives/{DRIVE}/items/01NOTES/workbook/worksheets")
    assert response.status_code == 400


def test_double_slashes_in_a_path_are_read_as_one(fake: WorkbookFakeGraph) -> None:
    """python-o365's app-only URLs (/v1.0//drives/...) reach the same resource."""
    response = get(fake, f"https://graph.microsoft.com/v1.0/{WB}/worksheets")
    assert response.status_code == 200
    assert fake.calls[-1].path == f"/v1.0{WB}/worksheets"


def test_drive_site_and_list_resources_are_served(fake: WorkbookFakeGraph) -> None:
    """GET /drives/{d}, /sites/{s} and /sites/{s}/lists/{l} return their resources."""
    assert get(fake, f"/drives/{DRIVE}").json()["driveType"] == "documentLibrary"
    assert get(fake, f"/sites/{SITE}").json()["id"] == SITE
    assert get(fake, f"/sites/{SITE}/lists/{LIST}").json()["list"]["template"] == "genericList"


def test_each_call_is_metered(fake: WorkbookFakeGraph) -> None:
    """Every call gets arrival and finish times and the size of the answer."""
    before = time.monotonic()
    response = get(fake, f"{WB}/worksheets")
    meter = fake.meters[-1]
    assert len(fake.meters) == len(fake.calls)
    assert before <= meter.started <= (meter.finished or 0)
    assert meter.response_bytes == len(response.content)
    assert meter.body is None


def test_captured_paths_keep_their_response_bodies(fake: WorkbookFakeGraph) -> None:
    """capture_bodies keeps the bodies of matching requests only."""
    fake.capture_bodies(r"/items$")
    items = get(fake, f"/sites/{SITE}/lists/{LIST}/items", params={"expand": "fields"})
    get(fake, f"{WB}/worksheets")
    assert fake.meters[-2].body == items.content
    assert fake.meters[-1].body is None
