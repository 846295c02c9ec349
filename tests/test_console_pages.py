"""Console pages beyond sign-in: the per-municipality table and its codes, the merged
workbook, 進捗, and 今すぐ実行."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape
from starlette.testclient import TestClient

from automation.console.accounts import hash_password
from automation.console.app import ConsoleSettings, create_app
from automation.state import OutboxEntry, Store
from tests.injection_corpus import CORPUS
from tests.test_console import NOW, PASSWORD, SECRET, _csrf, _signed_in, _snapshot

HOSTILE = CORPUS[next(k for k in sorted(CORPUS) if "<" in CORPUS[k])]


def _figures_snapshot(number: int = 3, **extra: Any) -> dict[str, Any]:
    snapshot = _snapshot("危機管理課")
    snapshot["number"] = number
    totals: dict[str, Any] = snapshot["totals"]  # type: ignore[assignment]  # _snapshot's dict is loosely typed
    totals["evacuees"] = {
        "label": "避難者数",
        "unit": "人",
        "category": "避難",
        "value": "130",
        "unconfirmed": 0,
        "unconfirmed_where": [],
        "unreadable": 0,
        "unreadable_where": [],
    }
    snapshot["figures"] = {
        "危機管理課": {
            "amounts": {"前橋市": {"dead": "1", "evacuees": "100"}, "高崎市": {"dead": "1"}},
            "unconfirmed": [["府中市", "dead"]],
            "statuses": {},
        },
        "福祉課": {"amounts": {"高崎市": {"evacuees": "30"}}, "unconfirmed": [], "statuses": {}},
    }
    snapshot.update(extra)
    return snapshot


def _state(tmp_path: Path, record: dict[str, Any] | None = None) -> Path:
    path = tmp_path / "state.sqlite"
    with Store(path) as store:
        for name in ("viewer", "operator", "admin"):
            store.save_user(name, hash_password(PASSWORD), name, NOW)
        run = store.start_run("typhoon", NOW, NOW)
        store.finish_run(run, "ok", NOW, record or {}, 3)
        store.save_report("typhoon", _figures_snapshot(), run)
    return path


def _client(path: Path, **settings: Any) -> TestClient:
    console = ConsoleSettings(
        state_path=path, secret=SECRET, clock=lambda: NOW, secure_cookies=False, **settings
    )
    return TestClient(create_app(console), base_url="http://localhost")


def _rows(html: str) -> list[str]:
    """Municipality names in the order the table shows them."""
    table = html[html.index('class="sortable"') :]
    table = table[: table.index("</table>")]
    return [part.split("</th>")[0] for part in table.split('<th scope="row">')[1:]]


def test_municipality_table_sorts_by_an_item_on_the_server(tmp_path: Path) -> None:
    """?sort=evacuees&dir=desc lists the municipality with most evacuees first, no script."""
    client = _client(_state(tmp_path))
    _signed_in(client)
    body = client.get("/?sort=evacuees&dir=desc").text
    assert _rows(body) == ["前橋市", "高崎市", "府中市"]
    assert _rows(client.get("/?sort=evacuees&dir=asc").text) == ["府中市", "高崎市", "前橋市"]


def test_municipality_table_defaults_to_code_order_with_codes(tmp_path: Path) -> None:
    """Without a sort the table is in code order, each row with its 6-digit code."""
    client = _client(_state(tmp_path))
    _signed_in(client)
    body = client.get("/").text
    assert _rows(body) == ["前橋市", "高崎市", "府中市"]
    assert "102016" in body and "102024" in body


def test_a_heading_links_to_the_opposite_direction(tmp_path: Path) -> None:
    """The sorted column's heading links to the other direction and is marked aria-sort."""
    client = _client(_state(tmp_path))
    _signed_in(client)
    body = client.get("/?sort=dead&dir=asc").text
    assert 'aria-sort="ascending"' in body and "?sort=dead&amp;dir=desc" in body


