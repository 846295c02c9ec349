"""Incidents of a damage flow (``automation incident open / close``), planned purely.

An incident gives the flow a fresh workbook named after it, next to the configured one
(``令和8年台風第10号_被害報告.xlsx`` beside ``被害報告.xlsx``), reports numbered from
第1報 again, and an announcement with the workbook's link to the response team and every
reporting department. Closing it issues the final report (最終報), archives the workbook
and leaves the flow idle until the next incident is opened.

Nothing here reads a clock, a file or the network: the command (:mod:`automation.incident`)
does the I/O and passes in what it found.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from automation.config.models import (
    ChannelFile,
    DamageRollupParams,
    Department,
    Directory,
    DriveFile,
    FileRef,
    SiteFile,
)
from automation.flows.damage_rollup import reporting_departments
from automation.flows.provision import deadline_lines, workbook_name
from automation.plan import Message
from automation.timeutil import time_ja

# Characters SharePoint and OneDrive refuse in file and folder names (the incident name is
# part of the workbook's file name), each with what to write instead.
FORBIDDEN: dict[str, str] = {
    '"': "”",
    "*": "＊",
    ":": "：",
    "<": "＜",
    ">": "＞",
    "?": "？",
    "/": "／",
    "\\": "＼",
    "|": "｜",
}
MAX_NAME = 100  # keeps the workbook's path well inside SharePoint's 400-character limit
ARCHIVE_FOLDER = "アーカイブ"
_REF: TypeAdapter[FileRef] = TypeAdapter(FileRef)


class IncidentRefusedError(ValueError):
    """The incident cannot be opened or closed as asked; the message says why and the fix."""


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name an incident (and its workbook file), or None when it can."""
    if not name.strip():
        return "the incident name is empty; give it as --name, e.g. --name 令和8年台風第10号"
    if name != name.strip():
        return (
            f"the incident name {name!r} begins or ends with a space, which SharePoint drops "
            "from file names; write it without the spaces"
        )
    for char in name:
        if char in FORBIDDEN:
            return (
                f"the incident name {name!r} contains {char!r}, which SharePoint does not "
                f"allow in file names; write the full-width {FORBIDDEN[char]!r} instead, or "
                "leave it out"
            )
        if ord(char) < 0x20 or ord(char) == 0x7F:
            return (
                f"the incident name {name!r} contains the control character U+{ord(char):04X}, "
                "which SharePoint does not allow in file names; leave it out"
            )
    if name.endswith("."):
        return (
            f"the incident name {name!r} ends with '.', which SharePoint does not allow at "
            "the end of a file name; leave it out"
        )
    if len(name) > MAX_NAME:
        return (
            f"the incident name is {len(name)} characters long; write at most {MAX_NAME}, "
            "e.g. 令和8年台風第10号"
        )
    return None


def incident_file_name(params: DamageRollupParams, name: str) -> str:
    """The incident's workbook file: its name before the configured workbook's file name."""
    return f"{name}_{workbook_name(params)}"


def incident_ref(params: DamageRollupParams, name: str) -> FileRef:
    """Where the incident's workbook goes: beside the configured workbook.

    Raises :class:`IncidentRefusedError` for a workbook configured by drive item id, which names
    a file but no place to put another one.
    """
    file_name = incident_file_name(params, name)
    ref = params.workbook
    if isinstance(ref, DriveFile):
        raise IncidentRefusedError(
            f"params.workbook names drive item {ref.item_id}, which gives no folder to create "
            "the incident's workbook in; write {team_id, channel_id, path} or {site_id, path}"
        )
    if isinstance(ref, str):
        return _beside(ref, file_name)
    return ref.model_copy(update={"path": _beside(ref.path, file_name)})


def _beside(path: str, file_name: str) -> str:
    folder = path.replace("\\", "/").rstrip("/").rpartition("/")[0]
    return f"{folder}/{file_name}" if folder else file_name


