"""The console across incidents: 報告の推移 and its API show a past incident's reports,
現在の報告 says when a flow idles between incidents, and a past report's merged workbook
stays reachable although report numbers restart at 第1報 in each incident."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from markupsafe import escape
from starlette.testclient import TestClient

from automation.console.incidents import UnknownIncidentError, choices, choose
from automation.flows.incident import MAX_NAME
from automation.state import Store
from tests.injection_corpus import CORPUS
from tests.test_console import NOW, _snapshot
from tests.test_console import _signed_in as _signed_in_as
from tests.test_console_pages import HOSTILE, _client, _state

A = "令和8年台風第10号"
B = "令和8年台風第11号"
OPENED_A = NOW  # 2026-09-01 09:00
CLOSED_A = NOW + timedelta(days=4, hours=9)  # 2026-09-05 18:00
OPENED_B = NOW + timedelta(days=9)  # 2026-09-10 09:00
CLOSED_B = NOW + timedelta(days=14, hours=3)  # 2026-09-15 12:00
Records = dict[tuple[str, int], dict[str, Any]]


def _report(store: Store, number: int, at: datetime, record: dict[str, Any], **extra: Any) -> None:
    run = store.start_run("typhoon", at, at)
    store.finish_run(run, "ok", at, record, number)
    store.save_report("typhoon", {**_snapshot("危機管理課"), "number": number, **extra}, run)


def _incident(
    store: Store, name: str, opened: datetime, records: Records, closed: datetime | None = None
) -> None:
    """An incident of typhoon with 第1報 and 第2報 (the final one when ``closed``)."""
    incident = store.open_incident("typhoon", name, f'"{name}.xlsx"', None, opened)
    for number in (1, 2):
        at = opened + timedelta(hours=number)
        final = {"final": True} if closed is not None and number == 2 else {}
        _report(store, number, at, records.get((name, number), {}), as_of=at.isoformat(), **final)
    if closed is not None:
        store.close_incident(incident, f"アーカイブ/{name}.xlsx", closed)


def _two_incidents(
    tmp_path: Path, records: Records | None = None, *, second_closed: bool = False
) -> Path:
    """第3報 before incidents, then incident A (第1・2報, closed) and B (第1・2報)."""
    records = records or {}
    path = _state(tmp_path, records.get(("", 3)))
    with Store(path) as store:
        _incident(store, A, OPENED_A, records, CLOSED_A)
        _incident(store, B, OPENED_B, records, CLOSED_B if second_closed else None)
    return path


def _signed_in(path: Path, role: str = "viewer", **settings: Any) -> TestClient:
    client = _client(path, **settings)
    _signed_in_as(client, role)
    return client


def _times(body: str) -> list[str]:
    """The times of the reports 報告の推移 lists, in page order."""
    return [part.split("</time>")[0].split(">")[-1] for part in body.split("<h3>第")[1:]]


def _selector(body: str) -> list[str]:
    """The incidents the selector offers, in page order."""
    nav = body[body.index('<nav class="incidents"') : body.index("</nav>", body.index("incidents"))]
    return [part.split("</a>")[0].split(">")[-1] for part in nav.split("<li>")[1:]]


# 報告の推移 ------------------------------------------------------------------------------------


def test_the_timeline_shows_the_current_incident_by_default(tmp_path: Path) -> None:
    """Without ?incident= 報告の推移 shows the flow's newest incident and only its reports."""
    body = _signed_in(_two_incidents(tmp_path)).get("/timeline").text
    assert f"<h2>typhoon（{B}）</h2>" in body
    assert _times(body) == ["2026-09-10 11:00", "2026-09-10 10:00"]


def test_the_selector_lists_the_current_incident_first_then_the_past_newest_first(
    tmp_path: Path,
) -> None:
    """The selector lists the current incident, the past ones newest first, then older reports."""
    # (the reports issued before the first incident come last)
    path = _two_incidents(tmp_path)
    with Store(path) as store:
        _incident(store, "令和8年台風第9号", OPENED_B + timedelta(days=30), {}, None)
    body = _signed_in(path).get("/timeline").text
    assert _selector(body) == ["令和8年台風第9号（現在）", B, A, "災害の区切りより前の報告"]


