"""The fake Graph answers with the wire shapes of the Microsoft Graph reference pages."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest

from tests.fake_graph import WWW_AUTHENTICATE, XLSX_MIME, FakeGraph

T = TypeVar("T")

DRIVE = "b!fake-drive-0001"
FOLDER = "01FAKEGENERALFOLDER"
BOOK = "01FAKEBOOK"
BOOK_URL = f"/drives/{DRIVE}/items/{BOOK}"
TEAM = "00000000-0000-0000-0000-00000000a001"
CHANNEL = "19:0000000000000000000000000000a002@thread.tacv2"
SITE = "contoso.sharepoint.com,00000000-0000-0000-0000-00000000b001,00000000-0000-0000-0000-00000000b002"
LIST = "00000000-0000-0000-0000-00000000c001"
ITEMS_URL = f"/sites/{SITE}/lists/{LIST}/items"
DEPT = "_x90e8__x5c40_"  # 部局
STATUS = "_x9032__x6357__x72b6__x6cc1_"  # 進捗状況
MAILBOX = "bousai-honbu@pref.example"
KEY_PROPERTY = "String {00020329-0000-0000-C000-000000000046} Name AutomationIdempotencyKey"
CARD = {"type": "AdaptiveCard", "version": "1.4", "body": [{"type": "TextBlock", "text": "第1報"}]}


def seeded(**options: Any) -> FakeGraph:
    """A fake with a channel, a workbook, a five-item list and a mailbox."""
    fake = FakeGraph(**options)
    fake.add_team_channel(TEAM, CHANNEL, "General", DRIVE, FOLDER)
    fake.add_drive_item(DRIVE, BOOK, "被害報告.xlsx", b"PK-v1")
    columns = [
        {"name": "Title", "displayName": "タイトル", "indexed": True, "type": "text"},
        {"name": DEPT, "displayName": "部局", "indexed": True, "type": "text"},
        {"name": STATUS, "displayName": "進捗状況", "indexed": False, "type": "choice"},
    ]
    items = [
        {
            "Title": f"事業{n}",
            DEPT: "総務部" if n % 2 else "企画部",
            STATUS: "順調" if n < 4 else "遅れ",
        }
        for n in range(1, 6)
    ]
    fake.add_list(SITE, LIST, columns, items)
    fake.add_user(MAILBOX)
    return fake


@pytest.fixture
def fake() -> FakeGraph:
    """A seeded fake Graph."""
    return seeded()


def run(fake: FakeGraph, scenario: Callable[[httpx.AsyncClient], Awaitable[T]], **client: Any) -> T:
    """Run an async scenario against the fake with an in-process client."""

    async def main() -> T:
        async with fake.client(**client) as http:
            return await scenario(http)

    return asyncio.run(main())


def send(fake: FakeGraph, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request through an authenticated in-process client."""
    return run(fake, lambda http: http.request(method, url, **kwargs))


