"""Outlook drafts for mail with large attachments: create a draft, attach files (a POST under
3 MB, an upload session from 3 MB to 150 MB), send the draft, delete it.

Reference pages (microsoftgraph/microsoft-graph-docs-contrib): user-post-messages.md (POST
/users/{u}/messages -> 201 message, isDraft true), message-post-attachments.md (POST
.../attachments -> 201 fileAttachment), attachment-createuploadsession.md and
concepts/outlook-large-attachments.md (POST .../attachments/createUploadSession with
{"AttachmentItem": {attachmentType, name, size}} -> 201 uploadSession; PUT ranges "up to 4 MB
each" to the pre-authenticated uploadUrl, without Authorization (401 with it, chosen) and with
``Content-Type: application/octet-stream`` (required; 400 without): 200 with nextExpectedRanges,
the last 201 with a Location header and no body; "You must upload bytes in a file in
order"; ErrorAttachmentSizeShouldNotBeLessThanMinimumSize under 3 MB), message-send.md
(POST .../send -> 202; "This method saves the message in the Sent Items folder"),
message-delete.md (DELETE -> 204). The 4 MB request limit: outlook-large-attachments.md.

Chosen where the pages are silent (not documented): a fragment overlapping what the session
already holds is refused with 416 like a drive session; the session URL answers GET with its
status; sending a draft moves it to Sent Items at once.
"""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from tests.fake_graph.drives import DriveEndpoints
from tests.fake_graph.mail import INLINE_ATTACHMENT_LIMIT, MailEndpoints, SentMail, inline_size
from tests.fake_graph.wire import GraphError, Json, _iso, _json, _odata_context

OUTLOOK_ORIGIN = "https://outlook.fake-office.test"
SESSION_ATTACHMENT_LIMIT = 150 * 1024 * 1024
FRAGMENT_LIMIT = 4 * 1024 * 1024  # "up to 4 MB each time"
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


@dataclass
class AttachmentSession:
    """An attachment upload session on a draft."""

    session_id: str
    draft_id: str
    name: str
    size: int
    received: bytearray = field(default_factory=bytearray)


class DraftEndpoints(MailEndpoints):
    """Drafts, their attachments and attachment upload sessions, and sending a draft."""

    def drafts_of(self, mailbox: str) -> list[SentMail]:
        """A mailbox's drafts, oldest first."""
        return [d for d in self.drafts.values() if d.mailbox.casefold() == mailbox.casefold()]

    def _draft(self, request: Request) -> SentMail:
        mailbox = self._mailbox(request)
        draft = self.drafts.get(request.path_params["message_id"])
        if draft is None or draft.mailbox != mailbox:
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        return draft

    async def _create_draft(self, request: Request) -> Response:
        mailbox = self._mailbox(request)
        draft = self._json_mail(mailbox, {"message": await self._json_body(request)})
        for attachment in draft.attachments:
            inline_size(attachment)
        self.drafts[draft.message_id] = draft
        body = self._message_json(draft, None)
        body["isDraft"] = True
        body["@odata.context"] = _odata_context(
            request, f"users('{quote(mailbox, safe='')}')/messages/$entity"
        )
        return _json(body, 201)

    async def _draft_attachments(self, request: Request) -> Response:
        draft = self._draft(request)
        if request.method == "POST":
            attachment = await self._json_body(request)
            size = inline_size(attachment)
            stored = {**attachment, "id": uuid.uuid4().hex, "size": size}
            draft.attachments.append(stored)
            return _json(self._attachment_json(stored), 201)
        return _json({"value": [self._attachment_json(a) for a in draft.attachments]})

    @staticmethod
    def _attachment_json(attachment: Json) -> Json:
        """An attachment's metadata (contentBytes left out, as a $select would)."""
        return {
            "@odata.type": "#microsoft.graph.fileAttachment",
            "id": attachment.get("id"),
            "name": attachment.get("name"),
            "contentType": attachment.get("contentType"),
            "size": attachment.get("size"),
            "isInline": False,
        }

    async def _attachment_session(self, request: Request) -> Response:
        draft = self._draft(request)
        payload = await self._json_body(request)
        item = payload.get("AttachmentItem") or payload.get("attachmentItem") or {}
        size = int(item.get("size") or 0)
        if size < INLINE_ATTACHMENT_LIMIT:
            raise GraphError(
                400,
                "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
                "Attachment size should not be less than 3 MB.",
            )
        if size > SESSION_ATTACHMENT_LIMIT:
            raise GraphError(413, "ErrorAttachmentSizeExceeded", "Attachments are 150 MB at most.")
        session = AttachmentSession(uuid.uuid4().hex, draft.message_id, str(item["name"]), size)
        self.attachment_sessions[session.session_id] = session
        origin = DriveEndpoints._preauth_origin(request, self.outlook_origin, OUTLOOK_ORIGIN)
        return _json(
            {
                "@odata.context": _odata_context(request, "microsoft.graph.uploadSession"),
                "uploadUrl": f"{origin}/outlook-upload/{session.session_id}"
                f"?authtoken={uuid.uuid4().hex}",
                "expirationDateTime": _iso(self.clock() + timedelta(hours=1), millis=True),
                "nextExpectedRanges": ["0-"],
            },
            201,
        )

    async def _attachment_fragment(self, request: Request) -> Response:
        session = self.attachment_sessions.get(request.path_params["session_id"])
        if session is None:
            raise GraphError(404, "ErrorItemNotFound", "The upload session was not found.")
        status = {"nextExpectedRanges": [f"{len(session.received)}"]}
        if request.method == "GET":
            return _json(status)
        if request.method == "DELETE":
            del self.attachment_sessions[session.session_id]
            return Response(status_code=204)
        if request.headers.get("content-type", "").split(";")[0] != "application/octet-stream":
            raise GraphError(  # outlook-large-attachments.md: Content-Type ... Required
                400, message="Content-Type must be application/octet-stream."
            )
        match = _CONTENT_RANGE.match(request.headers.get("content-range", ""))
        fragment = await request.body()
        if match is None or int(match[3]) != session.size:
            raise GraphError(400, message="Content-Range must be 'bytes start-end/size'.")
        if len(fragment) > FRAGMENT_LIMIT:
            raise GraphError(413, "RequestEntityTooLarge", "A fragment is 4 MB at most.")
        if int(match[1]) != len(session.received):
            raise GraphError(416, "invalidRange", "The fragment is out of order or overlaps.")
        session.received += fragment
        if len(session.received) < session.size:
            return _json({"nextExpectedRanges": [f"{len(session.received)}"]})
        draft = self.drafts[session.draft_id]
        attachment_id = uuid.uuid4().hex
        draft.attachments.append(
            {
                "id": attachment_id,
                "name": session.name,
                "contentBytes": base64.b64encode(bytes(session.received)).decode(),
                "size": session.size,
            }
        )
        del self.attachment_sessions[session.session_id]
        location = (
            f"{OUTLOOK_ORIGIN}/api/v2.0/Messages('{draft.message_id}')"
            f"/Attachments('{attachment_id}')"
        )
        return Response(status_code=201, headers={"Location": location})

    async def _send_draft(self, request: Request) -> Response:
        draft = self._draft(request)
        del self.drafts[draft.message_id]
        draft.sent_at = self.clock()
        self.sent_mail.append(draft)
        return Response(status_code=202)

    async def _delete_message(self, request: Request) -> Response:
        draft = self._draft(request)
        del self.drafts[draft.message_id]
        return Response(status_code=204)
