"""Specs for `automation doctor`: read-only probes of a Graph set-up, one row per check.

The fake tenant holds the demo workspace's workbook (in a Teams channel's files), list and
mailbox; the configuration adds a Teams channel posted to by a service account. Probes run
in process through ``httpx.ASGITransport``; the fake sends no Date header there, so a small
ASGI wrapper adds Graph's clock (optionally skewed). One run goes through the CLI over
loopback, where uvicorn sends the Date header itself.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from automation.backends.graph.gateway import CredentialToken, GraphGateway, TokenSource
from automation.config.models import GraphBackend, GraphLimits
from automation.demo import write_workspace
from automation.doctor import Row, run_doctor
from automation.doctor.runner import check
from automation.state import SCHEMA_VERSION, Store
from tests import graph_tenant
from tests.fake_graph import FakeGraph
from tests.pg_server import PASSWORD, PgServer
from tests.ports import held_port

GRAPH = "https://graph.microsoft.com/v1.0"
WEBHOOK = (
    "https://prod-00.japaneast.logic.azure.com:443/workflows/0123abcd/triggers/manual/paths/"
    "invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=doctor-canary-sig"
)
TESTER = "johoseisaku@pref.gunma.example.lg.jp"
SEE_SITES = "README.md#permissions-in-entra-id (Sites.Selected)"


def dated(app: ASGIApp, offset: timedelta) -> ASGIApp:
    """``app`` with a Date header on every response: the local clock plus ``offset``."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                date = format_datetime(datetime.now(UTC) + offset, usegmt=True).encode()
                message = {**message, "headers": [*message.get("headers", []), (b"date", date)]}
            await send(message)

        await app(scope, receive, send_dated)

    return wrapped


def jwt(claims: dict[str, Any]) -> str:
    """An unsigned JWT-shaped token carrying ``claims`` (the fake compares it as a string)."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.signature"


def graph_yaml(workspace: Path, base_url: str, webhook: str | None) -> str:
    """The demo configuration on Graph, with a service account and a Teams channel contact."""
    text = graph_tenant.graph_config(
        (workspace / "automation.yaml").read_text(encoding="utf-8"), base_url
    )
    if webhook is not None:
        text = text.replace(FakeGraph.webhook_url(graph_tenant.WEBHOOK, base_url), webhook)
    text = text.replace(
        f"  mailbox: {graph_tenant.MAILBOX}\n",
        f"  mailbox: {graph_tenant.MAILBOX}\n"
        "  service_account: {type: access_token, token: '${FAKE_GRAPH_TOKEN}'}\n",
    )
    channel = f"{graph_tenant.TEAM}/{graph_tenant.CHANNEL}"
    return text.replace(
        "      report_to:\n",
        f"      report_to:\n        - {{channel: teams_channel, name: 防災総括班, address: '{channel}'}}\n",
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A demo workspace on the local backend, its damage workbook as provision builds it."""
    write_workspace(tmp_path / "local")
    provisioned(tmp_path / "local")
    return tmp_path / "local"


def provisioned(workspace: Path) -> bytes:
    """Replace the demo's hand-made damage workbook with the provisioned one; the old bytes."""
    from automation.config.loader import load_config  # noqa: PLC0415
    from automation.config.models import DamageRollupFlow  # noqa: PLC0415
    from automation.flows.provision import workbook_plan  # noqa: PLC0415
    from automation.input_workbook import build_input_workbook  # noqa: PLC0415

    loaded = load_config(workspace / "automation.yaml")
    (flow,) = [f for f in loaded.config.flows if isinstance(f, DamageRollupFlow)]
    path = workspace / "inputs" / str(flow.params.workbook)
    old = path.read_bytes()
    path.write_bytes(build_input_workbook(workbook_plan(flow.params, loaded.config.directory)))
    return old


@pytest.fixture
def fake(workspace: Path) -> FakeGraph:
    """A fake tenant seeded with the workspace's workbook, list, mailbox and channel."""
    fake = FakeGraph(token=graph_tenant.TOKEN)
    graph_tenant.seed(fake, workspace)
    return fake


