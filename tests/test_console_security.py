"""The console against hostile use: password spraying, name probing by answer or time,
over-long input, sessions that must end server-side, and requests no page sends."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from automation.console import accounts, sessions
from automation.console.accounts import hash_password
from automation.console.ratelimit import LoginLimiter, SignInLimits
from automation.state import Store
from tests.pg_server import PgServer
from tests.test_console import CONFIG, NOW, PASSWORD, SECRET, _client, _csrf, _fill, _signed_in

ADDRESS = "203.0.113.9"


def _state(tmp_path: Path) -> Path:
    path = tmp_path / "state" / "db.sqlite"
    path.parent.mkdir(parents=True)
    _fill(path)
    with Store(path) as store:
        store.save_user("admin", hash_password(PASSWORD), "admin", NOW)
    return path


def _login(client: TestClient, name: str, password: str = "wrong password") -> httpx.Response:
    token = _csrf(client.get("/login").text)
    return client.post(
        "/login", data={"csrf": token, "name": name, "password": password}, follow_redirects=False
    )


def _audit(path: Path) -> list[dict[str, object]]:
    with Store(path) as store:
        return store.audit_log(limit=50)


# 2. rate limits ----------------------------------------------------------------------


def test_one_address_trying_many_names_is_blocked(tmp_path: Path) -> None:
    """Twenty failures under twenty names block the address, even for a real account's password."""
    client = _client(_state(tmp_path))
    for n in range(20):
        assert _login(client, f"name{n}").status_code == 401
    blocked = _login(client, "viewer", PASSWORD)
    assert blocked.status_code == 429 and "しばらく待って" in blocked.text


def test_a_blocked_unknown_name_answers_as_a_blocked_real_one(tmp_path: Path) -> None:
    """Once blocked, a name that exists and one that does not get the same answer."""
    answers = []
    for name in ("viewer", "nobody"):
        client = _client(_state(tmp_path / name))
        for _ in range(5):
            _login(client, name)
        answer = _login(client, name)
        answers.append((answer.status_code, answer.headers["retry-after"], _page(answer.text)))
    assert answers[0] == answers[1] and answers[0][:2] == (429, "300")


def _page(html: str) -> str:
    return html.replace(_csrf(html), "TOKEN")


def test_signing_in_does_not_clear_the_addresses_failures() -> None:
    """An attacker's own good sign-in does not reset the count of their address."""
    limits = SignInLimits(LoginLimiter(5, 300.0), LoginLimiter(20, 300.0))
    for n in range(19):
        limits.failed(f"name{n}", ADDRESS, float(n))
    limits.succeeded("mine", ADDRESS)
    limits.failed("another", ADDRESS, 20.0)
    assert limits.blocked("someone", ADDRESS, 21.0)
    assert not limits.blocked("someone", "198.51.100.7", 21.0)


def test_a_name_is_blocked_after_five_failures_from_one_address() -> None:
    """The per-name limit stays: five failures of one name from one address block it."""
    limits = SignInLimits()
    for second in range(5):
        limits.failed("sato", ADDRESS, float(second))
    assert limits.blocked("sato", ADDRESS, 10.0) and not limits.blocked("kato", ADDRESS, 10.0)


# 3. constant work --------------------------------------------------------------------


