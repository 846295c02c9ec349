"""The web console: sign-in, CSRF, roles, escaping and the pages that must never traceback."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from markupsafe import escape
from starlette.testclient import TestClient

from automation.console import sessions
from automation.console.accounts import hash_password, verify_password
from automation.console.app import ConsoleSettings, create_app
from automation.state import Fingerprint, Store
from automation.timeutil import JST
from tests.injection_corpus import CORPUS
from tests.pg_server import PgServer

NOW = datetime(2026, 9, 1, 9, 0, tzinfo=JST)
SECRET = b"k" * 32
PASSWORD = "correct horse battery"


def _snapshot(text: str) -> dict[str, object]:
    return {
        "number": 3,
        "as_of": NOW.isoformat(),
        "signature": "sig",
        "totals": {
            "dead": {
                "label": "死者",
                "unit": "人",
                "category": "人的被害",
                "value": "2",
                "unconfirmed": 1,
                "unconfirmed_where": [text],
                "unreadable": 0,
                "unreadable_where": [],
            },
        },
        "statuses": {},
        "problems": [
            {
                "department": text,
                "where": "危機管理課!C7",
                "value": text,
                "message": "数字を入力してください",
                "municipality": "",
                "item": "",
            }
        ],
    }


def _state(tmp_path: Path, text: str = "危機管理課") -> Path:
    path = tmp_path / "state.sqlite"
    _fill(path, text)
    return path


def _fill(target: Path | str, text: str = "危機管理課") -> None:
    with Store(target) as store:
        store.save_user("viewer", hash_password(PASSWORD), "viewer", NOW)
        store.save_user("operator", hash_password(PASSWORD), "operator", NOW)
        run = store.start_run("typhoon", NOW, NOW)
        store.finish_run(run, "ok", NOW, {}, 3, error=text)
        store.save_report("typhoon", _snapshot(text), run)
        store.save_fingerprints("typhoon", [Fingerprint(text, "f", NOW, 1, True)])


def _client(path: Path | str, retried: list[str] | None = None) -> TestClient:
    async def retry(key: str) -> str:
        assert retried is not None
        retried.append(key)
        return "sent"

    settings = ConsoleSettings(
        state_path=path,
        secret=SECRET,
        clock=lambda: NOW,
        secure_cookies=False,
        retry=retry if retried is not None else None,
    )
    return TestClient(create_app(settings), base_url="http://localhost")


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def _signed_in(client: TestClient, name: str = "viewer") -> str:
    token = _csrf(client.get("/login").text)
    response = client.post(
        "/login", data={"csrf": token, "name": name, "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return _csrf(client.get("/").text)


def test_scrypt_hash_verifies_only_its_password() -> None:
    """A stored scrypt hash matches its password and nothing else."""
    stored = hash_password(PASSWORD)
    assert verify_password(PASSWORD, stored) and not verify_password("wrong", stored)


def test_pages_need_a_session_except_healthz(tmp_path: Path) -> None:
    """Without a session pages redirect to sign-in and the API answers 401; /healthz answers."""
    client = _client(_state(tmp_path))
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    assert client.get("/api/reports/latest", follow_redirects=False).status_code == 401
    assert client.get("/healthz").json() == {"status": "ok"}


def test_local_sign_in_shows_the_current_report(tmp_path: Path) -> None:
    """A local account signs in and sees the latest 第N報 with its cookie flags set."""
    client = _client(_state(tmp_path))
    token = _csrf(client.get("/login").text)
    response = client.post(
        "/login",
        data={"csrf": token, "name": "viewer", "password": PASSWORD},
        follow_redirects=False,
    )
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert "第3報" in client.get("/").text


def test_a_pairs_console_reads_the_postgresql_state(pg: PgServer) -> None:
    """With state.url on PostgreSQL the console signs in and shows the pair's latest report."""
    url = pg.new_database()
    _fill(url)
    client = _client(url)
    _signed_in(client)
    assert "第3報" in client.get("/").text


def test_an_unreachable_state_server_is_a_page_naming_it_without_the_password() -> None:
    """A PostgreSQL state.url nobody answers gives a 503 page naming host:port, never the password."""
    client = _client("postgresql+psycopg://automation:s3cret-pw@127.0.0.1:9/automation")
    token = _csrf(client.get("/login").text)
    response = client.post("/login", data={"csrf": token, "name": "viewer", "password": PASSWORD})
    assert response.status_code == 503
    assert "127.0.0.1:9" in response.text and "s3cret-pw" not in response.text


