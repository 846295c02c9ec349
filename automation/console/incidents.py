"""Which incident of a damage flow a page shows, and the choices it offers.

A flow's pages show its current incident (the newest, open or closed) unless
``?incident=NAME`` names another of its incidents; ``?incident=`` (empty, a name no
incident can have) means the reports the flow issued before its first incident. Report
numbers restart at 第1報 in each incident, so a report is known by its flow, its incident
and its number.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from automation.console.text import audit_text
from automation.state import Incident, Store

BEFORE_INCIDENTS = "災害の区切りより前の報告"


class UnknownIncidentError(Exception):
    """``?incident=`` names no incident of the flow; the message says what to do."""


@dataclass(frozen=True)
class Choice:
    """One incident of a flow as the pages offer it."""

    flow: str
    id: int  # the incident's id; 0 for the reports issued outside any incident
    incident: Incident | None  # None: the reports issued outside any incident
    current: bool  # the flow's newest incident (or, without incidents, its only reports)
    key: str | None  # the ?incident= value choosing it; None: the flow never had incidents

    @property
    def name(self) -> str | None:
        """The incident's name (None outside any incident)."""
        return self.incident.name if self.incident is not None else None

    def query(self) -> str:
        """This choice's query for 報告の推移 (``flow=…&incident=…``)."""
        wanted = {"flow": self.flow}
        if self.key is not None:
            wanted["incident"] = self.key
        return urlencode(wanted)

    def workbook(self, number: int) -> str:
        """The console's address of report ``number``'s merged workbook in this incident."""
        path = f"/reports/{quote(self.flow, safe='')}/{number}/workbook"
        if self.key is None:
            return path
        return f"{path}?{urlencode({'incident': self.key})}"


def choices(store: Store, flow: str) -> list[Choice]:
    """The flow's incidents as the selector lists them: the current one first, then the
    past ones newest first, then the reports issued before the first incident, if any."""
    found = store.incidents(flow)
    if not found:
        return [Choice(flow, 0, None, True, None)]
    listed = [
        Choice(flow, incident.id, incident, index == 0, incident.name)
        for index, incident in enumerate(reversed(found))
    ]
    if store.reports(flow, limit=1, incident=0):
        listed.append(Choice(flow, 0, None, False, ""))
    return listed


def choose(listed: list[Choice], wanted: str | None) -> Choice:
    """Of a flow's ``choices``, the one ``?incident=`` asks for (None: the current one), or
    UnknownIncidentError naming the flow and the name not found."""
    if wanted is None:
        return listed[0]
    for choice in listed:
        if choice.key == wanted:
            return choice
    raise UnknownIncidentError(unknown(listed[0].flow, wanted))


def unknown(flow: str | None, wanted: str) -> str:
    """The 404 message for an incident name no flow (or not ``flow``) has."""
    where = f"フロー {audit_text(flow, 60)} に" if flow else ""
    what = f"「{audit_text(wanted, 60)}」という災害" if wanted else BEFORE_INCIDENTS
    return (
        f"{where}{what}はありません。報告の推移の一覧から選ぶか、"
        "automation incident list で災害の名前を確認してください。"
    )
