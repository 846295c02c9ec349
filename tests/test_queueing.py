"""Specs for a queued message being self-contained: what is sent was fixed at enqueue.

A configuration reloaded between enqueue and send (other @mentions, another channel name,
a rotated webhook URL) must not change a message already in the outbox.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from automation.alerts import Alerts
from automation.backends.graph.backend import GraphDeliverer
from automation.backends.graph.gateway import GraphGateway, StaticToken
from automation.backends.local import LocalArtefactStore, LocalListSource, LocalWorkbookSource
from automation.config.loader import load_config
from automation.config.models import Contact, GraphBackend, webhook_ref
from automation.errors import ConfigError
from automation.plan import Message
from automation.ports import Backend
from automation.queueing import outbox_entry
from automation.render import Rendered
from automation.runner import run_flow
from automation.state import Store
from automation.timeutil import JST
from tests.fake_graph import FakeGraph
from tests.test_runner import CHANNEL_CONFIG, FlakyDeliverer, write_book

NOW = datetime(2026, 9, 1, 9, 0, tzinfo=JST)
OLD_HOOK = "https://prod-01.japaneast.logic.azure.com/workflows/old/triggers/manual/paths/invoke"
NEW_HOOK = "https://prod-01.japaneast.logic.azure.com/workflows/new/triggers/manual/paths/invoke"
RELOADED = CHANNEL_CONFIG.replace("name: 山田 太郎", "name: 佐藤 花子").replace(
    "name: 防災総括班", "name: 総括班（新）"
)


def hook(url: str) -> Message:
    """A report card for the webhook at ``url``."""
    return Message(
        "report", "report:1", "hq", Contact(channel="teams_webhook", address=url), "t", {}
    )


def test_the_digest_covers_where_a_message_goes() -> None:
    """The same card queued for two webhooks has two digests: the recipient is part of it."""
    body = Rendered(subject="第1報", card={"type": "AdaptiveCard"})
    old, new = (outbox_entry("damage", 1, hook(url), body) for url in (OLD_HOOK, NEW_HOOK))
    assert old.recipient == webhook_ref(OLD_HOOK) and OLD_HOOK not in str(old)
    assert old.digest != new.digest


def test_a_queued_post_keeps_its_mentions_across_a_reload(tmp_path: Path) -> None:
    """Queued under one configuration, sent under a reloaded one: the mentions queued go out."""
    (tmp_path / "automation.yaml").write_text(CHANNEL_CONFIG, encoding="utf-8")
    write_book(tmp_path, [["前橋市", 1, 2], ["高崎市", 0, 3]])
    failing = Backend(
        LocalWorkbookSource(tmp_path / "inputs"),
        LocalArtefactStore(tmp_path / "out"),
        FlakyDeliverer(tmp_path / "sent", failures=2),
        LocalListSource(tmp_path / "inputs"),
    )
    loaded = load_config(tmp_path / "automation.yaml")
    asyncio.run(run_flow(loaded, "damage", NOW, backend=failing, clock=lambda: NOW))
    with Store(tmp_path / "state" / "db.sqlite") as store:
        queued = {e.key: (e.digest, dict(e.payload)) for e in store.outbox("damage")}
    (tmp_path / "automation.yaml").write_text(RELOADED, encoding="utf-8")
    reloaded = load_config(tmp_path / "automation.yaml")
    later = NOW.replace(hour=10)
    asyncio.run(run_flow(reloaded, "damage", later, clock=lambda: later))
    with Store(tmp_path / "state" / "db.sqlite") as store:
        sent = {e.key: (e.digest, dict(e.payload)) for e in store.outbox("damage", ("sent",))}
    assert sent == queued and len(sent) == 2
    assert "佐藤 花子" not in str(sent)


def test_a_queued_card_is_not_sent_to_a_webhook_url_changed_since(tmp_path: Path) -> None:
    """A card queued for one URL, the configuration now naming another: refused, nothing sent."""
    fake = FakeGraph()
    transport = httpx.ASGITransport(app=fake.app)
    gateway = GraphGateway(
        "https://graph.microsoft.com/v1.0", StaticToken("app"), transport=transport
    )
    config = GraphBackend.model_validate(
        {"type": "graph", "auth": {"type": "access_token", "token": "app"}}
    )
    deliverer = GraphDeliverer(gateway, None, config, {webhook_ref(NEW_HOOK): NEW_HOOK})
    entry = outbox_entry("damage", 1, hook(OLD_HOOK), Rendered(subject="第1報", card={}))
    with pytest.raises(ConfigError, match="no longer in the configuration"):
        asyncio.run(deliverer.deliver(entry, {}))
    assert fake.webhook_posts == []


def test_an_alert_to_a_channel_carries_its_contacts_mentions(tmp_path: Path) -> None:
    """An admins' alert to a Teams channel is queued with that contact's @mentions."""
    text = CHANNEL_CONFIG + (
        "service:\n"
        "  alerts:\n"
        "    - channel: teams_channel\n"
        "      address: 00000000-0000-0000-0000-00000000a001/19:admins@thread.tacv2\n"
        "      mentions: [{user_id: 00000000-0000-0000-0000-0000000000e1, name: 管理 者}]\n"
    )
    (tmp_path / "automation.yaml").write_text(text, encoding="utf-8")
    alerts = Alerts(load_config(tmp_path / "automation.yaml"))
    with Store(tmp_path / "db.sqlite") as store:
        run_id = store.start_run("damage", NOW, NOW)
        dead = outbox_entry("damage", run_id, hook(OLD_HOOK), Rendered(subject="第1報", card={}))
        alerts.dead(store, dead, NOW)
        (alert,) = [e for e in store.outbox() if e.kind == "alert"]
    assert alert.payload["mentions"] == [
        {"user_id": "00000000-0000-0000-0000-0000000000e1", "name": "管理 者"}
    ]
