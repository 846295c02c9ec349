"""vcrpy set-up for the Graph cassettes in ``cassettes/``, and the scrubbing a real recording needs.

The cassettes pin ``GraphGateway`` to the wire format of Microsoft Graph. They are written by
hand from the Microsoft Graph reference pages (each names its page in a comment at the top) and
replayed with ``record_mode="none"``: a request that no cassette holds fails the test, and
nothing reaches the network. vcrpy patches httpx's transport, which sits *below* kiota's
middleware, so every retry and every redirect hop is an interaction of its own.

Requests are matched on method, path, query and body, never on host or headers: the host of a
pre-authenticated download URL changes per tenant, and kiota adds random telemetry headers.

Placeholders
------------
Every id in a cassette is a placeholder that the scrubbers below leave alone, so a hand-written
cassette looks exactly like a scrubbed recording (``test_cassettes.py`` checks this):

- GUIDs start with ``00000000-0000-0000-0000-`` (Microsoft's well-known GUIDs of the form
  ``xxxxxxxx-0000-0000-c000-0000000000xx``, such as the MAPI property set PS_PUBLIC_STRINGS and
  the Graph app id, are public constants and are kept);
- mail addresses are under the reserved ``.example`` top-level domain;
- the SharePoint host is ``contoso.sharepoint.com``;
- ``tempauth=``, ``authtoken=`` (Outlook's upload sessions) and ``sig=`` values are
  ``REDACTED``.

Refreshing from a real tenant (an admin's job, never CI)
--------------------------------------------------------
1. Use a test team, channel, site, list and mailbox, and a workbook holding no real data
   (its bytes are stored as they are; the author name in the xlsx is not scrubbed).
2. Export the real ids; each one is replaced by its placeholder in everything recorded::

       export GRAPH_RECORD=once                  # or new_episodes to add to a cassette
       export GRAPH_TEST_TOKEN="$(.venv/bin/python -c 'import os
       from azure.identity import ClientSecretCredential as C
       e = os.environ
       c = C(e["AZURE_TENANT_ID"], e["AZURE_CLIENT_ID"], e["AZURE_CLIENT_SECRET"])
       print(c.get_token("https://graph.microsoft.com/.default").token)')"
       export GRAPH_TEST_DRIVE_ID='b!...'  GRAPH_TEST_ITEM_ID=01...
       export GRAPH_TEST_TEAM_ID=...       GRAPH_TEST_CHANNEL_ID='19:...@thread.tacv2'
       export GRAPH_TEST_SITE_ID='tenant.sharepoint.com,...,...'  GRAPH_TEST_LIST_ID=...
       export GRAPH_TEST_MAILBOX=bousai-test@tenant.onmicrosoft.com
       export GRAPH_TEST_WEBHOOK_URL='https://...logic.azure.com/...&sig=...'
       export GRAPH_SCRUB='Real Name=利用者 一,real-site-name=bousai'   # anything else to hide

   The app token needs the application permissions the README lists (Sites.Selected on the
   sites, Files.Read.All for the channel folder, Mail.Send, Mail.Read). The channel post needs
   a delegated token of the service account (ChannelMessage.Send): record channel_message.yaml
   on its own with that token in GRAPH_TEST_TOKEN.
3. Delete the cassettes to refresh (``once`` replays a cassette that exists and records only
   missing ones), then run::

       .venv/bin/pytest tests/test_cassettes.py -k "download or channel or list or upload or mail"

   This really happens in the tenant: reports are uploaded, a mail is sent (to the test's
   recipient soumu@pref.example, which bounces) and a card is posted through the webhook.
4. Review ``git diff cassettes/`` before committing, and add the reference-page comment back
   at the top of each re-recorded file (vcrpy rewrites the file without it).

Some cassettes stay hand-written: the errors and throttling (``error_*``, ``throttled_get``,
``send_mail_throttled``) cannot be provoked on demand, and ``upload_session`` uses 16-byte
fragments (the test shrinks ``UPLOAD_CHUNK``) where SharePoint wants multiples of 320 KiB;
``mail_large_attachment`` likewise shrinks Outlook's 3 MB attachment limit and 4 MB ranges
to 16 bytes. ``channel_messages_recent`` is read with the service account's token, like
``channel_message``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import vcr
from vcr.request import Request

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes"
BASE_URL = "https://graph.microsoft.com/v1.0"

# Placeholders used by the hand-written cassettes (and substituted for real ids when recording).
PLACEHOLDERS = {
    "GRAPH_TEST_DRIVE_ID": "b!bousai-fake-drive-0001",
    "GRAPH_TEST_ITEM_ID": "01BOUSAIFAKEWORKBOOK00000000000001",
    "GRAPH_TEST_TEAM_ID": "00000000-0000-0000-0000-00000000a001",
    "GRAPH_TEST_CHANNEL_ID": "19:0000000000000000000000000000a002@thread.tacv2",
    "GRAPH_TEST_SITE_ID": (
        "contoso.sharepoint.com,00000000-0000-0000-0000-00000000b001,"
        "00000000-0000-0000-0000-00000000b002"
    ),
    "GRAPH_TEST_LIST_ID": "00000000-0000-0000-0000-00000000c001",
    "GRAPH_TEST_MAILBOX": "bousai-honbu@pref.example",
    "GRAPH_TEST_WEBHOOK_URL": (
        "https://prod-00.japaneast.logic.azure.com:443/workflows/"
        "0000000000000000000000000000d001/triggers/manual/paths/invoke"
        "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=REDACTED"
    ),
}
REDACTED = "REDACTED"
PLACEHOLDER_HOST = "contoso.sharepoint.com"
PLACEHOLDER_DOWNLOAD_URL = (
    f"https://{PLACEHOLDER_HOST}/_layouts/15/download.aspx"
    f"?UniqueId=00000000-0000-0000-0000-000000000000&tempauth={REDACTED}"
)
DOWNLOAD_URL_KEYS = ("@microsoft.graph.downloadUrl", "@content.downloadUrl")
IDENTITY_PARENTS = ("user", "emailAddress")  # where people's names appear

# Headers that carry secrets, or change on every run and tell a reader nothing.
DROP_REQUEST_HEADERS = (
    "Authorization",
    "Cookie",
    "client-request-id",
    "hostos",
    "runtimeenvironment",
    "sdkversion",
)
DROP_RESPONSE_HEADERS = (
    "Set-Cookie",
    "request-id",
    "client-request-id",
    "x-ms-ags-diagnostic",
    "SPRequestGuid",
    "X-MSEdge-Ref",
    "Strict-Transport-Security",
)

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Placeholders, and Microsoft's well-known GUIDs (MAPI property sets, the Graph app id).
_KEPT_GUID = re.compile(
    r"00000000-0000-0000-0000-[0-9a-f]{12}|[0-9a-f]{8}-0000-0000-c000-0000000000[0-9a-f]{2}"
)
_HEX32 = re.compile(r"(19(?::|%3A)|/workflows/)([0-9a-fA-F]{32})")
_SECRET_PARAM = re.compile(r"\b(tempauth|sig|authtoken)=([^&\"'\s<>]+)")
_SHAREPOINT_HOST = re.compile(r"\b[a-z0-9-]+\.sharepoint\.com\b", re.IGNORECASE)
_ADDRESS = re.compile(
    r"(?<![\w.+-])([\w.+-]+)(@|%40)((?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})(?![A-Za-z0-9-])"
)
# Teams thread ids and OData annotations (fields@odata.context) look like addresses.
_NOT_ADDRESS_DOMAINS = ("thread.", "unq.gbl.", "odata.", "microsoft.graph.")


def record_mode() -> str:
    """The vcr record mode: env ``GRAPH_RECORD``, ``none`` unless an admin is recording."""
    return os.environ.get("GRAPH_RECORD", "none")


def recording() -> bool:
    """Whether this run talks to a real tenant."""
    return record_mode() != "none"


def graph_id(name: str) -> str:
    """The id ``name`` (a ``GRAPH_TEST_*`` key): real when recording, else the placeholder."""
    return os.environ.get(name, "") if recording() and os.environ.get(name) else PLACEHOLDERS[name]


def token() -> str:
    """The bearer token: ``GRAPH_TEST_TOKEN`` when recording, else a dummy."""
    return os.environ.get("GRAPH_TEST_TOKEN", "t") if recording() else "t"


def _replacements() -> list[tuple[str, str]]:
    """(real, placeholder) pairs from the environment, longest first, plain and URL-quoted."""
    pairs = [(os.environ[k], v) for k, v in PLACEHOLDERS.items() if os.environ.get(k)]
    for item in filter(None, os.environ.get("GRAPH_SCRUB", "").split(",")):
        real, _, fake = item.partition("=")
        if real:
            pairs.append((real, fake or REDACTED))
    quoted = [(quote(r, safe=""), quote(f, safe="")) for r, f in pairs]
    quoted += [(quote(r), quote(f)) for r, f in pairs]
    unique = {r: f for r, f in pairs + quoted if r and r != f}
    return sorted(unique.items(), key=lambda pair: -len(pair[0]))


def _digest(value: str, length: int) -> str:
    return hashlib.sha256(value.lower().encode()).hexdigest()[:length]


def _guid(match: re.Match[str]) -> str:
    value = match.group(0)
    if _KEPT_GUID.fullmatch(value.lower()):
        return value
    return "00000000-0000-0000-0000-" + _digest(value, 12)


def _hex32(match: re.Match[str]) -> str:
    prefix, value = match.groups()
    if value.startswith("0" * 16):
        return match.group(0)
    return prefix + "0" * 16 + _digest(value, 16)


def _address(match: re.Match[str]) -> str:
    local, at, domain = match.groups()
    if domain.lower().endswith(".example") or domain.lower().startswith(_NOT_ADDRESS_DOMAINS):
        return match.group(0)
    return f"user-{_digest(local + '@' + domain, 8)}{at}tenant.example"


def scrub_text(text: str) -> str:
    """Replace tenant data in text with stable placeholders (idempotent)."""
    for real, fake in _replacements():
        text = text.replace(real, fake)
    text = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    text = _GUID.sub(_guid, text)
    text = _HEX32.sub(_hex32, text)
    text = _SHAREPOINT_HOST.sub(PLACEHOLDER_HOST, text)
    return _ADDRESS.sub(_address, text)


def _scrub_json(value: Any, parent: str = "") -> Any:
    """Hide download URLs and the names of people; leave everything else to ``scrub_text``."""
    if isinstance(value, list):
        return [_scrub_json(v, parent) for v in value]
    if not isinstance(value, dict):
        return value
    identity = parent in IDENTITY_PARENTS or "userIdentityType" in value
    scrubbed: dict[str, Any] = {}
    for key, item in value.items():
        if key in DOWNLOAD_URL_KEYS and isinstance(item, str):
            scrubbed[key] = PLACEHOLDER_DOWNLOAD_URL
        elif identity and key in ("displayName", "name") and isinstance(item, str) and item:
            scrubbed[key] = item if item.startswith("利用者 ") else f"利用者 {_digest(item, 6)}"
        else:
            scrubbed[key] = _scrub_json(item, key)
    return scrubbed


def _scrub_body(body: bytes | str | None) -> bytes | str | None:
    if body is None:
        return None
    raw = body if isinstance(body, bytes) else body.encode()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return body  # binary (a workbook): stored as it is
    with contextlib.suppress(ValueError):  # not JSON: scrubbed as text
        text = json.dumps(_scrub_json(json.loads(text)), ensure_ascii=False)
    return scrub_text(text).encode()


def scrub_request(request: Request) -> Request:
    """vcr ``before_record_request``: no Authorization or telemetry header, no tenant data.

    vcr also runs this on each live request before matching it, so it must be idempotent.
    """
    for name in DROP_REQUEST_HEADERS:
        request.headers.pop(name, None)
    for name, value in list(request.headers.items()):
        request.headers[name] = scrub_text(str(value))  # Host, If-None-Match, ...
    request.uri = scrub_text(request.uri)
    if request.body == b"":
        request.body = None  # a GET is stored as body: null
    if isinstance(request.body, bytes):
        with contextlib.suppress(UnicodeDecodeError):  # binary bodies are kept as they are
            request.body = scrub_text(request.body.decode("utf-8")).encode()
    return request


def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    """vcr ``before_record_response``: tenant ids, names and pre-authenticated URLs replaced."""
    headers = {
        name: [scrub_text(str(v)) for v in values]
        for name, values in response.get("headers", {}).items()
        if name.lower() not in {h.lower() for h in DROP_RESPONSE_HEADERS}
    }
    response["headers"] = headers
    body = response.get("body")
    if isinstance(body, dict) and "string" in body:
        body["string"] = _scrub_body(body["string"])
        for name in headers:
            if name.lower() == "content-length" and isinstance(body["string"], bytes):
                headers[name] = [str(len(body["string"]))]
    return response


def make_vcr(mode: str | None = None) -> vcr.VCR:
    """The VCR the Graph tests use; ``mode`` defaults to ``record_mode()``."""
    return vcr.VCR(
        cassette_library_dir=str(CASSETTES),
        serializer="yaml",
        record_mode=mode or record_mode(),
        match_on=["method", "path", "query", "body"],
        decode_compressed_response=True,
        before_record_request=scrub_request,
        before_record_response=scrub_response,
    )
