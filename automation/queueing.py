"""A message as the outbox keeps it: everything its send needs, fixed when it is queued.

Bodies, the contact's @mentions and channel name, where its attachments live, and where it
goes (a mail address, TEAM/CHANNEL, or a webhook's reference: the URL is a secret, looked up
by its digest in the configuration at send time, so a queued card goes to the URL it was
queued for or nowhere). A configuration reloaded between enqueue and send changes none of
it; the digest covers all of it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from automation.plan import Message
from automation.render import Rendered
from automation.state import OutboxEntry


def outbox_entry(
    flow_id: str,
    run_id: int,
    message: Message,
    body: Rendered,
    links: Mapping[str, str] | None = None,
) -> OutboxEntry:
    """``message`` rendered as ``body``, ready to be stored under its idempotency key."""
    contact = message.contact
    bodies = body.bodies()
    payload = send_payload(message, links or {})
    return OutboxEntry(
        key=message.key(flow_id),
        flow=flow_id,
        run_id=run_id,
        kind=message.kind,
        audience=message.audience,
        channel=contact.channel,
        recipient=contact.stored_address,
        recipient_label=contact.label,
        subject=body.subject,
        bodies=bodies,
        attachments=message.attachments,
        digest=entry_digest(contact.channel, contact.stored_address, body.subject, bodies, payload),
        occasion=message.occasion,
        payload=payload,
    )


def send_payload(message: Message, links: Mapping[str, str]) -> dict[str, Any]:
    """What the send needs beyond its bodies, fixed now: this message's own @mentions, and
    where its attachments live (linked instead when too large to send)."""
    contact = message.contact
    payload: dict[str, Any] = {}
    if contact.channel == "teams_channel":
        payload["mentions"] = [{"user_id": m.user_id, "name": m.name} for m in contact.mentions]
        payload["mention_channel"] = contact.mention_channel
        payload["channel_name"] = contact.name
    attachment_links = {name: links[name] for name in message.attachments if name in links}
    if attachment_links:
        payload["attachment_links"] = attachment_links
    return payload


def entry_digest(
    channel: str,
    recipient: str,
    subject: str,
    bodies: Mapping[str, str],
    payload: Mapping[str, Any],
) -> str:
    """A digest of everything a queued message's send uses: where, what, and its payload."""
    parts = [channel, recipient, subject, *bodies.values(), json.dumps(payload, sort_keys=True)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