def test_secure_cookie_flag_is_on_by_default(tmp_path: Path) -> None:
    """Outside localhost drills the session cookie is Secure."""
    settings = ConsoleSettings(state_path=_state(tmp_path), secret=SECRET, clock=lambda: NOW)
    client = TestClient(create_app(settings), base_url="https://localhost")
    token = _csrf(client.get("/login").text)
    response = client.post(
        "/login",
        data={"csrf": token, "name": "viewer", "password": PASSWORD},
        follow_redirects=False,
    )
    assert "secure" in response.headers["set-cookie"].lower()


def test_wrong_password_is_refused_and_rate_limited(tmp_path: Path) -> None:
    """Five wrong passwords in a row block the sixth attempt, even a right one."""
    client = _client(_state(tmp_path))
    token = _csrf(client.get("/login").text)
    for _ in range(5):
        wrong = client.post("/login", data={"csrf": token, "name": "viewer", "password": "x"})
        assert wrong.status_code == 401
    right = client.post("/login", data={"csrf": token, "name": "viewer", "password": PASSWORD})
    assert right.status_code == 429 and "しばらく待って" in right.text


def test_post_without_csrf_is_refused(tmp_path: Path) -> None:
    """A POST whose CSRF token is missing is refused with 403 and nothing is done."""
    retried: list[str] = []
    client = _client(_state(tmp_path), retried)
    _signed_in(client, "operator")
    response = client.post("/ops/retry", data={"key": "k1"})
    assert response.status_code == 403 and retried == []


def test_viewer_cannot_retry(tmp_path: Path) -> None:
    """A viewer sees no retry button and a retry POST is refused."""
    retried: list[str] = []
    client = _client(_state(tmp_path), retried)
    token = _signed_in(client, "viewer")
    assert "再送" not in client.get("/ops").text
    response = client.post("/ops/retry", data={"csrf": token, "key": "k1"})
    assert response.status_code == 403 and retried == []


def test_operator_retry_is_audited(tmp_path: Path) -> None:
    """An operator's retry goes through the retry hook and lands in the audit log."""
    retried: list[str] = []
    client = _client(_state(tmp_path), retried)
    token = _signed_in(client, "operator")
    client.post("/ops/retry", data={"csrf": token, "key": "k1"})
    assert retried == ["k1"]
    assert "retry" in client.get("/ops").text


def test_tampered_cookie_signs_out(tmp_path: Path) -> None:
    """A session cookie whose payload was changed is treated as signed out."""
    client = _client(_state(tmp_path))
    _signed_in(client)
    forged = sessions.Session("admin", "admin", int(NOW.timestamp()) + 3600, "x")
    value = sessions.sign(b"other-key" * 4, forged)
    client.cookies.set(sessions.COOKIE, value)
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_unknown_route_is_a_japanese_404(tmp_path: Path) -> None:
    """An unknown route answers 404 with a Japanese page."""
    response = _client(_state(tmp_path)).get("/nope")
    assert response.status_code == 404 and "ページが見つかりません" in response.text


def test_missing_state_database_gives_a_clear_page(tmp_path: Path) -> None:
    """A state database that disappeared gives a page naming it, never a traceback."""
    path = _state(tmp_path)
    client = _client(path)
    _signed_in(client)
    path.unlink()
    response = client.get("/")
    assert response.status_code == 503 and "state.path" in response.text


def test_corrupt_state_database_gives_a_clear_page(tmp_path: Path) -> None:
    """A state database that is not SQLite gives a page saying it cannot be read."""
    path = _state(tmp_path)
    client = _client(path)
    _signed_in(client)
    for extra in tmp_path.glob("state.sqlite-*"):
        extra.unlink()
    path.write_bytes(b"not a database" * 100)
    response = client.get("/ops")
    assert response.status_code == 503 and "を読めません" in response.text


def test_security_headers_forbid_inline_script_and_framing(tmp_path: Path) -> None:
    """Every page carries a CSP without inline script and with frame-ancestors 'none'."""
    csp = _client(_state(tmp_path)).get("/login").headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_injection_corpus_renders_as_text(tmp_path: Path, name: str) -> None:
    """Hostile workbook text is shown escaped on every page, never as markup."""
    text = CORPUS[name]
    client = _client(_state(tmp_path, text))
    _signed_in(client)
    for page in ("/", "/timeline", "/ops"):
        body = client.get(page).text
        if "<" in text:
            assert text not in body, page
        if page != "/timeline":  # the timeline shows figures and item labels only
            assert str(escape(text))[:40] in body or not text.strip(), page