def get_pages(fake: FakeGraph, url: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Every page of a collection, following @odata.nextLink as given."""

    async def scenario(http: httpx.AsyncClient) -> list[dict[str, Any]]:
        pages = [(await http.get(url, **kwargs)).json()]
        while "@odata.nextLink" in pages[-1]:
            pages.append((await http.get(pages[-1]["@odata.nextLink"])).json())
        return pages

    return run(fake, scenario)


def mail(**extra: Any) -> dict[str, Any]:
    """A sendMail body carrying an idempotency key."""
    message = {
        "subject": "被害状況の報告依頼",
        "body": {"contentType": "HTML", "content": "<p>報告をお願いします。</p>"},
        "toRecipients": [{"emailAddress": {"address": "soumu@pref.example"}}],
        "singleValueExtendedProperties": [{"id": KEY_PROPERTY, "value": "damage-1-soumu"}],
    }
    return {"message": message, **extra}


def sent_items_filter(value: str) -> dict[str, str]:
    """The documented Any() filter on the idempotency key."""
    clause = f"ep/id eq '{KEY_PROPERTY}' and ep/value eq '{value}'"
    return {"$filter": f"singleValueExtendedProperties/Any(ep: {clause})", "$select": "id"}


# ---- drive items ----------------------------------------------------------------------------


def test_drive_item_carries_documented_fields(fake: FakeGraph) -> None:
    """GET /drives/{d}/items/{i} returns ids, tags, size, webUrl, parentReference and file."""
    item = send(fake, "GET", BOOK_URL).json()
    assert item["id"] == BOOK
    assert item["name"] == "被害報告.xlsx"
    assert item["eTag"].startswith('"{') and item["cTag"].startswith('"c:{')
    assert item["size"] == 5
    assert item["webUrl"].startswith("https://")
    assert item["lastModifiedDateTime"].endswith("Z")
    assert item["file"] == {"mimeType": XLSX_MIME}
    assert item["parentReference"] == {
        "driveType": "documentLibrary",
        "driveId": DRIVE,
        "id": FOLDER,
        "name": "General",
        "path": f"/drives/{DRIVE}/root:/General",
    }


def test_a_selected_parent_reference_comes_with_the_other_selected_properties(
    fake: FakeGraph,
) -> None:
    """select=eTag,...,parentReference gives those properties only, the folder's driveId and id."""
    params = {"select": "eTag,webUrl,@microsoft.graph.downloadUrl,parentReference"}
    item = send(fake, "GET", BOOK_URL, params=params).json()
    assert sorted(item) == [
        "@microsoft.graph.downloadUrl",
        "@odata.context",
        "@odata.etag",
        "eTag",
        "parentReference",
        "webUrl",
    ]
    assert (item["parentReference"]["driveId"], item["parentReference"]["id"]) == (DRIVE, FOLDER)


@pytest.mark.parametrize("closing", ["", ":"])
def test_drive_item_is_found_by_path(fake: FakeGraph, closing: str) -> None:
    """GET /drives/{d}/root:/{path} finds the item with or without the closing colon."""
    response = send(fake, "GET", f"/drives/{DRIVE}/root:/General/被害報告.xlsx{closing}")
    assert response.status_code == 200
    assert response.json()["id"] == BOOK


def test_missing_item_is_item_not_found(fake: FakeGraph) -> None:
    """An unknown item id is a 404 with code itemNotFound."""
    response = send(fake, "GET", f"/drives/{DRIVE}/items/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "itemNotFound"


def test_content_redirects_to_another_origin(fake: FakeGraph) -> None:
    """GET .../content is a 302 to a preauthenticated URL on another origin."""
    response = send(fake, "GET", f"{BOOK_URL}/content")
    assert response.status_code == 302
    location = httpx.URL(response.headers["location"])
    assert location.host == "download.fake-sharepoint.test"
    assert "tempauth" in location.params


def test_following_the_redirect_downloads_the_bytes_without_authorization(
    fake: FakeGraph,
) -> None:
    """Following the 302 serves the bytes, and a correct client sends no Authorization there."""
    response = send(fake, "GET", f"{BOOK_URL}/content", follow_redirects=True)
    assert response.status_code == 200
    assert response.content == b"PK-v1"
    assert len(fake.downloads) == 1
    assert fake.authorization_leaks() == []


def test_a_download_carrying_authorization_is_recorded(fake: FakeGraph) -> None:
    """A client that re-sends its Bearer token to the download URL shows up as a leak."""

    async def scenario(http: httpx.AsyncClient) -> httpx.Response:
        redirect = await http.get(f"{BOOK_URL}/content")
        return await http.get(redirect.headers["location"])

    assert run(fake, scenario).content == b"PK-v1"
    assert [c.path.split("/")[1] for c in fake.authorization_leaks()] == ["download"]


def test_content_with_the_current_etag_is_not_modified(fake: FakeGraph) -> None:
    """If-None-Match with the current eTag gives 304 with no body."""
    etag = send(fake, "GET", BOOK_URL).json()["eTag"]
    response = send(fake, "GET", f"{BOOK_URL}/content", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.content == b""


def test_ctag_still_matches_after_a_metadata_change(fake: FakeGraph) -> None:
    """A metadata-only change keeps the cTag, so If-None-Match with it still gives 304."""
    ctag = send(fake, "GET", BOOK_URL).json()["cTag"]
    fake.touch(DRIVE, BOOK)
    response = send(fake, "GET", f"{BOOK_URL}/content", headers={"If-None-Match": ctag})
    assert response.status_code == 304


def test_new_content_changes_both_tags(fake: FakeGraph) -> None:
    """set_content changes eTag and cTag, and the old eTag no longer gives 304."""
    before = send(fake, "GET", BOOK_URL).json()
    fake.set_content(DRIVE, BOOK, b"PK-v2")
    after = send(fake, "GET", BOOK_URL).json()
    assert (after["eTag"], after["cTag"]) != (before["eTag"], before["cTag"])
    response = send(fake, "GET", f"{BOOK_URL}/content", headers={"If-None-Match": before["eTag"]})
    assert response.status_code == 302


def test_files_folder_names_the_channel_drive(fake: FakeGraph) -> None:
    """GET /teams/{t}/channels/{c}/filesFolder is the folder driveItem with its driveId."""
    folder = send(fake, "GET", f"/teams/{TEAM}/channels/{CHANNEL}/filesFolder").json()
    assert folder["id"] == FOLDER
    assert folder["name"] == "General"
    assert folder["parentReference"]["driveId"] == DRIVE
    assert folder["folder"] == {"childCount": 1}


# ---- uploads --------------------------------------------------------------------------------


def test_simple_upload_creates_then_replaces(fake: FakeGraph) -> None:
    """PUT .../{parent}:/{name}:/content is 201 for a new file and 200 when replacing it."""
    url = f"/drives/{DRIVE}/items/{FOLDER}:/集計.xlsx:/content"
    created = send(fake, "PUT", url, content=b"one")
    replaced = send(
        fake, "PUT", url, content=b"two", params={"@microsoft.graph.conflictBehavior": "replace"}
    )
    assert (created.status_code, replaced.status_code) == (201, 200)
    assert created.json()["id"] == replaced.json()["id"]
    assert replaced.json()["size"] == 3
    stored = fake.file_at(DRIVE, "/General/集計.xlsx")
    assert stored is not None and stored.content == b"two"


def test_site_drive_root_path_upload_creates_folders(fake: FakeGraph) -> None:
    """PUT /sites/{s}/drive/root:/{folder}/{name}:/content lands in that folder of the site drive."""
    fake.set_site_drive(SITE, DRIVE)
    url = f"/sites/{SITE}/drive/root:/集計/第1報.xlsx:/content"
    response = send(fake, "PUT", url, content=b"report")
    assert response.status_code == 201
    assert response.json()["parentReference"]["path"] == f"/drives/{DRIVE}/root:/集計"
    assert fake.file_at(DRIVE, "/集計/第1報.xlsx") is not None


def test_conflict_behavior_fail_on_an_existing_name_is_409(fake: FakeGraph) -> None:
    """conflictBehavior=fail over an existing file is 409 nameAlreadyExists."""
    url = f"/drives/{DRIVE}/items/{FOLDER}:/被害報告.xlsx:/content"
    params = {"@microsoft.graph.conflictBehavior": "fail"}
    response = send(fake, "PUT", url, content=b"x", params=params)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "nameAlreadyExists"


def test_conflict_behavior_rename_keeps_both_files(fake: FakeGraph) -> None:
    """conflictBehavior=rename stores the upload under a new name."""
    url = f"/drives/{DRIVE}/items/{FOLDER}:/被害報告.xlsx:/content"
    params = {"@microsoft.graph.conflictBehavior": "rename"}
    response = send(fake, "PUT", url, content=b"x", params=params)
    assert response.status_code == 201
    assert response.json()["name"] == "被害報告 1.xlsx"


def test_upload_session_takes_chunks_until_the_file_is_complete(fake: FakeGraph) -> None:
    """createUploadSession, then Content-Range PUTs: 202 with nextExpectedRanges, then 201."""
    fake.upload_fragment_unit = 10  # the 10-byte first range stands for a 320 KiB one

    async def scenario(http: httpx.AsyncClient) -> list[httpx.Response]:
        url = f"/drives/{DRIVE}/items/{FOLDER}:/大きい.xlsx:/createUploadSession"
        body = {"item": {"@microsoft.graph.conflictBehavior": "replace"}}
        session = await http.post(url, json=body)
        upload_url = session.json()["uploadUrl"]
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app)) as bare:
            first = await bare.put(
                upload_url, content=b"0123456789", headers={"Content-Range": "bytes 0-9/16"}
            )
            last = await bare.put(
                upload_url, content=b"abcdef", headers={"Content-Range": "bytes 10-15/16"}
            )
        return [session, first, last]

    session, first, last = run(fake, scenario)
    assert session.status_code == 200
    assert session.json()["nextExpectedRanges"] == ["0-"]
    assert not session.json()["uploadUrl"].startswith("https://graph.microsoft.com")
    assert (first.status_code, first.json()["nextExpectedRanges"]) == (202, ["10-"])
    assert last.status_code == 201
    assert last.json()["size"] == 16
    assert fake.authorization_leaks() == []


# ---- lists ----------------------------------------------------------------------------------


def test_list_paging_follows_absolute_next_links_to_the_end() -> None:
    """With a server cap of 2 and $top=3, nextLinks are absolute and reach every item."""
    fake = seeded(list_page_cap=2)
    pages = get_pages(fake, ITEMS_URL, params={"expand": "fields(select=Title)", "$top": "3"})
    assert [len(p["value"]) for p in pages] == [2, 2, 1]
    links = [p["@odata.nextLink"] for p in pages[:-1]]
    assert all(link.startswith(f"https://graph.microsoft.com/v1.0/sites/{SITE}/") for link in links)
    assert all("$skiptoken=" in link for link in links)
    assert [i["id"] for p in pages for i in p["value"]] == ["1", "2", "3", "4", "5"]


def test_page_size_is_the_server_cap_when_top_exceeds_it() -> None:
    """A $top above the server cap gives pages of the cap, never of $top."""
    fake = seeded(list_page_cap=2)
    page = send(fake, "GET", ITEMS_URL, params={"$top": "3"}).json()
    assert len(page["value"]) == 2


def test_expand_with_select_returns_only_the_selected_fields(fake: FakeGraph) -> None:
    """expand=fields(select=A,B) gives fields with A, B, @odata.etag and id only."""
    params = {"expand": f"fields(select=Title,{STATUS})"}
    item = send(fake, "GET", ITEMS_URL, params=params).json()["value"][0]
    assert set(item["fields"]) == {"@odata.etag", "id", "Title", STATUS}
    assert item["fields"][STATUS] == "順調"


def lookup_list() -> FakeGraph:
    """A list whose department is a lookup column and whose tags are a multi-choice column."""
    fake = FakeGraph()
    columns = [
        {"name": "Title", "displayName": "タイトル", "type": "text"},
        {"name": "Dept", "displayName": "部局", "type": "lookup"},
        {"name": "Tags", "displayName": "分野", "type": "choice"},
    ]
    item = {
        "Title": "電子申請",
        "Dept": "総務部",
        "DeptLookupId": "3",
        "Tags@odata.type": "Collection(Edm.String)",
        "Tags": ["行政", "防災"],
    }
    fake.add_list(SITE, LIST, columns, [item])
    return fake


def test_a_lookup_column_gives_only_its_lookup_id_unless_selected() -> None:
    """Without select, a lookup field comes as XLookupId alone (resources/fieldvalueset.md)."""
    fields = send(lookup_list(), "GET", ITEMS_URL, params={"expand": "fields"}).json()
    assert (
        "Dept" in fields["value"][0]["fields"],
        fields["value"][0]["fields"]["DeptLookupId"],
    ) == (
        False,
        "3",
    )


def test_a_selected_lookup_column_gives_its_value_and_lookup_id() -> None:
    """fields(select=X) on a lookup column returns the looked-up value and XLookupId."""
    params = {"expand": "fields(select=Dept)"}
    fields = send(lookup_list(), "GET", ITEMS_URL, params=params).json()["value"][0]["fields"]
    assert (fields["Dept"], fields["DeptLookupId"]) == ("総務部", "3")


def test_a_selected_multi_choice_field_keeps_its_type_annotation() -> None:
    """A multi-choice field comes as an array with its X@odata.type annotation."""
    params = {"expand": "fields(select=Tags)"}
    fields = send(lookup_list(), "GET", ITEMS_URL, params=params).json()["value"][0]["fields"]
    assert (fields["Tags@odata.type"], fields["Tags"]) == (
        "Collection(Edm.String)",
        ["行政", "防災"],
    )


def test_dollar_expand_is_accepted(fake: FakeGraph) -> None:
    """$expand=fields($select=A) works like expand=fields(select=A)."""
    params = {"$expand": "fields($select=Title)"}
    item = send(fake, "GET", ITEMS_URL, params=params).json()["value"][0]
    assert set(item["fields"]) == {"@odata.etag", "id", "Title"}


def test_filter_on_a_non_indexed_column_is_rejected(fake: FakeGraph) -> None:
    """$filter on a non-indexed column without the Prefer header is a 400."""
    params = {"expand": "fields", "$filter": f"fields/{STATUS} eq '遅れ'"}
    response = send(fake, "GET", ITEMS_URL, params=params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalidRequest"
    assert "not indexed" in response.json()["error"]["message"]


def test_filter_on_a_non_indexed_column_is_honoured_with_the_prefer_header(
    fake: FakeGraph,
) -> None:
    """Prefer: HonorNonIndexedQueriesWarningMayFailRandomly lets the filter through."""
    params = {"expand": "fields", "$filter": f"fields/{STATUS} eq '遅れ'"}
    headers = {"Prefer": "HonorNonIndexedQueriesWarningMayFailRandomly"}
    response = send(fake, "GET", ITEMS_URL, params=params, headers=headers)
    assert [i["id"] for i in response.json()["value"]] == ["4", "5"]


def test_filter_on_an_indexed_column_needs_no_prefer_header(fake: FakeGraph) -> None:
    """$filter on an indexed column works without the Prefer header."""
    params = {"expand": "fields", "$filter": f"fields/{DEPT} eq '企画部'"}
    response = send(fake, "GET", ITEMS_URL, params=params)
    assert [i["id"] for i in response.json()["value"]] == ["2", "4"]


def test_columns_carry_internal_and_display_names(fake: FakeGraph) -> None:
    """GET .../columns lists columnDefinitions with internal name and displayName."""
    columns = send(fake, "GET", f"/sites/{SITE}/lists/{LIST}/columns").json()["value"]
    assert {c["name"]: c["displayName"] for c in columns}[STATUS] == "進捗状況"
    assert [c["indexed"] for c in columns] == [True, True, False]


def test_columns_honour_select(fake: FakeGraph) -> None:
    """$select=name,displayName returns just those properties."""
    params = {"$select": "name,displayName"}
    columns = send(fake, "GET", f"/sites/{SITE}/lists/{LIST}/columns", params=params).json()
    assert columns["value"][0] == {"name": "Title", "displayName": "タイトル"}


# ---- mail -----------------------------------------------------------------------------------


def test_send_mail_is_accepted_with_no_body(fake: FakeGraph) -> None:
    """sendMail answers 202 with an empty body and keeps the message."""
    response = send(fake, "POST", f"/users/{MAILBOX}/sendMail", json=mail())
    assert (response.status_code, response.content) == (202, b"")
    sent = fake.sent_mail[0]
    assert sent.recipients == ["soumu@pref.example"]
    assert sent.extended_properties == {KEY_PROPERTY: "damage-1-soumu"}
    assert sent.save_to_sent_items


def test_sent_items_filter_finds_the_message_by_extended_property(fake: FakeGraph) -> None:
    """The documented Any() filter on Sent Items finds the sent message."""
    send(fake, "POST", f"/users/{MAILBOX}/sendMail", json=mail())
    url = f"/users/{MAILBOX}/mailFolders/SentItems/messages"
    found = send(fake, "GET", url, params=sent_items_filter("damage-1-soumu")).json()
    assert [m["id"] for m in found["value"]] == [fake.sent_mail[0].message_id]
    assert set(found["value"][0]) == {"@odata.etag", "id"}


def test_sent_items_filter_misses_other_values(fake: FakeGraph) -> None:
    """A different property value matches nothing: an empty value array."""
    send(fake, "POST", f"/users/{MAILBOX}/sendMail", json=mail())
    url = f"/users/{MAILBOX}/mailFolders/SentItems/messages"
    assert send(fake, "GET", url, params=sent_items_filter("damage-1-kikaku")).json()["value"] == []


@pytest.mark.parametrize("flag", [False, "false"])
def test_mail_not_saved_to_sent_items_when_asked(fake: FakeGraph, flag: object) -> None:
    """saveToSentItems false (or the string "false") keeps the message out of Sent Items."""
    send(fake, "POST", f"/users/{MAILBOX}/sendMail", json=mail(saveToSentItems=flag))
    assert len(fake.sent_mail) == 1
    assert fake.sent_items(MAILBOX) == []


def test_sdk_style_pascal_case_parameters_are_accepted(fake: FakeGraph) -> None:
    """msgraph-sdk's Message/SaveToSentItems parameter names work like camelCase ones."""
    body = {"Message": mail()["message"], "SaveToSentItems": False}
    assert send(fake, "POST", f"/users/{MAILBOX}/sendMail", json=body).status_code == 202
    assert not fake.sent_mail[0].save_to_sent_items


def test_unknown_mailbox_is_rejected(fake: FakeGraph) -> None:
    """sendMail for a mailbox the fake does not know is 404 ErrorInvalidUser."""
    response = send(fake, "POST", "/users/nobody@pref.example/sendMail", json=mail())
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ErrorInvalidUser"


# ---- teams ----------------------------------------------------------------------------------


def test_channel_message_post_returns_the_created_chat_message(fake: FakeGraph) -> None:
    """POST .../messages is 201 with id, createdDateTime, body, mentions and from.user."""
    mention = {
        "id": 0,
        "mentionText": "Jane",
        "mentioned": {"user": {"id": "u-1", "displayName": "Jane"}},
    }
    payload = {
        "body": {"contentType": "html", "content": '<at id="0">Jane</at> 第1報'},
        "mentions": [mention],
    }
    response = send(fake, "POST", f"/teams/{TEAM}/channels/{CHANNEL}/messages", json=payload)
    message = response.json()
    assert response.status_code == 201
    assert message["id"] and message["createdDateTime"].endswith("Z")
    assert message["body"] == payload["body"]
    assert message["mentions"][0]["mentioned"]["user"]["userIdentityType"] == "aadUser"
    assert message["from"]["user"]["displayName"] == "Fake Automation"


def test_channel_messages_are_listed_newest_first_with_a_next_link(fake: FakeGraph) -> None:
    """GET .../messages?$top=2 pages newest first through @odata.nextLink."""
    url = f"/teams/{TEAM}/channels/{CHANNEL}/messages"
    for n in range(3):
        send(fake, "POST", url, json={"body": {"content": f"m{n}"}})
    pages = get_pages(fake, url, params={"$top": "2"})
    assert [[m["body"]["content"] for m in p["value"]] for p in pages] == [["m2", "m1"], ["m0"]]
    assert pages[0]["@odata.nextLink"].startswith("https://graph.microsoft.com/v1.0/teams/")


# ---- webhook --------------------------------------------------------------------------------


def test_webhook_accepts_an_adaptive_card_envelope(fake: FakeGraph) -> None:
    """A Workflows webhook POST with an adaptive card is 202 and the card is kept."""
    envelope = {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": CARD}
        ],
    }
    response = run(
        fake, lambda http: http.post(fake.webhook_url("hook-1"), json=envelope), authenticated=False
    )
    assert response.status_code == 202
    assert fake.cards("hook-1") == [CARD]


def test_webhook_rejects_bodies_over_28_kb(fake: FakeGraph) -> None:
    """A webhook body over 28 KB is refused with 413."""
    big = {**CARD, "body": [{"type": "TextBlock", "text": "x" * 29_000}]}
    envelope = {
        "type": "message",
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": big}],
    }
    response = run(
        fake, lambda http: http.post(fake.webhook_url("hook-1"), json=envelope), authenticated=False
    )
    assert response.status_code == 413
    assert fake.cards() == []


# ---- faults, auth, log ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "options", "code", "headers"),
    [
        (429, {"retry_after": 7}, "activityLimitReached", {"retry-after": "7"}),
        (503, {"retry_after": 5}, "serviceNotAvailable", {"retry-after": "5"}),
        (504, {}, "gatewayTimeout", {}),
        (401, {}, "InvalidAuthenticationToken", {"www-authenticate": WWW_AUTHENTICATE}),
        (403, {}, "accessDenied", {}),
        (403, {"code": "Authorization_RequestDenied"}, "Authorization_RequestDenied", {}),
        (404, {}, "itemNotFound", {}),
        (423, {}, "resourceLocked", {}),
    ],
)
def test_injected_fault_has_the_documented_status_headers_and_body(
    fake: FakeGraph, status: int, options: dict[str, Any], code: str, headers: dict[str, str]
) -> None:
    """fail() answers with the status, Retry-After/WWW-Authenticate and an OData error body."""
    fake.fail("GET", r"/content$", status, **options)
    response = send(fake, "GET", f"{BOOK_URL}/content")
    error = response.json()["error"]
    assert response.status_code == status
    assert headers.items() <= response.headers.items()
    assert error["code"] == code and error["message"]
    assert error["innerError"]["request-id"] == response.headers["request-id"]
    assert error["innerError"]["date"]