@pytest.mark.parametrize("query", ["sort=<script>&dir=up", "sort=%00&dir=", "dir=desc&sort="])
def test_an_unknown_sort_falls_back_to_code_order(tmp_path: Path, query: str) -> None:
    """A sort key or direction the table does not know gives code order, never an error."""
    client = _client(_state(tmp_path))
    _signed_in(client)
    response = client.get(f"/?{query}")
    assert response.status_code == 200 and "<script>" not in response.text
    assert _rows(response.text)[:2] == ["前橋市", "高崎市"]


def test_unconfirmed_cells_are_marked_in_the_table(tmp_path: Path) -> None:
    """A municipality flagged 未確認 shows the mark where its number would be."""
    client = _client(_state(tmp_path))
    _signed_in(client)
    body = client.get("/").text
    row = body[body.index("府中市</th>") :]
    assert "未確認" in row[: row.index("</tr>")]


def test_municipalities_csv_carries_local_government_codes(tmp_path: Path) -> None:
    """Each municipality row of the CSV carries its 全国地方公共団体コード; sums per city."""
    client = _client(_state(tmp_path))
    _signed_in(client)
    response = client.get("/api/reports/typhoon/municipalities.csv")
    rows = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert rows[0][:5] == ["報告番号", "時点", "団体コード", "市区町村", "項目コード"]
    by_key = {(r[3], r[4]): r for r in rows[1:]}
    assert by_key[("高崎市", "evacuees")][2] == "102024"
    assert by_key[("高崎市", "evacuees")][8] == "30"
    assert by_key[("前橋市", "evacuees")][8] == "100"


def test_a_name_in_two_prefectures_gets_the_reports_own(tmp_path: Path) -> None:
    """府中市 exists in 東京都 and 広島県: beside 群馬県's cities no code is guessed."""
    client = _client(_state(tmp_path))
    _signed_in(client)
    text = client.get("/api/reports/typhoon/municipalities.csv").text
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    fuchu = next(r for r in rows if r[3] == "府中市")
    assert fuchu[2] == "" and fuchu[9] == "1" and fuchu[8] == ""


def test_latest_json_lists_municipalities_with_codes(tmp_path: Path) -> None:
    """/api/reports/FLOW/latest.json gives the report with each municipality's code."""
    client = _client(_state(tmp_path))
    _signed_in(client)
    body = client.get("/api/reports/typhoon/latest.json").json()
    assert body["number"] == 3 and "figures" not in body
    maebashi = next(m for m in body["municipalities"] if m["name"] == "前橋市")
    assert maebashi == {
        "code": "102016",
        "name": "前橋市",
        "values": {"dead": "1", "evacuees": "100"},
        "unconfirmed": [],
        "unreadable": [],
    }


def test_unknown_flow_api_is_a_japanese_404(tmp_path: Path) -> None:
    """A flow without reports answers 404 on its JSON and CSV."""
    client = _client(_state(tmp_path))
    _signed_in(client)
    for url in ("/api/reports/nope/latest.json", "/api/reports/nope/municipalities.csv"):
        response = client.get(url)
        assert response.status_code == 404 and "報告はまだありません" in response.text


def test_merged_workbook_on_sharepoint_is_linked(tmp_path: Path) -> None:
    """A workbook stored on SharePoint is linked by its webUrl."""
    url = "https://contoso.sharepoint.com/sites/bousai/Shared%20Documents/merged_3.xlsx"
    record = {"artefacts": [{"name": "merged_3.xlsx", "location": url}]}
    client = _client(_state(tmp_path, record))
    _signed_in(client)
    assert f'href="{url}"' in client.get("/").text


def test_a_javascript_location_is_never_a_link(tmp_path: Path) -> None:
    """A stored location that is not http(s) is not linked as an address."""
    record = {"artefacts": [{"name": "m.xlsx", "location": "javascript:alert(1)"}]}
    client = _client(_state(tmp_path, record))
    _signed_in(client)
    assert "javascript:" not in client.get("/").text


SOURCE_URL = "https://contoso.sharepoint.com/sites/bousai/Shared%20Documents/General/%E8%A2%AB%E5%AE%B3%E5%A0%B1%E5%91%8A.xlsx"


