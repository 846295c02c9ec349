"""Text typed by departments (and admins) is data: it is shown as text in every channel.

Each case runs the real damage and progress flows on inputs where every free-text field
holds one string of the hostile corpus (tests/injection_corpus.py), renders every message
of one template for one channel, and compares it with the same run on harmless text.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from functools import cache
from html.parser import HTMLParser
from typing import Any

import pytest

from automation.config.models import Channel
from automation.plan import Message
from automation.render import PACKAGE_TEMPLATES, Rendered, environment, render
from automation.summary import clean_terminal, format_summary
from tests.injection_corpus import (
    CHANNELS,
    CORPUS,
    HARMLESS,
    LINKS,
    LONG_ROW_TEXT,
    MANY_ROWS,
    PROGRESS_TEMPLATES,
    SAFE_LINK,
    TEMPLATES,
    damage_records,
    messages,
    progress_messages,
    progress_records,
    shown,
)

ENV = environment()
HTML_CHANNELS: tuple[Channel, ...] = ("mail", "teams_channel")
MARKDOWN_SPECIAL = "\\`*_{}[]()#+-.!<>|~&"
CARD_TEXT_KEYS = frozenset({"text", "title", "value"})
CARD_CLIP = 50  # every card text shows at least this many characters of a value
TEAMS_LIMIT = 28_000  # bytes of card JSON a Teams webhook accepts
LIVE_LINK = re.compile(r"(?<!\\)\]\((?P<url>[^)]*)\)")
CORPUS_IDS = list(CORPUS)


@cache
def _rendered(text: str, template: str, channel: Channel) -> tuple[Rendered, ...]:
    return tuple(
        render(ENV, m)
        for m in messages(text)
        if m.template == template and m.contact.channel == channel
    )


def rendered(key: str, template: str, channel: Channel) -> tuple[Rendered, ...]:
    """Every message of ``template`` on ``channel`` when departments type CORPUS[key]."""
    out = _rendered(CORPUS[key], template, channel)
    assert out, f"the scenario plans no {template} message on {channel}"
    return out


def harmless(template: str, channel: Channel) -> tuple[Rendered, ...]:
    """The same messages with ordinary text."""
    return _rendered(HARMLESS, template, channel)


class Elements(HTMLParser):
    """The tags, attributes, comments and declarations of an HTML body, and its text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.markup: list[tuple[str, ...]] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.markup.append(("start", tag, *(f"{k}={v}" for k, v in attrs)))

    def handle_endtag(self, tag: str) -> None:
        self.markup.append(("end", tag))

    def handle_comment(self, data: str) -> None:
        self.markup.append(("comment", data))

    def handle_decl(self, decl: str) -> None:
        self.markup.append(("decl", decl))

    def handle_pi(self, data: str) -> None:
        self.markup.append(("pi", data))

    def unknown_decl(self, data: str) -> None:
        self.markup.append(("unknown", data))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def html_bodies(items: tuple[Rendered, ...]) -> list[str]:
    """The HTML bodies of rendered messages (a spec looping over none would check nothing)."""
    bodies = [r.html for r in items if r.html is not None]
    assert bodies, "no rendered message has an HTML body"
    return bodies


def cards(items: tuple[Rendered, ...]) -> list[dict[str, Any]]:
    """The Adaptive Cards of rendered messages (a spec looping over none would check nothing)."""
    found = [r.card for r in items if r.card is not None]
    assert found, "no rendered message has a card"
    return found