def test_fault_is_used_up_after_its_times(fake: FakeGraph) -> None:
    """A fault with times=2 fails two requests, then the endpoint answers normally."""
    fake.fail("GET", rf"/items/{BOOK}$", 429, times=2, retry_after=1)

    async def scenario(http: httpx.AsyncClient) -> list[int]:
        return [(await http.get(BOOK_URL)).status_code for _ in range(3)]

    assert run(fake, scenario) == [429, 429, 200]
    assert fake.faults_pending() == 0


def test_fault_applies_only_to_its_method(fake: FakeGraph) -> None:
    """A POST fault leaves GETs on the same path alone."""
    fake.fail("POST", r"/messages$", 503)
    url = f"/teams/{TEAM}/channels/{CHANNEL}/messages"
    assert send(fake, "GET", url).status_code == 200
    assert fake.faults_pending() == 1


def test_reset_connection_raises_read_error_in_process(fake: FakeGraph) -> None:
    """reset_connection makes an in-process client raise httpx.ReadError, then recovers."""
    fake.reset_connection("GET", r"/content$")
    with pytest.raises(httpx.ReadError):
        send(fake, "GET", f"{BOOK_URL}/content")
    assert send(fake, "GET", f"{BOOK_URL}/content").status_code == 302
    assert [c.status for c in fake.calls] == [None, 302]


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", "Basic dGVzdA=="])
def test_graph_paths_need_the_bearer_token(fake: FakeGraph, authorization: str | None) -> None:
    """A missing or wrong token is 401 InvalidAuthenticationToken."""
    headers = {"Authorization": authorization} if authorization else {}
    response = run(fake, lambda http: http.get(BOOK_URL, headers=headers), authenticated=False)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_every_response_carries_a_request_id(fake: FakeGraph) -> None:
    """302, 304, 202 and error responses all carry request-id and client-request-id."""
    etag = send(fake, "GET", BOOK_URL).json()["eTag"]
    responses = [
        send(fake, "GET", f"{BOOK_URL}/content"),
        send(fake, "GET", f"{BOOK_URL}/content", headers={"If-None-Match": etag}),
        send(fake, "POST", f"/users/{MAILBOX}/sendMail", json=mail()),
        send(fake, "GET", "/nowhere", headers={"client-request-id": "abc"}),
    ]
    assert [r.status_code for r in responses] == [302, 304, 202, 400]
    assert all(r.headers["request-id"] for r in responses)
    assert responses[-1].headers["client-request-id"] == "abc"


