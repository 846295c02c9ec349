"""Entra ID sign-in to the console: authorization code with PKCE through msal, and the ID
token validated here (signature with the tenant's JWKS, issuer, tenant, audience, times,
nonce) against a fake OpenID provider."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.testclient import TestClient

from automation.config.models import ConsoleAppRoles, ConsoleRoles, EntraConsoleSignIn
from automation.console.app import ConsoleSettings, create_app
from automation.console.oidc import EntraSignIn
from automation.state import Store
from tests.fake_oidc import CLIENT, SECRET, TENANT, Answer, FakeEntra
from tests.test_console import NOW, _state
from tests.test_console import SECRET as COOKIE_KEY

REDIRECT = "http://localhost/auth/callback"
SATO = "aaaaaaaa-0000-0000-0000-000000000001"  # the fake user's object id
ROLES = ConsoleRoles(
    viewer=("bbbbbbbb-0000-0000-0000-00000000000b",),  # a group
    operator=(SATO.upper(),),  # object ids are matched whatever their case
)


def _entra(
    fake: FakeEntra, roles: ConsoleRoles = ROLES, app_roles: ConsoleAppRoles | None = None
) -> EntraSignIn:
    config = EntraConsoleSignIn(
        tenant_id=TENANT,
        client_id=CLIENT,
        client_secret=SECRET,
        redirect_uri=REDIRECT,
        roles=roles,
        app_roles=app_roles or ConsoleAppRoles(),
    )
    return EntraSignIn(config, lambda: NOW, http_client=fake)


def _client(
    tmp_path: Path,
    fake: FakeEntra,
    roles: ConsoleRoles = ROLES,
    app_roles: ConsoleAppRoles | None = None,
) -> TestClient:
    settings = ConsoleSettings(
        state_path=_state(tmp_path),
        secret=COOKIE_KEY,
        clock=lambda: NOW,
        secure_cookies=False,
        entra=_entra(fake, roles, app_roles),
    )
    return TestClient(create_app(settings), base_url="http://localhost")


def _sign_in(client: TestClient, fake: FakeEntra) -> tuple[str, httpx.Response]:
    """Follow the sign-in as a browser would: console -> Entra ID -> console."""
    start = client.get("/auth/entra", follow_redirects=False)
    assert start.status_code == 303, start.text
    back = urlsplit(fake.authorize(start.headers["location"]))
    answer = client.get(f"{back.path}?{back.query}", follow_redirects=False)
    return answer.headers.get("location", ""), answer


def test_entra_sign_in_uses_pkce_and_signs_the_user_in_with_their_role(
    tmp_path: Path,
) -> None:
    """A user listed as operator signs in with code + PKCE and lands on 現在の報告."""
    fake = FakeEntra(NOW)
    client = _client(tmp_path, fake)
    location, _ = _sign_in(client, fake)
    assert location == "/"
    assert fake.token_requests[0]["code_verifier"]  # the verifier went to the token endpoint
    page = client.get("/").text
    assert "sato@pref.example.lg.jp（operator）" in page and "第3報" in page


def test_the_authorization_request_carries_state_nonce_and_an_s256_challenge(
    tmp_path: Path,
) -> None:
    """The browser is sent to the tenant's authorize endpoint with PKCE S256, state, nonce."""
    client = _client(tmp_path, FakeEntra(NOW))
    location = client.get("/auth/entra", follow_redirects=False).headers["location"]
    url = urlsplit(location)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert url.netloc == "login.microsoftonline.com"
    assert url.path == f"/{TENANT}/oauth2/v2.0/authorize"
    assert query["code_challenge_method"] == "S256" and query["redirect_uri"] == REDIRECT
    assert query["state"] and query["nonce"] and "openid" in query["scope"]


def test_a_group_member_gets_the_groups_role(tmp_path: Path) -> None:
    """A user not listed by object id but in a listed group gets that group's role."""
    fake = FakeEntra(NOW)
    fake.user["preferred_username"] = "tanaka@pref.example.lg.jp"
    fake.user["oid"] = GUEST
    client = _client(tmp_path, fake)
    _sign_in(client, fake)
    assert "tanaka@pref.example.lg.jp（viewer）" in client.get("/").text


def test_a_user_in_no_role_is_refused_and_audited(tmp_path: Path) -> None:
    """A valid sign-in of someone the configuration does not list is a 403, audited."""
    fake = FakeEntra(NOW)
    fake.user = {"preferred_username": "guest@example.com", "oid": GUEST, "groups": []}
    client = _client(tmp_path, fake)
    _, answer = _sign_in(client, fake)
    assert answer.status_code == 403
    assert "console.entra.roles" in answer.text
    assert client.get("/", follow_redirects=False).status_code == 303
    with Store(tmp_path / "state.sqlite") as store:
        audit = store.audit_log(limit=1)[0]
    assert audit["action"] == "login"
    assert f"guest@example.com ({GUEST}) is in no role" in audit["outcome"]


