"""Hostile text and the realistic runs that carry it into every message.

``CORPUS`` holds what people might type (or paste) into a damage sheet, a progress list
or the configuration: markup for mail HTML and Teams, Adaptive Card JSON fragments,
Markdown, template syntax, control characters and very long values. ``damage_messages``
and ``progress_messages`` run the real pure flows on inputs where every text field that
reaches a message holds one corpus string, so each template is driven the way production
drives it. ``HARMLESS`` takes the same paths with ordinary text, for structural comparison.
"""

from __future__ import annotations

import random
import re
import unicodedata
from datetime import date, datetime
from functools import cache
from typing import Any

from automation.alerts import Alert
from automation.config.models import (
    Budget,
    Channel,
    Contact,
    DamageRollupParams,
    Deadlines,
    Department,
    Directory,
    ProgressCollectionParams,
    RecordsLayout,
    Round,
)
from automation.damage.workbook import parse_workbook
from automation.flows import damage_rollup, progress_collection
from automation.flows import incident as incident_plans
from automation.flows.damage_rollup import DamageInputs, DamagePlan, DamageState
from automation.flows.progress_collection import ProgressPlan
from automation.jobs.progress import progress_record
from automation.plan import Message
from automation.ports import ListItem
from automation.record import damage_record
from automation.timeutil import JST
from tests.builders import xlsx_bytes

CHANNEL_ADDRESS = (
    "00000000-0000-0000-0000-00000000a001/19:0000000000000000000000000000a002@thread.tacv2"
)

CORPUS: dict[str, str] = {
    # HTML: elements, event handlers, attribute break-outs, closing the surrounding table.
    "script": "<script>alert(1)</script>",
    "img_onerror": '<img src=x onerror="alert(1)">',
    "svg_onload": "<svg/onload=alert(1)>",
    "attribute_breakout": '" onmouseover="alert(1)" x="',
    "single_quote_breakout": "' autofocus onfocus='alert(1)",
    "javascript_anchor": '<a href="javascript:alert(1)">ここ</a>',
    "iframe": '<iframe src="https://evil.example/"></iframe>',
    "style": "<style>body{display:none}</style>",
    "comment_then_bold": "<!-- --><b>太字</b>",
    "table_breakout": "</td></tr></table><h1>偽の見出し</h1><table><tr><td>",
    "body_breakout": "</body></html><p>本文の後</p>",
    # Teams mention markup.
    "at_everyone": '<at id="0">全員</at>',
    "at_plain": "<at>全員</at>",
    "at_upper": "<AT>全員</AT>",
    "at_channel": '<at id="1" type="channel">一般</at>',
    "at_spaced": "< at >全員</ at >",
    # Adaptive Card JSON: close the string and add an action, an element, an image.
    "card_action": '"}]}, {"type": "Action.OpenUrl", "url": "https://evil.example/"}',
    "card_actions_key": '"}], "actions": [{"type": "Action.OpenUrl", "title": "開く", '
    '"url": "https://evil.example/"}], "x": "',
    "card_backslash": '\\", "type": "Image", "url": "https://evil.example/x.png',
    "card_unicode_escape": "\\u0022}, {\\u0022type\\u0022: \\u0022Action.OpenUrl\\u0022}",
    # Markdown (Adaptive Card TextBlocks).
    "md_link": "[ここをクリック](https://evil.example/)",
    "md_image": "![画像](https://evil.example/x.png)",
    "md_autolink": "<https://evil.example/>",
    "md_reference_link": "[詳細][1]\n\n[1]: https://evil.example/",
    "md_emphasis": "**重要** _至急_ ~~取消~~ `code`",
    "md_heading": "# 見出し",
    "md_setext_heading": "見出し\n===",
    "md_list": "- 項目1\n+ 項目2\n1. 番号\n2) 番号",
    "md_quote": "> 引用\n>> 二重引用",
    "md_table": "| 列1 | 列2 |\n|---|---|",
    "md_pre_escaped": "\\*エスケープ済み\\* \\[x\\]",
    # Pre-escaped entities must stay as typed, not be decoded or double-decoded.
    "entities": "&lt;script&gt;alert(1)&lt;/script&gt;",
    "ampersands": "R&D推進課 &amp; &#60;b&#62; &nbsp; &",
    # Template syntax is data, never evaluated.
    "jinja_expression": "{{ 7 * 7 }}",
    "jinja_block": "{% for x in range(3) %}x{% endfor %}{% raw %}",
    "jinja_comment": "{# 注記 #}",
    "jinja_ssti": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    # Control characters: terminal escapes, bells, NULs, bidi overrides, invisible text.
    "ansi_colour": "\x1b[2J\x1b[31m赤字\x1b[0m",
    "ansi_hyperlink": "\x1b]8;;https://evil.example/\x07リンク\x1b]8;;\x07",
    "c1_csi": "\x9b31m赤字\x9b0m",
    "bell_nul": "鐘\x07\x00終わり",
    "backspace": "正しい値\x08\x08\x08偽",
    "delete": "削除\x7f文字",
    "next_line": "次行\x85です",
    "vertical_tab_form_feed": "縦\x0bタブ\x0cページ",
    "bidi_override": "報告書\u202etxt.exe",
    "bidi_isolates": "前\u2066\u2067\u2068後\u2069\u200e\u200f\u061c",
    "zero_width": "ゼロ\u200b幅\u200c文字\u200d\ufeff\u00ad",
    "line_separators": "行\u2028区切り\u2029段落",
    # Header injection: a line break must never start a new mail header.
    "crlf_header": "件名\r\nBcc: victim@example.jp",
    "lf_headers": "件名\nContent-Type: text/html\n\n<h1>偽</h1>",
    "cr_overwrite": "本物\r偽物",
    "tab": "タブ\t区切り",
    # Very long values (an Excel cell holds up to 32,767 characters).
    "long_text": "長い入力" * 5000,
    "long_markup": "<b>*" * 4000,
    # Several at once.
    "mixed": '<at>全員</at>\x1b[31m[至急](https://evil.example/)\u202e"}]}\r\n{{ x }}',
}