def test_unknown_path_is_bad_request(fake: FakeGraph) -> None:
    """A path the fake does not serve is 400 BadRequest, as Graph answers unknown segments."""
    response = send(fake, "GET", "/me/drive/recent")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BadRequest"


def test_call_log_records_the_request(fake: FakeGraph) -> None:
    """Each call keeps method, path, query, lower-case headers, body and status."""
    send(fake, "POST", f"/users/{MAILBOX}/sendMail", json=mail(), params={"a": "1"})
    (call,) = fake.requests_to(r"/sendMail$", method="POST")
    assert (call.method, call.path) == ("POST", f"/v1.0/users/{MAILBOX}/sendMail")
    assert call.query == {"a": "1"}
    assert call.headers["authorization"] == "Bearer test-token"
    assert call.json() == mail()
    assert call.status == 202


def test_latency_delays_each_request(fake: FakeGraph) -> None:
    """latency waits that many seconds before each answer, once a request."""
    waits: list[tuple[float, int]] = []

    async def recorded(seconds: float) -> None:
        waits.append((seconds, len(fake.calls)))

    fake.sleep = recorded
    fake.latency = 0.02
    send(fake, "GET", BOOK_URL)
    send(fake, "GET", BOOK_URL)
    assert waits == [(0.02, 1), (0.02, 2)]


