"""Specs for a message's size: lists are capped, and every message fits its channel's limit.

Graph refuses requests over 4 MB (a mail's body travels in one), a Teams channel message is
about 28 KB with its @mentions, a Workflows webhook 28 KB. A workbook with tens of thousands
of unreadable cells once made a 25 MB feedback mail.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from automation.cards import TRIMMED_NOTE
from automation.config.loader import load_config
from automation.config.models import Contact, Mention
from automation.damage.reading import CellProblem
from automation.damage.workbook import parse_workbook
from automation.demo import ROUND_1, ROUND_2, build_workbook, edit_workbook, write_workspace
from automation.fit import MAIL_BODY_LIMIT, TEAMS_POST_LIMIT, fit_message, post_size
from automation.flows.damage_rollup import DamageInputs, DamagePlan, DamageState, plan
from automation.plan import LIST_LIMIT, Message
from automation.render import Rendered, environment, render
from automation.state import OutboxEntry
from automation.teams_post import ChannelTarget, channel_payload
from automation.timeutil import parse_now

CHANNEL_ADDRESS = (
    "00000000-0000-0000-0000-00000000a001/19:0000000000000000000000000000a002@thread.tacv2"
)
WORKBOOK = "https://contoso.sharepoint.com/sites/saigai/Shared%20Documents/merged.xlsx"
CHANNEL = Contact(
    channel="teams_channel",
    address=CHANNEL_ADDRESS,
    name="被害報告",
    mentions=(Mention(user_id="00000000-0000-0000-0000-0000000000a1", name="山田 太郎"),),
    mention_channel=True,
)


@pytest.fixture(scope="module")
def second_round(tmp_path_factory: pytest.TempPathFactory) -> DamagePlan:
    """The demo's second round (第2報), planned in memory."""
    path = write_workspace(tmp_path_factory.mktemp("demo") / "ws")
    loaded = load_config(path, environ={"DEMO_TEAMS_WEBHOOK_URL": "https://example.invalid/h"})
    flow = loaded.config.flows[0]
    book_path = loaded.base_dir / "inputs" / flow.params.workbook
    state = DamageState()
    for number, (now, change) in enumerate(((ROUND_1, build_workbook), (ROUND_2, edit_workbook))):
        change(book_path)
        book = parse_workbook(book_path.read_bytes(), "b.xlsx", max_bytes=10**8)
        planned = plan(
            flow.params,
            loaded.config.directory,
            DamageInputs(str(number + 1), book),
            state,
            parse_now(now),
        )
        state = planned.state
    return planned


def feedback(plan: DamagePlan, problems: int, contact: Contact | None = None) -> Message:
    """危機管理課's feedback with ``problems`` unreadable cells, each with a long value."""
    message = next(m for m in plan.messages if m.kind == "feedback" and m.audience == "危機管理課")
    reading = message.context["reading"]
    cells = [
        CellProblem("危機管理課", f"危機管理課!C{n}", "不明" * 40, "数字を入れてください。")
        for n in range(problems)
    ]
    context = {**message.context, "reading": replace(reading, problems=cells)}
    return replace(message, context=context, contact=contact or message.contact)


def test_feedback_lists_at_most_list_limit_cells_and_says_where_the_rest_are(
    second_round: DamagePlan,
) -> None:
    """20,000 unreadable cells: 100 are listed; the rest are counted, in the merged workbook."""
    rendered = render(environment(), feedback(second_round, 20_000))
    assert (rendered.html or "").count("<tr><td>") == LIST_LIMIT
    assert "ほか 19,900件（全件は第2報の集計ブックの「要修正セル」シートにあります）" in (
        rendered.text or ""
    )


def test_the_rest_of_the_list_links_the_merged_workbook(second_round: DamagePlan) -> None:
    """The "and N more" paragraph of a mail links the merged workbook at its web address."""
    message = feedback(second_round, 150)
    fitted = fit_message("typhoon", message, render(environment(), message), WORKBOOK)
    assert (
        f'ほか 50件（全件は第2報の集計ブックの「要修正セル」シートにあります） <a href="{WORKBOOK}">'
        in (fitted.html or "")
    )


def test_a_mail_body_over_graphs_request_limit_is_cut_with_a_note(
    second_round: DamagePlan,
) -> None:
    """A 6 MB HTML body is cut after a row, its table closed, below Graph's 4 MB."""
    message = feedback(second_round, 1)
    row = "<tr><td>危機管理課!C1</td><td>" + "長い値" * 300 + "</td><td>直してください</td></tr>\n"
    body = "<html><body><table>\n" + row * 2_500 + "</table></body></html>"
    rendered = Rendered(subject="受付結果", html=body, text="短い本文")
    fitted = fit_message("typhoon", message, rendered, WORKBOOK).html or ""
    assert len(json.dumps(fitted)) <= MAIL_BODY_LIMIT < len(json.dumps(body))
    assert fitted.endswith("統合ブックを開く</a></p></body></html>") and TRIMMED_NOTE in fitted
    assert fitted.count("<table>") == fitted.count("</table>") == 1


def test_a_text_mail_over_graphs_request_limit_is_cut_at_a_line(
    second_round: DamagePlan,
) -> None:
    """A text body is cut after a whole line, with the note and the workbook's address."""
    message = feedback(second_round, 1)
    text = ("・危機管理課!C1「" + "長い値" * 300 + "」\n") * 2_500
    fitted = fit_message("typhoon", message, Rendered(subject="s", text=text), WORKBOOK).text
    assert fitted is not None and len(fitted) < len(text)
    lines = fitted.splitlines()
    assert lines[-1] == f"（{TRIMMED_NOTE} {WORKBOOK}）"
    assert set(lines[:-2]) == {lines[0]} and lines[-2] == ""  # whole lines, then the note


def test_a_channel_post_fits_teams_limit_with_its_mentions(second_round: DamagePlan) -> None:
    """A feedback post of 100 long rows is cut to Teams' 28 KB, @mentions and reference kept."""
    message = feedback(second_round, 150, CHANNEL)
    fitted = fit_message("typhoon", message, render(environment(), message), WORKBOOK)
    entry = OutboxEntry(
        key=message.key("typhoon"),
        flow="typhoon",
        run_id=1,
        kind="feedback",
        audience="危機管理課",
        channel="teams_channel",
        recipient=CHANNEL_ADDRESS,
        recipient_label=CHANNEL_ADDRESS,
        subject=fitted.subject,
        bodies={"html": fitted.html or ""},
        attachments=(),
        digest="",
        payload={
            "mentions": [{"user_id": m.user_id, "name": m.name} for m in CHANNEL.mentions],
            "mention_channel": True,
            "channel_name": CHANNEL.name,
        },
    )
    post = channel_payload(entry, ChannelTarget.of(entry), CHANNEL_ADDRESS.partition("/")[2])
    assert post_size(post) <= TEAMS_POST_LIMIT
    assert [m["mentionText"] for m in post["mentions"]] == ["山田 太郎", "被害報告"]
    assert TRIMMED_NOTE in post["body"]["content"]


def test_a_small_message_is_left_as_it_is(second_round: DamagePlan) -> None:
    """A feedback of three unreadable cells is sent exactly as rendered."""
    message = feedback(second_round, 3)
    rendered = render(environment(), message)
    assert fit_message("typhoon", message, rendered, WORKBOOK) == rendered
