"""Mail through Graph, each message sent once, whatever its size.

A message whose request stays under Graph's 4 MB (attachments of 3 MB at most) goes in one
``sendMail``. A larger one is built as a draft: ``POST /users/{m}/messages``, each attachment
added with a ``POST .../attachments`` (under 3 MB) or an upload session
(``.../attachments/createUploadSession`` and ranged PUTs of at most 4 MB), then
``POST .../send`` (user-sendmail.md, attachment-createuploadsession.md,
concepts/outlook-large-attachments.md, message-send.md). An attachment that would push the
message over the mailbox's size limit (Exchange Online: 35 MB by default) is linked instead
(the merged workbook's address next to the department workbook).

Every message and draft carries its idempotency key in a single-value extended property.
A draft left by a crash or a lost reply is found again by that key in Drafts: sent if its
attachments are all there, else deleted and built again; never a second draft sent. Only
``send`` can deliver, so only its ambiguous outcome makes a message ``uncertain``.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from automation.backends.graph.gateway import GraphGateway
from automation.errors import DataError, TransientError, UncertainError
from automation.state import OutboxEntry

# A named MAPI property in PS_PUBLIC_STRINGS carrying our idempotency key on each mail,
# so Sent Items (and Drafts) can be searched for it after a crash.
KEY_PROPERTY = "String {00020329-0000-0000-C000-000000000046} Name AutomationIdempotencyKey"
INLINE_LIMIT = 3 * 1024 * 1024  # larger attachments need an upload session
REQUEST_LIMIT = 4 * 1024 * 1024  # Graph refuses larger request bodies
ATTACHMENT_CHUNK = 12 * 320 * 1024  # 3.75 MiB a PUT: "up to 4 MB each time"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def key_filter(key: str) -> dict[str, str]:
    """Query parameters finding messages whose key property is ``key``."""
    escaped = key.replace("'", "''")
    return {
        "$filter": "singleValueExtendedProperties/Any(ep: ep/id eq "
        f"'{KEY_PROPERTY}' and ep/value eq '{escaped}')",
        "$select": "id",
    }


def base64_size(size: int) -> int:
    """Bytes that ``size`` bytes take in base64 (in a JSON request or a MIME message)."""
    return 4 * ((size + 2) // 3)


class MailSender:
    """Sends the outbox's mail as one mailbox."""

    def __init__(self, gateway: GraphGateway, mailbox: str, max_message_mb: float) -> None:
        self.gateway = gateway
        self.mailbox = mailbox
        self.max_message_bytes = int(max_message_mb * 1024 * 1024)
        self._user = f"/users/{quote(mailbox)}"

    async def send(self, entry: OutboxEntry, attachments: Mapping[str, bytes]) -> str:
        """Send ``entry`` once: inline, as a draft with attachments, or with links."""
        message, attached = self._message(entry, attachments)
        inline = [_file_attachment(name, data) for name, data in attached.items()]
        request = {"message": {**message, "attachments": inline} if inline else message}
        small = all(len(data) <= INLINE_LIMIT for data in attached.values())
        if small and len(json.dumps(request).encode()) < REQUEST_LIMIT:
            await self.gateway.send_mail(self.mailbox, request["message"])
            return f"mail from {self.mailbox}"
        await self._send_as_draft(entry, message, attached)
        return f"mail from {self.mailbox} (attachments added to a draft)"

    def _message(
        self, entry: OutboxEntry, attachments: Mapping[str, bytes]
    ) -> tuple[dict[str, Any], dict[str, bytes]]:
        """The message without attachments, and the attachments it can carry (the rest linked)."""
        html_body = entry.bodies.get("html")
        content = html_body or html.escape(entry.bodies.get("txt", "")).replace("\n", "<br>")
        budget = self.max_message_bytes - base64_size(len(content.encode()))
        attached: dict[str, bytes] = {}
        notes = []
        for name, data in attachments.items():
            if base64_size(len(data)) <= budget:
                attached[name] = data
                budget -= base64_size(len(data))
            else:
                notes.append(self._link(entry, name, len(data)))
        return {
            "subject": entry.subject,
            "body": {"contentType": "HTML", "content": content + "".join(notes)},
            "toRecipients": [{"emailAddress": {"address": entry.recipient}}],
            "singleValueExtendedProperties": [{"id": KEY_PROPERTY, "value": entry.key}],
        }, attached

    def _link(self, entry: OutboxEntry, name: str, size: int) -> str:
        """A paragraph linking an attachment too large for the mailbox's limit."""
        url = (entry.payload.get("attachment_links") or {}).get(name)
        limit = self.max_message_bytes / 1024 / 1024
        if not url:
            raise DataError(
                f"mail to {entry.recipient_label}: {name} ({size / 1024 / 1024:.1f} MB) is too "
                f"large for the mailbox's {limit:.0f} MB limit and has no web address to link "
                "instead; raise backend.limits.mail_max_mb if the tenant allows larger mail"
            )
        return (
            f"<p>添付ファイル「{html.escape(name)}」（{size / 1024 / 1024:.1f} MB）はメールの上限"
            f"（{limit:.0f} MB）を超えるため、添付せずに次の場所に置いています: "
            f'<a href="{html.escape(url)}">{html.escape(name)}</a></p>'
        )

    async def _send_as_draft(
        self, entry: OutboxEntry, message: Mapping[str, Any], attached: Mapping[str, bytes]
    ) -> None:
        """Find or build the draft with every attachment, then send it (only this delivers)."""
        try:
            draft = await self._leftover_draft(entry, attached)
            if draft is None:
                draft = await self._new_draft(message, attached)
        except UncertainError as err:  # nothing was sent: the draft is looked for next time
            raise TransientError(
                f"{err.message} (a draft is not a sent mail: it is found by its key and "
                "finished or replaced at the next try)"
            ) from err
        await self.gateway.request(
            "POST",
            f"{self._user}/messages/{quote(draft)}/send",
            what=f"send the draft of mail to {entry.recipient_label}",
            permission=f"Mail.Send (application) for the mailbox {self.mailbox}",
            ok=(202,),
            retry=False,
        )

    async def _leftover_draft(
        self, entry: OutboxEntry, attached: Mapping[str, bytes]
    ) -> str | None:
        """A draft of this message left by an earlier try, if complete; incomplete ones are
        deleted (a complete one is kept, any other copy deleted, so one at most is sent)."""
        leftovers = await self.gateway.results(  # every page: one may hold no results
            f"{self._user}/mailFolders/drafts/messages",
            what=f"look for an unsent draft in {self.mailbox}",
            permission=f"Mail.ReadWrite (application) for {self.mailbox}",
            params=key_filter(entry.key),
        )
        kept = None
        for found in leftovers:
            draft = str(found["id"])
            if kept is None and await self._complete(draft, attached):
                kept = draft
            else:
                await self._delete(draft)
        return kept

    async def _complete(self, draft: str, attached: Mapping[str, bytes]) -> bool:
        """Whether the draft holds every attachment (an upload session adds its file only
        once all its bytes arrived, so a name present is a file complete)."""
        attachments = await self.gateway.results(
            f"{self._user}/messages/{quote(draft)}/attachments",
            what="read the attachments of a draft",
            permission=f"Mail.ReadWrite (application) for {self.mailbox}",
            params={"$select": "name,size"},
        )
        names = {str(a.get("name")) for a in attachments}
        return set(attached) <= names

    async def _delete(self, draft: str) -> None:
        await self.gateway.request(
            "DELETE",
            f"{self._user}/messages/{quote(draft)}",
            what="delete an incomplete draft",
            permission=f"Mail.ReadWrite (application) for {self.mailbox}",
            ok=(204, 404),
        )

    async def _new_draft(self, message: Mapping[str, Any], attached: Mapping[str, bytes]) -> str:
        """Create the draft (with its key) and add each attachment to it."""
        response = await self.gateway.request(
            "POST",
            f"{self._user}/messages",
            what=f"create a draft in {self.mailbox}",
            permission=f"Mail.ReadWrite (application) for {self.mailbox}",
            ok=(201,),
            retry=False,
            json=dict(message),
        )
        draft = str(response.json()["id"])
        for name, data in attached.items():
            await self._attach(draft, name, data)
        return draft

    async def _attach(self, draft: str, name: str, data: bytes) -> None:
        """One attachment: a POST when small, an upload session of ranged PUTs when not."""
        base = f"{self._user}/messages/{quote(draft)}/attachments"
        permission = f"Mail.ReadWrite (application) for {self.mailbox}"
        body = _file_attachment(name, data)
        if len(data) < INLINE_LIMIT and len(json.dumps(body).encode()) < REQUEST_LIMIT:
            await self.gateway.request(
                "POST",
                base,
                what=f"attach {name}",
                permission=permission,
                ok=(201,),
                retry=False,
                json=body,
            )
            return
        session = await self.gateway.request(
            "POST",
            base + "/createUploadSession",
            what=f"start attaching {name}",
            permission=permission,
            ok=(201,),
            retry=False,
            json={"AttachmentItem": {"attachmentType": "file", "name": name, "size": len(data)}},
        )
        done = await self.gateway.put_ranges(
            session.json()["uploadUrl"], name, data, chunk_size=ATTACHMENT_CHUNK, done=(201,)
        )
        if done is None:
            raise TransientError(
                f"attach {name}: the upload session ended before the file was complete; the "
                "draft is replaced at the next try"
            )


def _file_attachment(name: str, data: bytes) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": name,
        "contentType": XLSX,
        "contentBytes": base64.b64encode(data).decode(),
    }