HARMLESS = "通常の入力"


def _unrepeated(length: int, alphabet: str) -> str:
    """Long text that never repeats itself, so the workbook holding it compresses like a
    real one rather than like a zip bomb."""
    rng = random.Random(length)
    return "".join(rng.choices(alphabet, k=length))


# For cards as full as they get: many rows of long text, all of it escaped (3 bytes of
# card per character, as with Japanese text).
MANY_ROWS = 40
LONG_ROW_TEXT: dict[str, str] = {
    "long_japanese": _unrepeated(3000, "".join(map(chr, range(0x4E00, 0x4E00 + 3000)))),
    "long_markdown": _unrepeated(3000, "\\`*_{}[]()#+-.!<>|~&\"'長入力"),
}

# Links a local list may hold in its link column.
LINKS: dict[str, str] = {
    "javascript": "javascript:alert(1)",
    "javascript_mixed_case": " JaVaScRiPt:alert(1)",
    "data": "data:text/html,<script>alert(1)</script>",
    "vbscript": "vbscript:msgbox(1)",
    "relative": "/sites/dx/evil.aspx",
    "markdown_breakout": "https://example.jp/a)[偽](https://evil.example/",
    "attribute_breakout": 'https://example.jp/"onmouseover="alert(1)',
    "tag_breakout": "https://example.jp/'><script>alert(1)</script>",
    "whitespace": "https://example.jp/a b\nc",
    "control": "https://example.jp/\x1b[31m\u202e",
    "long": "https://example.jp/" + "a" * 5000,
}
SAFE_LINK = "https://example.jp/sites/dx/Lists/progress/DispForm.aspx?ID=1"

CHANNELS: tuple[Channel, ...] = ("mail", "teams_channel", "teams_webhook")
DAMAGE_TEMPLATES = ("damage_report", "damage_feedback", "damage_reminder")
PROGRESS_TEMPLATES = (
    "progress_reminder",
    "progress_escalation",
    "progress_non_submitters",
    "progress_problems",
    "progress_summary",
)
TEMPLATES = (*DAMAGE_TEMPLATES, "incident_open", *PROGRESS_TEMPLATES, "admin_alert")

# Control characters openpyxl refuses to write; Excel stores them as _xHHHH_ escapes.
_EXCEL_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f]")


def excel_text(text: str) -> str:
    """``text`` as Excel stores it in a cell (control characters as ``_xHHHH_``)."""
    return _EXCEL_UNSAFE.sub(lambda m: f"_x{ord(m.group()):04X}_", text)


def shown(text: str) -> str:
    """What a reader may see of ``text``: line breaks normalised, invisible characters gone."""
    text = re.sub(r"\r\n?|[\u2028\u2029]", "\n", text)
    return "".join(
        ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs")
    )


def contacts(name: str) -> tuple[Contact, ...]:
    """One contact on every channel, greeted as ``name``."""
    return (
        Contact(channel="mail", address="someone@example.jp", name=name),
        Contact(channel="teams_channel", address=CHANNEL_ADDRESS, name=name),
        Contact(channel="teams_webhook", address="https://example.invalid/hook", name=name),
    )


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 9, day, hour, minute, tzinfo=JST)


