"""Keep every message within what its channel accepts, before it is queued.

Flows and templates already cap the problems a message lists
(:data:`automation.plan.LIST_LIMIT`; the merged workbook holds them all). What still does not
fit is cut here, at the end of a table row, list item or paragraph, with the open tags
closed and a note saying so (linking the merged workbook when its address is a web address):

- mail: Graph refuses requests over 4 MB, and a mail's body travels in one request (a draft
  too); the body as the request carries it (JSON, non-ASCII escaped) is kept under
  ``MAIL_BODY_LIMIT``, leaving the rest for the subject, recipients and key (attachments go
  in their own requests when large);
- Teams channel post: about 28 KB for the whole message, @mentions included ("Limits and
  specifications for Microsoft Teams"; Teams counts a message's size in UTF-16, as "Format
  your bot messages" says of the same kind of limit); the chatMessage as posted, mentions
  and reference included, is kept under ``TEAMS_POST_LIMIT`` in UTF-8 and in UTF-16 alike;
- Teams Workflows webhook: the card is cut by :func:`automation.cards.fit_card` (28 KB).

The cut is made once, at enqueue: the outbox's digest covers what is sent.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from automation.cards import TRIMMED_NOTE, fit_card
from automation.plan import Message
from automation.render import Rendered
from automation.state import OutboxEntry
from automation.teams_post import ChannelTarget, channel_payload

MAIL_BODY_LIMIT = 3 * 1024 * 1024 + 512 * 1024  # of the 4 MB request
TEAMS_POST_LIMIT = 26 * 1024  # of about 28 KB, leaving room for what Teams adds
# A paragraph saying the full list is in the merged workbook: the link goes at its end.
SEE_PARAGRAPH = re.compile(r'(<p class="see-workbook">.*?)(</p>)', re.DOTALL)
# Where HTML may be cut: after a table row, list item, paragraph, heading or line break.
BOUNDARY = re.compile(r"(?:</(?:tr|li|p|h[1-6]|table|ul|ol|div)>|<br\s*/?>)\s*", re.IGNORECASE)
TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)\b[^>]*?(/?)>")
VOID = frozenset({"br", "hr", "img", "meta", "input", "col", "wbr", "link"})
OUTER = ("body", "html")


def fit_message(flow_id: str, message: Message, rendered: Rendered, link: str | None) -> Rendered:
    """``rendered`` within its channel's limit; the merged workbook linked where useful."""
    channel = message.contact.channel
    https = link if link and link.startswith("https://") else None
    if channel == "teams_webhook":
        return replace(rendered, card=fit_card(rendered.card, link)) if rendered.card else rendered
    body = rendered.html
    if body is not None and https:
        body = _link_workbook(body, https)
    if channel == "teams_channel":
        fits = _post_fits(flow_id, message, rendered.subject)
        body = trim_html(body, fits, https) if body is not None else None
        return replace(rendered, html=body)
    text = rendered.text
    if body is not None:
        body = trim_html(body, _json_fits, https)
    if text is not None:
        text = trim_text(text, _text_fits, https)
    return replace(rendered, html=body, text=text)


def _json_fits(body: str) -> bool:
    """Whether an HTML mail body fits, as the request carries it (JSON, non-ASCII escaped)."""
    return len(json.dumps(body)) <= MAIL_BODY_LIMIT


def _text_fits(text: str) -> bool:
    """Whether a text mail body fits once sent as HTML (escaped, a <br> for each line break)."""
    return _json_fits(html.escape(text).replace("\n", "<br>"))


def post_size(post: dict[str, Any]) -> int:
    """A chatMessage's size as Teams may count it: the larger of UTF-8 and UTF-16."""
    text = json.dumps(post, ensure_ascii=False)
    return max(len(text.encode("utf-8")), len(text.encode("utf-16-le")))


def _post_fits(flow_id: str, message: Message, subject: str) -> Callable[[str], bool]:
    """Whether a channel post with this HTML, as posted (mentions, reference), fits."""
    contact = message.contact
    target = ChannelTarget(list(contact.mentions), contact.mention_channel, contact.name)
    channel_id = contact.address.partition("/")[2]

    def fits(body: str) -> bool:
        entry = OutboxEntry(
            key=message.key(flow_id),
            flow=flow_id,
            run_id=0,
            kind=message.kind,
            audience=message.audience,
            channel=contact.channel,
            recipient=contact.address,
            recipient_label=contact.label,
            subject=subject,
            bodies={"html": body},
            attachments=(),
            digest="",
        )
        post = channel_payload(entry, target, channel_id)
        return post_size(post) <= TEAMS_POST_LIMIT

    return fits


def _link_workbook(body: str, link: str) -> str:
    """Each "see the workbook" paragraph gets a link to it."""
    anchor = f' <a href="{html.escape(link)}">統合ブックを開く</a>'
    return SEE_PARAGRAPH.sub(lambda m: m[1] + anchor + m[2], body)


def trim_html(body: str, fits: Callable[[str], bool], link: str | None = None) -> str:
    """``body`` if it fits, else its longest leading part that fits with a note, cut after a
    block element with the tags still open closed (so the markup stays whole)."""
    if fits(body):
        return body
    note = f"<p><em>{html.escape(TRIMMED_NOTE)}</em>"
    note += f' <a href="{html.escape(link)}">統合ブックを開く</a></p>' if link else "</p>"
    cuts = [0, *(m.end() for m in BOUNDARY.finditer(body))]

    def cut_at(index: int) -> str:
        prefix = body[: cuts[index]]
        still_open = _open_tags(prefix)
        inner = [t for t in still_open if t not in OUTER]
        outer = [t for t in still_open if t in OUTER]
        return (
            prefix
            + "".join(f"</{t}>" for t in reversed(inner))
            + note
            + "".join(f"</{t}>" for t in reversed(outer))
        )

    low, high = 0, len(cuts) - 1  # the most leading content that fits: binary search
    while low < high:
        middle = (low + high + 1) // 2
        if fits(cut_at(middle)):
            low = middle
        else:
            high = middle - 1
    return cut_at(low)


def _open_tags(prefix: str) -> list[str]:
    """Tags opened in ``prefix`` and not yet closed, outermost first."""
    stack: list[str] = []
    for match in TAG.finditer(prefix):
        closing, name, self_closing = match[1], match[2].lower(), match[3]
        if name in VOID or self_closing:
            continue
        if not closing:
            stack.append(name)
        elif name in stack:
            del stack[len(stack) - 1 - stack[::-1].index(name) :]
    return stack


def trim_text(text: str, fits: Callable[[str], bool], link: str | None = None) -> str:
    """``text`` if it fits, else its longest run of leading lines that fits, with a note."""
    if fits(text):
        return text
    note = f"\n（{TRIMMED_NOTE}{' ' + link if link else ''}）\n"
    lines = text.splitlines(keepends=True)
    low, high = 0, len(lines)
    while low < high:
        middle = (low + high + 1) // 2
        if fits("".join(lines[:middle]) + note):
            low = middle
        else:
            high = middle - 1
    return "".join(lines[:low]) + note