CONFIG = """\
version: 1
state: {path: state/db.sqlite}
backend: {type: local, root: inputs, artefacts: out, deliveries: sent}
directory:
  departments:
    - name: 危機管理課
      sheet: 危機管理課
      contacts: [{channel: mail, address: kiki@example.jp}]
flows:
  - id: damage
    kind: damage_rollup
    params:
      disaster: 台風
      workbook: book.xlsx
      report_to: [{channel: mail, address: bousai@example.jp}]
"""


def test_console_user_add_stores_a_scrypt_hash_with_the_role(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`automation console user add NAME --role R` saves the account hashed, never in clear."""
    from automation.cli import main  # noqa: PLC0415

    (tmp_path / "inputs").mkdir()
    config = tmp_path / "automation.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    monkeypatch.setenv("AUTOMATION_CONSOLE_PASSWORD", PASSWORD)
    assert main(["console", "user", "add", "sato", "--role", "operator", "-c", str(config)]) == 0
    with Store(tmp_path / "state" / "db.sqlite") as store:
        account = store.user("sato")
    assert account is not None and account[1] == "operator"
    assert PASSWORD not in account[0] and verify_password(PASSWORD, account[0])


def test_console_user_add_refuses_a_short_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A password under 12 characters is refused with the length found and needed."""
    from automation.cli import main  # noqa: PLC0415

    (tmp_path / "inputs").mkdir()
    config = tmp_path / "automation.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    monkeypatch.setenv("AUTOMATION_CONSOLE_PASSWORD", "short")
    assert main(["console", "user", "add", "sato", "-c", str(config)]) != 0
    assert "has 5 characters, at least 12 are needed" in capsys.readouterr().err


def _second_report(path: Path) -> None:
    with Store(path) as store:
        run = store.start_run("typhoon", NOW, NOW)
        snapshot = _snapshot("危機管理課")
        snapshot["number"] = 4
        snapshot["totals"]["dead"]["value"] = "5"  # type: ignore[index]
        store.save_report("typhoon", snapshot, run)


def test_timeline_lists_reports_newest_first_with_their_changes(tmp_path: Path) -> None:
    """報告の推移 lists 第4報 before 第3報, each with what moved, and draws an SVG chart."""
    path = _state(tmp_path)
    _second_report(path)
    client = _client(path)
    _signed_in(client)
    body = client.get("/timeline").text
    assert body.index("<h3>第4報") < body.index("<h3>第3報")
    assert "死者: 2人 → 5人" in body and "<svg" in body and "<script" not in body


def test_latest_report_csv_carries_the_totals(tmp_path: Path) -> None:
    """/api/reports/FLOW/latest.csv gives one row per item with number, time and total."""
    client = _client(_state(tmp_path))
    _signed_in(client)
    response = client.get("/api/reports/typhoon/latest.csv")
    assert response.headers["content-type"].startswith("text/csv")
    rows = response.text.lstrip("\ufeff").splitlines()
    assert rows[1].split(",")[:7] == ["3", NOW.isoformat(), "dead", "人的被害", "死者", "人", "2"]


def test_csv_cells_never_start_a_formula() -> None:
    """A label starting with = is written with a leading quote, so Excel shows it as text."""
    from automation.console.export import report_csv  # noqa: PLC0415

    report = {"number": 1, "as_of": "t", "totals": {"x": {"label": "=HYPERLINK(1)"}}}
    assert "'=HYPERLINK(1)" in report_csv(report)


class FakeHealth:
    """A health source with fixed answers, as the daemon would give."""

    def health(self) -> dict[str, object]:
        return {"status": "ok", "scheduler": "running", "flows": {"typhoon": {"last": "<b>"}}}

    def metrics_text(self) -> str:
        return 'automation_runs_total{flow="typhoon",status="ok"} 3\n'


def test_ops_shows_the_daemons_health_and_metrics(tmp_path: Path) -> None:
    """Inside the daemon, 運用 shows its health JSON and metrics, escaped."""
    settings = ConsoleSettings(
        state_path=_state(tmp_path),
        secret=SECRET,
        clock=lambda: NOW,
        secure_cookies=False,
        health=FakeHealth(),
    )
    client = TestClient(create_app(settings), base_url="http://localhost")
    _signed_in(client)
    body = client.get("/ops").text
    assert "&#34;scheduler&#34;: &#34;running&#34;" in body and "<b>" not in body
    assert "automation_runs_total{flow=&#34;typhoon&#34;" in body