def test_the_selector_gives_each_incident_its_dates_and_report_numbers(tmp_path: Path) -> None:
    """Each incident offered shows its opening and closing dates and first and last report."""
    # 対応中 while open
    body = _signed_in(_two_incidents(tmp_path)).get("/timeline").text
    assert "2026-09-01〜2026-09-05・第1〜2報" in body
    assert "2026-09-10〜対応中・第1〜2報" in body


def test_the_selector_links_each_incident_by_flow_and_name(tmp_path: Path) -> None:
    """The selector's links are plain addresses (no script): ?flow=…&incident=NAME."""
    body = _signed_in(_two_incidents(tmp_path)).get("/timeline").text
    assert f'href="/timeline?flow=typhoon&amp;incident={quote(A)}"' in body
    assert 'href="/timeline?flow=typhoon&amp;incident="' in body


def test_a_past_incident_is_shown_by_name(tmp_path: Path) -> None:
    """?incident=NAME shows that incident's reports, its final one marked 最終報."""
    # and marks it chosen in the selector
    client = _signed_in(_two_incidents(tmp_path))
    body = client.get("/timeline", params={"flow": "typhoon", "incident": A}).text
    assert f"<h2>typhoon（{A}）</h2>" in body
    assert _times(body) == ["2026-09-01 11:00", "2026-09-01 10:00"]
    assert "第2報（最終報）" in body
    assert f'aria-current="page">{A}</a>' in body


def test_the_reports_before_the_first_incident_stay_reachable(tmp_path: Path) -> None:
    """?incident= (empty) shows the reports the flow issued before its first incident."""
    client = _signed_in(_two_incidents(tmp_path))
    body = client.get("/timeline?flow=typhoon&incident=").text
    assert "<h2>typhoon（災害の区切りより前）</h2>" in body
    assert body.count('<article class="report">') == 1 and "<h3>第3報" in body


def test_an_incident_name_without_a_flow_shows_the_flows_that_had_it(tmp_path: Path) -> None:
    """?incident=NAME alone shows every flow with an incident of that name, and no other."""
    path = _two_incidents(tmp_path)
    with Store(path) as store:
        run = store.start_run("quake", NOW, NOW)
        store.save_report("quake", _snapshot("危機管理課"), run)
    body = _signed_in(path).get("/timeline", params={"incident": A}).text
    assert f"<h2>typhoon（{A}）</h2>" in body and "<h2>quake" not in body


def test_an_unknown_incident_is_a_japanese_404(tmp_path: Path) -> None:
    """A name no incident of the flow has answers 404 naming it and where to find names."""
    client = _signed_in(_two_incidents(tmp_path))
    response = client.get("/timeline", params={"flow": "typhoon", "incident": "台風第99号"})
    assert response.status_code == 404
    assert "フロー typhoon に「台風第99号」という災害はありません" in response.text
    assert "automation incident list" in response.text


def test_an_unknown_flow_on_the_timeline_is_a_japanese_404(tmp_path: Path) -> None:
    """?flow= naming a flow without reports answers 404 saying so."""
    response = _signed_in(_two_incidents(tmp_path)).get("/timeline?flow=nope")
    assert response.status_code == 404 and "フロー nope の報告はありません" in response.text


def test_a_hostile_name_asked_for_is_escaped_in_the_404(tmp_path: Path) -> None:
    """A hostile ?incident= is named in the 404 as text, never as markup."""
    client = _signed_in(_two_incidents(tmp_path))
    response = client.get("/timeline", params={"flow": "typhoon", "incident": HOSTILE})
    assert response.status_code == 404 and HOSTILE not in response.text
    assert str(escape(HOSTILE))[:30] in response.text


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_hostile_incident_names_are_text_on_every_page(tmp_path: Path, name: str) -> None:
    """A hostile incident name is escaped on every page and percent-encoded in its link."""
    # 現在の報告 and 報告の推移, and the selector's link
    text = CORPUS[name][:MAX_NAME]  # incident open refuses longer names
    path = _two_incidents(tmp_path)
    with Store(path) as store:
        _incident(store, text, OPENED_B + timedelta(days=30), {}, None)
    client = _signed_in(path)
    for page in ("/", "/timeline", f"/timeline?flow=typhoon&incident={quote(text)}"):
        response = client.get(page)
        assert response.status_code == 200, page
        if "<" in text:
            assert text not in response.text, page
        assert str(escape(text))[:40] in response.text or not text.strip(), page


# /api/reports/FLOW ---------------------------------------------------------------------------