@pytest.fixture
def config(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The Graph configuration of the seeded tenant (its token in the environment)."""
    monkeypatch.setenv("FAKE_GRAPH_TOKEN", graph_tenant.TOKEN)
    path = workspace.parent / "graph" / "automation.yaml"
    path.parent.mkdir()
    (path.parent / "directory.yaml").write_bytes((workspace / "directory.yaml").read_bytes())
    path.write_text(graph_yaml(workspace, GRAPH, WEBHOOK), encoding="utf-8")
    return path


def edited(config: Path, old: str, new: str) -> Path:
    """``config`` with one piece of text replaced."""
    text = config.read_text(encoding="utf-8")
    assert old in text
    config.write_text(text.replace(old, new), encoding="utf-8")
    return config


def factory(app: ASGIApp) -> Callable[[str, TokenSource, GraphLimits], GraphGateway]:
    """Gateways whose HTTP goes to ``app`` in process."""

    def make(base_url: str, tokens: TokenSource, limits: GraphLimits) -> GraphGateway:
        return GraphGateway(base_url, tokens, limits=limits, transport=httpx.ASGITransport(app=app))

    return make


def doctor(
    config: Path,
    fake: FakeGraph,
    *,
    send_test: str | None = None,
    offset: timedelta = timedelta(0),
    tokens: Callable[[GraphBackend, Path], TokenSource] | None = None,
    app: ASGIApp | None = None,
) -> tuple[int, list[Row]]:
    """Run the doctor in process against ``fake``; the exit code and the rows (from --json)."""
    out = io.StringIO()
    options: dict[str, Any] = {"token_factory": tokens} if tokens else {}
    code = run_doctor(
        config,
        send_test=send_test,
        out=out,
        gateway_factory=factory(app or dated(fake.app, offset)),
        as_json=True,
        **options,
    )
    return code, [Row(**row) for row in json.loads(out.getvalue())]


def only(rows: list[Row], check: str) -> Row:
    """The one row of ``check``."""
    (row,) = [r for r in rows if r.check == check]
    return row


def test_a_seeded_tenant_passes_every_check(config: Path, fake: FakeGraph) -> None:
    """Each configured target is reachable; only Mail.Send is left unchecked (it needs a send)."""
    code, rows = doctor(config, fake)
    assert [(r.check, r.result) for r in rows] == [
        ("config", "OK"),
        ("credential", "OK"),
        ("workbook", "OK"),
        ("workbook design", "OK"),
        ("list", "OK"),
        ("mailbox", "OK"),
        ("mail send", "SKIP"),
        ("channel", "OK"),
        ("webhook", "OK"),
        ("service account", "OK"),
        ("clock", "OK"),
    ]
    assert code == 0


def test_nothing_is_sent_without_send_test(config: Path, fake: FakeGraph) -> None:
    """Every probe is a GET: no mail, no channel post, no webhook post, no upload."""
    doctor(config, fake)
    assert {call.method for call in fake.calls} == {"GET"}
    assert (fake.sent_mail, fake.webhook_posts) == ([], [])


def test_mail_send_says_it_needs_a_test_mail(config: Path, fake: FakeGraph) -> None:
    """Without --send-test the Mail.Send row says it cannot be checked and how to check it."""
    _, rows = doctor(config, fake)
    assert only(rows, "mail send") == Row(
        "mail send",
        graph_tenant.MAILBOX,
        "SKIP",
        "Mail.Send cannot be checked without sending a mail",
        "run again with --send-test YOUR-ADDRESS to send one test mail; "
        "Test-ServicePrincipalAuthorization in Exchange Online PowerShell shows the grant",
        "README.md#permissions-in-entra-id (Mail.Send)",
    )


def test_send_test_sends_one_mail_to_that_address_only(config: Path, fake: FakeGraph) -> None:
    """--send-test ADDRESS sends exactly one mail, to ADDRESS, and nothing else."""
    code, rows = doctor(config, fake, send_test=TESTER)
    (mail,) = fake.sent_mail
    assert (mail.mailbox, mail.to, mail.cc, mail.bcc) == (graph_tenant.MAILBOX, [TESTER], [], [])
    assert [(c.method, c.path) for c in fake.calls if c.method != "GET"] == [
        ("POST", f"/v1.0/users/{graph_tenant.MAILBOX}/sendMail")
    ]
    assert (only(rows, "mail send").result, code) == ("OK", 0)


def test_a_refused_test_mail_names_the_mail_send_role(config: Path, fake: FakeGraph) -> None:
    """A 403 on the test mail: Mail.Send is not granted; the RBAC role assignment is the fix."""
    fake.fail("POST", r"/sendMail$", 403, code="ErrorAccessDenied", message="Access is denied.")
    code, rows = doctor(config, fake, send_test=TESTER)
    row = only(rows, "mail send")
    assert (row.result, code) == ("FAIL", 1)
    assert row.detail == (
        f"Mail.Send is not granted for the mailbox {graph_tenant.MAILBOX} "
        "(HTTP 403 ErrorAccessDenied: Access is denied.)"
    )
    assert '-Role "Application Mail.Send"' in row.fix


def test_a_site_not_granted_fails_the_list_naming_sites_selected_and_the_grant(
    config: Path, fake: FakeGraph
) -> None:
    """A 403 on the list's columns: Sites.Selected needs consent and a grant on that site."""
    fake.fail("GET", r"/lists/[^/]+/columns$", 403)
    code, rows = doctor(config, fake)
    row = only(rows, "list")
    assert (row.result, code) == ("FAIL", 1)
    assert row.detail == (
        f"access denied to the list: the app lacks Sites.Selected (read) on site "
        f"{graph_tenant.SITE} (HTTP 403 accessDenied: The caller doesn't have permission to "
        "perform the action.)"
    )
    assert row.fix == (
        "Sites.Selected needs admin consent in API permissions and a grant on the site "
        f"(consent alone gives no access): POST /sites/{graph_tenant.SITE}/permissions with "
        '{"roles": ["read"], "grantedTo": [{"application": {"id": "<the app\'s client id>"}}]}'
    )
    assert row.see == SEE_SITES


def test_a_token_with_sites_selected_means_the_site_is_not_granted(
    config: Path, fake: FakeGraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the token shows Sites.Selected consented, the 403 is the missing site grant."""
    token = jwt({"appid": "2222-app", "roles": ["Sites.Selected"], "exp": 4102444800})
    fake.token = token
    monkeypatch.setenv("FAKE_GRAPH_TOKEN", token)
    fake.fail("GET", r"/columns$", 403)
    _, rows = doctor(config, fake)
    assert only(rows, "credential").detail.endswith("; application permissions: Sites.Selected")
    row = only(rows, "list")
    assert row.detail.startswith(
        f"access denied to the list: Sites.Selected is consented but site {graph_tenant.SITE} "
        "is not granted"
    )
    assert '"grantedTo": [{"application": {"id": "2222-app"}}]' in row.fix


def test_a_token_without_permissions_says_none_is_consented(
    config: Path, fake: FakeGraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token with neither roles nor scp: no permission has admin consent yet."""
    token = jwt({"appid": "2222-app", "exp": 4102444800})
    fake.token = token
    monkeypatch.setenv("FAKE_GRAPH_TOKEN", token)
    _, rows = doctor(config, fake)
    row = only(rows, "credential")
    assert (row.result, row.detail) == (
        "FAIL",
        "a fixed token from backend.auth.token; Graph checks it in the probes below, but it "
        "carries no permission (no roles claim): none is consented",
    )
    assert row.fix == (
        "in the app registration: API permissions → add the application permissions → "
        "Grant admin consent"
    )


def test_a_denied_files_folder_names_files_read_all(config: Path, fake: FakeGraph) -> None:
    """A 403 on a channel's filesFolder: Files.Read.All, which Sites.Selected does not cover."""
    fake.fail("GET", r"/filesFolder$", 403)
    _, rows = doctor(config, fake)
    row = only(rows, "workbook")
    assert row.result == "FAIL"
    assert row.detail.startswith(
        "access denied to the channel's files folder: looking it up needs Files.Read.All "
        "(application), which Sites.Selected does not cover"
    )
    assert row.fix == (
        "consent Files.Read.All in API permissions (Grant admin consent), or address the "
        "workbook by {site_id, path} or {drive_id, item_id} instead"
    )
    assert row.see == "README.md#permissions-in-entra-id (Files.Read.All)"


def test_a_workbook_missing_from_the_channel_folder_names_its_path(
    config: Path, fake: FakeGraph
) -> None:
    """A 404 on the workbook's metadata says which path was looked for, in which folder."""
    fake.fail("GET", r"/items/[^/]+:/", 404)
    _, rows = doctor(config, fake)
    assert only(rows, "workbook").detail.startswith(
        "no file 被害状況報告.xlsx in the channel's files folder (General)"
    )


def test_the_workbook_is_probed_by_metadata_and_downloaded_once(
    config: Path, fake: FakeGraph
) -> None:
    """The workbook row reads $select=id,name,eTag,size; the design row downloads it once."""
    doctor(config, fake)
    probes = [c.query for c in fake.requests_to(r"/items/[^/]+:/[^/]+\.xlsx$")]
    assert {"$select": "id,name,eTag,size"} in probes
    assert probes.count({"select": "eTag,webUrl,@microsoft.graph.downloadUrl,parentReference"}) == 1
    assert len(fake.downloads) == 1


def test_denied_sent_items_names_mail_read(config: Path, fake: FakeGraph) -> None:
    """A 403 on Sent Items: Mail.Read for that mailbox, granted with Exchange RBAC."""
    fake.fail("GET", r"/mailFolders/SentItems/messages$", 403, code="ErrorAccessDenied")
    _, rows = doctor(config, fake)
    row = only(rows, "mailbox")
    assert row.result == "FAIL"
    assert row.detail.startswith(
        f"access denied to Sent Items of {graph_tenant.MAILBOX}: checking for an interrupted "
        "send before resending needs Mail.Read on this mailbox"
    )
    assert row.fix.startswith(
        "in Exchange Online PowerShell: New-ManagementRoleAssignment -App <the app's client id> "
        '-Role "Application Mail.Read" -CustomResourceScope <the scope used for Mail.Send>'
    )


def test_the_sent_items_probe_asks_for_one_id(config: Path, fake: FakeGraph) -> None:
    """The mailbox probe is GET Sent Items with $top=1&$select=id."""
    doctor(config, fake)
    (probe,) = fake.requests_to(r"/mailFolders/SentItems/messages$")
    assert probe.query == {"$top": "1", "$select": "id"}


def test_a_denied_channel_names_membership_and_channel_message_read_all(
    config: Path, fake: FakeGraph
) -> None:
    """A 403 on the channel's messages: the account is not a member, or no admin consent."""
    fake.fail("GET", r"/channels/[^/]+/messages$", 403)
    _, rows = doctor(config, fake)
    row = only(rows, "channel")
    assert (row.target, row.result) == ("防災総括班", "FAIL")
    assert row.detail.startswith(
        f"access denied: the service account is not a member of team {graph_tenant.TEAM}, or "
        "the delegated ChannelMessage.Read.All has no admin consent"
    )
    assert row.see == "README.md#permissions-in-entra-id (Teams)"


def test_the_channel_probe_reads_the_newest_message_with_the_account_token(
    config: Path, fake: FakeGraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The channel is read with $top=1 using the service account's token, not the app's."""
    monkeypatch.setenv("ACCOUNT_TOKEN", "delegated-token")
    edited(
        config,
        "service_account: {type: access_token, token: '${FAKE_GRAPH_TOKEN}'}",
        "service_account: {type: access_token, token: '${ACCOUNT_TOKEN}'}",
    )
    doctor(config, fake)
    (probe,) = fake.requests_to(r"/channels/[^/]+/messages$")
    assert (probe.query, probe.headers["authorization"]) == (
        {"$top": "1"},
        "Bearer delegated-token",
    )


def test_a_rejected_token_points_at_the_credential(config: Path, fake: FakeGraph) -> None:
    """A 401 on the probes says the app's token was rejected and what in backend.auth to check."""
    fake.fail("*", "", 401, times=None)
    code, rows = doctor(config, fake)
    row = only(rows, "workbook")
    assert (row.result, code) == ("FAIL", 1)
    assert row.detail == (
        "the app's token was rejected (HTTP 401 InvalidAuthenticationToken: Access token has "
        "expired or is not yet valid.)"
    )
    assert row.fix == (
        "backend.auth.token is expired or for another tenant or host; give a fresh one"
    )
    assert row.see == "README.md#permissions-in-entra-id (Register the app, Credential)"


def test_a_credential_without_a_token_names_the_ids_to_check(
    config: Path, fake: FakeGraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sign-in refused by Entra (401 at the token endpoint) names the credential and its ids."""

    class Refused:
        def get_token(self, *scopes: str, **options: Any) -> Any:
            raise ClientAuthenticationError(
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent "
                "in the request is the client secret value, not the client secret ID"
            )

    monkeypatch.setenv("GRAPH_SECRET", "not-the-secret")
    edited(
        config,
        "auth: {type: access_token, token: '${FAKE_GRAPH_TOKEN}'}",
        "auth: {type: client_secret, tenant_id: 1111-tenant, client_id: 2222-app, "
        "client_secret: '${GRAPH_SECRET}'}",
    )
    code, rows = doctor(
        config, fake, tokens=lambda backend, base_dir: CredentialToken(Refused(), "scope")
    )
    row = only(rows, "credential")
    assert (row.target, row.result, code) == ("client_secret", "FAIL", 1)
    assert row.detail.startswith(
        "tenant 1111-tenant, client 2222-app: no token: ClientAuthenticationError: AADSTS7000215"
    )
    assert row.fix == (
        "the client secret is wrong: give the secret's Value, not its Secret ID; check "
        "backend.auth.tenant_id (Directory (tenant) ID) and client_id (Application (client) "
        "ID) in Entra admin center → App registrations; the secret must be the Value of a "
        "secret that has not expired"
    )
    assert [(r.check, r.result) for r in rows[2:7]] == [
        ("workbook", "SKIP"),
        ("workbook design", "SKIP"),
        ("list", "SKIP"),
        ("mailbox", "SKIP"),
        ("mail send", "SKIP"),
    ]


def test_a_service_account_never_signed_in_says_to_run_login(config: Path, fake: FakeGraph) -> None:
    """No cached sign-in: the account row fails with `automation login`; channels wait for it."""
    edited(
        config,
        "service_account: {type: access_token, token: '${FAKE_GRAPH_TOKEN}'}",
        "service_account: {type: device_code, tenant_id: 1111-tenant, client_id: 3333-public}",
    )
    code, rows = doctor(config, fake)
    row = only(rows, "service account")
    assert (row.target, row.result, code) == ("client 3333-public", "FAIL", 1)
    assert row.detail.startswith("the Teams service account has never signed in.")
    assert row.fix == (
        f"run `automation login -c {config}` on the server as the user the service runs as"
    )
    assert only(rows, "channel").result == "SKIP"


def test_a_clock_off_by_more_than_five_minutes_fails_with_the_ntp_fix(
    config: Path, fake: FakeGraph
) -> None:
    """Graph's Date ten minutes ahead: the local clock is behind; turn on NTP."""
    began = time.monotonic()
    code, rows = doctor(config, fake, offset=timedelta(minutes=10))
    took = time.monotonic() - began
    row = only(rows, "clock")
    assert (row.target, row.result, code) == ("graph.microsoft.com", "FAIL", 1)
    assert re.match(r"local clock is \d+ min \d+ s behind Graph's \(Date: ", row.detail)
    # ten minutes less what the header cuts (under a second) and the answer's way back
    assert 600 - 1.5 - took <= seconds_off(row.detail) <= 600
    assert row.fix.startswith("turn on time synchronisation: `timedatectl set-ntp true`")


def test_a_clock_a_few_minutes_off_passes(config: Path, fake: FakeGraph) -> None:
    """Up to five minutes apart is within what token checks allow."""
    began = time.monotonic()
    _, rows = doctor(config, fake, offset=timedelta(minutes=-3))
    took = time.monotonic() - began
    row = only(rows, "clock")
    assert row.result == "OK"
    assert re.fullmatch(
        r"local clock \d+ min \d+ s ahead of Graph's \(within 5 minutes\)", row.detail
    )
    # three minutes and what the header cuts (under a second) and the answer's way back
    assert 180 <= seconds_off(row.detail) <= 181.5 + took


def seconds_off(detail: str) -> int:
    """The seconds of the first "N min M s" in a clock row's detail."""
    found = re.search(r"(\d+) min (\d+) s", detail)
    assert found is not None, detail
    return int(found[1]) * 60 + int(found[2])


def test_without_a_date_header_the_clock_is_not_checked(config: Path, fake: FakeGraph) -> None:
    """A Graph that sends no Date header leaves the clock unchecked, not failed."""
    _, rows = doctor(config, fake, app=fake.app)
    assert only(rows, "clock") == Row(
        "clock", "graph.microsoft.com", "SKIP", "no Graph response carried a Date header"
    )


def test_a_retired_connector_webhook_fails_without_being_posted(
    config: Path, fake: FakeGraph
) -> None:
    """An Office 365 connector URL is refused by its host; nothing is posted to it."""
    edited(
        config,
        WEBHOOK,
        "https://pref-gunma.webhook.office.com/webhookb2/abc/IncomingWebhook/def/ghi",
    )
    _, rows = doctor(config, fake)
    row = only(rows, "webhook")
    assert (row.target, row.result) == ("防災総括班チャネル", "FAIL")
    assert row.detail == (
        "pref-gunma.webhook.office.com is an Office 365 connector webhook, which Microsoft retires"
    )
    assert fake.webhook_posts == []


def test_a_plain_http_webhook_is_refused_before_any_probe(config: Path, fake: FakeGraph) -> None:
    """A webhook URL must be https (it carries its key): the configuration itself is refused."""
    edited(config, WEBHOOK, WEBHOOK.replace("https://", "http://"))
    code, rows = doctor(config, fake)
    assert (code, only(rows, "config").result) == (2, "FAIL")
    assert "Teams webhooks are https only" in only(rows, "config").detail
    assert fake.calls == []


def test_the_webhook_url_never_appears_in_the_output(config: Path, fake: FakeGraph) -> None:
    """The webhook's URL is a secret: the table shows its name and host only."""
    out = io.StringIO()
    run_doctor(
        config, send_test=None, out=out, gateway_factory=factory(dated(fake.app, timedelta(0)))
    )
    (line,) = [line for line in out.getvalue().splitlines() if line.startswith("webhook ")]
    assert "防災総括班チャネル" in line and "prod-00.japaneast.logic.azure.com" in line
    assert "doctor-canary-sig" not in out.getvalue()
    assert "0123abcd" not in out.getvalue()


def test_the_table_shows_a_failure_with_its_fix_and_readme_link(
    config: Path, fake: FakeGraph
) -> None:
    """A failing row is followed by its fix and the README point, under the detail column."""
    fake.fail("GET", r"/columns$", 403)
    out = io.StringIO()
    code = run_doctor(
        config, send_test=None, out=out, gateway_factory=factory(dated(fake.app, timedelta(0)))
    )
    lines = out.getvalue().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("list "))
    assert re.split(r"\s{2,}", lines[at])[:3] == [
        "list",
        "dx_progress: list 0000…000-0000-00000000c001",
        "FAIL",
    ]
    detail_column = lines[at].index("access denied")
    assert lines[at + 1].index("fix: ") == detail_column
    assert lines[at + 2] == " " * detail_column + f"see: {SEE_SITES}"
    assert (
        lines[-1]
        == "1 failed, 9 passed, 1 skipped; fix the failures and run `automation doctor` again"
    )
    assert code == 1


def test_an_invalid_config_exits_2_with_its_problems(tmp_path: Path) -> None:
    """Checks stop at a configuration with problems; each is listed with FILE:LINE:COL."""
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\nflows: []\ndirectory: {departments: []}\n", encoding="utf-8")
    out = io.StringIO()
    code = run_doctor(path, send_test=None, out=out, as_json=True)
    (row,) = [Row(**r) for r in json.loads(out.getvalue())]
    assert (row.check, row.result, code) == ("config", "FAIL", 2)
    assert row.detail.startswith(f"{path}:2:")


def test_a_local_config_has_nothing_to_check(workspace: Path) -> None:
    """The local backend needs no Microsoft 365: the config row and each workbook's design."""
    out = io.StringIO()
    code = run_doctor(workspace / "automation.yaml", send_test=None, out=out, as_json=True)
    assert json.loads(out.getvalue()) == [
        {
            "check": "config",
            "target": str(workspace / "automation.yaml"),
            "result": "OK",
            "detail": "local backend: nothing in Microsoft 365 to check",
            "fix": "",
            "see": "",
        },
        {
            "check": "workbook design",
            "target": "typhoon_damage: 被害状況報告.xlsx",
            "result": "OK",
            "detail": "matches what `automation provision workbook` would build (8 department "
            "sheets, validation on every input column, protected)",
            "fix": "",
            "see": "",
        },
    ]
    assert code == 0


def test_a_workbook_without_a_departments_sheet_fails_with_the_fix(tmp_path: Path) -> None:
    """A workbook without a department's sheet fails the design row, naming it, with the fix."""
    # the demo's hand-made workbook has no sheet for 企業局; the fix: provision it again
    write_workspace(tmp_path)
    out = io.StringIO()

    code = run_doctor(tmp_path / "automation.yaml", send_test=None, out=out, as_json=True)

    row = Row(**json.loads(out.getvalue())[1])
    assert (row.check, row.result, code) == ("workbook design", "FAIL", 1)
    assert row.detail.splitlines()[:2] == [
        "the run cannot read it as configured:",
        "no sheet 「企業局」 for 企業局 (sheets: 危機管理課、県土整備部、農政部、環境森林部、"
        "健康福祉部、教育委員会、産業経済部)",
    ]
    assert row.fix == (
        f"run `automation provision workbook -c {tmp_path / 'automation.yaml'} --flow "
        "typhoon_damage --upload --replace` (the old workbook is kept as an archived copy), or "
        "fix the sheet by hand or the department's sheet name in the directory"
    )


def test_a_readable_hand_made_workbook_warns_and_passes(tmp_path: Path) -> None:
    """A readable hand-made workbook without validation or protection warns; the doctor exits 0."""
    # the warning carries the fix; every sheet is there, so the run reads it
    import openpyxl  # noqa: PLC0415

    write_workspace(tmp_path)
    path = tmp_path / "inputs" / "被害状況報告.xlsx"
    book = openpyxl.load_workbook(path)
    book.copy_worksheet(book["危機管理課"]).title = "企業局"
    book.save(path)
    out = io.StringIO()

    code = run_doctor(tmp_path / "automation.yaml", send_test=None, out=out)

    lines = out.getvalue().splitlines()
    (at,) = [i for i, line in enumerate(lines) if line.startswith("workbook design")]
    assert re.split(r"\s{2,}", lines[at])[2:4] == [
        "WARN",
        "readable, but not what `automation provision workbook` would build:",
    ]
    shown = [line.strip() for line in lines[at + 1 : at + 9]]
    assert "「危機管理課」: not protected (its headers can be edited)" in shown
    assert any(
        line.strip().startswith("fix: a hand-made workbook is read as it is") for line in lines
    )
    assert lines[-1] == "0 failed, 1 warning, 1 passed, 0 skipped"
    assert code == 0


@pytest.mark.e2e
def test_the_cli_checks_a_tenant_over_loopback(workspace: Path, fake: FakeGraph) -> None:
    """`automation doctor -c FILE --json` passes on the seeded tenant and only reads."""
    with fake.serve() as base_url:
        path = workspace.parent / "graph" / "automation.yaml"
        path.parent.mkdir()
        (path.parent / "directory.yaml").write_bytes((workspace / "directory.yaml").read_bytes())
        path.write_text(graph_yaml(workspace, base_url, None), encoding="utf-8")
        result = subprocess.run(
            [sys.executable, "-m", "automation", "doctor", "-c", str(path), "--json"],
            capture_output=True,
            text=True,
            env={**os.environ, "FAKE_GRAPH_TOKEN": graph_tenant.TOKEN},
            timeout=120,
            check=False,
        )
    assert "Traceback" not in result.stderr, result.stderr
    rows = [Row(**row) for row in json.loads(result.stdout)]
    assert [r.check for r in rows if r.result != "OK"] == ["mail send"]
    assert result.returncode == 0
    assert {call.method for call in fake.calls} == {"GET"}


def test_validate_check_inputs_on_graph_runs_the_read_only_probes(
    config: Path, fake: FakeGraph
) -> None:
    """`validate --check-inputs` on Graph is the doctor's probes: every input checked, all GETs."""
    from automation.config.loader import load_config  # noqa: PLC0415
    from automation.inputs_check import check_inputs  # noqa: PLC0415

    rows = check_inputs(load_config(config), gateway_factory=factory(dated(fake.app, timedelta(0))))
    assert [r.check for r in rows][:4] == ["credential", "workbook", "workbook design", "list"]
    assert all(r.result in ("OK", "SKIP") for r in rows)
    assert {call.method for call in fake.calls} == {"GET"}


def on_postgresql(workspace: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The workspace's configuration with its state in ``url`` (password from the environment)."""
    monkeypatch.setenv("SPEC_PGPASSWORD", PASSWORD)
    path = workspace / "automation.yaml"
    text = path.read_text(encoding="utf-8").replace(
        "  path: state/automation.sqlite",
        f"  path: state/automation.sqlite\n  url: '{url.replace(PASSWORD, '${SPEC_PGPASSWORD}')}'",
    )
    path.write_text(text, encoding="utf-8")
    return path


def test_doctor_checks_the_postgresql_state_and_its_lease(
    workspace: Path, pg: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With state.url on PostgreSQL: its version and schema, and who holds the lease."""
    url = pg.new_database()
    with Store(url) as store:
        # an hour: the doctor reads the clock itself, and finds the lease live however slow
        store.claim_lease("host-a:42:abc", datetime.now(UTC), 3600)
    rows = check(on_postgresql(workspace, url, monkeypatch), send_test=None)
    state, lease = rows[-2], rows[-1]
    assert (state.check, state.result) == ("state", "OK") and "PostgreSQL 15" in state.detail
    assert f"schema version {SCHEMA_VERSION} of {SCHEMA_VERSION}" in state.detail
    assert PASSWORD not in state.target
    assert (lease.check, lease.result) == ("lease", "OK")
    assert lease.detail.startswith("host-a:42:abc leads (fencing token 1;")


def test_doctor_fails_an_unreachable_database_with_its_host(
    workspace: Path, pg: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database that does not answer is a FAIL row naming host:port and what to check."""
    with held_port() as port:  # held: nobody listens there
        url = pg.url("nowhere").replace(str(pg.port), str(port))
        state = check(on_postgresql(workspace, url, monkeypatch), send_test=None)[-1]
    assert (state.check, state.result) == ("state", "FAIL")
    assert (
        f"127.0.0.1:{port}" in state.detail and "check that PostgreSQL runs there" in state.detail
    )


def test_with_an_incident_open_the_workbook_probe_looks_at_its_workbook(
    config: Path, fake: FakeGraph
) -> None:
    """An open incident's workbook is the one probed, not the configured one."""
    from automation.configuration import load_config  # noqa: PLC0415
    from automation.flows.incident import dump_ref, incident_ref  # noqa: PLC0415
    from automation.state import Store  # noqa: PLC0415

    loaded = load_config(config)
    flow = next(f for f in loaded.config.flows if f.kind == "damage_rollup")
    ref = incident_ref(flow.params, "令和8年台風第10号")  # type: ignore[arg-type]  # a damage flow
    with Store(loaded.state_target) as store:
        store.open_incident(flow.id, "令和8年台風第10号", dump_ref(ref), None, datetime.now(UTC))

    _, rows = doctor(config, fake)

    assert only(rows, "workbook").detail.startswith(
        "no file 令和8年台風第10号_被害状況報告.xlsx in the channel's files folder (General)"
    )