GUEST = "cccccccc-0000-0000-0000-00000000000c"


def test_a_new_user_with_a_listed_users_former_sign_in_name_gets_no_role(
    tmp_path: Path,
) -> None:
    """Roles follow the object id: someone else now called sato@... is refused."""
    fake = FakeEntra(NOW)
    fake.user = {"preferred_username": "sato@pref.example.lg.jp", "oid": GUEST, "groups": []}
    _, answer = _sign_in(_client(tmp_path, fake), fake)
    assert answer.status_code == 403


def test_the_signed_in_user_keeps_their_role_after_a_rename(tmp_path: Path) -> None:
    """A listed user whose sign-in name changed keeps their role: the object id is the same."""
    fake = FakeEntra(NOW)
    fake.user["preferred_username"] = "sato.hanako@pref.example.lg.jp"
    client = _client(tmp_path, fake)
    _sign_in(client, fake)
    assert "sato.hanako@pref.example.lg.jp（operator）" in client.get("/").text


def test_an_app_role_in_the_token_grants_its_console_role(tmp_path: Path) -> None:
    """A user assigned the app role listed under app_roles.admin signs in as admin."""
    fake = FakeEntra(NOW)
    fake.user = {"preferred_username": "kato@example.jp", "oid": GUEST, "roles": ["Console.Admin"]}
    client = _client(tmp_path, fake, app_roles=ConsoleAppRoles(admin=("Console.Admin",)))
    _sign_in(client, fake)
    assert "kato@example.jp（admin）" in client.get("/").text


def test_an_entra_sign_in_is_audited_with_the_object_id(tmp_path: Path) -> None:
    """The audit log names an Entra ID user by sign-in name and object id."""
    fake = FakeEntra(NOW)
    _sign_in(_client(tmp_path, fake), fake)
    with Store(tmp_path / "state.sqlite") as store:
        who = store.audit_log(limit=1)[0]["who"]
    assert who == f"sato@pref.example.lg.jp ({SATO})"


@pytest.mark.parametrize(
    ("tamper", "detail"),
    [
        ("signature", "Signature verification failed"),
        ("issuer", "Invalid issuer"),
        ("audience", "Audience doesn't match"),
        ("expired", "ID token expired"),
        ("nonce", "nonce"),
        ("tenant", "tenant"),
    ],
)
def test_a_wrong_id_token_is_refused(tmp_path: Path, tamper: str, detail: str) -> None:
    """A wrong ID token signs nobody in, and the audit log names what was wrong."""
    # a foreign signature, issuer, audience, tenant, nonce, or an expired token
    fake = FakeEntra(NOW, tamper=tamper)
    client = _client(tmp_path, fake)
    _, answer = _sign_in(client, fake)
    assert answer.status_code == 401
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    with Store(tmp_path / "state.sqlite") as store:
        outcome = store.audit_log(limit=1)[0]["outcome"]
    assert outcome.startswith("refused:") and detail.lower() in outcome.lower()


def test_a_callback_from_another_browser_is_refused(tmp_path: Path) -> None:
    """A code and state that were not started in this browser (login CSRF) are refused."""
    fake = FakeEntra(NOW)
    client = _client(tmp_path, fake)
    start = client.get("/auth/entra", follow_redirects=False)
    back = urlsplit(fake.authorize(start.headers["location"]))
    client.cookies.clear()
    answer = client.get(f"{back.path}?{back.query}", follow_redirects=False)
    assert answer.status_code == 401 and "このブラウザー" in answer.text
    assert fake.token_requests == []


def test_a_code_is_redeemed_once(tmp_path: Path) -> None:
    """Replaying Entra ID's redirect after a sign-in does not sign in again."""
    fake = FakeEntra(NOW)
    client = _client(tmp_path, fake)
    start = client.get("/auth/entra", follow_redirects=False)
    back = urlsplit(fake.authorize(start.headers["location"]))
    state_cookie = client.cookies.get("console_entra_state")
    assert client.get(f"{back.path}?{back.query}", follow_redirects=False).status_code == 303
    client.cookies.clear()
    client.cookies.set("console_entra_state", state_cookie or "")
    replay = client.get(f"{back.path}?{back.query}", follow_redirects=False)
    assert replay.status_code == 401 and "有効期限" in replay.text


def test_an_error_from_entra_is_shown_and_audited(tmp_path: Path) -> None:
    """Entra ID's error answer (the user cancelled) gives a Japanese page, nobody signed in."""
    client = _client(tmp_path, FakeEntra(NOW))
    answer = client.get(
        "/auth/callback?error=access_denied&error_description=AADSTS65004&state=x",
        follow_redirects=False,
    )
    assert answer.status_code == 401 and "Entra ID がサインインを断りました" in answer.text
    with Store(tmp_path / "state.sqlite") as store:
        outcome = store.audit_log(limit=1)[0]["outcome"]
    assert outcome == "refused: access_denied: AADSTS65004"


