"""Outlook mail: sendMail (JSON and MIME) and Sent Items with single-value extended property
filters (user-sendmail.md, singlevaluelegacyextendedproperty-get.md).
"""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import getaddresses
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from tests.fake_graph.wire import (
    FakeState,
    GraphError,
    Json,
    _int_param,
    _iso,
    _json,
    _next_link,
    _odata_context,
    _offset,
    _select,
)

MAIL_PAGE_DEFAULT = 10  # Outlook's default page size
INLINE_ATTACHMENT_LIMIT = (
    3 * 1024 * 1024
)  # over this, an upload session (outlook-large-attachments.md)
SENT_ITEMS_FOLDER_ID = "AAMkAGFAKE-SENTITEMS-FOLDER="
OTHER_WELL_KNOWN_FOLDERS = frozenset(
    {"inbox", "drafts", "deleteditems", "outbox", "junkemail", "archive", "msgfolderroot"}
)


@dataclass
class SentMail:
    """A message accepted by sendMail."""

    mailbox: str
    message_id: str
    subject: str
    body: Json
    to: list[str]
    cc: list[str]
    bcc: list[str]
    attachments: list[Json]
    extended_properties: dict[str, str]  # property id -> value
    save_to_sent_items: bool
    sent_at: datetime
    raw: Json  # the message as posted, or {"mime": text} for MIME sends

    @property
    def recipients(self) -> list[str]:
        """Every recipient address (to, cc, bcc)."""
        return [*self.to, *self.cc, *self.bcc]


def inline_size(attachment: Json) -> int:
    """The decoded size of a fileAttachment sent in a request; over 3 MB it is refused."""
    try:
        size = len(base64.b64decode(str(attachment.get("contentBytes", "")), validate=True))
    except binascii.Error as exc:
        raise GraphError(400, "ErrorInvalidParameter", "contentBytes is not base64.") from exc
    if size > INLINE_ATTACHMENT_LIMIT:  # (not documented: the code Graph answers with)
        raise GraphError(
            413,
            "ErrorAttachmentSizeExceeded",
            "Attachments over 3 MB must be added through an upload session.",
        )
    return size


def _addresses(recipients: Any) -> list[str]:
    return [
        r["emailAddress"]["address"]
        for r in recipients or []
        if isinstance(r, dict) and isinstance(r.get("emailAddress"), dict)
    ]


def _recipients(addresses: Sequence[str]) -> list[Json]:
    return [{"emailAddress": {"name": a, "address": a}} for a in addresses]


def _property_key(prop_id: str) -> tuple[str, ...]:
    """Extended property ids: type and GUID compare case-insensitively, the Name exactly."""
    match = re.match(r"^(\S+)\s+(\{[^}]*\})\s+(Name|Id)\s+(.+)$", prop_id.strip(), re.IGNORECASE)
    if match is None:
        return (prop_id.strip(),)
    kind = match[3].lower()
    name = match[4] if kind == "name" else match[4].lower()
    return (match[1].lower(), match[2].lower(), kind, name)


_LITERAL = r"'((?:[^']|'')*)'"
_EXTENDED_FILTER = re.compile(
    rf"^singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*\1/id\s+eq\s+{_LITERAL}"
    rf"\s+and\s+\1/value\s+eq\s+{_LITERAL}\s*\)$",
    re.IGNORECASE,
)

_EXTENDED_EXPAND = re.compile(
    rf"singleValueExtendedProperties(?:\(\s*\$filter=id\s+eq\s+{_LITERAL}\s*\))?", re.IGNORECASE
)


def parse_extended_filter(text: str) -> tuple[str, str]:
    """``singleValueExtendedProperties/Any(ep: ep/id eq 'i' and ep/value eq 'v')`` -> (i, v)."""
    match = _EXTENDED_FILTER.match(text.strip())
    if match is None:
        raise GraphError(400, "BadRequest", f"Invalid filter clause: {text}")
    return match[2].replace("''", "'"), match[3].replace("''", "'")