def test_the_departments_workbook_is_linked_by_its_web_address(tmp_path: Path) -> None:
    """現在の報告 links the workbook the report was read from (the Teams channel's file)."""
    record = {"source_workbook": {"name": "被害報告.xlsx", "web_url": SOURCE_URL}}
    client = _client(_state(tmp_path, record))
    _signed_in(client)
    page = client.get("/").text
    assert (
        f'<a href="{SOURCE_URL}" rel="noopener noreferrer">各部局の入力ブック: 被害報告.xlsx</a>'
        in page
    )


def test_a_local_source_workbook_is_named_not_linked(tmp_path: Path) -> None:
    """Without a web address (local backend) the source workbook is shown by name only."""
    record = {"source_workbook": {"name": "被害報告.xlsx", "web_url": None}}
    client = _client(_state(tmp_path, record))
    _signed_in(client)
    assert "<span>各部局の入力ブック: 被害報告.xlsx</span>" in client.get("/").text


def test_a_source_address_that_is_not_http_is_not_linked(tmp_path: Path) -> None:
    """A recorded source address that is not http(s) is shown as the name only."""
    record = {"source_workbook": {"name": "b.xlsx", "web_url": "javascript:alert(1)"}}
    client = _client(_state(tmp_path, record))
    _signed_in(client)
    page = client.get("/").text
    assert "javascript:" not in page and "<span>各部局の入力ブック: b.xlsx</span>" in page


def test_local_merged_workbook_downloads_from_the_artefacts_folder(tmp_path: Path) -> None:
    """With the local backend the workbook in its artefacts folder downloads from the page."""
    folder = tmp_path / "artefacts"
    folder.mkdir()
    (folder / "merged_3.xlsx").write_bytes(b"PK-workbook")
    record = {"artefacts": [{"name": "merged_3.xlsx", "location": str(folder / "merged_3.xlsx")}]}
    client = _client(_state(tmp_path, record), artefacts=folder)
    _signed_in(client)
    assert 'href="/reports/typhoon/3/workbook"' in client.get("/").text
    response = client.get("/reports/typhoon/3/workbook")
    assert response.status_code == 200 and response.content == b"PK-workbook"


def test_a_workbook_outside_the_artefacts_folder_is_not_served(tmp_path: Path) -> None:
    """A recorded location outside the artefacts folder answers 404, never the file."""
    folder = tmp_path / "artefacts"
    folder.mkdir()
    secret = tmp_path / "other.xlsx"
    secret.write_bytes(b"not yours")
    record = {"artefacts": [{"name": "other.xlsx", "location": str(secret)}]}
    client = _client(_state(tmp_path, record), artefacts=folder)
    _signed_in(client)
    response = client.get("/reports/typhoon/3/workbook")
    assert response.status_code == 404 and b"not yours" not in response.content


# 進捗 ---------------------------------------------------------------------------------------

PROGRESS_RECORD: dict[str, Any] = {
    "kind": "progress_collection",
    "period": "2026H1",
    "period_ja": "2026年度上半期",
    "deadline": "2026-10-09",
    "phase": "reminder",
    "today": "2026-10-05",
    "items": 4,
    "complete": 2,
    "completion": {
        "総務部": {"total": 2, "complete": 2, "percent": 100},
        "健康福祉部": {"total": 2, "complete": 0, "percent": 0},
    },
    "incomplete": [
        {
            "id": "17",
            "department": "健康福祉部",
            "project": "高齢者見守り",
            "link": "https://contoso.sharepoint.com/sites/dx/Lists/p/DispForm.aspx?ID=17",
            "issues": [{"field": "進捗率", "reason": "未入力"}],
        },
        {
            "id": "18",
            "department": "健康福祉部",
            "project": HOSTILE,
            "link": "javascript:alert(1)",
            "issues": [{"field": "課題", "reason": "未入力"}],
        },
    ],
    "delayed": [{"id": "9", "department": "総務部", "project": "文書電子化", "status": "遅延"}],
    "problems": [],
}


