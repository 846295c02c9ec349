"""The console in a real browser: Debian's Chromium driven by Playwright.

Screenshots of every page at a phone and a desktop width are written to
``test-artefacts/console/`` (the CI keeps them as artefacts).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from automation.console.app import ConsoleSettings, create_app
from tests.injection_corpus import CORPUS
from tests.test_console import NOW, PASSWORD, SECRET, _snapshot, _state
from tests.test_console_incidents import A, B, _two_incidents
from tests.test_console_pages import add_figures_report, add_progress_round

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTEFACTS = Path(__file__).resolve().parent.parent / "test-artefacts" / "console"
VIEWPORTS: dict[str, ViewportSize] = {
    "phone": {"width": 360, "height": 740},
    "desktop": {"width": 1280, "height": 900},
}
HOSTILE = CORPUS[next(k for k in sorted(CORPUS) if "<" in CORPUS[k])]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """The distribution's Chromium (Playwright's own download is not used)."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def _loopback() -> socket.socket:
    """A socket bound to a port the OS assigned on 127.0.0.1 (the server listens on it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def _serving(settings: ConsoleSettings, sock: socket.socket | None = None) -> Iterator[str]:
    """The console on a loopback socket (a new one unless given) while the block runs;
    yields its base URL. The socket is bound before the server starts: no other process
    can take its port in between."""
    sock = sock or _loopback()
    port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        thread.join(0.01)
    try:
        if not server.started:
            raise RuntimeError(f"the console did not start on 127.0.0.1:{port}")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


@pytest.fixture
def console(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A console over a state database holding hostile text, per-municipality figures and a
    progress round, on a loopback port."""
    state = _state(tmp_path, HOSTILE)
    add_figures_report(state, "earthquake", 1)
    add_progress_round(state)
    settings = ConsoleSettings(
        state_path=state, secret=SECRET, clock=lambda: NOW, secure_cookies=False
    )
    with _serving(settings) as base:
        yield base, state


def _sign_in(page: Page, base: str, name: str = "viewer") -> None:
    """Sign in on /login and wait until 現在の報告 has loaded (a click returns once the
    navigation has started, before the new page is parsed)."""
    page.goto(f"{base}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_local_sign_in_lands_on_the_current_report(
    browser: Browser, console: tuple[str, Path]
) -> None:
    """Signing in with a local account shows 現在の報告 with the latest 第N報."""
    base, _ = console
    page = browser.new_page()
    _sign_in(page, base)
    assert page.url == f"{base}/"
    assert "第3報" in page.inner_text("main")


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
@pytest.mark.parametrize("path", ["/", "/timeline", "/progress", "/ops", "/login"])
def test_each_page_fits_the_viewport(
    browser: Browser, console: tuple[str, Path], viewport: str, path: str
) -> None:
    """Each page renders without sideways scrolling of the page itself at 360 px and desktop."""
    base, _ = console
    page = browser.new_page(viewport=VIEWPORTS[viewport])
    _sign_in(page, base, "operator")
    page.goto(f"{base}{path}")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    name = path.strip("/") or "current"
    page.screenshot(path=str(ARTEFACTS / f"{name}-{viewport}.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[viewport]["width"]


def test_injection_corpus_renders_as_text(browser: Browser, console: tuple[str, Path]) -> None:
    """Hostile text from a workbook is shown as the text typed, and never runs as script."""
    base, _ = console
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    _sign_in(page, base)
    assert HOSTILE.strip()[:30] in page.inner_text("main")
    assert dialogs == []


def test_viewer_sees_no_retry_and_a_forged_post_is_refused(
    browser: Browser, console: tuple[str, Path]
) -> None:
    """A viewer gets no 再送 button, and a POST without the CSRF token answers 403."""
    base, _ = console
    page = browser.new_page()
    _sign_in(page, base)
    page.goto(f"{base}/ops")
    assert page.locator("text=再送").count() == 0
    response = page.request.post(f"{base}/ops/retry", form={"key": "k1"})
    assert response.status == 403


def test_current_report_shows_a_new_report(browser: Browser, console: tuple[str, Path]) -> None:
    """After the flow stores 第4報, opening 現在の報告 again shows it."""
    from automation.state import Store  # noqa: PLC0415

    base, state = console
    page = browser.new_page()
    _sign_in(page, base)
    assert "第3報" in page.inner_text("main")
    with Store(state) as store:
        run = store.start_run("typhoon", NOW, NOW)
        store.save_report("typhoon", {**_snapshot("危機管理課"), "number": 4}, run)
    page.reload()
    assert "第4報" in page.inner_text("main")


def test_auto_refresh_script_loads_under_the_csp(
    browser: Browser, console: tuple[str, Path]
) -> None:
    """現在の報告 loads its refresh script from the package with no CSP violation."""
    base, _ = console
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    _sign_in(page, base)
    assert page.locator("script[src='/static/refresh.js']").count() == 1
    assert page.request.get(f"{base}/static/refresh.js").ok
    assert problems == []


def test_a_column_heading_sorts_the_municipalities(
    browser: Browser, console: tuple[str, Path]
) -> None:
    """Clicking 避難者数 twice lists the municipality with most evacuees first."""
    base, _ = console
    page = browser.new_page()
    _sign_in(page, base)
    rows = page.locator("table.sortable tbody th")
    page.click("table.sortable thead >> text=避難者数")
    expect(rows.first).to_have_text("府中市")
    page.click("table.sortable thead >> text=避難者数")
    expect(rows).to_have_text(["前橋市", "高崎市", "府中市"])


def test_operator_runs_a_flow_now_from_ops(browser: Browser, tmp_path: Path) -> None:
    """An operator picks a flow on 運用 and 今すぐ実行 runs it; the audit log shows it."""
    state = _state(tmp_path, "危機管理課")
    started: list[str] = []

    async def run_now(flow: str) -> str:
        started.append(flow)
        return "ok"

    settings = ConsoleSettings(
        state_path=state,
        secret=SECRET,
        clock=lambda: NOW,
        secure_cookies=False,
        run_now=run_now,
        flows=lambda: {"typhoon": "cron */5 * * * *"},
    )
    with _serving(settings) as base:
        page = browser.new_page()
        _sign_in(page, base, "operator")
        page.goto(f"{base}/ops")
        with page.expect_navigation(url=f"{base}/ops"):
            page.click("button:has-text('今すぐ実行')")
        assert started == ["typhoon"]
        assert "run" in page.inner_text("main")


def test_entra_sign_in_against_a_fake_openid_provider(browser: Browser, tmp_path: Path) -> None:
    """組織アカウント signs in through the tenant's authorize endpoint with the configured role."""
    # served by the fake provider: out to authorize, back with a code, signed in
    from automation.config.models import ConsoleRoles, EntraConsoleSignIn  # noqa: PLC0415
    from automation.console.oidc import EntraSignIn  # noqa: PLC0415
    from tests.fake_oidc import CLIENT, HOST, TENANT, FakeEntra  # noqa: PLC0415
    from tests.fake_oidc import SECRET as APP_SECRET  # noqa: PLC0415

    fake = FakeEntra(NOW)
    sock = _loopback()  # the redirect URI names its port before the console serves on it
    port = int(sock.getsockname()[1])
    config = EntraConsoleSignIn(
        tenant_id=TENANT,
        client_id=CLIENT,
        client_secret=APP_SECRET,
        redirect_uri=f"http://127.0.0.1:{port}/auth/callback",
        roles=ConsoleRoles(operator=("aaaaaaaa-0000-0000-0000-000000000001",)),
    )
    settings = ConsoleSettings(
        state_path=_state(tmp_path, "危機管理課"),
        secret=SECRET,
        clock=lambda: NOW,
        secure_cookies=False,
        entra=EntraSignIn(config, lambda: NOW, http_client=fake),
    )
    with _serving(settings, sock) as base:
        page = browser.new_page(viewport=VIEWPORTS["phone"])
        page.route(
            f"{HOST}/**",
            lambda route: route.fulfill(
                status=302, headers={"Location": fake.authorize(route.request.url)}
            ),
        )
        page.goto(f"{base}/login")
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTEFACTS / "login-entra-phone.png"), full_page=True)
        page.click("text=組織アカウント（Entra ID）でサインイン")
        page.wait_for_url(f"{base}/")
        assert "sato@pref.example.lg.jp（operator）" in page.inner_text("header")
        assert "第3報" in page.inner_text("main")