def test_the_api_gives_a_past_incidents_reports(tmp_path: Path) -> None:
    """/api/reports/FLOW?incident=NAME gives that incident's reports, newest first."""
    client = _signed_in(_two_incidents(tmp_path))
    body = client.get("/api/reports/typhoon", params={"incident": A}).json()
    assert [(r["number"], r["incident"], r["as_of"][:13]) for r in body] == [
        (2, A, "2026-09-01T11"),
        (1, A, "2026-09-01T10"),
    ]


def test_the_api_without_incident_gives_the_current_one(tmp_path: Path) -> None:
    """/api/reports/FLOW without ?incident= gives the current incident's reports, as before."""
    body = _signed_in(_two_incidents(tmp_path)).get("/api/reports/typhoon").json()
    assert {r["incident"] for r in body} == {B}


def test_an_unknown_incident_on_the_api_is_a_json_404(tmp_path: Path) -> None:
    """The API answers an unknown ?incident= with 404 and the page's message as JSON."""
    client = _signed_in(_two_incidents(tmp_path))
    response = client.get("/api/reports/typhoon?incident=nope")
    assert response.status_code == 404
    assert response.json() == {
        "error": "フロー typhoon に「nope」という災害はありません。報告の推移の一覧から選ぶか、"
        "automation incident list で災害の名前を確認してください。"
    }


def test_the_incidents_api_lists_each_flows_incidents_current_first(tmp_path: Path) -> None:
    """/api/incidents lists each flow's incidents, current first, with dates and report numbers."""
    # and the address of their reports
    body = _signed_in(_two_incidents(tmp_path)).get("/api/incidents").json()
    assert [(i["name"], i["current"]) for i in body["typhoon"]] == [(B, True), (A, False)]
    assert body["typhoon"][1] == {
        "name": A,
        "current": False,
        "opened_at": OPENED_A.isoformat(),
        "closed_at": CLOSED_A.isoformat(),
        "closing": False,
        "first_report": 1,
        "last_report": 2,
        "reports": f"/api/reports/typhoon?incident={quote(A)}",
    }


# access ------------------------------------------------------------------------------------


def test_past_incidents_need_a_session(tmp_path: Path) -> None:
    """Signed out, a past incident's timeline goes to sign-in and its API answers 401."""
    client = _client(_two_incidents(tmp_path))
    page = client.get(f"/timeline?incident={quote(A)}", follow_redirects=False)
    assert page.headers["location"] == "/login"
    assert client.get(f"/api/reports/typhoon?incident={quote(A)}").status_code == 401
    assert client.get("/api/incidents").status_code == 401


def test_a_viewer_reads_past_incidents(tmp_path: Path) -> None:
    """A viewer reads a past incident's timeline, its API and its merged workbook."""
    folder = tmp_path / "artefacts"
    folder.mkdir()
    (folder / "a1.xlsx").write_bytes(b"A1")
    records = {(A, 1): {"artefacts": [{"name": "a1.xlsx", "location": str(folder / "a1.xlsx")}]}}
    client = _signed_in(_two_incidents(tmp_path, records), "viewer", artefacts=folder)
    query = f"incident={quote(A)}"
    assert client.get(f"/timeline?{query}").status_code == 200
    assert client.get(f"/api/reports/typhoon?{query}").status_code == 200
    assert client.get(f"/reports/typhoon/1/workbook?{query}").content == b"A1"


# 現在の報告 between incidents ---------------------------------------------------------------


def test_an_idle_flow_says_its_incident_ended_and_how_to_start_the_next(tmp_path: Path) -> None:
    """With no incident open 現在の報告 says when the last ended and how to open the next."""
    # its final report too; the next starts with automation incident open
    body = _signed_in(_two_incidents(tmp_path, second_closed=True)).get("/").text
    assert f"「{B}」は 2026-09-15 12:00 に終了しました（最終報: 第2報）" in body
    assert "次の災害は <code>automation incident open</code> で開始します" in body


def test_an_idle_flow_links_its_last_incident_on_the_timeline(tmp_path: Path) -> None:
    """The idle notice links the ended incident's reports on 報告の推移."""
    body = _signed_in(_two_incidents(tmp_path, second_closed=True)).get("/").text
    assert (
        f'<a href="/timeline?flow=typhoon&amp;incident={quote(B)}">「{B}」の報告の推移</a>' in body
    )


