"""Specs for the Teams service account: sign-in, silent tokens, channel posts with @mentions."""

from __future__ import annotations

import asyncio
import json
import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.identity import AuthenticationRequiredError

from automation.backends.graph import service_account
from automation.backends.graph.backend import ChannelTarget, GraphDeliverer, reference_mark
from automation.backends.graph.gateway import GraphGateway, StaticToken
from automation.cli import main
from automation.config.models import DeviceCodeAccount, GraphBackend, Mention
from automation.errors import AuthError
from automation.state import OutboxEntry
from tests.fake_graph import FakeGraph

TEAM = "00000000-0000-0000-0000-00000000a001"
CHANNEL = "19:0000000000000000000000000000a002@thread.tacv2"
ACCOUNT = DeviceCodeAccount(type="device_code", tenant_id="tenant", client_id="client")
YAMADA = Mention(user_id="00000000-0000-0000-0000-00000000d301", name="山田 太郎")


class Record:
    """What azure-identity's authenticate() returns."""

    username = "bousai-bot@pref.example"

    def serialize(self) -> str:
        """The record as JSON (no secret)."""
        return json.dumps({"username": self.username, "authority": "login.microsoftonline.com"})


class SigningIn:
    """A device-code credential that shows its code once and signs in."""

    def __init__(self, account: DeviceCodeAccount, **options: Any) -> None:
        self.prompt = options["prompt_callback"]
        self.scopes: list[str] = []

    def authenticate(self, *, scopes: list[str], enable_cae: bool) -> Record:
        """Show the code, then return the record."""
        assert enable_cae
        self.scopes = scopes
        self.prompt(
            "https://microsoft.com/devicelogin",
            "ABCD-1234",
            datetime.now(UTC) + timedelta(minutes=15),
        )
        return Record()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home folder for azure-identity's cache files."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_login_shows_the_code_and_saves_the_record_owner_only(tmp_path: Path, home: Path) -> None:
    """login prints where to enter the code and keeps the account record with mode 0600."""
    said: list[str] = []
    user = service_account.login(
        ACCOUNT, "https://graph.microsoft.com/v1.0", tmp_path / "state", said.append, SigningIn
    )
    saved = tmp_path / "state" / "service_account.json"
    assert user == "bousai-bot@pref.example"
    assert said[0].startswith(
        "Sign in as the Teams service account: open https://microsoft.com/devicelogin "
        "and enter the code ABCD-1234"
    )
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600


def test_login_makes_the_token_cache_owner_only(tmp_path: Path, home: Path) -> None:
    """A plain-text token cache left readable by others is narrowed to its owner."""
    cache = home / ".IdentityService" / "m365-automation.cae"
    cache.parent.mkdir(parents=True)
    cache.write_text("{}")
    cache.chmod(0o644)
    service_account.login(ACCOUNT, "https://graph.microsoft.com/v1.0", tmp_path, print, SigningIn)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600


def test_scopes_follow_the_graph_host() -> None:
    """A national cloud's Graph host gets its own delegated scopes."""
    assert service_account.scopes("https://graph.microsoft.us/v1.0") == [
        "https://graph.microsoft.us/ChannelMessage.Send",
        "https://graph.microsoft.us/ChannelMessage.Read.All",
    ]


def test_an_account_never_signed_in_says_to_run_login(tmp_path: Path) -> None:
    """Without a saved record the daemon fails with the command to run, not a prompt."""
    tokens = service_account.account_tokens(ACCOUNT, "https://graph.microsoft.com/v1.0", tmp_path)
    with pytest.raises(
        AuthError,
        match=re.escape(
            "has never signed in. The Teams service account must sign in again: "
            "run `automation login -c CONFIG`"
        ),
    ):
        asyncio.run(tokens.token())


def test_an_expired_sign_in_says_to_run_login_again() -> None:
    """A refresh token that is gone (AuthenticationRequiredError) is an AuthError naming login."""

    class Expired:
        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            raise AuthenticationRequiredError(scopes, message="interaction required")

    tokens = service_account.ServiceAccountToken(Expired(), ["s"])
    with pytest.raises(AuthError, match="run `automation login -c CONFIG`"):
        asyncio.run(tokens.token())


def entry(key: str = "damage:report:1:abc", target: ChannelTarget | None = None) -> OutboxEntry:
    """A report for the response team's channel, @mentioning ``target``'s people."""
    target = target or ChannelTarget()
    payload = {
        "mentions": [{"user_id": m.user_id, "name": m.name} for m in target.mentions],
        "mention_channel": target.mention_channel,
        "channel_name": target.name,
    }
    return OutboxEntry(
        key=key,
        flow="damage",
        run_id=1,
        kind="report",
        audience="response-team",
        channel="teams_channel",
        recipient=f"{TEAM}/{CHANNEL}",
        recipient_label=f"{TEAM}/{CHANNEL}",
        subject="【令和8年台風第10号】被害状況 第1報",
        bodies={"html": "<p>第1報 &lt;at&gt;全員&lt;/at&gt;</p>"},
        attachments=(),
        digest="0" * 64,
        payload=payload,
    )