def test_mime_send_mail_is_accepted(fake: FakeGraph) -> None:
    """sendMail with base64 MIME (text/plain) is 202 and keeps subject and recipients."""
    mime = b"To: a@pref.example\r\nSubject: hello\r\n\r\nbody\r\n"
    headers = {"Content-Type": "text/plain"}
    url = f"/users/{MAILBOX}/sendMail"
    assert (
        send(fake, "POST", url, content=base64.b64encode(mime), headers=headers).status_code == 202
    )
    assert (fake.sent_mail[0].subject, fake.sent_mail[0].to) == ("hello", ["a@pref.example"])


# ---- loopback -------------------------------------------------------------------------------


def test_serve_answers_over_loopback(fake: FakeGraph) -> None:
    """serve() yields a 127.0.0.1 base URL that answers real HTTP requests."""
    with fake.serve() as base_url:
        response = httpx.get(
            f"{base_url}{BOOK_URL}", headers={"Authorization": "Bearer test-token"}
        )
    assert base_url.startswith("http://127.0.0.1:")
    assert response.status_code == 200
    assert response.json()["@microsoft.graph.downloadUrl"].startswith("http://localhost:")


def test_reset_over_loopback_is_a_transport_error(fake: FakeGraph) -> None:
    """Over loopback a reset connection surfaces as an httpx transport error."""
    fake.reset_connection("GET", r"/content$")
    with fake.serve() as base_url, pytest.raises(httpx.TransportError):
        httpx.get(f"{base_url}{BOOK_URL}/content", headers={"Authorization": "Bearer test-token"})