def test_an_idle_flow_shows_its_final_report_only_when_asked(tmp_path: Path) -> None:
    """Idle, the final report is a link to show it, not a live report on the page."""
    body = _signed_in(_two_incidents(tmp_path, second_closed=True)).get("/").text
    assert '<a href="/?final=1#final-1">最終報（第2報）の内容を表示</a>' in body
    assert "被害の合計" not in body and "<h2>typhoon（" not in body


def test_an_idle_flows_final_report_is_shown_by_its_address(tmp_path: Path) -> None:
    """/?final=1 shows the final report under the idle notice (kept by the page's reload)."""
    body = _signed_in(_two_incidents(tmp_path, second_closed=True)).get("/?final=1").text
    assert '<h3 id="final-1">最終報（第2報）の内容</h3>' in body and "被害の合計" in body
    assert "待機中" in body


def test_sorting_an_idle_flows_table_keeps_the_final_report_shown(tmp_path: Path) -> None:
    """A heading clicked in the shown final report's table keeps it shown."""
    body = _signed_in(_two_incidents(tmp_path, second_closed=True)).get("/?sort=dead").text
    assert '<h3 id="final-1">' in body and "被害の合計" in body


def test_an_open_incident_is_shown_as_a_live_report(tmp_path: Path) -> None:
    """While its incident is open the flow's latest report is shown as before, unfolded."""
    body = _signed_in(_two_incidents(tmp_path)).get("/").text
    assert f"<h2>typhoon（{B}）: 第2報</h2>" in body and "被害の合計" in body


def test_a_new_incident_before_its_first_report_says_it_waits(tmp_path: Path) -> None:
    """Opened but not yet reported, the flow says so and links the incident before it."""
    path = _two_incidents(tmp_path, second_closed=True)
    with Store(path) as store:
        store.open_incident("typhoon", "令和8年台風第12号", '"c.xlsx"', None, CLOSED_B)
    body = _signed_in(path).get("/").text
    assert "<h2>typhoon（令和8年台風第12号）: 第1報を待っています</h2>" in body
    assert f'href="/timeline?flow=typhoon&amp;incident={quote(B)}">前の災害「{B}」' in body


def test_a_flows_first_incident_before_any_report_says_it_waits(tmp_path: Path) -> None:
    """A flow whose first incident opened before it ever reported is shown waiting too."""
    path = _state(tmp_path)
    with Store(path) as store:
        store.open_incident("landslide", "令和8年豪雨", '"d.xlsx"', None, OPENED_B)
    body = _signed_in(path).get("/").text
    assert "<h2>landslide（令和8年豪雨）: 第1報を待っています</h2>" in body
    assert "<h2>typhoon: 第3報</h2>" in body


def test_the_incidents_api_lists_a_flow_that_has_not_reported_yet(tmp_path: Path) -> None:
    """/api/incidents lists an opened incident of a flow with no report yet."""
    path = _state(tmp_path)
    with Store(path) as store:
        store.open_incident("landslide", "令和8年豪雨", '"d.xlsx"', None, OPENED_B)
    found = _signed_in(path).get("/api/incidents").json()
    assert [i["name"] for i in found["landslide"]] == ["令和8年豪雨"]


def test_the_timeline_of_an_incident_without_reports_says_so(tmp_path: Path) -> None:
    """報告の推移 of an incident with no report yet says the first one is still to come."""
    path = _two_incidents(tmp_path, second_closed=True)
    with Store(path) as store:
        store.open_incident("typhoon", "令和8年台風第12号", '"c.xlsx"', None, CLOSED_B)
    body = _signed_in(path).get("/timeline").text
    assert "この災害の報告はまだありません" in body and "<svg" not in body


# merged workbooks ----------------------------------------------------------------------------


def _local_books(tmp_path: Path) -> tuple[Path, Records]:
    """A local artefacts folder with 第1報's workbook of A and of B, and 第3報's before them."""
    folder = tmp_path / "artefacts"
    folder.mkdir()
    records: Records = {}
    for key, name in (((A, 1), "a1.xlsx"), ((B, 1), "b1.xlsx"), (("", 3), "old3.xlsx")):
        (folder / name).write_bytes(name.encode())
        records[key] = {"artefacts": [{"name": name, "location": str(folder / name)}]}
    return folder, records