def card_texts(node: object) -> Iterator[str]:
    """Every string a card shows (TextBlock text, fact titles and values)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in CARD_TEXT_KEYS and isinstance(value, str):
                yield value
            else:
                yield from card_texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from card_texts(value)


def skeleton(node: object) -> object:
    """A card with its shown text reduced to the links in it: element types, actions, URLs."""
    if isinstance(node, dict):
        return {
            key: tuple(LIVE_LINK.findall(value))
            if key in CARD_TEXT_KEYS and isinstance(value, str)
            else skeleton(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [skeleton(value) for value in node]
    return node


def markdown_escaped(text: str) -> str:
    """``text`` with every Markdown-special character backslash-escaped."""
    return "".join("\\" + ch if ch in MARKDOWN_SPECIAL else ch for ch in text)


def invisible(text: str) -> list[str]:
    """Control, format (bidi, zero-width) and surrogate characters other than LF and tab."""
    return [
        f"U+{ord(ch):04X}"
        for ch in text
        if ch not in "\n\t" and unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp")
    ]


def one_line(text: str) -> str:
    """``text`` as a one-line subject shows it."""
    return " ".join(shown(text).split())


corpus = pytest.mark.parametrize("key", CORPUS_IDS)
templates = pytest.mark.parametrize("template", TEMPLATES)


def test_every_packaged_template_meets_the_corpus() -> None:
    """Every packaged message template is among those the corpus is driven through."""
    names = {path.name.split(".")[0] for path in PACKAGE_TEMPLATES.glob("*.j2")}
    assert {name for name in names if not name.startswith("_")} == set(TEMPLATES)


@corpus
@templates
@pytest.mark.parametrize("channel", HTML_CHANNELS)
def test_html_has_only_the_templates_elements(key: str, template: str, channel: Channel) -> None:
    """HTML bodies have exactly the elements and attributes they have with harmless text."""
    hostile = [Elements(html).markup for html in html_bodies(rendered(key, template, channel))]
    expected = [Elements(html).markup for html in html_bodies(harmless(template, channel))]
    assert hostile == expected


@corpus
@templates
@pytest.mark.parametrize("channel", HTML_CHANNELS)
def test_html_has_no_mention_or_script_markup(key: str, template: str, channel: Channel) -> None:
    """No Teams <at> mention and no script tag reaches an HTML body, in any letter case."""
    for html in html_bodies(rendered(key, template, channel)):
        assert not re.search(r"<\s*/?\s*(at|script)\b", html, re.IGNORECASE)


@corpus
@templates
@pytest.mark.parametrize("channel", HTML_CHANNELS)
def test_html_shows_the_text_as_typed(key: str, template: str, channel: Channel) -> None:
    """The reader of an HTML body sees the typed text itself, neither decoded nor doubled."""
    for html in html_bodies(rendered(key, template, channel)):
        assert shown(CORPUS[key]) in "".join(Elements(html).text)


@corpus
@templates
def test_card_structure_matches_harmless_text(key: str, template: str) -> None:
    """A card has the element types, actions and URLs it has with harmless text."""
    hostile = [skeleton(card) for card in cards(rendered(key, template, "teams_webhook"))]
    assert hostile == [skeleton(card) for card in cards(harmless(template, "teams_webhook"))]


@corpus
@templates
def test_card_shows_the_text_with_markdown_escaped(key: str, template: str) -> None:
    """Where a card shows typed text, it shows it (its start, if long) Markdown-escaped."""
    expected = markdown_escaped(shown(CORPUS[key])[:CARD_CLIP])
    hostile = cards(rendered(key, template, "teams_webhook"))
    for card, plain in zip(hostile, cards(harmless(template, "teams_webhook")), strict=True):
        if any(HARMLESS in text for text in card_texts(plain)):
            assert any(expected in text for text in card_texts(card))


@corpus
@templates
def test_card_text_has_no_live_mention_or_link(key: str, template: str) -> None:
    """No card text holds an unescaped '<' (mentions, HTML) or a link other than an item's."""
    for card in cards(rendered(key, template, "teams_webhook")):
        for text in card_texts(card):
            assert not re.search(r"(?<!\\)<", text)
            assert set(LIVE_LINK.findall(text)) <= {SAFE_LINK}


@corpus
@templates
def test_card_fits_a_teams_message(key: str, template: str) -> None:
    """However long the typed text, a card stays under the 28 KB a Teams webhook accepts."""
    for card in cards(rendered(key, template, "teams_webhook")):
        assert len(json.dumps(card, ensure_ascii=False).encode()) < TEAMS_LIMIT


@pytest.mark.parametrize("key", list(LONG_ROW_TEXT))
@templates
def test_card_with_many_rows_fits_a_teams_message(key: str, template: str) -> None:
    """With more rows of long typed text than any card lists, a card stays under 28 KB."""
    planned = [
        message
        for message in messages(LONG_ROW_TEXT[key], MANY_ROWS)
        if message.template == template and message.contact.channel == "teams_webhook"
    ]
    assert planned, f"the scenario plans no {template} card"
    for message in planned:
        card = render(ENV, message).card
        assert len(json.dumps(card, ensure_ascii=False).encode()) < TEAMS_LIMIT


@corpus
@templates
@pytest.mark.parametrize("channel", CHANNELS)
def test_subject_is_one_line_without_control_characters(
    key: str, template: str, channel: Channel
) -> None:
    """A subject is one line (no CR/LF header injection) with no control or bidi characters."""
    for item in rendered(key, template, channel):
        assert "\r" not in item.subject and "\n" not in item.subject
        assert invisible(item.subject) == []


@corpus
@templates
@pytest.mark.parametrize("channel", CHANNELS)
def test_subject_shows_the_text_as_typed(key: str, template: str, channel: Channel) -> None:
    """Where a subject shows typed text, it shows it as typed, whitespace runs as one space."""
    for item, plain in zip(
        rendered(key, template, channel), harmless(template, channel), strict=True
    ):
        if HARMLESS in plain.subject:
            assert one_line(CORPUS[key]) in item.subject