def add_progress_round(path: Path) -> None:
    """Store a progress run of dx_progress and the reminder it sent."""
    with Store(path) as store:
        run = store.start_run("dx_progress", NOW, NOW)
        store.finish_run(run, "ok", NOW, PROGRESS_RECORD)
        entry = OutboxEntry(
            key="r1",
            flow="dx_progress",
            run_id=run,
            kind="reminder",
            audience="健康福祉部",
            channel="mail",
            recipient="kenkou@example.jp",
            recipient_label="健康福祉部 DXリーダー",
            subject="督促",
            bodies={"text": "x"},
            attachments=(),
            digest="d",
            occasion="reminder:2026H1:2026-10-05",
        )
        store.enqueue(entry, NOW)
        store.mark("r1", "sent", NOW)


def add_figures_report(path: Path, flow: str, number: int) -> None:
    """Store a report with per-municipality figures for ``flow``."""
    with Store(path) as store:
        run = store.start_run(flow, NOW, NOW)
        store.finish_run(run, "ok", NOW, {}, number)
        store.save_report(flow, _figures_snapshot(number), run)


def _progress_state(tmp_path: Path) -> Path:
    path = _state(tmp_path)
    add_progress_round(path)
    return path


def test_progress_page_shows_completion_and_missing_items(tmp_path: Path) -> None:
    """進捗 shows each department's completion and the entries still missing, with links."""
    client = _client(_progress_state(tmp_path))
    _signed_in(client)
    body = client.get("/progress").text
    assert "2026年度上半期" in body and "督促期間" in body and "記入済み 2/4件" in body
    assert "総務部" in body and "100%" in body and "健康福祉部" in body
    assert 'href="https://contoso.sharepoint.com/sites/dx/Lists/p/DispForm.aspx?ID=17"' in body
    assert "進捗率 未入力" in body and "文書電子化" in body and "<svg" in body


def test_the_round_is_shown_as_of_the_time_its_run_acted_as(tmp_path: Path) -> None:
    """進捗 dates the round by the time its run acted as (`run --now`), not by the clock."""
    path = _state(tmp_path)
    with Store(path) as store:
        drill = store.start_run("dx_progress", NOW.replace(month=10, day=14), NOW)
        store.finish_run(drill, "ok", NOW, PROGRESS_RECORD)
    client = _client(path)
    _signed_in(client)
    assert "2026-10-14 09:00 の実行時点" in client.get("/progress").text


def test_progress_page_lists_who_was_reminded_when(tmp_path: Path) -> None:
    """The round's reminders appear with their day, department, recipient and status."""
    client = _client(_progress_state(tmp_path))
    _signed_in(client)
    body = client.get("/progress").text
    assert "2026-10-05" in body and "健康福祉部 DXリーダー" in body and "sent" in body


def test_progress_page_escapes_list_text(tmp_path: Path) -> None:
    """Hostile list text is shown as text and a javascript: link is never a link."""
    client = _client(_progress_state(tmp_path))
    _signed_in(client)
    body = client.get("/progress").text
    assert HOSTILE not in body and "javascript:" not in body


def test_progress_api_gives_the_round_as_json(tmp_path: Path) -> None:
    """/api/progress gives each progress flow's round and its contacts."""
    client = _client(_progress_state(tmp_path))
    _signed_in(client)
    body = client.get("/api/progress").json()
    assert body["dx_progress"]["completion"]["総務部"]["percent"] == 100
    assert body["dx_progress"]["contacts"][0]["recipient"] == "健康福祉部 DXリーダー"
    assert "typhoon" not in body


def test_progress_page_without_rounds_says_so(tmp_path: Path) -> None:
    """Before any progress run the page says where rounds will appear."""
    client = _client(_state(tmp_path))
    _signed_in(client)
    assert "進捗の回はまだありません" in client.get("/progress").text


# 今すぐ実行 -----------------------------------------------------------------------------------


def _runner(started: list[str]) -> Callable[[str], Awaitable[str]]:
    async def run_now(flow: str) -> str:
        started.append(flow)
        return "ok"

    return run_now