class MailEndpoints(FakeState):
    """Seeding, Sent Items and endpoints of mailboxes."""

    def add_user(self, user_id_or_upn: str) -> None:
        """Add a mailbox (ids and UPNs compare case-insensitively)."""
        self.users[user_id_or_upn.casefold()] = user_id_or_upn

    def sent_items(self, mailbox: str) -> list[SentMail]:
        """Messages saved to a mailbox's Sent Items, oldest first."""
        key = mailbox.casefold()
        return [m for m in self.sent_mail if m.save_to_sent_items and m.mailbox.casefold() == key]

    def _mailbox(self, request: Request) -> str:
        user = request.path_params["user"]
        mailbox = self.users.get(user.casefold())
        if mailbox is None:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{user}' is invalid.")
        return mailbox

    async def _send_mail(self, request: Request) -> Response:
        mailbox = self._mailbox(request)
        if request.headers.get("content-type", "").startswith("text/plain"):
            mail = self._mime_mail(mailbox, await request.body())
        else:
            mail = self._json_mail(mailbox, await self._json_body(request))
            for attachment in mail.attachments:
                inline_size(attachment)
        if not mail.recipients:
            raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient is not valid.")
        self.sent_mail.append(mail)
        return Response(status_code=202)

    def _json_mail(self, mailbox: str, payload: Json) -> SentMail:
        """The sendMail JSON body; parameter names compare case-insensitively (the SDK sends
        ``Message``/``SaveToSentItems``), and ``saveToSentItems`` may be the string "false"."""
        params = {k.lower(): v for k, v in payload.items()}
        message = params.get("message")
        if not isinstance(message, dict):
            raise GraphError(400, "ErrorInvalidParameter", "The message parameter is required.")
        save = params.get("savetosentitems", True)
        properties = message.get("singleValueExtendedProperties") or []
        return SentMail(
            mailbox=mailbox,
            message_id=self._message_id(),
            subject=str(message.get("subject") or ""),
            body=dict(message.get("body") or {"contentType": "text", "content": ""}),
            to=_addresses(message.get("toRecipients")),
            cc=_addresses(message.get("ccRecipients")),
            bcc=_addresses(message.get("bccRecipients")),
            attachments=list(message.get("attachments") or []),
            extended_properties={str(p.get("id")): str(p.get("value")) for p in properties},
            save_to_sent_items=str(save).lower() != "false",
            sent_at=self.clock(),
            raw=message,
        )

    def _mime_mail(self, mailbox: str, body: bytes) -> SentMail:
        try:
            mime = base64.b64decode(body, validate=True)
        except binascii.Error as exc:
            raise GraphError(
                400,
                "ErrorMimeContentInvalidBase64String",
                "Invalid base64 string for MIME content.",
            ) from exc
        parsed = email.message_from_bytes(mime, policy=email.policy.default)

        def addresses(header: str) -> list[str]:
            return [address for _, address in getaddresses(parsed.get_all(header, []))]

        return SentMail(
            mailbox=mailbox,
            message_id=self._message_id(),
            subject=str(parsed.get("Subject", "")),
            body={"contentType": "text", "content": ""},
            to=addresses("To"),
            cc=addresses("Cc"),
            bcc=addresses("Bcc"),
            attachments=[],
            extended_properties={},
            save_to_sent_items=True,
            sent_at=self.clock(),
            raw={"mime": mime.decode("utf-8", "replace")},
        )

    def _message_id(self) -> str:
        return f"AAMkAGFAKE{next(self._ids):040d}="

    async def _folder_messages(self, request: Request) -> Response:
        mailbox = self._mailbox(request)
        folder = request.path_params["folder"].lower()
        if folder == "sentitems":
            mails = self.sent_items(mailbox)
        elif folder == "drafts":
            mails = [d for d in self.drafts.values() if d.mailbox == mailbox]
        elif folder in OTHER_WELL_KNOWN_FOLDERS:
            mails = []
        else:
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        text = request.query_params.get("$filter")
        if text:
            prop_id, value = parse_extended_filter(text)
            mails = [m for m in mails if self._has_property(m, prop_id, value)]
        return self._message_page(request, mailbox, list(reversed(mails)))

    @staticmethod
    def _has_property(mail: SentMail, prop_id: str, value: str) -> bool:
        """Ids compare per ``_property_key``; values case-insensitively (extended property page)."""
        key = _property_key(prop_id)
        return any(
            _property_key(k) == key and v.casefold() == value.casefold()
            for k, v in mail.extended_properties.items()
        )

    def _message_page(self, request: Request, mailbox: str, mails: list[SentMail]) -> Response:
        size = _int_param(request, "$top", "top") or MAIL_PAGE_DEFAULT
        start = _offset(request, "$skip")
        expand = _EXTENDED_EXPAND.search(request.query_params.get("$expand", ""))
        select = _select(request)
        values = [self._message_json(m, expand) for m in mails[start : start + size]]
        if select:
            values = [
                {k: v for k, v in m.items() if k in ("@odata.etag", "id", *select)} for m in values
            ]
        folder = request.path_params["folder"]
        fragment = f"users('{quote(mailbox, safe='')}')/mailFolders('{folder}')/messages"
        body: Json = {"@odata.context": _odata_context(request, fragment)}
        if start + size < len(mails):
            body["@odata.nextLink"] = _next_link(request, {"$skip": str(start + size)})
        body["value"] = values
        return _json(body)

    @staticmethod
    def _message_json(mail: SentMail, expand: re.Match[str] | None) -> Json:
        """A message in Sent Items; extended properties only when ``$expand``-ed."""
        sent = _iso(mail.sent_at)
        sender = {"emailAddress": {"name": mail.mailbox, "address": mail.mailbox}}
        content = str(mail.body.get("content", ""))
        body: Json = {
            "@odata.etag": f'W/"{mail.message_id[-20:]}"',
            "id": mail.message_id,
            "createdDateTime": sent,
            "lastModifiedDateTime": sent,
            "categories": [],
            "receivedDateTime": sent,
            "sentDateTime": sent,
            "hasAttachments": bool(mail.attachments),
            "internetMessageId": f"<{mail.message_id.strip('=')}@fake.outlook.test>",
            "subject": mail.subject,
            "bodyPreview": re.sub(r"<[^>]+>", "", content)[:255],
            "importance": "normal",
            "parentFolderId": SENT_ITEMS_FOLDER_ID,
            "isRead": True,
            "isDraft": False,
            "body": mail.body,
            "sender": sender,
            "from": sender,
            "toRecipients": _recipients(mail.to),
            "ccRecipients": _recipients(mail.cc),
            "bccRecipients": _recipients(mail.bcc),
        }
        if expand is not None:
            wanted = _property_key(expand[1].replace("''", "'")) if expand[1] else None
            body["singleValueExtendedProperties"] = [
                {"id": k, "value": v}
                for k, v in mail.extended_properties.items()
                if wanted is None or _property_key(k) == wanted
            ]
        return body