def _counting_scrypt(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    accounts.unknown_account_hash()  # made once per process, before counting
    calls: list[int] = []
    real: Callable[..., bytes] = hashlib.scrypt

    def scrypt(*args: object, **kwargs: object) -> bytes:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(accounts.hashlib, "scrypt", scrypt)
    return calls


@pytest.mark.parametrize("name", ["viewer", "nobody"])
def test_every_name_costs_one_scrypt_derivation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """A wrong sign-in derives one scrypt key whether or not the name exists."""
    # so the time of the answer does not tell which names exist
    client = _client(_state(tmp_path))
    calls = _counting_scrypt(monkeypatch)
    assert _login(client, name).status_code == 401
    assert len(calls) == 1


def test_no_password_matches_an_unknown_name() -> None:
    """The hash an unknown name is checked against accepts nothing, not even its own."""
    assert not accounts.check_account("", None)
    assert not accounts.check_account("anything at all", None)


# 4. what is kept of typed text -------------------------------------------------------


def test_the_audit_log_keeps_a_typed_name_escaped_and_cut_to_128(tmp_path: Path) -> None:
    """A typed name with terminal escapes is stored escaped and at most 128 characters."""
    path = _state(tmp_path)
    typed = "\x1b[2J\u202e" + "x" * 123
    assert len(typed) == 128
    _login(_client(path), typed)
    who = str(_audit(path)[0]["who"])
    assert who.startswith("\\x1b[2J\\u202exxx") and len(who) == 128 and who.endswith("…")
    assert "\x1b" not in who and "\u202e" not in who


def test_an_over_long_name_is_refused_before_it_is_checked(tmp_path: Path) -> None:
    """A name over 128 characters is a 400 naming the limit; nothing is audited or counted."""
    path = _state(tmp_path)
    client = _client(path)
    answer = _login(client, "x" * 129)
    assert answer.status_code == 400
    assert "「name」が長すぎます（129 文字、上限 128 文字）" in answer.text
    assert _audit(path) == []


def test_an_oversized_sign_in_body_is_a_413(tmp_path: Path) -> None:
    """A sign-in body over 16 KiB is refused with 413 saying the limit, unread."""
    client = _client(_state(tmp_path))
    token = _csrf(client.get("/login").text)
    answer = client.post("/login", data={"csrf": token, "name": "v" * 70_000, "password": "x"})
    assert answer.status_code == 413
    assert "送信された内容が大きすぎます" in answer.text and "上限は 16384 バイト" in answer.text


def test_an_oversized_body_to_an_action_is_a_413(tmp_path: Path) -> None:
    """A signed-in POST over 16 KiB is refused with 413 and nothing is done."""
    retried: list[str] = []
    client = _client(_state(tmp_path), retried)
    token = _signed_in(client, "operator")
    answer = client.post("/ops/retry", data={"csrf": token, "key": "k" * 20_000})
    assert answer.status_code == 413 and retried == []


def test_a_body_that_is_not_a_form_is_a_415(tmp_path: Path) -> None:
    """A JSON body to a form address is refused with 415 naming the form type."""
    client = _client(_state(tmp_path))
    answer = client.post("/login", json={"name": "viewer", "password": PASSWORD})
    assert answer.status_code == 415
    assert "application/x-www-form-urlencoded で送ってください" in answer.text


# 5. sessions end server-side ---------------------------------------------------------


def _cookie(client: TestClient) -> str:
    return str(client.cookies.get(sessions.COOKIE))


def _reuse(path: Path, cookie: str) -> int:
    client = _client(path)
    client.cookies.set(sessions.COOKIE, cookie)
    return client.get("/", follow_redirects=False).status_code


def test_a_signed_out_sessions_cookie_no_longer_works(tmp_path: Path) -> None:
    """After sign-out a copy of the session cookie is refused (the server revoked it)."""
    path = _state(tmp_path)
    client = _client(path)
    token = _signed_in(client)
    kept = _cookie(client)
    assert _reuse(path, kept) == 200
    client.post("/logout", data={"csrf": token}, follow_redirects=False)
    assert _reuse(path, kept) == 303
    assert _audit(path)[0]["action"] == "logout"


def test_sign_out_revokes_on_a_pairs_postgresql_state(pg: PgServer) -> None:
    """With state.url on PostgreSQL a signed-out cookie is refused by every console."""
    url = pg.new_database()
    _fill(url)
    client = _client(url)
    token = _signed_in(client)
    kept = _cookie(client)
    client.post("/logout", data={"csrf": token}, follow_redirects=False)
    other = _client(url)
    other.cookies.set(sessions.COOKIE, kept)
    assert other.get("/", follow_redirects=False).status_code == 303


def _cli(tmp_path: Path, *args: str) -> int:
    from automation.cli import main  # noqa: PLC0415

    (tmp_path / "inputs").mkdir(exist_ok=True)
    config = tmp_path / "automation.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    return main(["console", *args, "-c", str(config)])


def test_replacing_an_accounts_password_or_role_signs_it_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`console user add NAME` for an existing account ends that account's sessions only."""
    path = _state(tmp_path)
    viewer, operator = _client(path), _client(path)
    _signed_in(viewer, "viewer")
    _signed_in(operator, "operator")
    monkeypatch.setenv("AUTOMATION_CONSOLE_PASSWORD", PASSWORD + "!")
    assert _cli(tmp_path, "user", "add", "viewer", "--role", "operator") == 0
    assert viewer.get("/", follow_redirects=False).status_code == 303
    assert operator.get("/", follow_redirects=False).status_code == 200


def test_signout_all_ends_every_session(tmp_path: Path) -> None:
    """`automation console signout all` signs everyone out."""
    path = _state(tmp_path)
    clients = [_client(path), _client(path)]
    _signed_in(clients[0], "viewer")
    _signed_in(clients[1], "operator")
    assert _cli(tmp_path, "signout", "all") == 0
    assert [c.get("/", follow_redirects=False).status_code for c in clients] == [303, 303]


def test_an_admin_signs_everyone_out_from_ops(tmp_path: Path) -> None:
    """全員をサインアウト on 運用 ends every session and is audited."""
    path = _state(tmp_path)
    admin, viewer = _client(path), _client(path)
    _signed_in(viewer, "viewer")
    token = _signed_in(admin, "admin")
    assert "全員をサインアウト" in admin.get("/ops").text
    answer = admin.post("/ops/signout-all", data={"csrf": token}, follow_redirects=False)
    assert answer.headers["location"] == "/login"
    assert viewer.get("/", follow_redirects=False).status_code == 303
    assert _audit(path)[0]["action"] == "signout-all"


def test_only_an_admin_may_sign_everyone_out(tmp_path: Path) -> None:
    """An operator sees no 全員をサインアウト and a POST is refused with 403."""
    path = _state(tmp_path)
    operator, viewer = _client(path), _client(path)
    _signed_in(viewer, "viewer")
    token = _signed_in(operator, "operator")
    assert "全員をサインアウト" not in operator.get("/ops").text
    answer = operator.post("/ops/signout-all", data={"csrf": token})
    assert answer.status_code == 403 and "この操作の権限がありません" in answer.text
    assert viewer.get("/", follow_redirects=False).status_code == 200


def test_a_session_cookie_without_an_account_is_signed_out(tmp_path: Path) -> None:
    """A cookie signed with the right key but from before revocation existed is refused."""
    client = _client(_state(tmp_path))
    old = sessions.Session("viewer", "viewer", int(NOW.timestamp()) + 3600, "csrf-token")
    client.cookies.set(sessions.COOKIE, sessions.sign(SECRET, old))
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


# requests no page sends --------------------------------------------------------------


def test_a_wrong_csrf_token_is_refused_with_the_fix(tmp_path: Path) -> None:
    """A POST whose CSRF token is not the session's is a 403 saying to reopen the page."""
    retried: list[str] = []
    client = _client(_state(tmp_path), retried)
    _signed_in(client, "operator")
    answer = client.post("/ops/retry", data={"csrf": "forged", "key": "k1"})
    assert answer.status_code == 403 and retried == []
    assert "フォームの確認トークンが一致しません。ページを開き直してください。" in answer.text


def test_a_sign_in_with_a_wrong_csrf_token_is_refused(tmp_path: Path) -> None:
    """The sign-in form with another token is a 403 and checks no password."""
    path = _state(tmp_path)
    client = _client(path)
    client.get("/login")
    data = {"csrf": "forged", "name": "viewer", "password": PASSWORD}
    assert client.post("/login", data=data).status_code == 403
    assert _audit(path) == []


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/", "GET, HEAD"),
        ("PUT", "/login", "GET, HEAD, POST"),
        ("GET", "/ops/run", "POST"),
    ],
)
def test_an_unknown_method_is_a_405_naming_the_methods(
    tmp_path: Path, method: str, path: str, allowed: str
) -> None:
    """A method an address does not take is a Japanese 405 with Allow."""
    answer = _client(_state(tmp_path)).request(method, path)
    assert answer.status_code == 405 and answer.headers["allow"] == allowed
    assert f"このアドレスは {method} を受け付けません（使えるのは {allowed}）" in answer.text


@pytest.mark.parametrize(
    "path",
    ["/static/%2e%2e/app.py", "/static/..%2fapp.py", "/static/%2e%2e%2f%2e%2e%2fpyproject.toml"],
)
def test_a_path_out_of_the_static_folder_is_a_404(tmp_path: Path, path: str) -> None:
    """A static address that climbs out of the folder is a Japanese 404, never the file."""
    answer = _client(_state(tmp_path)).get(path)
    assert answer.status_code == 404 and "ページが見つかりません" in answer.text
    assert "create_app" not in answer.text


def test_the_static_files_are_served(tmp_path: Path) -> None:
    """The packaged stylesheet itself is served (the 404s above are not everything's)."""
    assert _client(_state(tmp_path)).get("/static/console.css").status_code == 200


def test_an_api_address_answers_its_errors_as_json(tmp_path: Path) -> None:
    """A method the API does not take, or a state database gone, is JSON with the message."""
    path = _state(tmp_path)
    client = _client(path)
    _signed_in(client)
    refused = client.delete("/api/runs")
    assert refused.status_code == 405 and "を受け付けません" in refused.json()["error"]
    path.unlink()
    gone = client.get("/api/runs")
    assert gone.status_code == 503 and "state.path" in gone.json()["error"]
