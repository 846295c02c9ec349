"""A Teams channel post as Graph's chatMessage: real @mentions above the rendered HTML and a
short reference below it, which finds the post again after a crash.

Built from an outbox entry alone (its bodies and its payload, fixed when it was queued), so
the runner can measure a post against Teams' limit before queueing it and the deliverer
posts exactly what was measured.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass, field
from typing import Any

from automation.config.models import Mention
from automation.state import OutboxEntry


@dataclass
class ChannelTarget:
    """Who is @mentioned in one channel post (the message's own contact, fixed at enqueue)."""

    mentions: list[Mention] = field(default_factory=list)
    mention_channel: bool = False
    name: str | None = None

    @classmethod
    def of(cls, entry: OutboxEntry) -> ChannelTarget:
        """The mentions stored with ``entry`` (none for a message queued without them)."""
        payload = entry.payload
        return cls(
            [Mention(user_id=m["user_id"], name=m["name"]) for m in payload.get("mentions", [])],
            bool(payload.get("mention_channel", False)),
            payload.get("channel_name"),
        )


def reference_mark(key: str) -> str:
    """The short reference printed in each channel post, found again after a crash."""
    return "整理番号 " + hashlib.sha256(key.encode()).hexdigest()[:12]


def channel_payload(entry: OutboxEntry, target: ChannelTarget, channel_id: str) -> dict[str, Any]:
    """A chatMessage with real @mentions above the rendered HTML and the reference below."""
    tags = []
    mentions: list[dict[str, Any]] = []
    for mention in target.mentions:
        tags.append(f'<at id="{len(mentions)}">{html.escape(mention.name)}</at>')
        mentions.append(
            {
                "id": len(mentions),
                "mentionText": mention.name,
                "mentioned": {
                    "user": {
                        "id": mention.user_id,
                        "displayName": mention.name,
                        "userIdentityType": "aadUser",
                    }
                },
            }
        )
    if target.mention_channel:
        name = target.name or "チャネル"
        tags.append(f'<at id="{len(mentions)}">{html.escape(name)}</at>')
        mentions.append(
            {
                "id": len(mentions),
                "mentionText": name,
                "mentioned": {
                    "conversation": {
                        "id": channel_id,
                        "displayName": name,
                        "conversationIdentityType": "channel",
                    }
                },
            }
        )
    head = f"<p>{' '.join(tags)}</p>" if tags else ""
    mark = f"<p>（{reference_mark(entry.key)}）</p>"
    payload: dict[str, Any] = {
        "subject": entry.subject,
        "body": {"contentType": "html", "content": head + entry.bodies.get("html", "") + mark},
    }
    if mentions:
        payload["mentions"] = mentions
    return payload
