"""Secrets in the configuration (webhook URLs) appear nowhere the service writes."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import pytest

from automation import render as render_module
from automation.cli import main as cli_main
from automation.configuration import load_config
from automation.demo import ROUND_1, write_workspace
from automation.redaction import scrub
from automation.runner import run_flow
from automation.timeutil import parse_now
from tests import graph_tenant
from tests.fake_graph import FakeGraph

CANARY = (
    "https://prod-00.japaneast.logic.azure.com/workflows/CANARY-3f9a/invoke?sig=CANARY-SIG-7d1e"
)


def test_webhook_url_never_reaches_state_records_or_files(tmp_path: Path) -> None:
    """After a run, the canary webhook URL is in no file under the workspace but the config's env."""
    config = write_workspace(tmp_path / "ws")
    loaded = load_config(config, environ={**os.environ, "DEMO_TEAMS_WEBHOOK_URL": CANARY})
    record = asyncio.run(run_flow(loaded, "typhoon_damage", parse_now(ROUND_1))).record
    assert any(
        d["channel"] == "teams_webhook" and d["status"] == "sent" for d in record["deliveries"]
    )
    leaks = [p for p in (tmp_path / "ws").rglob("*") if p.is_file() and b"CANARY" in p.read_bytes()]
    assert leaks == []
    assert "CANARY" not in repr(record)


APP_TOKEN = "CANARY-APP-TOKEN-91c2e0"
ACCOUNT_TOKEN = "CANARY-ACCOUNT-TOKEN-4b7d"
WEBHOOK_SIG = "CANARY-WEBHOOK-SIG-a55f"


def written(folder: Path) -> list[Path]:
    """Every file under ``folder`` (the state database with its WAL included)."""
    return [p for p in folder.rglob("*") if p.is_file()]


def leaks(folder: Path, *texts: str) -> list[str]:
    """Files (and texts) holding any canary."""
    found = [str(p) for p in written(folder) if b"CANARY" in p.read_bytes()]
    found += [t[:80] for t in texts if "CANARY" in t]
    return found


def test_no_canary_secret_reaches_anything_the_service_writes(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No token or webhook signature reaches state, outbox, files, records or output."""
    # even when a template echoes a webhook address and Graph calls fail
    workspace = tmp_path / "ws"
    write_workspace(workspace)
    overrides = workspace / "templates"
    overrides.mkdir()
    packaged = Path(render_module.__file__).parent / "templates"
    card = (packaged / "damage_report.card.json.j2").read_text(encoding="utf-8")
    (overrides / "damage_report.card.json.j2").write_text(
        card.replace(
            '"body": [', '"body": [{"type": "TextBlock", "text": {{ contact.address|tojson }}},', 1
        ),
        encoding="utf-8",
    )
    fake = FakeGraph(token=APP_TOKEN)
    graph_tenant.seed(fake, workspace)
    fake.fail("POST", r"/sendMail$", 503, times=2)
    fake.fail("POST", r"/webhooks/", 500, times=1)
    with fake.serve() as base_url:
        config = workspace / "graph.yaml"
        local = (workspace / "automation.yaml").read_text(encoding="utf-8")
        webhook = FakeGraph.webhook_url(graph_tenant.WEBHOOK, base_url)
        text = graph_tenant.graph_config(local, base_url).replace(webhook, "${BOUSAI_WEBHOOK}")
        text = text.replace("      deadlines:", "      templates: templates\n      deadlines:", 1)
        text = text.replace(
            "  limits:",
            "  service_account: {type: access_token, token: '${ACCOUNT_TOKEN}'}\n  limits:",
            1,
        )
        config.write_text(text, encoding="utf-8")
        environ = {
            **os.environ,
            "FAKE_GRAPH_TOKEN": APP_TOKEN,
            "ACCOUNT_TOKEN": ACCOUNT_TOKEN,
            "BOUSAI_WEBHOOK": webhook.replace("fake-signature", WEBHOOK_SIG),
        }
        for name in ("FAKE_GRAPH_TOKEN", "ACCOUNT_TOKEN", "BOUSAI_WEBHOOK"):
            monkeypatch.setenv(name, environ[name])  # the CLI calls below read them too
        loaded = load_config(config, environ=environ)
        for hour in (ROUND_1, ROUND_1.replace("09:10", "09:20")):
            now = parse_now(hour)
            result = asyncio.run(run_flow(loaded, "typhoon_damage", now, clock=lambda n=now: n))
            cli_main(["history", "-c", str(config), "--json"])
            cli_main(["outbox", "-c", str(config)])
    out = capfd.readouterr()
    assert fake.cards(), "the webhook card was posted"
    assert WEBHOOK_SIG not in json.dumps(fake.cards())  # even the card itself carries none
    assert leaks(workspace, json.dumps(result.record), out.out, out.err) == []


def test_secrets_of_a_configuration_are_every_credential_and_webhook(tmp_path: Path) -> None:
    """Client secrets, certificate passwords, tokens and webhook URLs are all redacted."""
    config = tmp_path / "c.yaml"
    config.write_text(
        "version: 1\nbackend:\n  type: graph\n"
        "  auth: {type: client_secret, tenant_id: t, client_id: c, client_secret: CANARY-SECRET-1}\n"
        "  mailbox: m@example.jp\n"
        "  service_account: {type: access_token, token: CANARY-TOKEN-2}\n"
        "directory: {departments: [{name: 総務部, sheet: 総務部}]}\n"
        "flows:\n  - {id: d, kind: damage_rollup, params: {disaster: 台風, "
        "workbook: {drive_id: d, item_id: i}, report_to: [{channel: teams_webhook, "
        "address: 'https://x.logic.azure.com/invoke?sig=CANARY-SIG-3'}]}}\n",
        encoding="utf-8",
    )
    secrets = load_config(config).config.secrets()
    assert set(secrets) >= {"CANARY-SECRET-1", "CANARY-TOKEN-2", "CANARY-SIG-3"}
    assert scrub("sig=CANARY-SIG-3 token CANARY-TOKEN-2") == "sig=[REDACTED] token [REDACTED]"


def test_state_database_and_account_record_are_owner_only(tmp_path: Path) -> None:
    """The state database (and its WAL) is created with mode 0600."""
    config = write_workspace(tmp_path / "ws")
    loaded = load_config(config)
    asyncio.run(run_flow(loaded, "typhoon_damage", parse_now(ROUND_1)))
    made = sorted((tmp_path / "ws" / "state").glob("automation.sqlite*"))
    assert "automation.sqlite" in [path.name for path in made]
    for path in made:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