# ---- lost replies, size limits and drafts -----------------------------------------------------


def test_a_lost_reply_acts_then_resets_the_connection(fake: FakeGraph) -> None:
    """lose_reply: the mail is in Sent Items, but the client only sees a reset connection."""
    fake.lose_reply("POST", r"/sendMail$")
    with pytest.raises(httpx.ReadError):
        send(fake, "POST", f"/users/{MAILBOX}/sendMail", json=mail())
    assert len(fake.sent_items(MAILBOX)) == 1


def test_a_fault_can_let_matching_requests_through_first(fake: FakeGraph) -> None:
    """skip=1: the first matching request is answered, the second fails."""
    fake.fail("GET", r"/content$", 503, skip=1)
    codes = [send(fake, "GET", f"{BOOK_URL}/content").status_code for _ in range(3)]
    assert codes == [302, 503, 302]


def test_a_request_over_4_mb_is_refused(fake: FakeGraph) -> None:
    """Graph's 4 MB request limit: a larger body is 413 RequestEntityTooLarge."""
    big = mail()
    big["message"]["body"]["content"] = "x" * (4 * 1024 * 1024)
    response = send(fake, "POST", f"/users/{MAILBOX}/sendMail", json=big)
    assert (response.status_code, response.json()["error"]["code"]) == (
        413,
        "RequestEntityTooLarge",
    )
    assert fake.sent_mail == []