@pytest.fixture
def fake() -> FakeGraph:
    """A fake Graph with the response team's channel."""
    fake = FakeGraph(token="delegated")
    fake.add_team_channel(TEAM, CHANNEL, "General", "b!drive", "01FOLDER")
    return fake


def deliverer(fake: FakeGraph) -> GraphDeliverer:
    """A deliverer posting as the service account to ``fake``."""
    transport = httpx.ASGITransport(app=fake.app)
    app_only = GraphGateway(
        "https://graph.microsoft.com/v1.0", StaticToken("app"), transport=transport
    )
    delegated = GraphGateway(
        "https://graph.microsoft.com/v1.0", StaticToken("delegated"), transport=transport
    )
    config = GraphBackend.model_validate(
        {"type": "graph", "auth": {"type": "access_token", "token": "app"}}
    )
    return GraphDeliverer(app_only, None, config, channel_gateway=delegated)


def test_a_channel_post_mentions_the_configured_people(fake: FakeGraph) -> None:
    """The post opens with real @mentions: <at id> tags matched by the mentions array."""
    asyncio.run(deliverer(fake).deliver(entry(target=ChannelTarget([YAMADA])), {}))
    (posted,) = fake.channels[(TEAM, CHANNEL)].messages
    assert posted["body"]["content"].startswith(
        '<p><at id="0">山田 太郎</at></p><p>第1報 &lt;at&gt;'
    )
    assert posted["mentions"][0]["mentioned"]["user"]["id"] == YAMADA.user_id


def test_a_channel_post_can_mention_the_whole_channel(fake: FakeGraph) -> None:
    """mention_channel adds a conversation mention of the channel itself."""
    target = ChannelTarget([], mention_channel=True, name="防災総括班")
    asyncio.run(deliverer(fake).deliver(entry(target=target), {}))
    (posted,) = fake.channels[(TEAM, CHANNEL)].messages
    assert (
        posted["mentions"][0]["mentioned"]["conversation"]["conversationIdentityType"] == "channel"
    )


def test_mentions_belong_to_their_message_not_to_the_channel(fake: FakeGraph) -> None:
    """Two messages to one channel: each mentions only its own contact's people and name."""
    posting = deliverer(fake)
    report = ChannelTarget([], mention_channel=True, name="防災総括班")
    feedback = ChannelTarget([YAMADA])
    asyncio.run(posting.deliver(entry("damage:report:1:a", report), {}))
    asyncio.run(posting.deliver(entry("damage:feedback:1:b", feedback), {}))
    first, second = fake.channels[(TEAM, CHANNEL)].messages
    assert [m["mentionText"] for m in first["mentions"]] == ["防災総括班"]
    assert [m["mentionText"] for m in second["mentions"]] == ["山田 太郎"]


def test_an_interrupted_channel_post_is_found_by_its_reference(fake: FakeGraph) -> None:
    """After a crash mid-send, the post's reference among the newest messages confirms it."""
    posting = deliverer(fake)
    asyncio.run(posting.deliver(entry(), {}))
    assert (
        reference_mark(entry().key) in fake.channels[(TEAM, CHANNEL)].messages[0]["body"]["content"]
    )
    assert asyncio.run(posting.confirm(entry())) is True
    assert asyncio.run(posting.confirm(entry("damage:report:2:def"))) is False


def test_channel_posts_go_with_the_delegated_token(fake: FakeGraph) -> None:
    """Posts and lookups use the service account's token, never the app-only one."""
    posting = deliverer(fake)
    asyncio.run(posting.deliver(entry(), {}))
    asyncio.run(posting.confirm(entry()))
    tokens = {c.headers["authorization"] for c in fake.requests_to(r"/messages$")}
    assert tokens == {"Bearer delegated"}


def test_login_on_a_config_without_a_service_account_says_what_to_add(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`automation login` needs a graph backend with service_account of type device_code."""
    config = tmp_path / "c.yaml"
    config.write_text(
        "version: 1\ndirectory: {departments: [{name: 総務部, sheet: 総務部}]}\nflows:\n"
        "  - {id: d, kind: damage_rollup, params: {disaster: 台風, workbook: b.xlsx, "
        "report_to: [{channel: mail, address: a@example.jp}]}}\n",
        encoding="utf-8",
    )
    assert main(["login", "-c", str(config)]) == 2
    assert "add service_account: {type: device_code" in capsys.readouterr().err