def _damage_book(text: str, round_: int, rows: int) -> DamageInputs:
    """The workbook of one round; ``text`` sits in every cell a department types freely.

    ``rows`` repeats the unreadable cell and the road closure (with a status of its own)
    that many times, for cards as full as they get.
    """
    cell = excel_text(text)
    numbered = [cell + (str(i) if i else "") for i in range(rows)]
    matrix: list[list[object]] = [["市町村", "死者", "軽傷者", "項目" + cell]]
    matrix += [
        [f"前橋市{i}" if i else "前橋市", 1, value, None] for i, value in enumerate(numbered)
    ]
    matrix.append(["高崎市" + cell, "未確認", 2, None])
    records: list[list[object]] = [["被害種別", "市町村", "状況"]]
    records += [["道路", "前橋市", value] for value in numbered]
    records += [["道路" + cell, "前橋市", "通行止め"], ["道路", "高崎市" + cell, "通行止め"]]
    if round_ > 1:
        records += [["道路", "桐生市", value] for value in numbered]
    data = xlsx_bytes({"危機管理課": matrix, "県土整備部": records})
    return DamageInputs(f"v{round_}", parse_workbook(data, "book.xlsx", max_bytes=10**8))


def damage_setup(text: str) -> tuple[DamageRollupParams, Directory]:
    """A disaster named ``text``; a department named ``text`` whose sheet stops changing."""
    directory = Directory(
        departments=(
            Department(name=text, sheet="危機管理課", contacts=contacts(text)),
            Department(name="県土整備部", sheet="県土整備部", contacts=contacts("県土")),
            Department(name="企業局", sheet="企業局", contacts=contacts("企業局")),
        )
    )
    params = DamageRollupParams(
        disaster=text,
        workbook="book.xlsx",
        report_to=contacts(text),
        layouts={"県土整備部": RecordsLayout()},
        municipalities=None,
        deadlines=Deadlines(every_hours=3, remind_minutes_before=30),
    )
    return params, directory


@cache
def damage_plans(text: str, rows: int = 1) -> tuple[DamagePlan, DamagePlan]:
    """第1報 at 9:10, then 第2報 in the 14:30 reminder window: reports, feedback, reminders.

    The department named ``text`` leaves its sheet as it was, so it is reminded; 県土整備部
    adds a road closure, so 第2報 lists changes (one of them under a status named ``text``).
    """
    params, directory = damage_setup(text)
    first = damage_rollup.plan(
        params, directory, _damage_book(text, 1, rows), DamageState(), _at(1, 9, 10)
    )
    second = damage_rollup.plan(
        params, directory, _damage_book(text, 2, rows), first.state, _at(1, 14, 40)
    )
    return first, second


def damage_messages(text: str, rows: int = 1) -> list[Message]:
    """Every message of both damage rounds."""
    first, second = damage_plans(text, rows)
    return first.messages + second.messages


def incident_messages(text: str) -> list[Message]:
    """The announcement of an incident named ``text`` (its workbook named after it) to the
    response team and the departments, one of them named ``text``."""
    params, directory = damage_setup(text)
    notice = incident_plans.opened(params, text, SAFE_LINK, _at(1, 9, 0))
    return incident_plans.open_messages(params, directory, notice)


def damage_records(text: str) -> list[dict[str, Any]]:
    """The run records of both damage rounds, as ``automation run`` would print them."""
    return [
        _run_record("damage", plan.status, damage_record(plan, "v"), plan.messages)
        for plan in damage_plans(text)
    ]


def progress_setup(text: str) -> tuple[ProgressCollectionParams, Directory]:
    """A programme named ``text``; a department and a DX leader named ``text``."""
    directory = Directory(
        departments=(
            Department(name=text, dx_leaders=contacts(text), escalation=contacts(text)),
            Department(name="農政部", dx_leaders=contacts("農政"), escalation=contacts("農政")),
        )
    )
    params = ProgressCollectionParams(
        programme=text,
        list="list.csv",
        rounds=(Round(deadline=date(2026, 10, 15)),),
        required=("実績", "進捗状況", "次期予定"),
        numeric=("KPI",),
        issue_field="課題",
        budget=Budget(content="予算要求内容", amount="予算要求額"),
        secretariat=contacts("事務局"),
        summary_to=contacts("本部"),
    )
    return params, directory