def test_an_inline_attachment_over_3_mb_is_refused(fake: FakeGraph) -> None:
    """An attachment over 3 MB cannot go inline: 413, nothing sent (an upload session is needed)."""
    attachment = {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": "big.xlsx",
        "contentBytes": base64.b64encode(b"\0" * (3 * 1024 * 1024 + 1)).decode(),
    }
    response = send(
        fake,
        "POST",
        f"/users/{MAILBOX}/sendMail",
        json=mail() | {"message": {**mail()["message"], "attachments": [attachment]}},
    )
    assert response.status_code == 413
    assert fake.sent_mail == []


def test_a_draft_gets_a_large_attachment_in_ranges_and_is_sent(fake: FakeGraph) -> None:
    """Draft -> createUploadSession (201) -> PUTs (200 ..., 201 + Location) -> send (202)."""
    size = 3 * 1024 * 1024 + 10
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)

    async def scenario(http: httpx.AsyncClient) -> list[int]:
        draft = (await http.post(f"/users/{MAILBOX}/messages", json=mail()["message"])).json()
        base = f"/users/{MAILBOX}/messages/{draft['id']}"
        item = {"AttachmentItem": {"attachmentType": "file", "name": "big.xlsx", "size": size}}
        session = (await http.post(base + "/attachments/createUploadSession", json=item)).json()
        codes = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app)) as bare:
            for start in range(0, size, 2 * 1024 * 1024):
                chunk = data[start : start + 2 * 1024 * 1024]
                headers = {
                    "Content-Range": f"bytes {start}-{start + len(chunk) - 1}/{size}",
                    "Content-Type": "application/octet-stream",
                }
                put = await bare.put(session["uploadUrl"], content=chunk, headers=headers)
                codes.append(put.status_code)
        codes.append((await http.post(base + "/send")).status_code)
        return codes

    assert run(fake, scenario) == [200, 201, 202]
    (sent,) = fake.sent_items(MAILBOX)
    assert base64.b64decode(sent.attachments[0]["contentBytes"]) == data
    assert (fake.drafts, fake.authorization_leaks()) == ({}, [])


