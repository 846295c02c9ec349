"""GraphGateway replayed against cassettes written from the Microsoft Graph reference pages.

Each cassette in ``cassettes/`` names the page it follows. vcrpy sits below kiota's middleware,
so redirects and retries are interactions of their own and ``cassette.all_played`` pins how
many HTTP requests a call makes. Nothing reaches the network (``record_mode="none"``).
"""

from __future__ import annotations

import asyncio
import copy
import io
import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from openpyxl import load_workbook
from vcr.cassette import Cassette
from vcr.request import Request
from vcr.serialize import deserialize
from vcr.serializers import yamlserializer

from automation.backends.graph import gateway as gateway_module
from automation.backends.graph import mail as mail_module
from automation.backends.graph.backend import KEY_PROPERTY, reference_mark
from automation.backends.graph.gateway import Download, GraphGateway, RetryPolicy, StaticToken
from automation.backends.graph.mail import MailSender
from automation.backends.graph.provision import GraphListProvisioner
from automation.config.models import ChannelFile, DriveFile, GraphLimits, SiteFile, SiteList
from automation.errors import AuthError, AutomationError, ConfigError, TransientError
from automation.ports import ExistingColumn, ListColumn
from automation.state import OutboxEntry
from tests.cassette_tools import (
    BASE_URL,
    CASSETTES,
    PLACEHOLDER_DOWNLOAD_URL,
    graph_id,
    make_vcr,
    recording,
    scrub_request,
    scrub_response,
    scrub_text,
    token,
)

T = TypeVar("T")
VCR = make_vcr()

WORKBOOK = DriveFile(
    drive_id=graph_id("GRAPH_TEST_DRIVE_ID"), item_id=graph_id("GRAPH_TEST_ITEM_ID")
)
CHANNEL_WORKBOOK = ChannelFile(
    team_id=graph_id("GRAPH_TEST_TEAM_ID"),
    channel_id=graph_id("GRAPH_TEST_CHANNEL_ID"),
    path="令和8年台風第10号/被害報告.xlsx",
)
SITE = graph_id("GRAPH_TEST_SITE_ID")
LIST = graph_id("GRAPH_TEST_LIST_ID")
MAILBOX = graph_id("GRAPH_TEST_MAILBOX")
STATUS = "_x9032__x6357__x72b6__x6cc1_"  # 進捗状況
DEPARTMENT = "_x90e8__x5c40_"  # 部局
REPORT = "被害状況集計_第1報.xlsx"
REPORT_BYTES = "被害状況集計 第1報 (xlsx bytes)".encode()
ETAG = '"{00000000-0000-0000-0000-00000000E001},3"'
MAIL = {
    "subject": "【令和8年台風第10号】被害状況の報告依頼（第1報）",
    "body": {
        "contentType": "HTML",
        "content": "<p>総務部 ご担当者様</p><p>被害状況の報告をお願いします。</p>",
    },
    "toRecipients": [{"emailAddress": {"address": "soumu@pref.example"}}],
    "singleValueExtendedProperties": [{"id": KEY_PROPERTY, "value": "damage-typhoon10-1-soumu"}],
}