def _run_client(tmp_path: Path, started: list[str]) -> TestClient:
    return _client(
        _state(tmp_path), run_now=_runner(started), flows=lambda: {"typhoon": "cron */5 * * * *"}
    )


def test_operator_runs_a_flow_now_and_it_is_audited(tmp_path: Path) -> None:
    """An operator's 今すぐ実行 starts the flow through the hook and the audit log says so."""
    started: list[str] = []
    client = _run_client(tmp_path, started)
    token = _signed_in(client, "operator")
    response = client.post("/ops/run", data={"csrf": token, "flow": "typhoon"})
    assert started == ["typhoon"] and response.status_code == 200
    with Store(tmp_path / "state.sqlite") as store:
        audit = store.audit_log(limit=1)[0]
    assert (audit["who"], audit["action"], audit["target"], audit["outcome"]) == (
        "operator",
        "run",
        "typhoon",
        "ok",
    )


def test_viewer_cannot_run_a_flow_now(tmp_path: Path) -> None:
    """Running a flow is for operators: a viewer sees no button and a POST is refused."""
    started: list[str] = []
    client = _run_client(tmp_path, started)
    token = _signed_in(client, "viewer")
    assert "今すぐ実行" not in client.get("/ops").text
    response = client.post("/ops/run", data={"csrf": token, "flow": "typhoon"})
    assert response.status_code == 403 and started == []


def test_run_now_without_csrf_is_refused(tmp_path: Path) -> None:
    """A run-now POST without the session's CSRF token does nothing."""
    started: list[str] = []
    client = _run_client(tmp_path, started)
    _signed_in(client, "admin")
    response = client.post("/ops/run", data={"flow": "typhoon"})
    assert response.status_code == 403 and started == []


def test_run_now_of_an_unknown_flow_is_refused_by_name(tmp_path: Path) -> None:
    """A flow not in the configuration is refused with 404, naming the flows there are."""
    started: list[str] = []
    client = _run_client(tmp_path, started)
    token = _signed_in(client, "admin")
    response = client.post("/ops/run", data={"csrf": token, "flow": "<b>nope</b>"})
    assert response.status_code == 404 and started == []
    assert "設定にあるフロー: typhoon" in response.text and "<b>nope" not in response.text


def test_read_only_console_has_no_run_now(tmp_path: Path) -> None:
    """`automation console` alone cannot run flows: no button, a POST answers 403."""
    client = _client(_state(tmp_path))
    token = _signed_in(client, "admin")
    assert "今すぐ実行" not in client.get("/ops").text
    response = client.post("/ops/run", data={"csrf": token, "flow": "typhoon"})
    assert response.status_code == 403 and "読み取り専用" in response.text


def test_admin_sees_the_configured_flows_to_run(tmp_path: Path) -> None:
    """運用 offers the configured flows in the run-now form to an admin too."""
    client = _run_client(tmp_path, [])
    _signed_in(client, "admin")
    body = client.get("/ops").text
    assert '<option value="typhoon">' in body and _csrf(body)


def test_latest_json_carries_no_per_sheet_figures(tmp_path: Path) -> None:
    """/api/reports/latest gives each report's totals without every sheet's figures."""
    client = _client(_state(tmp_path))
    _signed_in(client)
    body = client.get("/api/reports/latest").text
    assert "figures" not in json.loads(body)["typhoon"]


class NextRuns:
    """The daemon's health as the console sees it: the next planned run of each flow."""

    def health(self) -> dict[str, object]:
        return {"status": "ok", "flows": {"typhoon": {"next_run": "2026-09-01T09:05:00+09:00"}}}

    def metrics_text(self) -> str:
        return ""


