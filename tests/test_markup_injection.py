"""Text typed by departments is data: it never becomes markup in any channel."""

from __future__ import annotations

import re

import pytest

from automation.config.models import Contact
from automation.damage.reading import CellProblem, SheetReading
from automation.plan import Message
from automation.render import environment, render
from automation.summary import clean_terminal

HOSTILE = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "<at>全員</at>",
    '"}]}, {"type": "Action.OpenUrl", "url": "https://evil.example"}',
    "[ここをクリック](https://evil.example)",
    "**重要** _至急_ # 見出し",
    "\x1b[2J\x1b[31m赤字\x07",
    "{{ 7 * 7 }} {% raw %}",
]


def feedback(value: str, channel: str) -> Message:
    """A damage feedback message whose problem cell holds ``value``."""
    from datetime import datetime  # noqa: PLC0415

    from automation.config.models import Department  # noqa: PLC0415
    from automation.timeutil import JST  # noqa: PLC0415

    reading = SheetReading("危機管理課", value, "matrix")
    reading.problems.append(
        CellProblem("危機管理課", f"{value}!B2", value, f"「{value}」は数値として読めません")
    )

    class Report:
        disaster = value
        as_of_ja = "2026年9月1日9時0分現在"
        next_deadline = datetime(2026, 9, 1, 12, tzinfo=JST)

    context = {
        "report": Report(),
        "department": Department(name=value),
        "reading": reading,
        "counted": [],
    }
    return Message(
        "feedback",
        "o",
        value,
        Contact(channel=channel, address="a@example.jp"),  # type: ignore[arg-type]
        "damage_feedback",
        context,
    )


@pytest.mark.parametrize("value", HOSTILE)
def test_html_bodies_escape_department_text(value: str) -> None:
    """In mail HTML, markup typed by a department arrives as text, never as tags."""
    html = render(environment(), feedback(value, "mail")).html or ""
    for tag in ("<script", "<img", "<at>"):
        assert tag not in html
    assert "{{" not in value or "7 * 7" in html  # template syntax in data is not evaluated


@pytest.mark.parametrize("value", HOSTILE)
def test_cards_keep_department_text_inside_strings(value: str) -> None:
    """In Adaptive Cards the text stays one JSON string, with Markdown and <at> neutralised."""
    card = render(environment(), feedback(value, "teams_webhook")).card
    assert card is not None
    texts = [str(element.get("text", "")) for element in card["body"]]
    assert "Action.OpenUrl" not in {element.get("type") for element in card["body"]}
    assert not any(re.search(r"(?<!\\)\]\(", text) for text in texts)  # no live Markdown link
    assert not any(re.search(r"(?<!\\)<at>", text) for text in texts)  # no mention markup


@pytest.mark.parametrize("value", HOSTILE)
def test_terminal_output_drops_control_characters(value: str) -> None:
    """Escape sequences and bells typed into a cell are not sent to the operator's terminal."""
    cleaned = clean_terminal(value)
    assert "\x1b" not in cleaned and "\x07" not in cleaned