def test_an_upload_session_under_3_mb_is_refused_as_documented(fake: FakeGraph) -> None:
    """ErrorAttachmentSizeShouldNotBeLessThanMinimumSize: small files are POSTed instead."""
    draft = send(fake, "POST", f"/users/{MAILBOX}/messages", json=mail()["message"]).json()
    item = {"AttachmentItem": {"attachmentType": "file", "name": "small.xlsx", "size": 1000}}
    url = f"/users/{MAILBOX}/messages/{draft['id']}/attachments/createUploadSession"
    response = send(fake, "POST", url, json=item)
    assert response.json()["error"]["code"] == "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize"


def test_a_drive_upload_range_other_than_the_last_is_a_multiple_of_320_kib(
    fake: FakeGraph,
) -> None:
    """A byte range that is not the file's last must be a multiple of 320 KiB (createuploadsession)."""
    unit = 320 * 1024

    async def scenario(http: httpx.AsyncClient) -> list[int]:
        url = f"/drives/{DRIVE}/items/{FOLDER}:/大きい.xlsx:/createUploadSession"
        upload_url = (await http.post(url, json={})).json()["uploadUrl"]
        total = 2 * unit + 10
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app)) as bare:

            async def put(start: int, end: int) -> int:
                headers = {"Content-Range": f"bytes {start}-{end}/{total}"}
                content = bytes(end - start + 1)
                return (await bare.put(upload_url, content=content, headers=headers)).status_code

            return [
                await put(0, unit),  # 320 KiB and one byte: refused
                await put(0, 2 * unit - 1),  # two units
                await put(2 * unit, total - 1),  # the last range: any length
            ]

    assert run(fake, scenario) == [400, 202, 201]


def test_a_fragment_put_with_the_token_is_refused_401(fake: FakeGraph) -> None:
    """A PUT to an upload URL carrying Authorization gets 401 (createuploadsession: "may")."""

    async def scenario(http: httpx.AsyncClient) -> httpx.Response:
        url = f"/drives/{DRIVE}/items/{FOLDER}:/大きい.xlsx:/createUploadSession"
        session = await http.post(url, json={})
        return await http.put(
            session.json()["uploadUrl"], content=b"0123", headers={"Content-Range": "bytes 0-3/4"}
        )

    response = run(fake, scenario)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert fake.file_at(DRIVE, "/General/大きい.xlsx") is None


def test_an_empty_page_links_to_the_results(fake: FakeGraph) -> None:
    """empty_page: a page of no results whose nextLink gives the collection (paging.md)."""
    fake.empty_page(f"/lists/{LIST}/columns$")
    first = send(fake, "GET", f"/sites/{SITE}/lists/{LIST}/columns?$select=name")
    assert first.status_code == 200
    assert first.json()["value"] == []
    second = send(fake, "GET", first.json()["@odata.nextLink"])
    assert [c["name"] for c in second.json()["value"]] == ["Title", DEPT, STATUS]
    assert "@odata.nextLink" not in second.json()