@pytest.fixture
def idle_console(tmp_path: Path) -> Iterator[str]:
    """A console over a flow that had two incidents, both closed: it idles between them."""
    settings = ConsoleSettings(
        state_path=_two_incidents(tmp_path, second_closed=True),
        secret=SECRET,
        clock=lambda: NOW,
        secure_cookies=False,
    )
    with _serving(settings) as base:
        yield base


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
@pytest.mark.parametrize("path", ["/", "/timeline"])
def test_the_pages_between_incidents_fit_the_viewport(
    browser: Browser, idle_console: str, viewport: str, path: str
) -> None:
    """An idle flow's 現在の報告 and 報告の推移 need no sideways scrolling at 360 px or desktop."""
    # 報告の推移 with its incidents to choose from
    page = browser.new_page(viewport=VIEWPORTS[viewport])
    _sign_in(page, idle_console)
    page.goto(f"{idle_console}{path}")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    name = "timeline-incidents" if path == "/timeline" else "current-idle"
    page.screenshot(path=str(ARTEFACTS / f"{name}-{viewport}.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[viewport]["width"]


def test_the_idle_notice_leads_to_the_ended_incidents_reports(
    browser: Browser, idle_console: str
) -> None:
    """On an idle flow's 現在の報告 the notice links the ended incident's 報告の推移."""
    page = browser.new_page(viewport=VIEWPORTS["phone"])
    _sign_in(page, idle_console)
    assert "待機中" in page.inner_text("main")
    page.click(f"text=「{B}」の報告の推移")
    page.wait_for_url(lambda url: url.startswith(f"{idle_console}/timeline?"))
    assert page.url.startswith(f"{idle_console}/timeline?flow=typhoon&incident=")
    assert f"typhoon（{B}）" in page.inner_text("h2")


def test_a_past_incident_is_picked_on_the_timeline(browser: Browser, idle_console: str) -> None:
    """A click on a past incident in 報告の推移's list shows that incident's reports."""
    page = browser.new_page(viewport=VIEWPORTS["phone"])
    _sign_in(page, idle_console)
    page.goto(f"{idle_console}/timeline")
    page.click(f"nav.incidents >> text={A}")
    expect(page.locator("h2")).to_contain_text(f"typhoon（{A}）")
    page.wait_for_load_state()
    assert page.locator("article.report time").all_inner_texts() == [
        "2026-09-01 11:00",
        "2026-09-01 10:00",
    ]
