"""進捗: each progress flow's current round as its last run recorded it, and who was told.

The run record of a progress run holds the round's picture (completion per department,
incomplete entries with what is missing, delayed projects, list problems); the outbox holds
the reminders, escalations and summaries of the round, each with its day and status. The
bar chart is the HQ summary's 部局別の記入率, drawn here as SVG coordinates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from automation.state import OutboxEntry, Store

KIND = "progress_collection"
RECENT_RUNS = 30  # a progress flow's latest round is looked for among its last runs
PHASES_JA = {
    "before": "受付前",
    "reminder": "督促期間",
    "deadline": "締切日",
    "escalation": "締切後（上長へ連絡）",
    "after": "締切後",
    "idle": "回の外",
}
CONTACTS_JA = {
    "reminder": "督促",
    "escalation": "上長への連絡",
    "non_submitters": "未提出の部局（事務局へ）",
    "summary": "本部へのまとめ",
    "input_problems": "一覧の不備（事務局へ）",
}
BAR_HEIGHT = 16  # the chart's bars are 150 wide at 100 %
NAME_CHARS = 7


@dataclass(frozen=True)
class Bar:
    """One department's bar: its completion and where the bar ends."""

    name: str
    complete: int
    total: int
    percent: int
    y: int
    width: int  # of 150 at 100 %

    @property
    def label(self) -> str:
        """The name as drawn beside the bar (seven characters; the full name is its title)."""
        return self.name if len(self.name) <= NAME_CHARS else self.name[: NAME_CHARS - 1] + "…"


@dataclass(frozen=True)
class Contact:
    """One message of the round: what, which day, to whom, and where it stands."""

    kind: str
    day: str
    audience: str
    recipient: str
    status: str


@dataclass(frozen=True)
class Round:
    """One progress flow's round as the console shows it."""

    flow: str
    run_at: str
    record: dict[str, Any]
    phase_ja: str
    bars: list[Bar]
    chart_height: int
    incomplete: dict[str, list[dict[str, Any]]]  # department -> entries
    contacts: list[Contact]


def rounds(store: Store) -> list[Round]:
    """The latest round of every flow whose runs recorded one, by flow name."""
    found = []
    for flow in sorted(store.last_runs()):
        latest = _latest_record(store, flow)
        if latest is not None:
            run_at, record = latest
            found.append(_round(flow, run_at, record, store.outbox(flow)))
    return found


def _latest_record(store: Store, flow: str) -> tuple[str, dict[str, Any]] | None:
    for run in store.runs(flow, limit=RECENT_RUNS):
        try:
            record = json.loads(run.get("record") or "null")
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("kind") == KIND and "completion" in record:
            # The time the run acted as (``run --now`` in a drill), which its figures describe.
            return str(run.get("now") or run.get("finished_at") or ""), record
    return None


def _round(flow: str, run_at: str, record: dict[str, Any], outbox: list[OutboxEntry]) -> Round:
    bars = chart(record.get("completion") or {})
    incomplete: dict[str, list[dict[str, Any]]] = {}
    for entry in record.get("incomplete") or ():
        incomplete.setdefault(str(entry.get("department", "")), []).append(entry)
    return Round(
        flow,
        run_at,
        record,
        PHASES_JA.get(str(record.get("phase")), str(record.get("phase", ""))),
        bars,
        len(bars) * (BAR_HEIGHT + 6) + 4,
        incomplete,
        contacts_of(outbox, str(record.get("period", ""))),
    )


def chart(completion: dict[str, Any]) -> list[Bar]:
    """One bar per department, in the record's order, as the HQ summary draws them."""
    bars = []
    for index, (name, figures) in enumerate(completion.items()):
        total = int(figures.get("total", 0))
        complete = int(figures.get("complete", 0))
        percent = max(0, min(100, int(figures.get("percent", 0))))
        bars.append(
            Bar(name, complete, total, percent, index * (BAR_HEIGHT + 6) + 2, percent * 3 // 2)
        )
    return bars


def contacts_of(outbox: list[OutboxEntry], period: str) -> list[Contact]:
    """The round's reminders, escalations and summaries, newest first (occasions name the
    kind, the period and the day: ``reminder:2026H1:2026-10-01``)."""
    contacts = []
    for entry in outbox:
        kind, _, rest = entry.occasion.partition(":")
        if kind not in CONTACTS_JA or (not rest.startswith(period + ":") and rest != period):
            continue
        day = rest[len(period) + 1 :][:10]
        contacts.append(
            Contact(CONTACTS_JA[kind], day, entry.audience, entry.recipient_label, entry.status)
        )
    return list(reversed(contacts))