def test_a_past_reports_workbook_downloads_by_its_incident(tmp_path: Path) -> None:
    """/reports/FLOW/N/workbook?incident=NAME hands out that incident's 第N報 workbook."""
    folder, records = _local_books(tmp_path)
    client = _signed_in(_two_incidents(tmp_path, records), artefacts=folder)
    assert client.get(f"/reports/typhoon/1/workbook?incident={quote(A)}").content == b"a1.xlsx"
    assert client.get(f"/reports/typhoon/1/workbook?incident={quote(B)}").content == b"b1.xlsx"


def test_the_timeline_links_each_reports_workbook_in_its_incident(tmp_path: Path) -> None:
    """A past incident's timeline links its reports' workbooks with the incident named."""
    folder, records = _local_books(tmp_path)
    client = _signed_in(_two_incidents(tmp_path, records), artefacts=folder)
    body = client.get("/timeline", params={"flow": "typhoon", "incident": A}).text
    assert f'href="/reports/typhoon/1/workbook?incident={quote(A)}" download' in body


def test_the_current_report_links_its_workbook_with_its_incident(tmp_path: Path) -> None:
    """現在の報告 links the merged workbook by an address that names the incident."""
    folder, records = _local_books(tmp_path)
    records[(B, 2)] = records.pop((B, 1))
    client = _signed_in(_two_incidents(tmp_path, records), artefacts=folder)
    assert f'href="/reports/typhoon/2/workbook?incident={quote(B)}"' in client.get("/").text


def test_an_address_without_incident_that_fits_several_asks_which(tmp_path: Path) -> None:
    """A 第N報 address fitting several incidents answers 300 with a link to each, never a guess."""
    # (an address without ?incident=)
    folder, records = _local_books(tmp_path)
    client = _signed_in(_two_incidents(tmp_path, records), artefacts=folder)
    response = client.get("/reports/typhoon/1/workbook")
    assert response.status_code == 300 and "第1報は 2 つの災害にあります" in response.text
    for name in (B, A):
        assert f'href="/reports/typhoon/1/workbook?incident={quote(name)}"' in response.text


def test_an_address_without_incident_that_fits_one_still_downloads(tmp_path: Path) -> None:
    """An address from before incidents keeps working while its 第N報 is the only one."""
    folder, records = _local_books(tmp_path)
    client = _signed_in(_two_incidents(tmp_path, records), artefacts=folder)
    assert client.get("/reports/typhoon/3/workbook").content == b"old3.xlsx"


def test_a_workbook_of_an_unknown_incident_is_a_japanese_404(tmp_path: Path) -> None:
    """?incident= naming no incident of the flow answers 404 naming it."""
    folder, records = _local_books(tmp_path)
    client = _signed_in(_two_incidents(tmp_path, records), artefacts=folder)
    response = client.get("/reports/typhoon/1/workbook?incident=nope")
    assert response.status_code == 404 and "「nope」という災害はありません" in response.text


def test_a_past_reports_sharepoint_workbook_is_linked_on_the_timeline(tmp_path: Path) -> None:
    """A past report's workbook stored on SharePoint is linked by its webUrl, as now."""
    url = "https://contoso.sharepoint.com/sites/bousai/Shared%20Documents/a_1.xlsx"
    records: Records = {(A, 1): {"artefacts": [{"name": "a_1.xlsx", "location": url}]}}
    client = _signed_in(_two_incidents(tmp_path, records))
    body = client.get("/timeline", params={"flow": "typhoon", "incident": A}).text
    assert (
        f'<a href="{url}" rel="noopener noreferrer">集約ブック（SharePoint）: a_1.xlsx</a>' in body
    )


# choosing ----------------------------------------------------------------------------------


def test_choosing_nothing_is_the_current_incident(tmp_path: Path) -> None:
    """Without a name the choice is the flow's newest incident."""
    with Store(_two_incidents(tmp_path)) as store:
        assert choose(choices(store, "typhoon"), None).name == B


def test_choosing_an_unknown_name_is_refused(tmp_path: Path) -> None:
    """A name the flow has no incident of is refused, not replaced by another."""
    with Store(_two_incidents(tmp_path)) as store, pytest.raises(UnknownIncidentError):
        choose(choices(store, "typhoon"), "nope")


def test_a_flow_without_incidents_offers_nothing_to_choose(tmp_path: Path) -> None:
    """A flow that never had an incident has one choice, its reports, with no name."""
    with Store(_state(tmp_path)) as store:
        listed = choices(store, "typhoon")
    assert [(c.id, c.key, c.current) for c in listed] == [(0, None, True)]
