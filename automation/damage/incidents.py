"""Incidents of records sheets (a road closed, a bank slipped) followed from report to report.

Each incident is known by its department and key (its number on the sheet, else its type,
municipality and place). A report lists what changed since the previous one (new, status
changed, removed from the sheet) and the incidents still open, newest change first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from automation.damage.text import normalize
from automation.damage.totals import Figures
from automation.timeutil import time_ja


@dataclass(frozen=True, slots=True)
class IncidentState:
    """An incident as of this report; ``since`` is when its status was first reported."""

    department: str
    key: str
    label: str
    municipality: str
    place: str
    status: str
    since: datetime

    @property
    def since_ja(self) -> str:
        """``9月1日(火)9時10分``."""
        return time_ja(self.since)

    @property
    def text(self) -> str:
        """``道路 嬬恋村 国道144号 大前地内: 通行止め``."""
        where = " ".join(p for p in (self.municipality, self.place) if p)
        return f"{self.label} {where}: {self.status}"

    def dump(self) -> dict[str, str]:
        """The snapshot form (without department and key, which key the mapping)."""
        return {
            "label": self.label,
            "municipality": self.municipality,
            "place": self.place,
            "status": self.status,
            "since": self.since.isoformat(),
        }


ChangeKind = Literal["new", "closed", "status", "removed"]
KIND_JA: dict[str, str] = {
    "new": "新規",
    "closed": "解除・終了",  # its status became a closing one (規制解除, 復旧, ...)
    "status": "状況変更",
    "removed": "一覧から削除",
}


@dataclass(frozen=True, slots=True)
class IncidentChange:
    """One incident that is new, changed status or left its sheet since the previous report."""

    kind: ChangeKind
    incident: IncidentState
    before_status: str | None = None

    @property
    def text(self) -> str:
        """``新規: 道路 嬬恋村 大前地内: 通行止め``, ``状況変更: … 通行止め → 規制解除``."""
        i = self.incident
        where = " ".join(p for p in (i.municipality, i.place) if p)
        if self.kind in ("status", "closed"):
            return f"{KIND_JA[self.kind]}: {i.label} {where}: {self.before_status} → {i.status}"
        return f"{KIND_JA[self.kind]}: {i.text}"


def _stored(snapshot: Mapping[str, Any] | None) -> dict[tuple[str, str], dict[str, str]] | None:
    """The previous report's incidents; None for a report made before they were kept."""
    if snapshot is None or "incidents" not in snapshot:
        return None
    return {
        (dept, key): data
        for dept, incidents in snapshot["incidents"].items()
        for key, data in incidents.items()
    }


def follow(
    figures: Mapping[str, Figures], previous: Mapping[str, Any] | None, now: datetime
) -> list[IncidentState]:
    """This report's incidents; an incident keeps the time of its status from before."""
    stored = _stored(previous) or {}
    states = []
    for dept, fig in figures.items():
        for key, (_, label, municipality, place, status) in fig.incidents.items():
            old = stored.get((dept, key))
            since = (
                datetime.fromisoformat(old["since"])
                if old is not None and old["status"] == status
                else now
            )
            states.append(IncidentState(dept, key, label, municipality, place, status, since))
    return states


def dump(incidents: list[IncidentState]) -> dict[str, dict[str, dict[str, str]]]:
    """department -> key -> incident, for the report snapshot."""
    out: dict[str, dict[str, dict[str, str]]] = {}
    for incident in incidents:
        out.setdefault(incident.department, {})[incident.key] = incident.dump()
    return out


def load(snapshot: Mapping[str, Any] | None) -> list[IncidentState]:
    """The incidents a report snapshot holds (what an unchanged run shows)."""
    return [
        IncidentState(
            dept,
            key,
            d["label"],
            d["municipality"],
            d["place"],
            d["status"],
            datetime.fromisoformat(d["since"]),
        )
        for (dept, key), d in (_stored(snapshot) or {}).items()
    ]


def changes(
    previous: Mapping[str, Any] | None,
    current: list[IncidentState],
    closed: Mapping[str, frozenset[str]] | None = None,
) -> list[IncidentChange]:
    """New, closed (status now a closing one, per department in ``closed``, normalised),
    status-changed and removed incidents since the previous report; none for a first
    report or a previous report made before incidents were kept."""
    stored = _stored(previous)
    if stored is None:
        return []
    out: list[IncidentChange] = []
    seen = set()
    for incident in current:
        old = stored.get((incident.department, incident.key))
        seen.add((incident.department, incident.key))
        if old is None:
            out.append(IncidentChange("new", incident))
        elif old["status"] != incident.status:
            over = normalize(incident.status) in (closed or {}).get(incident.department, ())
            out.append(IncidentChange("closed" if over else "status", incident, old["status"]))
    for (dept, key), old in stored.items():
        if (dept, key) not in seen:
            gone = IncidentState(
                dept,
                key,
                old["label"],
                old["municipality"],
                old["place"],
                old["status"],
                datetime.fromisoformat(old["since"]),
            )
            out.append(IncidentChange("removed", gone))
    return out


def open_incidents(
    incidents: list[IncidentState], closed: Mapping[str, frozenset[str]]
) -> list[IncidentState]:
    """Incidents whose status is not a closing one (``closed``: per department, normalised
    with ``normalize``), newest change first."""
    still_open = [
        i for i in incidents if normalize(i.status) not in closed.get(i.department, frozenset())
    ]
    # Stable: incidents changed at the same time stay in sheet order.
    return sorted(still_open, key=lambda i: -i.since.timestamp())