def test_ops_lists_each_flow_with_schedule_next_run_and_last_status(tmp_path: Path) -> None:
    """運用 shows every configured flow: its schedule, the next run, how the last one ended."""
    client = _client(
        _state(tmp_path),
        health=NextRuns(),
        flows=lambda: {"typhoon": "cron */5 * * * *（営業日のみ）", "manual": ""},
    )
    _signed_in(client)
    body = client.get("/ops").text
    row = body[body.index('<th scope="row">typhoon</th>') :]
    row = row[: row.index("</tr>")]
    assert "cron */5 * * * *（営業日のみ）" in row and "2026-09-01 09:05" in row
    assert "ok（第3報）" in row
    assert "予定なし（手動）" in body


def test_schedules_are_written_as_the_configuration_says() -> None:
    """A cron schedule, an interval and business days read as configured."""
    from automation.config.models import Schedule  # noqa: PLC0415
    from automation.console.reports import schedule_text  # noqa: PLC0415

    assert schedule_text(Schedule(cron=("*/5 * * * *",), business_days_only=True)) == (
        "cron */5 * * * *（営業日のみ）"
    )
    assert schedule_text(Schedule(every_seconds=60)) == "60秒ごと"
    assert schedule_text(None) == ""


def test_times_are_shown_in_japan_time_to_the_minute() -> None:
    """A stored UTC time reads as Japan time; text that is no time is shown as it is."""
    from automation.console.web import when  # noqa: PLC0415

    assert when("2026-09-01T00:05:00+00:00") == "2026-09-01 09:05"
    assert when(None) == "—" and when("<b>") == "<b>"


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_injection_corpus_renders_as_text_on_progress_and_the_table(
    tmp_path: Path, name: str
) -> None:
    """Hostile list and workbook text is escaped on 進捗 and in the per-municipality table."""
    # department, project, issue, recipient, municipality
    text = CORPUS[name]
    path = _state(tmp_path)
    record = json.loads(json.dumps(PROGRESS_RECORD))
    record["completion"] = {text: {"total": 1, "complete": 0, "percent": 0}}
    record["incomplete"][0].update(department=text, project=text)
    record["incomplete"][0]["issues"] = [{"field": text, "reason": text}]
    with Store(path) as store:
        run = store.start_run("dx_progress", NOW, NOW)
        store.finish_run(run, "ok", NOW, record)
        run = store.start_run("quake", NOW, NOW)
        snapshot = _figures_snapshot(1)
        snapshot["figures"]["危機管理課"]["amounts"][text] = {"dead": "1"}
        store.save_report("quake", snapshot, run)
    client = _client(path)
    _signed_in(client)
    for page in ("/progress", "/"):
        body = client.get(page).text
        if "<" in text:
            assert text not in body, page
        assert str(escape(text))[:40] in body or not text.strip(), page


def _incident_state(tmp_path: Path) -> Path:
    """A report before incidents, then 第1報（最終報） of a closed incident."""
    path = _state(tmp_path)
    with Store(path) as store:
        incident = store.open_incident("typhoon", "令和8年台風第10号", '"b.xlsx"', None, NOW)
        run = store.start_run("typhoon", NOW, NOW)
        store.finish_run(run, "ok", NOW, {}, 1)
        store.save_report("typhoon", _figures_snapshot(1, final=True), run)
        store.close_incident(incident, "archive/b.xlsx", NOW)
    return path


def test_the_current_report_of_a_closed_incident_heads_the_flow_idle(tmp_path: Path) -> None:
    """現在の報告 heads a flow whose incident closed 待機中, the incident marked 終了."""
    client = _client(_incident_state(tmp_path))
    _signed_in(client)

    body = client.get("/").text

    assert "<h2>typhoon: 待機中（令和8年台風第10号・終了）</h2>" in body


def test_the_timeline_shows_only_the_incident_reports_under_its_name(tmp_path: Path) -> None:
    """報告の推移 shows the incident's own reports, not the ones before it."""
    client = _client(_incident_state(tmp_path))
    _signed_in(client)

    body = client.get("/timeline").text

    assert "<h2>typhoon（令和8年台風第10号）</h2>" in body
    assert body.count('<article class="report">') == 1