@corpus
@templates
def test_plain_text_has_no_control_characters(key: str, template: str) -> None:
    """Mail plain text holds no control, bidi or zero-width characters; only LF and tab."""
    for item in rendered(key, template, "mail"):
        assert invisible(item.text or "") == []


@corpus
@templates
def test_plain_text_shows_the_text_as_typed(key: str, template: str) -> None:
    """Mail plain text shows the typed text itself, minus invisible characters."""
    for item in rendered(key, template, "mail"):
        assert shown(CORPUS[key]) in (item.text or "")


EVALUATED = {"jinja_expression": "49", "jinja_block": "xxx", "jinja_ssti": "<class"}


@pytest.mark.parametrize(("key", "result"), EVALUATED.items())
@pytest.mark.parametrize("template", ["damage_feedback", "progress_problems"])
def test_template_syntax_in_data_is_shown_not_run(key: str, result: str, template: str) -> None:
    """Jinja syntax typed into a cell is printed as typed and never evaluated."""
    for item in rendered(key, template, "mail"):
        assert CORPUS[key] in (item.text or "")
        assert result not in (item.text or "")


def summaries(text: str) -> list[str]:
    """The terminal summaries of both flows' runs."""
    return [format_summary(record) for record in damage_records(text) + progress_records(text)]


@corpus
def test_terminal_summary_has_no_control_characters(key: str) -> None:
    """The terminal summary holds no escape sequence, bell, NUL, bidi or zero-width character."""
    for summary in summaries(CORPUS[key]):
        assert invisible(summary) == []


@corpus
def test_terminal_summary_keeps_one_line_per_entry(key: str) -> None:
    """Line breaks typed into a value cannot add lines to the terminal summary."""
    hostile = [summary.count("\n") for summary in summaries(CORPUS[key])]
    assert hostile == [summary.count("\n") for summary in summaries(HARMLESS)]


def test_failed_run_summary_keeps_error_lines_without_control_characters() -> None:
    """A failed run's error keeps its own lines, each indented, minus control characters."""
    error = {"kind": "data", "action": "fix_data", "message": "シート「\x1b[31m赤」\r\n直し方"}
    record = {"flow": "damage", "status": "failed", "error": error}
    assert format_summary(record).splitlines() == [
        "[damage] 失敗 (data: fix_data)",
        "  シート「[31m赤」",
        "  直し方",
        "  状態は変更していません。送信もしていません。",
    ]


@corpus
def test_clean_terminal_drops_control_characters(key: str) -> None:
    """clean_terminal leaves nothing a terminal would interpret, only text, LF and tab."""
    assert invisible(clean_terminal(CORPUS[key])) == []


def link_messages(link_key: str, template: str, channel: Channel) -> list[Message]:
    """Progress messages of ``template`` on ``channel`` whose items link to LINKS[link_key]."""
    found = [
        m
        for m in progress_messages(HARMLESS, LINKS[link_key])
        if m.template == template and m.contact.channel == channel
    ]
    assert found, f"the scenario plans no {template} message on {channel}"
    return found


SAFE_URL = re.compile(r"https?://[^\s\"'<>()\[\]\\`{}|^]+")
WEB_LINKS = {"markdown_breakout", "attribute_breakout", "tag_breakout", "whitespace", "control"}
links = pytest.mark.parametrize("link_key", list(LINKS))
link_templates = pytest.mark.parametrize("template", PROGRESS_TEMPLATES)


@links
@link_templates
@pytest.mark.parametrize("channel", HTML_CHANNELS)
def test_html_links_are_plain_web_addresses(link_key: str, template: str, channel: Channel) -> None:
    """An item link becomes an <a href> only as an http(s) address, percent-encoded."""
    for message in link_messages(link_key, template, channel):
        html = render(ENV, message).html or ""
        hrefs = [
            part[len("href=") :]
            for tag in Elements(html).markup
            for part in tag[2:]
            if tag[0] == "start" and part.startswith("href=")
        ]
        assert all(SAFE_URL.fullmatch(href) for href in hrefs), hrefs
        if link_key not in WEB_LINKS:
            assert hrefs == []


@links
def test_card_links_are_plain_web_addresses(link_key: str) -> None:
    """A card links an item only to an http(s) address that cannot close the Markdown link."""
    for message in link_messages(link_key, "progress_reminder", "teams_webhook"):
        card = render(ENV, message).card
        urls = [url for text in card_texts(card) for url in LIVE_LINK.findall(text)]
        assert all(SAFE_URL.fullmatch(url) for url in urls), urls
        assert bool(urls) == (link_key in WEB_LINKS)
