"""Keep an Adaptive Card within what a Teams Workflows webhook accepts (about 28 KB).

A consolidated report for a large disaster (hundreds of changed items, dozens of
departments) can outgrow the limit. The card keeps its head (title, "as of", totals) and
drops trailing elements until the whole webhook message fits, then says so and links the
merged workbook, which always holds everything.
"""

from __future__ import annotations

import copy
import json
from typing import Any

WEBHOOK_LIMIT = 28 * 1024  # Teams incoming webhooks: 28 KB per message
MARGIN = 512  # headers and encodings the service adds around our JSON
TRIMMED_NOTE = "文字数の上限のため、以降の内容を省略しました。全体は統合ブックをご覧ください。"
ADAPTIVE = "application/vnd.microsoft.card.adaptive"


def webhook_message(card: dict[str, Any]) -> dict[str, Any]:
    """The message a Workflows webhook expects around an Adaptive Card."""
    return {"type": "message", "attachments": [{"contentType": ADAPTIVE, "content": card}]}


def message_size(card: dict[str, Any]) -> int:
    """Bytes of the webhook message carrying ``card``, as sent (UTF-8 JSON)."""
    return len(json.dumps(webhook_message(card), ensure_ascii=False).encode("utf-8"))


SEE_WORKBOOK = "see-workbook"  # id of a card element that lists only the first few of many


def _open_workbook(card: dict[str, Any], link: str) -> dict[str, Any]:
    """A copy of ``card`` with a button opening the merged workbook (once)."""
    linked = copy.deepcopy(card)
    actions = [a for a in linked.get("actions") or [] if a.get("url") != link]
    linked["actions"] = [
        *actions,
        {"type": "Action.OpenUrl", "title": "統合ブックを開く", "url": link},
    ]
    return linked


def fit_card(
    card: dict[str, Any], link: str | None = None, limit: int = WEBHOOK_LIMIT - MARGIN
) -> dict[str, Any]:
    """``card`` itself when it fits; else a copy with trailing body elements dropped, a note,
    and (for an https ``link``) a button opening the merged workbook. A card listing only
    the first few of many (an element with id ``see-workbook``) gets the button too."""
    https = bool(link and link.startswith("https://"))
    if https and link and any(e.get("id") == SEE_WORKBOOK for e in card.get("body") or []):
        card = _open_workbook(card, link)
    if message_size(card) <= limit:
        return card
    fitted = copy.deepcopy(card)
    body: list[Any] = list(fitted.get("body") or [])
    note: dict[str, Any] = {
        "type": "TextBlock",
        "wrap": True,
        "isSubtle": True,
        "text": TRIMMED_NOTE,
    }
    if https and link:
        fitted = _open_workbook(fitted, link)
    low, high = 0, len(body)  # the most leading elements that fit: binary search
    while low < high:
        middle = (low + high + 1) // 2
        fitted["body"] = [*body[:middle], note]
        if message_size(fitted) <= limit:
            low = middle
        else:
            high = middle - 1
    fitted["body"] = [*body[:low], note]
    return fitted
