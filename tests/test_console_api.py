"""The console's JSON API beyond the latest report: the timeline, runs, outbox and audit
log, with query parameters checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from automation.state import OutboxEntry, Store
from tests.test_console import NOW, _client, _second_report, _signed_in, _state


def _with_outbox(path: Path) -> Path:
    with Store(path) as store:
        run = store.runs(limit=1)[0]["id"]
        for key, status in (("m1", "failed"), ("m2", "sent")):
            entry = OutboxEntry(
                key=key,
                flow="typhoon",
                run_id=run,
                kind="report",
                audience="本部",
                channel="mail",
                recipient="hq@example.jp",
                recipient_label="本部",
                subject="第3報",
                bodies={"text": "BODY-NEVER-SHOWN"},
                attachments=(),
                digest="d",
            )
            store.enqueue(entry, NOW)
            store.mark(key, status, NOW)
    return path


def _signed(tmp_path: Path) -> TestClient:
    client = _client(_with_outbox(_state(tmp_path)))
    _signed_in(client)
    return client


def test_timeline_api_lists_reports_newest_first_with_changes(tmp_path: Path) -> None:
    """/api/reports/FLOW gives 第4報 then 第3報, each with the totals that moved."""
    path = _state(tmp_path)
    _second_report(path)
    client = _client(path)
    _signed_in(client)
    body = client.get("/api/reports/typhoon").json()
    assert [r["number"] for r in body] == [4, 3]
    assert body[0]["changes"] == [
        {"item": "死者", "code": "dead", "unit": "人", "before": "2", "after": "5"}
    ]


def test_runs_api_gives_history_with_run_records(tmp_path: Path) -> None:
    """/api/runs gives each run with its status and its run record as JSON."""
    body = _signed(tmp_path).get("/api/runs?flow=typhoon&limit=5").json()
    assert body[0]["flow"] == "typhoon" and body[0]["status"] == "ok"
    assert body[0]["record"] == {}


@pytest.mark.parametrize("limit", ["0", "501", "-1", "ten", "1e3", "١"])
def test_a_limit_out_of_range_is_a_400_naming_the_range(tmp_path: Path, limit: str) -> None:
    """limit must be an integer from 1 to 500; anything else is refused, saying so."""
    response = _signed(tmp_path).get("/api/runs", params={"limit": limit})
    assert response.status_code == 400 and "1〜500 の整数" in response.json()["error"]


def test_outbox_api_filters_by_status_and_never_shows_bodies(tmp_path: Path) -> None:
    """/api/outbox?status=failed lists the failed message without its body."""
    response = _signed(tmp_path).get("/api/outbox?status=failed")
    assert [e["key"] for e in response.json()] == ["m1"]
    assert "BODY-NEVER-SHOWN" not in response.text


def test_an_unknown_outbox_status_is_a_400_listing_the_statuses(tmp_path: Path) -> None:
    """A status the outbox does not have is refused with the ones it has."""
    response = _signed(tmp_path).get("/api/outbox?status=lost")
    assert response.status_code == 400
    assert "pending、sending、sent、failed、uncertain、dead" in response.json()["error"]


def test_audit_api_lists_sign_ins(tmp_path: Path) -> None:
    """/api/audit gives the newest actions first, the sign-in included."""
    body = _signed(tmp_path).get("/api/audit?limit=1").json()
    assert [(a["who"], a["action"], a["outcome"]) for a in body] == [("viewer", "login", "ok")]


def test_the_api_needs_a_session(tmp_path: Path) -> None:
    """Without signing in every API address answers 401 in JSON, saying to sign in."""
    client = _client(_state(tmp_path))
    for url in ("/api/runs", "/api/outbox", "/api/audit", "/api/reports/typhoon"):
        response = client.get(url, follow_redirects=False)
        assert response.status_code == 401, url
        assert "サインインが必要です" in response.json()["error"]


def test_one_run_is_given_with_its_record_and_an_unknown_one_is_404(tmp_path: Path) -> None:
    """/api/runs/N gives that run's JSON record; a number with no run answers 404."""
    client = _signed(tmp_path)
    run_id = client.get("/api/runs?limit=1").json()[0]["id"]
    assert client.get(f"/api/runs/{run_id}").json()["record"] == {}
    assert f'href="/api/runs/{run_id}"' in client.get("/ops").text
    missing = client.get("/api/runs/999999")
    assert missing.status_code == 404 and "実行はありません" in missing.json()["error"]
