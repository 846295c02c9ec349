"""The Graph gateway against what Microsoft's reference pages say Graph does.

Each spec names the page (microsoftgraph/microsoft-graph-docs-contrib) whose rule it holds
the gateway to; the fake Graph is set up the way that page allows, including the parts our
fake does not do by default (a download URL on Graph's own host, a paged collection).
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

import httpx
import pytest
from azure.core.credentials import AccessToken

from automation.backends.graph.gateway import (
    CredentialToken,
    GraphGateway,
    StaticToken,
    TokenSource,
)
from automation.config.models import DriveFile, GraphLimits, SiteFile
from automation.errors import ConfigError
from tests.fake_graph import GRAPH_BASE_URL, FakeGraph

T = TypeVar("T")
DRIVE = "b!reference-drive"
CONTENT = b"PK\x03\x04 workbook bytes"


def gateway_on(fake: FakeGraph, tokens: TokenSource | None = None) -> GraphGateway:
    """A gateway talking to ``fake`` in process, whose retry waits take no time."""

    async def no_wait(_: float) -> None:
        return None

    gateway = GraphGateway(
        GRAPH_BASE_URL,
        tokens or StaticToken(fake.token),
        limits=GraphLimits(max_retries=3),
        transport=httpx.ASGITransport(app=fake.app),
    )
    gateway.retry_policy = replace(gateway.retry_policy, sleep=no_wait)
    return gateway


def run(
    fake: FakeGraph,
    call: Callable[[GraphGateway], Awaitable[T]],
    tokens: TokenSource | None = None,
) -> T:
    """Run ``call`` on a gateway to ``fake``, closing it afterwards."""

    async def main() -> T:
        gateway = gateway_on(fake, tokens)
        try:
            return await call(gateway)
        finally:
            await gateway.aclose()

    return asyncio.run(main())


@pytest.fixture
def fake() -> FakeGraph:
    """A drive holding one workbook, its download URLs on Graph's own origin."""
    fake = FakeGraph(token="t", download_origin="https://graph.microsoft.com")
    fake.add_drive_item(DRIVE, "01BOOK", "book.xlsx", CONTENT)
    return fake


def test_content_redirect_is_followed_without_the_token_even_on_the_same_origin(
    fake: FakeGraph,
) -> None:
    """/content's 302 goes to a preauthenticated URL: it gets no Authorization, whatever its host."""

    async def content(gateway: GraphGateway) -> bytes:
        response = await gateway.request("GET", f"/drives/{DRIVE}/items/01BOOK/content", what="x")
        return response.content

    assert run(fake, content) == CONTENT
    assert len(fake.downloads) == 1
    assert fake.authorization_leaks() == []


def test_fragments_are_put_as_octet_stream_without_the_token(fake: FakeGraph) -> None:
    """Upload-session PUTs say Content-Type application/octet-stream and carry no token."""
    big = bytes(range(256)) * 40
    fake.upload_fragment_unit = 4096  # the 4 KiB ranges stand for 320 KiB ones

    async def upload(gateway: GraphGateway) -> object:
        session = await gateway.request(
            "POST", f"/drives/{DRIVE}/items/root:/General/big.bin:/createUploadSession", what="x"
        )
        return await gateway.put_ranges(
            session.json()["uploadUrl"], "big.bin", big, chunk_size=4096
        )

    run(fake, upload)
    puts = fake.requests_to("^/upload/", "PUT")
    assert len(puts) == 3
    assert {c.headers.get("content-type") for c in puts} == {"application/octet-stream"}
    assert fake.authorization_leaks() == []
    stored = fake.file_at(DRIVE, "/General/big.bin")
    assert stored is not None and stored.content == big


def test_an_unexpected_answer_quotes_the_request_id_it_asks_to_report(fake: FakeGraph) -> None:
    """An answer with no known cause names Graph's request-id (errors.md innerError, header)."""
    fake.fail("GET", "01BOOK", 412, code="resourceModified", message="The eTag changed.")

    async def read(gateway: GraphGateway) -> object:
        return await gateway.request("GET", f"/drives/{DRIVE}/items/01BOOK", what="read the item")

    with pytest.raises(ConfigError) as raised:
        run(fake, read)
    found = re.search(r"request-id ([0-9a-f-]{36})", raised.value.message)
    assert found is not None, raised.value.message
    assert raised.value.message.startswith(
        "read the item: unexpected response (HTTP 412, Graph: resourceModified: The eTag changed.)"
    )
    assert raised.value.message.endswith(f"report it with Graph's request-id {found[1]}.")


SITE = "contoso.sharepoint.com,00000000-0000-0000-0000-0000000000a1,00000000-0000-0000-0000-0000000000b1"
LIST = "00000000-0000-0000-0000-0000000000c1"
MAILBOX = "bousai@pref.example"
TEAM, CHANNEL = "00000000-0000-0000-0000-0000000000d1", "19:reference@thread.tacv2"


def test_a_list_s_columns_are_read_past_an_empty_page(fake: FakeGraph) -> None:
    """Columns follow @odata.nextLink: a page may hold zero results (paging.md)."""
    columns = [
        {"name": "Title", "displayName": "タイトル"},
        {"name": "Dept", "displayName": "部局"},
    ]
    fake.add_list(SITE, LIST, columns, [])
    fake.empty_page("/columns$")
    found = run(fake, lambda gateway: gateway.list_columns(SITE, LIST))
    assert found == [("Title", "タイトル"), ("Dept", "部局")]