def dump_ref(ref: FileRef) -> str:
    """A workbook reference as the state keeps it (JSON)."""
    value: Any = ref if isinstance(ref, str) else ref.model_dump(mode="json")
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def load_ref(text: str) -> FileRef:
    """A workbook reference as the state kept it."""
    return _REF.validate_python(json.loads(text))


def describe_ref(ref: FileRef) -> str:
    """A workbook reference as an admin reads it."""
    if isinstance(ref, str):
        return ref
    if isinstance(ref, ChannelFile):
        return f"{ref.path} in the files of Teams channel {ref.channel_id}"
    if isinstance(ref, SiteFile):
        return f"{ref.path} in the documents of site {ref.site_id}"
    return f"drive item {ref.item_id}"


def incident_params(params: DamageRollupParams, name: str, ref: FileRef) -> DamageRollupParams:
    """The flow's parameters while the incident is open: its workbook, its name as the
    disaster, and merged workbooks named after it (an earlier incident's 第1報 stays)."""
    return params.model_copy(
        update={
            "workbook": ref,
            "disaster": name,
            "artefact_name": f"{name}_{params.artefact_name}",
        }
    )


@dataclass(frozen=True)
class OpenedIncident:
    """What an incident announcement says (template ``incident_open``)."""

    name: str
    workbook: str  # the workbook's file name
    link: str  # its web URL (Graph) or path (local)
    opened_at: datetime
    deadlines: tuple[str, ...]  # the reporting deadlines in words (記入方法's lines)

    @property
    def opened_ja(self) -> str:
        """``9月1日(火)9時10分``."""
        return time_ja(self.opened_at)

    @property
    def web(self) -> bool:
        """Whether ``link`` is a web address (else a path on the service's machine)."""
        return self.link.startswith(("https://", "http://"))


def refuse_open(name: str, incidents: Sequence[tuple[str, bool]], flow: str) -> None:
    """Raise :class:`IncidentRefusedError` when ``name`` cannot be opened now: a bad name, an
    incident of the flow still open, or the name used before. ``incidents`` are the flow's
    (name, is open) pairs."""
    problem = name_problem(name)
    if problem is not None:
        raise IncidentRefusedError(f"{problem}; nothing was changed")
    still_open = [n for n, is_open in incidents if is_open]
    if still_open:
        raise IncidentRefusedError(
            f"incident {still_open[0]!r} of flow {flow!r} is still open; nothing was changed. "
            f"Close it first with: automation incident close -c FILE --flow {flow}"
        )
    if any(n == name for n, _ in incidents):
        raise IncidentRefusedError(
            f"flow {flow!r} already had an incident named {name!r}; nothing was changed. "
            "Give the new one a name of its own, e.g. with the date it began"
        )


def opened(params: DamageRollupParams, name: str, link: str, opened_at: datetime) -> OpenedIncident:
    """What the announcement of incident ``name`` says, its workbook at ``link``."""
    return OpenedIncident(
        name,
        incident_file_name(params, name),
        link,
        opened_at,
        tuple(deadline_lines(params.deadlines)),
    )


def open_messages(
    params: DamageRollupParams, directory: Directory, incident: OpenedIncident
) -> list[Message]:
    """The announcement: to the response team, and to each reporting department's contacts,
    once per incident (the occasion names it)."""
    occasion = f"incident:{incident.name}:open"
    context: dict[str, Any] = {"incident": incident, "department": None}
    messages = [
        Message("incident_open", occasion, "response_team", contact, "incident_open", context)
        for contact in params.report_to
    ]
    for dept in reporting_departments(params, directory):
        messages.extend(_department_messages(dept, incident, occasion))
    return messages


def _department_messages(
    dept: Department, incident: OpenedIncident, occasion: str
) -> list[Message]:
    context: dict[str, Any] = {"incident": incident, "department": dept}
    return [
        Message("incident_open", occasion, dept.name, contact, "incident_open", context)
        for contact in dept.contacts
    ]