REPORTED = {
    "report_number": 3,
    "changes": [
        {"code": "half_b", "label": "半壊", "unit": "棟", "status": None, "before": 5, "after": 8},
        {
            "code": "half_h",
            "label": "半壊",
            "unit": "世帯",
            "status": None,
            "before": 0,
            "after": 2,
        },
    ],
    "departments": {
        "危機管理課": {"status": "updated", "problems": 0, "changed_at": NOW.isoformat()},
        "農政部": {"status": "problems", "problems": 2, "changed_at": NOW.isoformat()},
        "産業経済部": {"status": "not_reported", "behind_ja": "未報告", "changed_at": None},
        "企業局": {"status": "missing", "behind_ja": "シートなし", "changed_at": None},
    },
    "not_reported": ["産業経済部", "企業局"],
    "problems_total": 2,
}


def _page(tmp_path: Path, record: dict[str, Any]) -> str:
    client = _client(_state(tmp_path, record))
    _signed_in(client)
    return client.get("/").text


def test_the_current_report_opens_with_what_changed_in_units(tmp_path: Path) -> None:
    """現在の報告 lists the changes since the report before, each total with its unit."""
    page = _page(tmp_path, REPORTED)
    assert "<li>半壊: 5棟 → 8棟</li>" in page and "<li>半壊: 0世帯 → 2世帯</li>" in page
    assert page.index("前報からの変更") < page.index("被害の合計")


def test_the_current_report_names_who_is_behind_and_why(tmp_path: Path) -> None:
    """現在の報告 lists the departments behind as the report did: 未報告, シートなし."""
    page = _page(tmp_path, REPORTED)
    assert "<li>産業経済部（未報告）</li><li>企業局（シートなし）</li>" in page


def test_department_status_is_the_one_the_report_gave(tmp_path: Path) -> None:
    """部局の報告状況 shows each department's status from the report's run record."""
    page = _page(tmp_path, REPORTED)
    table = page[page.index("部局の報告状況") :]
    assert '<th scope="row">企業局</th>\n        <td>シートなし</td>' in table
    assert '<th scope="row">農政部</th>\n        <td>要修正（2件）</td>' in table


HINTED = {
    **REPORTED,
    "departments": {
        "企業局": {
            "status": "missing",
            "behind_ja": "シートなし",
            "changed_at": None,
            "likely_sheet": "企業局 (2)",
            "likely_sheet_ja": "コピー「企業局 (2)」あり",
        },
    },
    "not_reported": ["企業局"],
}


def test_who_is_behind_names_the_copy_of_a_missing_sheet(tmp_path: Path) -> None:
    """A missing sheet with a copy in the workbook: the list of who is behind names the copy."""
    page = _page(tmp_path, HINTED)
    assert "<li>企業局（シートなし、コピー「企業局 (2)」あり）</li>" in page


def test_a_missing_sheets_status_names_the_copy(tmp_path: Path) -> None:
    """部局の報告状況 shows シートなし with the copy the report named."""
    page = _page(tmp_path, HINTED)
    table = page[page.index("部局の報告状況") :]
    assert (
        '<th scope="row">企業局</th>\n        <td>シートなし（コピー「企業局 (2)」あり）</td>'
        in table
    )


def test_a_first_report_says_there_is_nothing_to_compare(tmp_path: Path) -> None:
    """第1報 has no report before it: the page says so instead of listing changes."""
    page = _page(tmp_path, {"report_number": 1, "changes": [], "not_reported": []})
    assert "第1報のため比較なし" in page and "なし（報告が必要な部局はすべて報告済み）" in page


def test_the_timeline_tells_an_items_units_apart(tmp_path: Path) -> None:
    """報告の推移 shows each moved total with its unit, and a total of 0 as 0, not —."""
    path = _state(tmp_path)
    with Store(path) as store:
        run = store.start_run("typhoon", NOW, NOW)
        snapshot = _figures_snapshot(4)
        totals: dict[str, Any] = snapshot["totals"]
        totals["dead"]["value"] = 0
        store.save_report("typhoon", snapshot, run)
    client = _client(path)
    _signed_in(client)
    assert "<li>死者: 2人 → 0人</li>" in client.get("/timeline").text