def test_without_entra_configured_its_addresses_are_404(tmp_path: Path) -> None:
    """A console without console.entra answers 404 at /auth/entra and shows no button."""
    settings = ConsoleSettings(
        state_path=_state(tmp_path), secret=COOKIE_KEY, clock=lambda: NOW, secure_cookies=False
    )
    client = TestClient(create_app(settings), base_url="http://localhost")
    assert client.get("/auth/entra").status_code == 404
    assert "/auth/entra" not in client.get("/login").text


def test_the_sign_in_page_offers_entra_when_configured(tmp_path: Path) -> None:
    """With console.entra the sign-in page offers the organisation account first."""
    body = _client(tmp_path, FakeEntra(NOW)).get("/login").text
    assert 'href="/auth/entra"' in body and "組織アカウント" in body


ENTRA_CONFIG = """\
version: 1
directory:
  departments:
    - name: 危機管理課
      sheet: 危機管理課
      contacts: [{channel: mail, address: kiki@example.jp}]
console:
  entra:
    tenant_id: 11111111-2222-3333-4444-555555555555
    client_id: 66666666-7777-8888-9999-000000000000
    client_secret: ${CONSOLE_SECRET}
    redirect_uri: https://console.pref.example.lg.jp/auth/callback
    roles: {}
flows:
  - id: damage
    kind: damage_rollup
    params:
      disaster: 台風
      workbook: book.xlsx
      report_to: [{channel: mail, address: bousai@example.jp}]
"""


def test_entra_roles_listing_nobody_is_refused_at_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """console.entra without anyone in a role is a configuration error at FILE:LINE."""
    from automation.configuration import load_config  # noqa: PLC0415
    from automation.errors import ConfigError  # noqa: PLC0415

    monkeypatch.setenv("CONSOLE_SECRET", "s3cret-value")
    path = tmp_path / "automation.yaml"
    path.write_text(ENTRA_CONFIG, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "automation.yaml:13:" in caught.value.message
    assert "roles lists nobody" in caught.value.message


def test_a_sign_in_name_under_roles_is_refused_at_its_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sign-in name in console.entra.roles is an error at its FILE:LINE:COL asking for the id."""
    # the object id: preferred_username can change
    from automation.configuration import load_config  # noqa: PLC0415
    from automation.errors import ConfigError  # noqa: PLC0415

    monkeypatch.setenv("CONSOLE_SECRET", "s3cret-value")
    path = tmp_path / "automation.yaml"
    roles = f"roles:\n      viewer: [{SATO}]\n      operator: [{SATO}, sato@pref.example.lg.jp]"
    path.write_text(ENTRA_CONFIG.replace("roles: {}", roles), "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "automation.yaml:15:56: console.entra.roles.operator[1]" in caught.value.message
    assert "'sato@pref.example.lg.jp' is a sign-in name (preferred_username)" in (
        caught.value.message
    )
    assert "Write the user's object id instead" in caught.value.message


def test_an_entry_that_is_not_an_object_id_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group entry that is not a GUID (a display name, a truncated id) is refused."""
    from automation.configuration import load_config  # noqa: PLC0415
    from automation.errors import ConfigError  # noqa: PLC0415

    monkeypatch.setenv("CONSOLE_SECRET", "s3cret-value")
    path = tmp_path / "automation.yaml"
    path.write_text(ENTRA_CONFIG.replace("roles: {}", "roles: {viewer: [防災班]}"), "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "automation.yaml:13:" in caught.value.message
    assert "'防災班' is not an object id (8-4-4-4-12 hexadecimal digits)" in caught.value.message


def test_the_entra_client_secret_is_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The console app's client secret is among the values logs and records never show."""
    from automation.configuration import load_config  # noqa: PLC0415

    monkeypatch.setenv("CONSOLE_SECRET", "s3cret-value")
    path = tmp_path / "automation.yaml"
    path.write_text(ENTRA_CONFIG.replace("roles: {}", f"roles: {{viewer: [{SATO}]}}"), "utf-8")
    assert "s3cret-value" in load_config(path).config.secrets()


class Unreachable(FakeEntra):
    """Entra ID out of reach: every discovery request fails."""

    def get(self, url: str, params: Any = None, headers: Any = None, **_: Any) -> Answer:
        """Refuse, as a network that cannot reach login.microsoftonline.com would."""
        raise ConnectionError(f"cannot reach {url}")


def test_entra_out_of_reach_gives_a_page_saying_so(tmp_path: Path) -> None:
    """When the tenant's metadata cannot be read the page says so (502), no traceback."""
    client = _client(tmp_path, Unreachable(NOW))
    response = client.get("/auth/entra", follow_redirects=False)
    assert response.status_code == 502 and "Entra ID に接続できませんでした" in response.text