@pytest.fixture(autouse=True)
def retry_delays(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits the retry engine chose; a replay never waits for them."""
    delays: list[float] = []

    async def no_wait(seconds: float) -> None:
        delays.append(seconds)
        if recording():
            await asyncio.sleep(seconds)

    monkeypatch.setattr(gateway_module, "RetryPolicy", partial(RetryPolicy, sleep=no_wait))
    return delays


def new_gateway() -> GraphGateway:
    """A gateway on the real Graph base URL; it builds its own httpx client."""
    return GraphGateway(BASE_URL, StaticToken(token()))


def run(gateway: GraphGateway, call: Callable[[GraphGateway], Awaitable[T]]) -> T:
    """Run ``call`` on ``gateway`` in a fresh event loop, closing the gateway afterwards."""

    async def main() -> T:
        try:
            return await call(gateway)
        finally:
            await gateway.aclose()

    return asyncio.run(main())


@contextmanager
def replay(name: str) -> Iterator[tuple[Cassette, list[Request]]]:
    """Replay cassette ``name``, collecting each request as the gateway sent it (unscrubbed)."""
    sent: list[Request] = []
    seen: set[tuple[Any, ...]] = set()
    live = False  # vcr also runs the hooks on the recorded requests while loading the cassette

    def capture(request: Request) -> Request:
        # vcr runs its hooks on each live request several times, on the request as sent first
        # and then on scrubbed copies: keep the first of each.
        plain = scrub_request(copy.deepcopy(request))
        key = (plain.method, plain.uri, plain.body, tuple(sorted(plain.headers.items())))
        if live and key not in seen:
            seen.add(key)
            sent.append(copy.deepcopy(request))
        return request

    with VCR.use_cassette(name, before_record_request=[capture, scrub_request]) as cassette:
        live = True
        yield cassette, sent


def to(host: str, requests: list[Request]) -> list[Request]:
    """The requests sent to ``host``."""
    return [r for r in requests if r.host == host]


# files ---------------------------------------------------------------------------------------


def test_download_reads_the_item_then_its_preauthenticated_url() -> None:
    """One request to the item (eTag, webUrl, download URL), one to the URL for the bytes."""
    with replay("download_url.yaml") as (cassette, _):
        result = run(new_gateway(), lambda g: g.download_if_changed(WORKBOOK, None))
    assert cassette.all_played
    assert cassette.play_count == 2
    assert result.etag == ETAG
    assert result.data is not None
    assert load_workbook(io.BytesIO(result.data))["総務部"]["A2"].value == "前橋市"


def test_a_download_brings_the_workbooks_web_address_with_it() -> None:
    """The item's webUrl comes in the request that gives the download URL: no third request."""
    with replay("download_url.yaml") as (cassette, _):
        result = run(new_gateway(), lambda g: g.download_if_changed(WORKBOOK, None))
    assert cassette.play_count == 2
    assert result.web_url == (
        "https://contoso.sharepoint.com/sites/bousai/Shared%20Documents/General/"
        "%E8%A2%AB%E5%AE%B3%E5%A0%B1%E5%91%8A.xlsx"
    )


def test_download_url_never_receives_the_authorization_header() -> None:
    """The bearer token goes to Graph only; the preauthenticated URL is asked without it."""
    with replay("download_url.yaml") as (_, sent):
        run(new_gateway(), lambda g: g.download_if_changed(WORKBOOK, None))
    graph = to("graph.microsoft.com", sent)  # the item, with its eTag, webUrl and download URL
    assert [r.headers.get("Authorization") for r in graph] == ["Bearer t"]
    assert [r.headers.get("Authorization") for r in to("contoso.sharepoint.com", sent)] == [None]


def test_an_item_without_a_download_url_is_downloaded_through_content() -> None:
    """No download URL in the item's answer: /content, whose 302 is followed without the token."""
    with replay("download_redirect.yaml") as (cassette, sent):
        result = run(new_gateway(), lambda g: g.download_if_changed(WORKBOOK, None))
    assert cassette.all_played
    assert result.etag == ETAG
    assert result.data is not None
    assert [r.headers.get("Authorization") for r in to("contoso.sharepoint.com", sent)] == [None]


def test_unchanged_workbook_costs_one_304() -> None:
    """With the known eTag, Graph answers 304 and nothing is downloaded."""
    with replay("download_not_modified.yaml") as (cassette, _):
        result = run(new_gateway(), lambda g: g.download_if_changed(WORKBOOK, ETAG))
    assert result == Download(ETAG, None)
    assert cassette.play_count == 1


def test_channel_file_is_read_through_the_channel_folder() -> None:
    """A {team, channel, path} workbook is addressed by path under the channel's filesFolder."""
    with replay("channel_file.yaml") as (_, _sent):
        result = run(new_gateway(), lambda g: g.download_if_changed(CHANNEL_WORKBOOK, None))
    assert result.etag == '"{00000000-0000-0000-0000-00000000E002},1"'
    assert result.data is not None
    assert load_workbook(io.BytesIO(result.data)).sheetnames == ["総務部"]


def test_channel_folder_is_looked_up_once_per_process() -> None:
    """Polling the same channel workbook again asks for its filesFolder no second time."""
    with replay("channel_file.yaml") as (cassette, sent):

        async def poll_twice(g: GraphGateway) -> Download:
            download = await g.download_if_changed(CHANNEL_WORKBOOK, None)
            return await g.download_if_changed(CHANNEL_WORKBOOK, download.etag)

        second = run(new_gateway(), poll_twice)
    assert second.data is None
    assert [r.path.endswith("/filesFolder") for r in sent].count(True) == 1
    assert cassette.all_played


def test_small_upload_is_one_put_next_to_the_workbook() -> None:
    """Up to 4 MB: the parent folder, not yet known, is read; one PUT replaces {parent}:/{name}:."""
    with replay("upload_simple.yaml") as (cassette, _):
        web_url = run(new_gateway(), lambda g: g.upload_next_to(WORKBOOK, REPORT, REPORT_BYTES))
    assert cassette.all_played
    assert web_url.startswith("https://contoso.sharepoint.com/sites/bousai/_layouts/15/Doc.aspx?")


def test_an_upload_after_a_download_reads_no_folder() -> None:
    """The download's answer carries parentReference: the upload after it is the PUT alone."""
    gateway = new_gateway()

    async def download() -> None:
        await gateway.download_if_changed(WORKBOOK, None)

    with replay("download_url.yaml"):
        asyncio.run(download())
    with replay("upload_simple.yaml") as (_, sent):
        run(gateway, lambda g: g.upload_next_to(WORKBOOK, REPORT, REPORT_BYTES))
    assert [r.method for r in sent] == ["PUT"]


def test_large_upload_goes_through_an_upload_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above the simple-upload limit: createUploadSession, ranged PUTs (202, 202), then 201."""
    monkeypatch.setattr(gateway_module, "SIMPLE_UPLOAD_LIMIT", 16)
    monkeypatch.setattr(gateway_module, "UPLOAD_CHUNK", 16)
    data = b"0123456789abcdefghijklmnopqrstuvwxyzABCD"
    with replay("upload_session.yaml") as (cassette, _):
        web_url = run(
            new_gateway(),
            lambda g: g.upload_next_to(
                SiteFile(site_id=SITE, path="被害報告.xlsx"), "進捗一覧_2026上期.xlsx", data
            ),
        )
    assert cassette.all_played
    assert web_url.endswith("/%E9%80%B2%E6%8D%97%E4%B8%80%E8%A6%A7_2026%E4%B8%8A%E6%9C%9F.xlsx")


def test_upload_session_puts_carry_ranges_and_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """The PUTs to uploadUrl name their byte range and send no Authorization header."""
    monkeypatch.setattr(gateway_module, "SIMPLE_UPLOAD_LIMIT", 16)
    monkeypatch.setattr(gateway_module, "UPLOAD_CHUNK", 16)
    data = b"0123456789abcdefghijklmnopqrstuvwxyzABCD"
    with replay("upload_session.yaml") as (_, sent):
        run(
            new_gateway(),
            lambda g: g.upload_next_to(
                SiteFile(site_id=SITE, path="被害報告.xlsx"), "進捗一覧_2026上期.xlsx", data
            ),
        )
    puts = to("contoso.sharepoint.com", sent)
    assert [r.headers.get("Content-Range") for r in puts] == [
        "bytes 0-15/40",
        "bytes 16-31/40",
        "bytes 32-39/40",
    ]
    assert [r.headers.get("Authorization") for r in puts] == [None, None, None]


def test_upload_sizes_follow_the_documented_limits() -> None:
    """Simple upload up to 4 MB; session fragments a multiple of 320 KiB and under 60 MiB."""
    assert gateway_module.SIMPLE_UPLOAD_LIMIT == 4 * 1024 * 1024
    assert gateway_module.UPLOAD_CHUNK % (320 * 1024) == 0
    assert gateway_module.UPLOAD_CHUNK < 60 * 1024 * 1024


def test_upload_next_to_a_workbook_in_a_site_folder_uses_one_path() -> None:
    """A report for {site_id, path: 集計/被害報告.xlsx} goes to root:/集計/{name}:/content."""
    with replay("upload_subfolder.yaml") as (cassette, _):
        web_url = run(
            new_gateway(),
            lambda g: g.upload_next_to(
                SiteFile(site_id=SITE, path="集計/被害報告.xlsx"), REPORT, REPORT_BYTES
            ),
        )
    assert cassette.all_played
    assert web_url.endswith(".xlsx")


def test_upload_next_to_a_workbook_in_a_channel_folder_uses_one_path() -> None:
    """A report for a channel workbook in a sub-folder goes to items/{folder}:/{sub}/{name}:."""
    with replay("upload_channel_subfolder.yaml") as (cassette, _):
        web_url = run(
            new_gateway(), lambda g: g.upload_next_to(CHANNEL_WORKBOOK, REPORT, REPORT_BYTES)
        )
    assert cassette.all_played
    assert web_url.endswith(".xlsx")


# lists ---------------------------------------------------------------------------------------


def test_list_columns_pair_internal_and_display_names() -> None:
    """Japanese display names come with their _xHHHH_ internal names."""
    with replay("list_columns.yaml") as (_, _sent):
        columns = run(new_gateway(), lambda g: g.list_columns(SITE, LIST))
    assert (STATUS, "進捗状況") in columns
    assert ("_x5bfe__x8c61__x671f__x9593_", "対象期間") in columns


def test_list_items_follow_the_absolute_next_link() -> None:
    """Items of both pages come back, in order; the nextLink is requested as given."""
    with replay("list_items_paged.yaml") as (cassette, _):
        items = run(
            new_gateway(), lambda g: g.list_items(SITE, LIST, ["Title", DEPARTMENT, STATUS])
        )
    assert cassette.all_played
    assert [item["id"] for item in items] == ["1", "2", "3"]


def test_list_items_carry_only_the_selected_fields() -> None:
    """expand=fields(select=...) returns the selected columns (and the item's etag) only."""
    with replay("list_items_paged.yaml") as (_, _sent):
        items = run(
            new_gateway(), lambda g: g.list_items(SITE, LIST, ["Title", DEPARTMENT, STATUS])
        )
    assert {frozenset(item["fields"]) - {"@odata.etag"} for item in items} == {
        frozenset({"Title", DEPARTMENT, STATUS})
    }
    assert [item["fields"][STATUS] for item in items] == ["順調", "やや遅れ", "遅れ"]


# mail and Teams ------------------------------------------------------------------------------


def test_send_mail_is_accepted() -> None:
    """sendMail posts {message, saveToSentItems} and Graph answers 202 with no body."""
    with replay("send_mail.yaml") as (cassette, _):
        run(new_gateway(), lambda g: g.send_mail(MAILBOX, MAIL))
    assert cassette.all_played


def test_sent_items_query_finds_the_idempotency_key() -> None:
    """A message in Sent Items carrying the key's extended property means it was sent."""
    with replay("sent_items_found.yaml") as (_, _sent):
        found = run(
            new_gateway(),
            lambda g: g.sent_with_property(MAILBOX, KEY_PROPERTY, "damage-typhoon10-1-soumu"),
        )
    assert found is True


def test_sent_items_query_without_a_match_is_false() -> None:
    """No message with the key in Sent Items means the mail never left."""
    with replay("sent_items_missing.yaml") as (_, _sent):
        found = run(
            new_gateway(),
            lambda g: g.sent_with_property(MAILBOX, KEY_PROPERTY, "damage-typhoon10-1-kikaku"),
        )
    assert found is False


def test_channel_post_returns_the_message_id() -> None:
    """A channel message is created (201) and its id is returned."""
    payload = {
        "subject": "【令和8年台風第10号】被害状況集計 第1報",
        "body": {"contentType": "html", "content": "<p>第1報を掲載しました。</p>"},
    }
    with replay("channel_message.yaml") as (_, _sent):
        message_id = run(
            new_gateway(),
            lambda g: g.post_channel_message(
                graph_id("GRAPH_TEST_TEAM_ID"), graph_id("GRAPH_TEST_CHANNEL_ID"), payload
            ),
        )
    assert message_id == "1791001234567"


def test_a_lost_channel_post_is_found_by_its_reference_among_the_newest() -> None:
    """Reconciling a channel post reads the 50 newest root messages once and finds its 整理番号."""
    team, channel = graph_id("GRAPH_TEST_TEAM_ID"), graph_id("GRAPH_TEST_CHANNEL_ID")
    mark = reference_mark("damage:report:1:abc")
    with replay("channel_messages_recent.yaml") as (cassette, _):
        found = run(new_gateway(), lambda g: g.channel_has_message(team, channel, mark))
    assert (found, cassette.all_played) == (True, True)


def test_a_large_mail_is_a_draft_with_an_upload_session_then_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Over 3 MB: look for a leftover draft, create one with the key, upload ranges, send."""
    monkeypatch.setattr(mail_module, "INLINE_LIMIT", 16)
    monkeypatch.setattr(mail_module, "ATTACHMENT_CHUNK", 16)
    entry = OutboxEntry(
        key="damage-typhoon10-3-report",
        flow="damage",
        run_id=1,
        kind="report",
        audience="team",
        channel="mail",
        recipient="bousai@pref.example",
        recipient_label="bousai@pref.example",
        subject="【令和8年台風第10号】被害状況 第3報",
        bodies={"html": "<p>第3報です。</p>"},
        attachments=("被害状況集計_第3報.xlsx",),
        digest="0" * 64,
    )
    data = b"0123456789abcdefghijklmnopqrstuvwxyzABCD"
    with replay("mail_large_attachment.yaml") as (cassette, sent):
        run(
            new_gateway(),
            lambda g: MailSender(g, MAILBOX, 35).send(entry, {entry.attachments[0]: data}),
        )
    assert cassette.all_played
    puts = to("outlook.office.com", sent)
    assert [r.headers.get("Content-Range") for r in puts] == [
        "bytes 0-15/40",
        "bytes 16-31/40",
        "bytes 32-39/40",
    ]
    assert [r.headers.get("Authorization") for r in puts] == [None, None, None]


def test_webhook_post_is_accepted_without_a_token() -> None:
    """The card goes to the workflow URL in a message envelope, with no Authorization header."""
    card = {
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [{"type": "TextBlock", "text": "被害状況集計 第1報を掲載しました", "wrap": True}],
    }
    with replay("webhook.yaml") as (cassette, sent):
        run(new_gateway(), lambda g: g.post_webhook(graph_id("GRAPH_TEST_WEBHOOK_URL"), card))
    assert cassette.all_played
    assert [r.headers.get("Authorization") for r in sent] == [None]


# throttling and errors -----------------------------------------------------------------------


def test_throttled_read_waits_retry_after_and_succeeds(retry_delays: list[float]) -> None:
    """A 429 on a GET is retried by the retry engine after the Retry-After the response gave."""
    gateway = new_gateway()
    with replay("throttled_get.yaml") as (cassette, _):
        columns = run(gateway, lambda g: g.list_columns(SITE, LIST))
    assert (STATUS, "進捗状況") in columns
    assert retry_delays[0] == 7
    assert (cassette.play_count, gateway.requests) == (2, 2)


def test_retried_read_says_which_attempt_it_is() -> None:
    """The retried request carries Retry-Attempt: 1."""
    with replay("throttled_get.yaml") as (_, sent):
        run(new_gateway(), lambda g: g.list_columns(SITE, LIST))
    assert [r.headers.get("Retry-Attempt") for r in sent] == [None, "1"]


def test_throttled_send_mail_is_not_retried() -> None:
    """A 429 on sendMail surfaces after one request: only the outbox may send again."""
    gateway = new_gateway()
    with (
        replay("send_mail_throttled.yaml") as (cassette, _),
        pytest.raises(TransientError) as raised,
    ):
        run(gateway, lambda g: g.send_mail(MAILBOX, MAIL))
    assert (gateway.requests, cassette.play_count) == (1, 1)
    assert "HTTP 429" in raised.value.message
    assert "Graph asked to wait 30 s." in raised.value.message


def test_unavailable_read_is_retried_up_to_max_retries() -> None:
    """A read that stays 503 is sent 1 + max_retries times in all, each attempt once on the wire."""
    gateway = new_gateway()
    with replay("error_503.yaml") as (cassette, _), pytest.raises(TransientError):
        run(gateway, lambda g: g.list_items(SITE, LIST, ["Title", STATUS]))
    assert cassette.all_played
    attempts = 1 + GraphLimits().max_retries
    assert (gateway.requests, cassette.play_count) == (attempts, attempts)


@pytest.mark.parametrize(
    ("cassette_name", "call", "kind", "phrases"),
    [
        pytest.param(
            "error_401.yaml",
            lambda g: g.list_columns(SITE, LIST),
            AuthError,
            ["the access token was rejected", "InvalidAuthenticationToken"],
            id="401",
        ),
        pytest.param(
            "error_403.yaml",
            lambda g: g.download_if_changed(WORKBOOK, None),
            AuthError,
            ["access denied", "accessDenied", "Sites.Selected (read)"],
            id="403",
        ),
        pytest.param(
            "error_404.yaml",
            lambda g: g.download_if_changed(WORKBOOK, None),
            ConfigError,
            ["not found", "itemNotFound"],
            id="404",
        ),
        pytest.param(
            "error_423.yaml",
            lambda g: g.upload_next_to(
                SiteFile(site_id=SITE, path="被害報告.xlsx"), REPORT, REPORT_BYTES
            ),
            TransientError,
            ["locked", "resourceLocked"],
            id="423",
        ),
        pytest.param(
            "error_503.yaml",
            lambda g: g.list_items(SITE, LIST, ["Title", STATUS]),
            TransientError,
            ["HTTP 503", "serviceNotAvailable", "Graph asked to wait 5 s."],
            id="503",
        ),
    ],
)
def test_graph_errors_map_to_one_operator_action(
    cassette_name: str,
    call: Callable[[GraphGateway], Awaitable[object]],
    kind: type[AutomationError],
    phrases: list[str],
) -> None:
    """Each documented error body becomes the error class that says what to do, quoting Graph."""
    with replay(cassette_name) as (_, _sent), pytest.raises(AutomationError) as raised:
        run(new_gateway(), call)
    assert type(raised.value) is kind
    assert [p for p in phrases if p not in raised.value.message] == []


# provisioning the progress list --------------------------------------------------------------

PERIOD = ListColumn("対象期間", "choice", True, True, ("令和8年度上期",), extra_choices_ok=True)
AMOUNT = ListColumn("予算要求額", "number", minimum=0)


def test_a_list_is_created_with_its_columns_in_one_request() -> None:
    """list-create.md: one POST with the columns and genericList; the new list's id comes back."""
    provisioner = GraphListProvisioner(new_gateway())
    ref = SiteList(site_id=SITE, list_id="DX進捗管理")
    with replay("list_create.yaml") as (cassette, _):
        where = run(provisioner.gateway, lambda g: provisioner.create_list(ref, [PERIOD, AMOUNT]))
    assert cassette.all_played
    assert where == (
        f"list id {LIST} at https://contoso.sharepoint.com/sites/dx/Lists/"
        "DX%E9%80%B2%E6%8D%97%E7%AE%A1%E7%90%86"
    )


def test_a_missing_column_is_added_to_an_existing_list() -> None:
    """list-post-columns.md: one POST of the columnDefinition, answered 201."""
    provisioner = GraphListProvisioner(new_gateway())
    ref = SiteList(site_id=SITE, list_id=LIST)
    with replay("list_column_create.yaml") as (cassette, _):
        run(provisioner.gateway, lambda g: provisioner.add_columns(ref, [AMOUNT]))
    assert cassette.all_played


def test_a_new_period_is_added_to_the_choices_by_one_patch() -> None:
    """columndefinition-update.md: one PATCH of the choice facet, the old choices kept."""
    provisioner = GraphListProvisioner(new_gateway())
    ref = SiteList(site_id=SITE, list_id=LIST)
    column = ExistingColumn(
        "対象期間", "choice", ("令和8年度上期",), True, "00000000-0000-0000-0000-00000000d002"
    )
    choices = ["令和8年度上期", "令和8年度下期"]
    with replay("list_column_update.yaml") as (cassette, _):
        run(provisioner.gateway, lambda g: provisioner.set_choices(ref, column, choices))
    assert cassette.all_played


def test_creating_a_list_without_the_manage_role_names_it() -> None:
    """A 403 on list creation is an AuthError naming the role to grant, sent once."""
    provisioner = GraphListProvisioner(new_gateway())
    ref = SiteList(site_id=SITE, list_id="DX進捗管理")
    with replay("list_create_forbidden.yaml") as (cassette, _), pytest.raises(AuthError) as raised:
        run(provisioner.gateway, lambda g: provisioner.create_list(ref, []))
    assert cassette.play_count == 1
    assert "Sites.Selected (manage) on the site, to create a list and its columns" in (
        raised.value.message
    )


# the cassettes themselves --------------------------------------------------------------------


def cassette_names() -> list[str]:
    """Every cassette file."""
    return sorted(p.name for p in CASSETTES.glob("*.yaml"))


@pytest.mark.parametrize("name", cassette_names())
def test_cassette_names_its_reference_page_and_loads(name: str) -> None:
    """Each cassette opens with the page it follows, and vcr loads it despite the comment."""
    assert (CASSETTES / name).read_text(encoding="utf-8").startswith("# Follows: ")
    with VCR.use_cassette(name) as cassette:
        assert len(cassette.data) >= 1


def _body(value: bytes | str | None) -> object:
    raw = value.encode() if isinstance(value, str) else value
    try:
        return json.loads(raw) if raw else raw
    except ValueError:
        return raw


@pytest.mark.parametrize("name", cassette_names())
def test_cassette_reads_like_a_scrubbed_recording(name: str) -> None:
    """No Authorization header, and every value is already a placeholder the scrubbers keep."""
    # Read the file itself: vcr runs the hooks on a cassette's interactions as it loads them.
    text = (CASSETTES / name).read_text(encoding="utf-8")
    for request, response in zip(*deserialize(text, yamlserializer), strict=True):
        assert "Authorization" not in request.headers
        again = scrub_request(copy.deepcopy(request))
        assert (again.uri, again.body) == (request.uri, request.body or None)
        assert dict(again.headers) == dict(request.headers)
        scrubbed = scrub_response(copy.deepcopy(response))
        assert scrubbed["headers"] == response["headers"]
        assert _body(scrubbed["body"]["string"]) == _body(response["body"]["string"])


# scrubbing hooks -----------------------------------------------------------------------------

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def test_scrub_request_drops_the_token_and_telemetry() -> None:
    """Authorization and kiota's per-run headers never reach a cassette."""
    request = Request(
        "GET",
        "https://graph.microsoft.com/v1.0/me",
        None,
        {"Authorization": "Bearer eyJ0eXAi.secret", "client-request-id": TENANT, "Accept": "*/*"},
    )
    assert dict(scrub_request(request).headers) == {"Accept": "*/*"}


def test_scrub_request_hides_the_webhook_signature() -> None:
    """A workflow URL keeps its shape but not its sig= SAS signature."""
    uri = (
        "https://prod-07.japaneast.logic.azure.com:443/workflows/8f1c2a3b4d5e6f708192a3b4c5d6e7f8"
        "/triggers/manual/paths/invoke?api-version=2016-06-01&sv=1.0&sig=Abc123-_xyz"
    )
    scrubbed = scrub_request(Request("POST", uri, b"{}", {})).uri
    assert "Abc123" not in scrubbed
    assert "8f1c2a3b4d5e6f708192a3b4c5d6e7f8" not in scrubbed
    assert scrubbed.endswith("&sig=REDACTED")


def test_scrub_response_hides_preauthenticated_urls() -> None:
    """The 302 Location and @microsoft.graph.downloadUrl lose their tempauth token."""
    download = (
        "https://pref-gunma.sharepoint.com/sites/bousai/_layouts/15/download.aspx"
        "?UniqueId=x&tempauth=v1.eyJhbGciOi"
    )
    response = {
        "status": {"code": 302, "message": "Found"},
        "headers": {"Location": [download]},
        "body": {"string": json.dumps({"@microsoft.graph.downloadUrl": download}).encode()},
    }
    scrubbed = scrub_response(response)
    assert "eyJhbGciOi" not in json.dumps(scrubbed["headers"])
    assert "pref-gunma" not in json.dumps(scrubbed["headers"])
    assert json.loads(scrubbed["body"]["string"]) == {
        "@microsoft.graph.downloadUrl": PLACEHOLDER_DOWNLOAD_URL
    }


def test_scrub_response_hides_tenant_ids_people_and_addresses() -> None:
    """Tenant GUIDs, user principal names and display names become stable placeholders."""
    body = {
        "webUrl": f"https://teams.microsoft.com/l/message/x?tenantId={TENANT}",
        "from": {"user": {"id": TENANT, "displayName": "山田 太郎", "userIdentityType": "aadUser"}},
        "createdBy": {"user": {"email": "taro.yamada@pref.gunma.lg.jp"}},
    }
    response = {"status": {}, "headers": {}, "body": {"string": json.dumps(body).encode()}}
    text = scrub_response(copy.deepcopy(response))["body"]["string"].decode()
    assert [s for s in (TENANT, "山田", "taro.yamada", "gunma") if s in text] == []
    assert text == scrub_response(copy.deepcopy(response))["body"]["string"].decode()


def test_scrub_keeps_public_constants() -> None:
    """PS_PUBLIC_STRINGS, Teams thread ids and OData annotations are not taken for tenant data."""
    text = (
        f"'String {{00020329-0000-0000-C000-000000000046}} Name X' 19:{'0' * 28}a002@thread.tacv2"
        ' "fields@odata.context": "item@microsoft.graph.conflictBehavior"'
    )
    assert scrub_text(text) == text


def test_scrub_maps_real_ids_given_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """When recording, each GRAPH_TEST_* id is replaced by its placeholder, also URL-quoted."""
    monkeypatch.setenv("GRAPH_TEST_DRIVE_ID", "b!RealDriveIdOfTheTenant")
    uri = "https://graph.microsoft.com/v1.0/drives/b%21RealDriveIdOfTheTenant/items/01X/content"
    assert scrub_text(uri) == (
        "https://graph.microsoft.com/v1.0/drives/b%21bousai-fake-drive-0001/items/01X/content"
    )


def test_scrubbing_twice_changes_nothing() -> None:
    """vcr scrubs each live request before matching, so scrubbing must be idempotent."""
    text = (
        f"{TENANT} a.b@contoso.com https://x.sharepoint.com/?tempauth=abc&sig=def "
        f"19:{'ab' * 16}@thread.skype"
    )
    assert scrub_text(scrub_text(text)) == scrub_text(text)


def test_a_recording_is_scrubbed_and_replays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recording a tenant (faked in process) writes no secret or tenant data, and replays."""
    monkeypatch.setenv("GRAPH_TEST_DRIVE_ID", "b!RealDriveOfPrefGunma")
    location = (
        "https://pref-gunma.sharepoint.com/sites/bousai/_layouts/15/download.aspx"
        f"?UniqueId={TENANT}&tempauth=v1.eyJhbGciOi"
    )

    def tenant(request: httpx.Request) -> httpx.Response:
        if request.url.host != "graph.microsoft.com":
            return httpx.Response(200, content=b"PK\x03\x04", headers={"ETag": f'"{{{TENANT}}},1"'})
        if request.url.path.endswith("/content"):
            return httpx.Response(302, headers={"Location": location})
        web_url = "https://pref-gunma.sharepoint.com/sites/bousai/Shared%20Documents/book.xlsx"
        return httpx.Response(200, json={"eTag": f'"{{{TENANT}}},1"', "webUrl": web_url})

    cassette = tmp_path / "recorded.yaml"
    real_ref = DriveFile(drive_id="b!RealDriveOfPrefGunma", item_id="01REALITEM")
    recorder = GraphGateway(
        BASE_URL, StaticToken("real.jwt"), transport=httpx.MockTransport(tenant)
    )
    with make_vcr("all").use_cassette(str(cassette)):
        run(recorder, lambda g: g.download_if_changed(real_ref, None))
    text = cassette.read_text(encoding="utf-8")
    leaks = ("real.jwt", "eyJhbGciOi", "pref-gunma", TENANT, "RealDriveOfPrefGunma")
    assert [leak for leak in leaks if leak in text] == []
    placeholder_ref = DriveFile(drive_id=graph_id("GRAPH_TEST_DRIVE_ID"), item_id="01REALITEM")
    monkeypatch.delenv("GRAPH_TEST_DRIVE_ID")
    with make_vcr("none").use_cassette(str(cassette)) as replayed:
        result = run(new_gateway(), lambda g: g.download_if_changed(placeholder_ref, None))
    assert (result.data, replayed.all_played) == (b"PK\x03\x04", True)


def test_record_mode_is_none_unless_an_admin_records(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without GRAPH_RECORD nothing is recorded; GRAPH_RECORD=once records missing cassettes."""
    monkeypatch.delenv("GRAPH_RECORD", raising=False)
    assert make_vcr().record_mode == "none"
    monkeypatch.setenv("GRAPH_RECORD", "once")
    assert make_vcr().record_mode == "once"