def _item(item_id: str, department: str, project: str, link: str, **fields: object) -> ListItem:
    values: dict[str, object] = {
        "対象期間": "2026上期",
        "部局": department,
        "事業名": project,
        "実績": "実施",
        "進捗状況": "順調",
        "次期予定": "継続",
        "KPI": 10,
        "課題": "",
        "予算要求内容": "",
        "予算要求額": None,
    }
    values.update(fields)
    return ListItem(item_id, link, None, values)


def progress_items(text: str, link: str = SAFE_LINK, rows: int = 1) -> list[ListItem]:
    """List entries with ``text`` in every field a department types (and as an item id).

    ``rows`` repeats the incomplete entry and the unreadable period that many times.
    """
    items = [
        _item("1", text, text, link, 実績=""),
        _item(
            "2",
            text,
            "農地台帳",
            link,
            進捗状況="遅れ",
            課題=text,
            予算要求内容=text,
            予算要求額="1,200",
        ),
        _item(
            "3",
            text,
            "スマート農業",
            link,
            KPI=text,
            進捗状況=text,
            予算要求内容="機器更新",
            予算要求額=text,
        ),
        _item("4", "農政部", "電子申請", link),
        _item("5", "農政部", "電子申請2", link, 対象期間=text),
        _item("6", "未登録" + text, "事業", link),
        _item(text, "農政部", text, link, 次期予定=""),
        _item("8", "農政部", text, link),
    ]
    for i in range(1, rows):
        items.append(_item(f"1{i}", text, f"{text}{i}", link, 実績=""))
        items.append(_item(f"5{i}", "農政部", f"事業{i}", link, 対象期間=f"{text}{i}"))
    return items


@cache
def progress_plans(
    text: str, link: str = SAFE_LINK, rows: int = 1
) -> tuple[ProgressPlan, ProgressPlan]:
    """A reminder day (with a summary asked for) and the escalation day after the deadline."""
    params, directory = progress_setup(text)
    items = progress_items(text, link, rows)
    reminder_day = progress_collection.plan(
        params, directory, items, datetime(2026, 10, 14, 9, tzinfo=JST), summary_requested=True
    )
    escalation_day = progress_collection.plan(
        params, directory, items, datetime(2026, 10, 16, 9, tzinfo=JST)
    )
    return reminder_day, escalation_day


def progress_messages(text: str, link: str = SAFE_LINK, rows: int = 1) -> list[Message]:
    """Every message of both progress days."""
    reminder_day, escalation_day = progress_plans(text, link, rows)
    return reminder_day.messages + escalation_day.messages


def progress_records(text: str) -> list[dict[str, Any]]:
    """The run records of both progress days."""
    return [
        _run_record("progress", "ok", progress_record(plan), plan.messages)
        for plan in progress_plans(text)
    ]


def alert_messages(text: str) -> list[Message]:
    """Admin alerts quoting ``text``: a message given up (its subject and last error) and a
    failing flow (its error), shaped as automation.alerts builds them."""
    alerts = [
        Alert(
            "メッセージを送信できませんでした（5回試行）",
            (
                "フロー: damage",
                "宛先: someone@example.jp（mail）",
                f"件名: 【{text}】被害状況 第2報",
                f"最後のエラー: 400 Bad Request: {text}",
            ),
            "原因を取り除いてから `automation outbox -c 設定ファイル --retry KEY` で再送してください。",
        ),
        Alert(
            "フロー damage が失敗しています",
            (
                "失敗が続いています: 3回",
                "種類: data（fix_data）",
                f"内容: シート「{text}」を読めません",
            ),
            "入力データ（ブック・一覧）の担当部局に修正を依頼してください。",
        ),
    ]
    return [
        Message("alert", f"alert:{i}", "admins", contact, "admin_alert", {"alert": alert})
        for i, alert in enumerate(alerts)
        for contact in contacts("管理者")
    ]


def messages(text: str, rows: int = 1) -> list[Message]:
    """Every message both flows (and the admin alerts) send when ``text`` is typed."""
    return (
        damage_messages(text, rows)
        + incident_messages(text)
        + progress_messages(text, rows=rows)
        + alert_messages(text)
    )


def _run_record(
    flow: str, status: str, part: dict[str, Any], planned: list[Message]
) -> dict[str, Any]:
    """A dry run's record around a flow's part, the way the runner assembles it."""
    return {
        "flow": flow,
        "run_id": None,
        "status": status,
        "dry_run": True,
        **part,
        "deliveries": [
            {
                "kind": m.kind,
                "audience": m.audience,
                "channel": m.contact.channel,
                "recipient": m.contact.label,
                "status": "dry-run",
                "location": None,
            }
            for m in planned
        ],
        "artefacts": [],
    }