def test_sent_items_are_searched_past_an_empty_page_before_a_mail_counts_as_unsent(
    fake: FakeGraph,
) -> None:
    """The crash check follows @odata.nextLink: an empty first page is not "not sent"."""
    fake.add_user(MAILBOX)
    prop = "String {00020329-0000-0000-C000-000000000046} Name AutomationIdempotencyKey"
    message = {
        "subject": "第1報",
        "body": {"contentType": "Text", "content": "x"},
        "toRecipients": [{"emailAddress": {"address": "a@pref.example"}}],
        "singleValueExtendedProperties": [{"id": prop, "value": "key-1"}],
    }

    async def sent_then_look(gateway: GraphGateway) -> bool:
        await gateway.send_mail(MAILBOX, message)
        fake.empty_page("/mailFolders/SentItems/messages")
        return await gateway.sent_with_property(MAILBOX, prop, "key-1")

    assert run(fake, sent_then_look) is True


def test_a_channel_post_is_looked_for_past_an_empty_page(fake: FakeGraph) -> None:
    """The channel's newest messages are read past a page of zero results (paging.md)."""
    fake.add_team_channel(TEAM, CHANNEL, "General", DRIVE, "01CHANNELFOLDER")

    async def posted_then_look(gateway: GraphGateway) -> bool:
        await gateway.post_channel_message(TEAM, CHANNEL, {"body": {"content": "整理番号 R-1"}})
        fake.empty_page("/messages$")
        return await gateway.channel_has_message(TEAM, CHANNEL, "整理番号 R-1")

    assert run(fake, posted_then_look) is True


def test_a_download_url_that_has_expired_is_replaced_by_a_fresh_one(fake: FakeGraph) -> None:
    """A refused preauthenticated URL ("valid ... a few minutes") is fetched anew via /content."""
    fake.fail("GET", "^/download/", 401, code="unauthenticated", message="The token expired.")

    async def download(gateway: GraphGateway) -> object:
        return await gateway.download_if_changed(DriveFile(drive_id=DRIVE, item_id="01BOOK"), None)

    assert getattr(run(fake, download), "data", None) == CONTENT
    assert len(fake.requests_to(r"/items/01BOOK/content$")) == 1
    assert fake.authorization_leaks() == []


CLAIMS = '{"access_token":{"nbf":{"essential":true,"value":"1764979200"}}}'


class ChallengedCredential:
    """An azure-identity credential's get_token, recording the claims each call asked for."""

    def __init__(self) -> None:
        self.claims_asked: list[str | None] = []

    def get_token(self, *scopes: str, claims: str | None = None, **options: object) -> object:
        """A token valid for an hour (the fake accepts any as ``t``)."""
        self.claims_asked.append(claims)
        return AccessToken("t", int(time.time()) + 3600)


def test_a_claims_challenge_is_answered_with_a_token_carrying_those_claims(
    fake: FakeGraph,
) -> None:
    """A 401 with claims="..." (CAE) gets one retry with a token asked with those claims."""
    credential = ChallengedCredential()
    encoded = base64.b64encode(CLAIMS.encode()).decode()
    fake.fail("GET", "/items/01BOOK$", 401, claims=encoded)

    async def read(gateway: GraphGateway) -> int:
        response = await gateway.request("GET", f"/drives/{DRIVE}/items/01BOOK", what="read")
        return response.status_code

    tokens = CredentialToken(credential, "https://graph.microsoft.com/.default", enable_cae=True)
    assert run(fake, read, tokens) == 200
    assert credential.claims_asked == [None, CLAIMS]
    assert [c.status for c in fake.requests_to("/items/01BOOK$")] == [401, 200]


def test_a_conditional_access_403_with_claims_is_answered_like_a_401(fake: FakeGraph) -> None:
    """errors.md: Conditional Access may refuse with 403 error=insufficient_claims; same answer."""
    credential = ChallengedCredential()
    encoded = base64.b64encode(CLAIMS.encode()).decode()
    fake.fail("POST", "/messages$", 403, claims=encoded)
    fake.add_team_channel(TEAM, CHANNEL, "General", DRIVE, "01CHANNELFOLDER")

    async def post(gateway: GraphGateway) -> str:
        return await gateway.post_channel_message(TEAM, CHANNEL, {"body": {"content": "第1報"}})

    tokens = CredentialToken(credential, "https://graph.microsoft.com/.default", enable_cae=True)
    assert run(fake, post, tokens)
    assert credential.claims_asked == [None, CLAIMS]
    assert [c.status for c in fake.requests_to("/messages$")] == [403, 201]


def test_an_item_read_by_path_is_addressed_as_driveitem_get_writes_it(fake: FakeGraph) -> None:
    """GET /sites/{s}/drive/root:/{item-path}: no closing colon when nothing follows it."""
    fake.set_site_drive(SITE, DRIVE)

    async def download(gateway: GraphGateway) -> object:
        return await gateway.download_if_changed(
            SiteFile(site_id=SITE, path="General/book.xlsx"), None
        )

    assert getattr(run(fake, download), "data", None) == CONTENT
    assert fake.calls[0].path == f"/v1.0/sites/{SITE}/drive/root:/General/book.xlsx"


def test_a_next_link_back_to_a_page_already_read_ends_the_read_as_transient() -> None:
    """A nextLink pointing back to a page read is refused, not followed for ever."""
    from automation.errors import TransientError  # noqa: PLC0415

    page = f"{GRAPH_BASE_URL}/sites/s/lists/l/items?$skiptoken=1"

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"value": [{"id": "1"}], "@odata.nextLink": page})

    async def main() -> None:
        gateway = GraphGateway(
            GRAPH_BASE_URL, StaticToken("t"), transport=httpx.MockTransport(answer)
        )
        try:
            await gateway.list_items("s", "l", ["Title"])
        finally:
            await gateway.aclose()

    with pytest.raises(TransientError, match="pointed back to a page already read"):
        asyncio.run(main())
