"""What a flow decides: messages to deliver. Flows return these; backends act on them."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from automation.config.models import Contact

# Problems one message lists: a workbook with tens of thousands of unreadable cells must not
# make a mail of megabytes. The rest are counted, and kept where the message says (the
# merged workbook's 要修正セル sheet; a progress notice sends them in its next notices).
LIST_LIMIT = 100


@dataclass(frozen=True)
class Alert:
    """What the admins are told (template ``admin_alert``): a title, facts, and what to do."""

    title: str
    lines: tuple[str, ...]
    action: str


@dataclass(frozen=True)
class Message:
    """One message a flow wants delivered, before rendering.

    ``occasion`` names the logical event (``report:3``, ``reminder:<deadline>``,
    ``feedback:<sheet fingerprint>``); with the flow, channel and recipient it forms the
    idempotency key, so the same occasion is never delivered twice to the same person.
    """

    kind: str
    occasion: str
    audience: str
    contact: Contact
    template: str
    context: Mapping[str, Any]
    attachments: tuple[str, ...] = field(default=())

    def key(self, flow_id: str) -> str:
        """Idempotency key: stable across reruns and restarts."""
        raw = "\x1f".join((flow_id, self.occasion, self.contact.channel, self.contact.address))
        digest = hashlib.sha256(raw.encode()).hexdigest()[:20]
        return f"{flow_id}:{self.occasion}:{digest}"
