"""Render a flow's template overrides with a sample plan, so ``validate`` finds broken ones.

A flow with ``params.templates: FOLDER`` uses the files there instead of the packaged
templates of the same name. A mistake in one (an undefined variable, a syntax error, a card
that is not JSON) would otherwise surface only when the flow first sends that message, in
the middle of a disaster. Here the pure flow plans a few rounds on small built-in sample
inputs, shaped by the flow's own parameters and directory (its departments, sheets,
layouts, contacts and deadlines), and every override part its messages use is rendered
for the channels those contacts use. Files in the folder whose names match no template
are reported too: they are never used, which usually means a typo.

Only ``validate`` of a flow with ``templates`` set pays for this (jinja2, the flows).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2

from automation.config.models import (
    DamageRollupFlow,
    DamageRollupParams,
    Directory,
    MatrixLayout,
    ProgressCollectionFlow,
    ProgressCollectionParams,
    RecordsLayout,
)
from automation.damage.workbook import Sheet, Workbook
from automation.plan import Message
from automation.render import PACKAGE_TEMPLATES, PARTS_BY_CHANNEL, environment
from automation.timeutil import JST

KNOWN = frozenset(p.name for p in PACKAGE_TEMPLATES.glob("*.j2"))
MESSAGES = sorted({name.split(".")[0] for name in KNOWN if not name.startswith("_")})
PARTS = "subject, txt, html, card.json"
SAMPLE_TOWNS = ("前橋市", "高崎市")
SAMPLE_START = datetime(2026, 9, 1, 9, 10, tzinfo=JST)


def check_templates(
    flow: DamageRollupFlow | ProgressCollectionFlow, directory: Directory, folder: Path
) -> list[str]:
    """What is wrong with the overrides in ``folder`` for ``flow``: one message per problem."""
    files = sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    problems = [m for m in (_stray(name) for name in files) if m is not None]
    overrides = {name for name in files if name in KNOWN}
    if not overrides:
        return problems
    partial_overridden = any(name.startswith("_") for name in overrides)
    env = environment(folder)
    rendered: set[str] = set()
    reported: set[str] = set()
    for message in _sample_messages(flow, directory):
        for part in PARTS_BY_CHANNEL[message.contact.channel]:
            name = f"{message.template}.{part}.j2"
            if name in rendered or not (name in overrides or partial_overridden):
                continue
            rendered.add(name)
            problem = _render(env, name, message, folder)
            if problem is not None and problem[0] not in reported:
                reported.add(problem[0])  # a broken partial shows in every part using it
                problems.append(problem[1])
    return problems


def _stray(name: str) -> str | None:
    """A file named like a template but matching none: it would silently never be used."""
    if name in KNOWN:
        return None
    if f"{name}.j2" in KNOWN:
        return f"template file {name} is never used; rename it to {name}.j2"
    if not name.endswith(".j2"):
        return None
    close = difflib.get_close_matches(name, sorted(KNOWN), n=1, cutoff=0.8)
    if close:
        return f"template file {name} matches no template name, so it is never used; rename it to {close[0]}"
    return (
        f"template file {name} matches no template name, so it is never used; rename it to "
        f"NAME.PART.j2 with NAME one of {', '.join(MESSAGES)} and PART one of {PARTS}"
    )


def _render(
    env: jinja2.Environment, name: str, message: Message, folder: Path
) -> tuple[str, str] | None:
    """Render one part as ``render`` would: (where and what, message) of its first error."""
    context = {**message.context, "contact": message.contact, "message": message}
    sample = f"a sample {message.kind} message for {message.contact.channel}"
    try:
        output = env.get_template(name).render(context)
    except jinja2.TemplateSyntaxError as err:
        what = str(err.message or err).rstrip(".")
        fix = "fix the template"
        unclosed = _unclosed_block(env, err) if "Unexpected end" in what else None
        if unclosed is not None:
            block, err.lineno = unclosed
            what = f"the {{% {block} %}} that opens here is never closed"
            fix = f"add {{% end{block} %}} where it ends"
        where = _where(err.filename, err.lineno, folder, name)
        return where + what, _one_line(f"{where}: syntax error: {what}; {fix}")
    except jinja2.TemplateNotFound as err:
        return str(err.name), _one_line(
            f"{folder / name}: includes {err.name}, which is neither in {folder} nor among "
            "the packaged templates; add it or fix the name"
        )
    except Exception as err:  # a template can raise anything; report it, never a traceback
        filename, line = _template_frame(err.__traceback__, folder)
        where = _where(filename, line, folder, name)
        hint = _suggestion(err, context) or f"variables here: {', '.join(sorted(context))}"
        return f"{where}{err}", _one_line(
            f"{where}: {err} when rendering {sample}; fix the template ({hint})"
        )
    if name.endswith(".card.json.j2"):
        try:
            json.loads(output)
        except json.JSONDecodeError as err:
            return name, _one_line(
                f"{folder / name}: renders {sample} that is not valid JSON (output line "
                f"{err.lineno}: {err.msg}); use |tojson for every value"
            )
    return None


BLOCKS = frozenset({"for", "if", "macro", "block", "call", "filter", "with", "raw"})


def _unclosed_block(
    env: jinja2.Environment, err: jinja2.TemplateSyntaxError
) -> tuple[str, int] | None:
    """The innermost block tag still open at the end (jinja2 names only the last line)."""
    if not err.source:
        return None
    opened: list[tuple[str, int]] = []
    after_begin = False
    try:
        for line, token, value in env.lex(err.source):
            if token == "whitespace":
                continue
            if after_begin and token == "name":
                if value in BLOCKS:
                    opened.append((value, line))
                elif value.startswith("end") and opened:
                    opened.pop()
            after_begin = token == "block_begin"
    except jinja2.TemplateSyntaxError:
        return None
    return opened[-1] if opened else None


def _where(filename: str | None, line: int | None, folder: Path, name: str) -> str:
    """``FILE:LINE`` as jinja2 names the file (the folder joined with the template name)."""
    path = filename or str(folder / name)
    return f"{path}:{line}" if line else path


def _template_frame(tb: TracebackType | None, folder: Path) -> tuple[str | None, int | None]:
    """The deepest traceback frame inside a template file (jinja2 rewrites them so)."""
    found: tuple[str | None, int | None] = (None, None)
    roots = (str(folder.resolve()), str(PACKAGE_TEMPLATES.resolve()))
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2") and str(Path(filename).resolve()).startswith(roots):
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def _suggestion(err: Exception, context: Mapping[str, Any]) -> str | None:
    """'did you mean ...?' for a misspelt variable or attribute."""
    text = str(err)
    if match := re.fullmatch(r"'(\w+)' is undefined", text):
        close = difflib.get_close_matches(match[1], list(context), n=1, cutoff=0.6)
        return f"did you mean {close[0]!r}?" if close else None
    if match := re.fullmatch(r"'(.+) object' has no attribute '(\w+)'", text):
        for value in _reachable(context):
            kind = type(value)
            if match[1] in (f"{kind.__module__}.{kind.__qualname__}", kind.__qualname__):
                names = [n for n in dir(value) if not n.startswith("_")]
                close = difflib.get_close_matches(match[2], names, n=1, cutoff=0.6)
                if close:
                    return f"did you mean {close[0]!r}?"
    return None


def _reachable(context: Mapping[str, Any], depth: int = 3) -> list[object]:
    """Objects in the context and their public attributes, a few levels deep."""
    found: list[object] = []
    layer: list[object] = list(context.values())
    for _ in range(depth):
        found += layer
        below: list[object] = []
        for value in layer:
            if isinstance(value, list | tuple) and value:
                below.append(value[0])
            elif hasattr(value, "__dataclass_fields__"):
                below += [getattr(value, n, None) for n in value.__dataclass_fields__]
        layer = below
    return found


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- sample plans -----------------------------------------------------------------------------


def _sample_messages(
    flow: DamageRollupFlow | ProgressCollectionFlow, directory: Directory
) -> list[Message]:
    """Messages of every kind the flow can send, the richest first."""
    if isinstance(flow, DamageRollupFlow):
        return _damage_messages(flow.params, directory)
    return _progress_messages(flow.params, directory)


def _damage_messages(params: DamageRollupParams, directory: Directory) -> list[Message]:
    """Report 1, then report 2 with changes and problems, and a quiet run before a deadline.

    Every reporting department sends its sheet for report 1 (feedback to all); the first one
    changes its figures for report 2; in the quiet run nobody has updated since the deadline
    in between, so everyone is reminded.
    """
    from automation.damage.deadlines import next_deadline  # noqa: PLC0415  # damage flows only
    from automation.flows import damage_rollup  # noqa: PLC0415  # damage flows only
    from automation.flows.damage_rollup import (  # noqa: PLC0415  # damage flows only
        DamageInputs,
        DamagePlan,
        DamageState,
    )

    catalogue = damage_rollup.build_catalogue(params)
    departments = damage_rollup.reporting_departments(params, directory)
    towns = (params.municipalities or SAMPLE_TOWNS)[:2]
    titles = [
        item.title for item in catalogue.items if catalogue.match_header([item.title]).item is item
    ][:3]
    labels = [item.label for item in catalogue.items if catalogue.match_label(item.label) is item]
    label = "道路" if "道路" in labels or not labels else labels[0]

    def book(changed: bool) -> Workbook:
        sheets = {}
        for index, dept in enumerate(departments):
            layout = params.layouts.get(dept.name, params.default_layout)
            bump = int(changed and index == 0)
            name = dept.sheet or ""
            sheets[name] = (
                _records_sheet(name, layout, towns, label, bump)
                if isinstance(layout, RecordsLayout)
                else _matrix_sheet(name, layout, towns, titles, bump)
            )
        return Workbook("sample.xlsx", sheets)

    def run(
        version: str, workbook: Workbook | None, state: DamageState, at: datetime
    ) -> DamagePlan:
        inputs = DamageInputs(version, workbook)
        return damage_rollup.plan(params, directory, inputs, state, at, catalogue=catalogue)

    rule = params.deadlines
    first_at = SAMPLE_START
    if rule is not None and rule.since is not None:
        since = rule.since if rule.since.tzinfo else rule.since.replace(tzinfo=JST)
        first_at = since + timedelta(minutes=10)
    later = first_at + timedelta(hours=2)
    if rule is not None:  # a minute before the second deadline after report 1
        between = next_deadline(rule, first_at)
        later = next_deadline(rule, between + timedelta(minutes=1)) - timedelta(minutes=1)
    first = run("sample-1", book(changed=False), DamageState(), first_at)
    second = run("sample-2", book(changed=True), first.state, later)
    quiet = run("sample-1", None, first.state, later)
    return [*second.messages, *quiet.messages, *first.messages]


def _matrix_sheet(
    name: str, layout: MatrixLayout, towns: Sequence[str], titles: Sequence[str], bump: int
) -> Sheet:
    """Rows of towns under item headers: figures, an unconfirmed cell and an unreadable one."""

    def value(column: int, row: int) -> object:
        if column == 0:
            return 1 + row + bump
        if row == 0:
            return column + 1
        return "調査中" if column == 1 else "多数"

    header = (layout.key_headers[0], *titles)
    body = [(town, *(value(c, r) for c in range(len(titles)))) for r, town in enumerate(towns)]
    return Sheet(name, (header, *body))


def _records_sheet(
    name: str, layout: RecordsLayout, towns: Sequence[str], label: str, bump: int
) -> Sheet:
    """One incident per town in the first statuses, plus one row of an unknown kind."""
    statuses = (layout.statuses or ("通行止め", "規制解除"))[:2]
    rows: list[tuple[object, ...]] = [
        (layout.type_column[0], layout.municipality_column[0], layout.status_column[0])
    ]
    rows += [(label, town, statuses[i % len(statuses)]) for i, town in enumerate(towns)]
    rows += [(label, towns[0], statuses[0])] * bump
    rows.append(("（サンプル）不明な種別", towns[0], statuses[0]))
    return Sheet(name, tuple(rows))


def _progress_messages(params: ProgressCollectionParams, directory: Directory) -> list[Message]:
    """A reminder day and an escalation day (with the HQ summary) of the first round.

    Each expected department has one incomplete, delayed entry with a budget request, and
    one entry names a department that is not in the directory.
    """
    from automation.fiscal import (  # noqa: PLC0415  # progress flows only
        business_days_after,
        business_days_before,
    )
    from automation.flows import progress_collection  # noqa: PLC0415  # progress flows only
    from automation.ports import ListItem  # noqa: PLC0415  # progress flows only

    round_ = min(params.rounds, key=lambda r: r.deadline)
    period = progress_collection.round_period(params, round_)
    f = params.fields
    wanted = params.departments
    expected = [d for d in directory.departments if wanted is None or d.name in wanted]
    status = (params.delayed_statuses or params.statuses or ("遅れ",))[0]
    items = []
    for index, name in enumerate([*(d.name for d in expected), "（サンプル）名簿にない部局"]):
        fields: dict[str, object] = {
            f.period: period.key,
            f.department: name,
            f.project: f"サンプル事業{index + 1}",
            **dict.fromkeys(params.required, "記入あり"),
            params.status_field: status,
            **dict.fromkeys(params.numeric, "10"),
        }
        fields[params.required[0]] = ""  # incomplete: reminders list it
        if params.issue_field:
            fields[params.issue_field] = "サンプルの課題"
        if params.budget:
            fields[params.budget.content] = "サンプルの予算要求"
            fields[params.budget.amount] = "1200"
        link = f"https://example.invalid/lists/items/{index + 1}"
        items.append(ListItem(str(index + 1), link, SAMPLE_START, fields))

    def phase(day: date) -> str:
        found, _, name = progress_collection.active_round(params, day)
        return name if found == round_ else ""

    before = [business_days_before(round_.deadline, n) for n in params.remind_business_days_before]
    after = [business_days_after(round_.deadline, n) for n in params.escalate_business_days_after]
    remind_day = next((d for d in before if phase(d) in ("reminder", "deadline")), round_.deadline)
    escalate_day = next((d for d in after if phase(d) == "escalation"), round_.deadline)
    reminded = progress_collection.plan(params, directory, items, _at(remind_day))
    escalated = progress_collection.plan(
        params, directory, items, _at(escalate_day), summary_requested=True
    )
    return [*escalated.messages, *reminded.messages]


def _at(day: date) -> datetime:
    return datetime.combine(day, time(9, 0), tzinfo=JST)
