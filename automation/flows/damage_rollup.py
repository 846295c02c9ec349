"""The ``damage_rollup`` flow: consolidate departments' damage sheets into 第N報.

``plan`` is pure: it gets the parsed workbook (or None when the backend saw that the
workbook is unchanged), the state left by the previous run and the time, and returns what
to report, whom to tell, and the state to keep. It reads no clock, file or network.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from automation.config.models import (
    DamageRollupParams,
    Department,
    Directory,
    ItemSpec,
    MatrixLayout,
    RecordsLayout,
)
from automation.damage import incidents as incident_log
from automation.damage import sheet_hints
from automation.damage.catalogue import DEFAULT_ITEMS, Catalogue, Item
from automation.damage.deadlines import last_deadline, next_deadline, reminder_due
from automation.damage.incidents import IncidentChange, IncidentState
from automation.damage.sheet_reading import CellProblem, SheetReading
from automation.damage.status import STATUS_JA, DepartmentStatusName
from automation.damage.stored import (
    Head,
    Readings,
    StoredReading,
    config_key,
    entries_hold,
    keyed,
    package_key,
)
from automation.damage.text import normalize
from automation.damage.totals import Change, Consolidated, Figures, Sums, consolidate, diff
from automation.jsontext import JSONTexts
from automation.parallel import Mapper, serial
from automation.plan import Message
from automation.timeutil import as_of_ja, time_ja

if TYPE_CHECKING:  # parsed and read only for a changed workbook: loaded there
    from automation.damage.workbook import Sheet, Workbook

ReportState = Literal["read", "stored", "none"]
PROBLEM_FIELDS = tuple(f.name for f in fields(CellProblem))


@dataclass(frozen=True)
class DepartmentState:
    """What is remembered about a department's sheet between runs."""

    fingerprint: str | None
    changed_at: datetime | None
    problems: int = 0
    table_found: bool = True
    # The sheet missing: the workbook's sheet that looks like it (:mod:`sheet_hints`), kept
    # for the runs that see the workbook unchanged (a reminder is sent by one of them).
    likely_sheet: str | None = None


@dataclass(frozen=True)
class DamageState:
    """What the flow keeps between runs.

    ``readings``: each department's last sheet reading with the keys it is valid for
    (:mod:`automation.damage.stored`), so that a run reads only the sheets that changed.
    """

    version: str | None = None
    report_number: int = 0
    snapshot: Mapping[str, Any] | None = field(default=None, repr=False)
    departments: Mapping[str, DepartmentState] = field(default_factory=dict, repr=False)
    # The open incident (``automation incident open``) the reports belong to; its name
    # scopes every message's occasion, so its 第1報 is not taken for an earlier incident's.
    incident: str = ""
    readings: Mapping[str, StoredReading] = field(default_factory=dict, repr=False)
    # What the report's figures add up to (``Sums.dump``), kept with its snapshot: the next
    # report adds up only the departments whose figures changed.
    sums: Mapping[str, Any] | None = field(default=None, repr=False)

    def occasion(self, name: str) -> str:
        """``name`` as the occasion of a message in this state's incident."""
        return f"incident:{self.incident}:{name}" if self.incident else name


@dataclass(frozen=True)
class DamageInputs:
    """The workbook as fetched: ``workbook`` is None when its version tag is unchanged.

    ``final``: ``incident close`` asks for the incident's final report (最終報), issued even
    when nothing changed, unless the current report already is the final one.
    """

    version: str
    workbook: Workbook | None
    final: bool = False


@dataclass(frozen=True)
class DepartmentStatus:
    """A department's reporting status in this run."""

    name: str
    sheet: str
    status: DepartmentStatusName
    updated: bool
    problems: int
    changed_at: datetime | None
    carried_forward: bool = False
    behind: bool = False  # has not reported what is due (listed as 未報告・未更新)
    # The sheet missing: the workbook's sheet that looks like it, to be renamed (a hint: its
    # figures are not read). A default, so a status kept before it was added still loads.
    likely_sheet: str | None = None

    @property
    def status_ja(self) -> str:
        """Status as shown to the response team."""
        return STATUS_JA[self.status]

    @property
    def behind_ja(self) -> str:
        """Why a department is behind: シートなし, 未報告 or 未更新."""
        if self.status == "missing":
            return STATUS_JA["missing"]
        return STATUS_JA["not_reported" if self.changed_at is None else "not_updated"]

    @property
    def sheet_hint_ja(self) -> str:
        """The sheet missing: which sheet looks like it and the fix (「危機管理課 (2)」が
        この部局のシートのコピーのようです。シート名を「危機管理課」に変更してください。), or ""."""
        return sheet_hints.hint_ja(self.sheet, self.likely_sheet) if self.likely_sheet else ""

    @property
    def sheet_hint_brief_ja(self) -> str:
        """The hint as the report's list of who is behind shows it (コピー「危機管理課 (2)」あり),
        or ""."""
        return sheet_hints.brief_ja(self.sheet, self.likely_sheet) if self.likely_sheet else ""

    @property
    def changed_ja(self) -> str:
        """The time of its last change, ``9月1日(火)9時10分``, or 更新なし."""
        return time_ja(self.changed_at) if self.changed_at else "更新なし"


@dataclass
class DamageReport:
    """The consolidated picture of this run (a new 第N報 when ``new`` is true)."""

    disaster: str
    number: int
    new: bool
    as_of: datetime
    # The data fields stay out of the repr: a 60-sheet workbook's readings are megabytes.
    consolidated: Consolidated = field(repr=False)
    changes: list[Change] = field(repr=False)
    departments: list[DepartmentStatus] = field(repr=False)
    problems: list[CellProblem] = field(repr=False)
    readings: Mapping[str, SheetReading] = field(repr=False)
    previous_number: int | None
    last_deadline: datetime | None
    next_deadline: datetime | None
    # Incidents of records sheets: what changed since the previous report, and those
    # still open (newest change first).
    incident_changes: list[IncidentChange] = field(default_factory=list, repr=False)
    open_incidents: list[IncidentState] = field(default_factory=list, repr=False)
    # Where the figures, problems and incidents come from: this run's reading ("read"),
    # the current report as stored ("stored": the workbook is unchanged), or nowhere
    # ("none": no report yet, or one stored before it kept all of this).
    carries: ReportState = "read"
    final: bool = False  # the incident's last report (最終報): no reminders follow
    # Per department, the key of its reading in ``readings``: equal keys, equal readings
    # (a writer can keep what it made from a reading and reuse it while the key stands).
    reading_keys: dict[str, str] = field(default_factory=dict, repr=False)
    # The departments whose sheet was read in this run; the others' readings are the ones
    # stored by an earlier run (their sheets did not change since).
    reread: frozenset[str] = frozenset()

    @property
    def as_of_ja(self) -> str:
        """``2026年9月1日9時5分現在``."""
        return as_of_ja(self.as_of)

    @property
    def not_reported(self) -> list[DepartmentStatus]:
        """Departments that have not reported what is due (see ``STATUS_JA``)."""
        return [d for d in self.departments if d.behind]


@dataclass
class DamagePlan:
    """Everything the flow decided in one run."""

    status: Literal["ok", "unchanged"]
    report: DamageReport
    messages: list[Message] = field(repr=False)
    state: DamageState = field(repr=False)
    artefact: str | None  # name of the merged workbook to store (new reports only)


def build_catalogue(params: DamageRollupParams) -> Catalogue:
    """The default catalogue restricted and extended as the flow's params say."""
    config = params.catalogue
    items: list[Item] = [
        item
        for item in DEFAULT_ITEMS
        if (config.only is None or item.code in config.only) and item.code not in config.exclude
    ]
    items.extend(_extra(spec) for spec in config.extra)
    return Catalogue(items)


def _extra(spec: ItemSpec) -> Item:
    return Item(spec.code, spec.label, spec.unit, spec.category, spec.aliases)


def reporting_departments(params: DamageRollupParams, directory: Directory) -> list[Department]:
    """The departments this flow expects a sheet from, in directory order."""
    wanted = params.departments
    return [
        d
        for d in directory.departments
        if d.sheet is not None and (wanted is None or d.name in wanted)
    ]


@dataclass(frozen=True)
class WorkbookRead:
    """The first part of a plan: the departments' sheets read (or the previous report's
    kept, for a workbook unchanged), before anything is added up."""

    sheets: SheetsRead
    previous_figures: Mapping[str, Figures]  # the current report's, as the plan compares
    stored: Consolidated | None  # the current report as stored, for a workbook unchanged


def read_sheets(
    params: DamageRollupParams,
    directory: Directory,
    inputs: DamageInputs,
    previous: DamageState,
    now: datetime,
    catalogue: Catalogue,
    mapper: Mapper = serial,
) -> WorkbookRead:
    """Read the sheets whose stored reading no longer holds (``mapper`` as for :func:`plan`):
    what a caller may act on before the plan goes on (the merged workbook's sheets as read
    can be composed from the readings meanwhile)."""
    departments = reporting_departments(params, directory)
    stored = (
        Consolidated.of_snapshot(previous.snapshot)
        if inputs.workbook is None and previous.snapshot is not None
        else None
    )
    previous_figures = {} if stored is not None else _previous_figures(previous)
    if inputs.workbook is None:
        sheets = SheetsRead(dict(previous.departments), dict(previous_figures))
    else:
        sheets = _read_sheets(
            params, departments, inputs.workbook, previous, previous_figures, catalogue, now, mapper
        )
        _hint_missing(sheets.states, departments, directory, inputs.workbook)
    return WorkbookRead(sheets, previous_figures, stored)


def plan(
    params: DamageRollupParams,
    directory: Directory,
    inputs: DamageInputs,
    previous: DamageState,
    now: datetime,
    *,
    catalogue: Catalogue | None = None,
    mapper: Mapper = serial,
    workbook_read: WorkbookRead | None = None,
) -> DamagePlan:
    """Decide this run's report, feedback and reminders (``mapper`` reads the sheets: in
    this process, or shared among several, :mod:`automation.parallel`); ``workbook_read``:
    what :func:`read_sheets` read from the same arguments (read here when not given)."""
    catalogue = catalogue or build_catalogue(params)
    departments = reporting_departments(params, directory)
    reference = _reference_time(params, previous, now)
    if workbook_read is None:
        workbook_read = read_sheets(params, directory, inputs, previous, now, catalogue, mapper)
    sheets, stored = workbook_read.sheets, workbook_read.stored
    previous_figures = workbook_read.previous_figures
    readings, dept_states, figures = sheets.readings, sheets.states, sheets.figures

    # An unchanged workbook shows the last report as stored: nothing to add up again.
    kept = _previous_sums(previous, previous_figures)
    consolidated = stored or consolidate(figures, catalogue, kept)
    signature = consolidated.signature
    old_signature = previous.snapshot.get("signature") if previous.snapshot else None
    read = inputs.workbook is not None and signature != old_signature and bool(figures)
    closed = _closed(params, departments)
    if inputs.workbook is None:
        incidents = incident_log.load(previous.snapshot)
    else:
        incidents = incident_log.follow(figures, previous.snapshot, now)
    changes, incident_changes = (
        _changes(params, previous, consolidated, kept, incidents, closed) if read else ([], [])
    )
    # A new number only when its message has something to say changed (or, closing an
    # incident, to say that this is the last report, once).
    is_new = read and (previous.snapshot is None or bool(changes or incident_changes))
    already_final = previous.snapshot is not None and bool(previous.snapshot.get("final"))
    is_new = is_new or (inputs.final and not already_final)
    number = previous.report_number + 1 if is_new else previous.report_number
    statuses = _statuses(params, departments, dept_states, reference, sheets.carried)
    problems, carries = _shown_problems(
        departments,
        sheets.problems,
        previous.snapshot,
        read=inputs.workbook is not None,
        stored=stored is not None,
    )
    deadline_rule = params.deadlines
    report = DamageReport(
        disaster=params.disaster,
        number=number,
        new=is_new,
        as_of=now if is_new or previous.snapshot is None else _as_of(previous.snapshot, now),
        consolidated=consolidated,
        changes=changes if is_new else [],
        departments=statuses,
        problems=problems,
        readings=readings,
        previous_number=previous.report_number or None,
        last_deadline=last_deadline(deadline_rule, now) if deadline_rule else None,
        next_deadline=next_deadline(deadline_rule, now) if deadline_rule else None,
        incident_changes=incident_changes if is_new else [],
        carries=carries,
        open_incidents=incident_log.open_incidents(incidents, closed),
        final=inputs.final,
        reading_keys={d: r.content for d, r in sheets.stored.items() if d in readings},
        reread=frozenset(sheets.reread),
    )
    artefact = params.artefact_name.format(number=number) if is_new else None
    feedback_on = sheets if inputs.workbook is not None else None
    messages = _messages(params, departments, report, artefact, feedback_on, now)
    if previous.incident:
        messages = [replace(m, occasion=previous.occasion(m.occasion)) for m in messages]

    snapshot = (
        _snapshot(report, incidents, _new_sources(sheets, previous))
        if is_new
        else previous.snapshot
    )
    state = replace(
        previous,
        version=inputs.version,
        report_number=number,
        snapshot=snapshot,
        sums=_sums(consolidated) if is_new else previous.sums,
        departments=dept_states,
        readings=sheets.stored if inputs.workbook is not None else previous.readings,
    )
    return DamagePlan("ok" if is_new else "unchanged", report, messages, state, artefact)


@dataclass
class SheetsRead:
    """What a run read from the departments' sheets (or kept, for a sheet it could not)."""

    states: dict[str, DepartmentState]
    figures: dict[str, Figures]
    readings: Mapping[str, SheetReading] = field(default_factory=dict)
    problems: dict[str, list[CellProblem]] = field(default_factory=dict)
    carried: set[str] = field(default_factory=set)  # figures kept from the previous run
    stored: dict[str, StoredReading] = field(default_factory=dict)  # readings to keep
    reread: set[str] = field(default_factory=set)  # sheets read (not reused) in this run
    # Per changed department, what its feedback shows: the reading without its cells, and
    # the items counted (the cells stay in the stored form: see ``_feedback_of``).
    feedback: dict[str, tuple[SheetReading, list[CountedItem]]] = field(default_factory=dict)


def _read_sheets(
    params: DamageRollupParams,
    departments: list[Department],
    workbook: Workbook,
    previous: DamageState,
    previous_figures: Mapping[str, Figures],
    catalogue: Catalogue,
    now: datetime,
    mapper: Mapper = serial,
) -> SheetsRead:
    """Read each department's sheet; one that is missing or unreadable keeps its old figures.

    A sheet whose stored reading is still valid (:mod:`automation.damage.stored`) is not
    read again (its package key unchanged, not even parsed), and its figures are the
    previous report's when they came from that same reading. The sheets are read by
    ``mapper`` (one process, or several: :mod:`automation.parallel`), each on its own."""
    from automation.damage.reading import municipality_index  # noqa: PLC0415  # see _read

    sheets = SheetsRead(dict(previous.departments), {})
    # Each department as its sheet is named in the workbook (「危機管理課 」 is 危機管理課's).
    named = [(d, workbook.sheet_named(d.sheet or "")) for d in departments]
    present = [
        d if name == d.sheet else d.model_copy(update={"sheet": name})
        for d, name in named
        if name is not None
    ]
    configs = {
        d.name: config_key(
            d.name,
            params.layouts.get(d.name, params.default_layout),
            catalogue,
            params.municipalities,
        )
        for d in present
    }
    take = partial(
        _take,
        params=params,
        workbook=workbook,
        previous=previous,
        sources=_sources(previous.snapshot),
        catalogue=catalogue,
        known=municipality_index(params.municipalities),
        configs=configs,
    )
    costs = [
        _reading_cost(workbook, d, previous.readings.get(d.name), configs[d.name]) for d in present
    ]
    taken = dict(zip([d.name for d in present], mapper(take, present, costs), strict=True))
    for dept in departments:
        old = previous.departments.get(dept.name)
        if dept.name not in taken:  # the sheet is not in the workbook
            sheets.states[dept.name] = DepartmentState(None, old.changed_at if old else None, 0)
            if dept.name in previous.readings:  # kept for when the sheet comes back
                sheets.stored[dept.name] = previous.readings[dept.name]
            if dept.name in previous_figures:
                sheets.figures[dept.name] = previous_figures[dept.name]
                sheets.carried.add(dept.name)
            continue
        _took(sheets, dept.name, taken.pop(dept.name), old, previous_figures, now)
    order = [d.name for d in departments if d.name in sheets.problems]
    # The readings are not kept: what the run needs of them is in the figures, the heads
    # and the feedback; the merged workbook decodes one sheet at a time from the stored
    # form (60 sheets of 2,000 rows held together are 70 MB).
    sheets.readings = Readings({}, sheets.stored, order, catalogue)
    return sheets


def _hint_missing(
    states: dict[str, DepartmentState],
    departments: list[Department],
    directory: Directory,
    workbook: Workbook,
) -> None:
    """Each department whose sheet is missing with the workbook's sheet that looks like it
    (a copy, a renamed tab), if one does; never a sheet another department of the directory
    is configured with. Only the sheets' names are looked at: nothing is parsed or read."""
    names, configured = list(workbook.sheets), directory.sheets()
    for dept in departments:
        state = states.get(dept.name)
        if state is None or state.fingerprint is not None:
            continue
        found = sheet_hints.hinted_sheet(dept.name, dept.sheet or "", names, configured)
        states[dept.name] = replace(state, likely_sheet=found)


@dataclass(frozen=True)
class _Outcome:
    """What a run keeps of one department's sheet: small enough to come back from a helper
    process (:mod:`automation.parallel`), the cells left behind."""

    stored: StoredReading
    head: Head
    reread: bool  # read in this run, not taken from the stored reading
    figures: Figures | None  # None: the previous report's hold (same reading), or no table
    feedback: tuple[SheetReading, list[CountedItem]] | None  # when the content is new


def _reading_cost(
    workbook: Workbook, dept: Department, stored: StoredReading | None, config: str
) -> int:
    """What taking a department's sheet costs, to share the sheets among processes: nothing
    while its stored reading's zip entries hold (no key to compute, nothing parsed: a save
    of one sheet forks no helper for the others), else the size of its part."""
    sheet = dept.sheet or ""
    if entries_hold(stored, config, workbook.entries.get(sheet)):
        return 0
    return workbook.sizes.get(sheet, 0)


def _take(
    dept: Department,
    *,
    params: DamageRollupParams,
    workbook: Workbook,
    previous: DamageState,
    sources: Mapping[str, str],
    catalogue: Catalogue,
    known: Mapping[str, str] | None,
    configs: Mapping[str, str],
) -> _Outcome:
    """One department's sheet: its stored reading or a new one, its figures and feedback."""
    layout = params.layouts.get(dept.name, params.default_layout)
    taken = _sheet_reading(
        workbook,
        dept.sheet or "",
        previous.readings.get(dept.name),
        configs[dept.name],
        partial(_read, department=dept.name, layout=layout, catalogue=catalogue, known=known),
    )
    head, reading = taken.head, taken.reading
    old = previous.departments.get(dept.name)
    is_new_content = old is None or old.fingerprint != taken.stored.fingerprint
    figures = None
    if head.table_found and (reading is not None or sources.get(dept.name) != taken.stored.content):
        reading = reading or taken.stored.decode(catalogue)
        figures = Figures.of(reading)
        # Its text (what the totals digest) made here, with the reading: a helper process
        # sends it back made (see :mod:`automation.parallel`).
        _ = figures.text
    feedback = None
    # Counted for the department's feedback message only: a flow that sends none skips it.
    if params.feedback and is_new_content and (head.reported or head.problems):
        feedback = _feedback_of(reading or taken.stored.decode(catalogue), catalogue)
    return _Outcome(taken.stored, head, taken.reading is not None, figures, feedback)


def _took(
    sheets: SheetsRead,
    name: str,
    outcome: _Outcome,
    old: DepartmentState | None,
    previous_figures: Mapping[str, Figures],
    now: datetime,
) -> None:
    """Add one department's outcome to what the run read."""
    sheets.stored[name] = outcome.stored
    if outcome.reread:
        sheets.reread.add(name)
    head = outcome.head
    sheets.problems[name] = head.problems
    fingerprint = outcome.stored.fingerprint
    is_new_content = old is None or old.fingerprint != fingerprint
    # A sheet counts as updated only when it changed and holds something to count:
    # the blank template sent out before the disaster is not a report.
    changed_at = now if is_new_content and head.reported else (old.changed_at if old else None)
    if outcome.feedback is not None:
        sheets.feedback[name] = outcome.feedback
    sheets.states[name] = DepartmentState(
        fingerprint, changed_at, len(head.problems), head.table_found
    )
    if outcome.figures is not None:
        sheets.figures[name] = outcome.figures
    elif head.table_found:  # the stored reading the previous report's figures came from
        sheets.figures[name] = previous_figures[name]
    elif name in previous_figures:
        sheets.figures[name] = previous_figures[name]
        sheets.carried.add(name)


def _feedback_of(
    reading: SheetReading, catalogue: Catalogue
) -> tuple[SheetReading, list[CountedItem]]:
    """What a department's feedback shows of its reading: the sheet, its problems and the
    items counted (not the cells, which a message would keep alive until it is sent)."""
    shown = SheetReading(
        reading.department,
        reading.sheet,
        reading.layout,
        reading.table_found,
        columns=reading.columns,
        statuses=reading.statuses,
        problems=reading.problems,
    )
    return shown, _counted(reading, catalogue)


def _sources(snapshot: Mapping[str, Any] | None) -> dict[str, str]:
    """Per department, the content key of the reading the report's figures came from."""
    sources = snapshot.get("sources") if snapshot else None
    return dict(sources) if isinstance(sources, dict) else {}


def _read(
    sheet: Sheet,
    *,
    department: str,
    layout: MatrixLayout | RecordsLayout,
    catalogue: Catalogue,
    known: Mapping[str, str] | None,
) -> SheetReading:
    # The readers load with the first sheet read: an unchanged workbook needs none of them.
    from automation.damage.reading import read_matrix, read_records  # noqa: PLC0415

    if isinstance(layout, RecordsLayout):
        return read_records(sheet, department, layout, catalogue, known)
    return read_matrix(sheet, department, layout, catalogue, known)


@dataclass(frozen=True)
class _Taken:
    """A department's reading in this run, and how it is kept for the next one."""

    stored: StoredReading
    head: Head
    reading: SheetReading | None  # read in this run; None: the stored reading holds


def _sheet_reading(
    workbook: Workbook,
    sheet_name: str,
    stored: StoredReading | None,
    config: str,
    read: Callable[[Sheet], SheetReading],
) -> _Taken:
    """The stored reading while its package key (then its content key) holds, else the
    sheet read again."""
    package = package_key(
        stored,
        config,
        workbook.entries.get(sheet_name),
        lambda: workbook.packages.get(sheet_name),
    )
    if stored is not None and package.key is not None and stored.keys.key == package.key:
        head = _head(stored)
        if head is not None:
            return _Taken(stored.keyed_by(package), head, None)
    sheet = workbook.sheets[sheet_name]
    content = keyed(config, sheet.content)
    if stored is not None and stored.content == content:
        head = _head(stored)
        if head is not None:
            return _Taken(stored.keyed_by(package), head, None)
    reading = read(sheet)
    kept = StoredReading.of(reading, package, content, sheet.fingerprint)
    return _Taken(kept, Head(reading.table_found, reading.reported, reading.problems), reading)


def _head(stored: StoredReading) -> Head | None:
    """A stored reading's head, or None when it cannot be decoded (the sheet is read)."""
    try:
        return stored.summary()
    except (ValueError, KeyError, TypeError, zlib.error):
        return None


def _changes(
    params: DamageRollupParams,
    previous: DamageState,
    consolidated: Consolidated,
    before: tuple[Mapping[str, Figures], Sums | None],
    incidents: list[IncidentState],
    closed: Mapping[str, frozenset[str]],
) -> tuple[list[Change], list[IncidentChange]]:
    """What changed since the previous report (``before``: its figures, and their sums
    when kept): figures per municipality, and incidents."""
    order = params.municipalities or ()
    changes = diff(previous.snapshot, consolidated, before[0], order, before[1])
    return changes, incident_log.changes(previous.snapshot, incidents, closed)


def _messages(
    params: DamageRollupParams,
    departments: list[Department],
    report: DamageReport,
    artefact: str | None,
    sheets: SheetsRead | None,
    now: datetime,
) -> list[Message]:
    """The report when it is new, feedback on the sheets read (if any), and reminders due."""
    messages: list[Message] = []
    if report.new:
        messages.extend(_report_messages(params, report, artefact))
    if params.feedback and sheets is not None:
        messages.extend(_feedback_messages(departments, report, sheets))
    if not report.final:  # the final report ends the incident: no deadline follows it
        messages.extend(_reminders(params, departments, report, now))
    return messages


def _statuses(
    params: DamageRollupParams,
    departments: list[Department],
    states: Mapping[str, DepartmentState],
    reference: datetime | None,
    carried: set[str],
) -> list[DepartmentStatus]:
    """Each department's status line, in directory order."""
    return [
        _status(
            d,
            states.get(d.name),
            reference,
            d.name in carried,
            deadlines=params.deadlines is not None,
        )
        for d in departments
    ]


def _shown_problems(
    departments: list[Department],
    found: Mapping[str, list[CellProblem]],
    snapshot: Mapping[str, Any] | None,
    *,
    read: bool,
    stored: bool,
) -> tuple[list[CellProblem], ReportState]:
    """The problems to show and where they come from: this run's reading, or (nothing
    read) the current report as stored, or none when there is no such report or it was
    stored without them."""
    if read:
        return [p for d in departments for p in found.get(d.name, ())], "read"
    kept = _stored_problems(snapshot)
    return (kept, "stored") if stored and kept is not None else ([], "none")


def _new_sources(sheets: SheetsRead, previous: DamageState) -> dict[str, str]:
    """Per department, the content key of the reading its figures in this report came
    from (a carried department's: the previous report's)."""
    old = _sources(previous.snapshot)
    sources = {}
    for dept in sheets.figures:
        source = old.get(dept) if dept in sheets.carried else sheets.stored[dept].content
        if source is not None:
            sources[dept] = source
    return dict(sorted(sources.items()))


def _snapshot(
    report: DamageReport, incidents: list[IncidentState], sources: Mapping[str, str]
) -> dict[str, Any]:
    """What a new report keeps for the next run's comparison and for unchanged polls."""
    consolidated = report.consolidated
    return {
        "number": report.number,
        "as_of": report.as_of.isoformat(),
        "signature": consolidated.signature,
        "totals": consolidated.totals_dump(),
        "statuses": consolidated.statuses,
        "figures": consolidated.figure_texts,
        "incidents": incident_log.dump(incidents),
        # Not dataclasses.asdict: it deep-copies every field (10x slower, measured).
        "problems": [{f: getattr(p, f) for f in PROBLEM_FIELDS} for p in report.problems],
        "sources": dict(sources),
        **({"final": True} if report.final else {}),
    }


def _closed(params: DamageRollupParams, departments: list[Department]) -> dict[str, frozenset[str]]:
    """Per records department, the (normalised) statuses of an incident that is over."""
    closed = {}
    for dept in departments:
        layout = params.layouts.get(dept.name, params.default_layout)
        if isinstance(layout, RecordsLayout):
            closed[dept.name] = frozenset(normalize(s) for s in layout.closed_statuses)
    return closed


def _reference_time(
    params: DamageRollupParams, previous: DamageState, now: datetime
) -> datetime | None:
    """Changes after this time count as "updated"."""
    if params.deadlines is not None:
        return last_deadline(params.deadlines, now)
    if previous.snapshot is not None:
        return datetime.fromisoformat(str(previous.snapshot["as_of"]))
    return None


def _as_of(snapshot: Mapping[str, Any], now: datetime) -> datetime:
    try:
        return datetime.fromisoformat(str(snapshot["as_of"]))
    except (KeyError, ValueError):
        return now


def _stored_problems(snapshot: Mapping[str, Any] | None) -> list[CellProblem] | None:
    """The problems the current report listed; None for a report stored without them."""
    if snapshot is None or "problems" not in snapshot:
        return None
    return [CellProblem(**p) for p in snapshot["problems"]]


def _previous_figures(previous: DamageState) -> dict[str, Figures]:
    """The figures of the current report, each department's kept as text until read (a run
    reads those of the departments whose sheets changed)."""
    if previous.snapshot is None:
        return {}
    stored = previous.snapshot.get("figures", {})
    if not isinstance(stored, JSONTexts):
        return {dept: Figures.load(data) for dept, data in stored.items()}
    parts = (previous.sums or {}).get("parts", {})
    return {
        dept: Figures.of_text(stored.text(dept), incidents=_listed(parts.get(dept)))
        for dept in stored
    }


def _listed(part: Any) -> bool:
    """Whether a department's figures may list incidents (unless its sums say none)."""
    return not isinstance(part, dict) or part.get("incidents") is not False


def _previous_sums(
    previous: DamageState, figures: Mapping[str, Figures]
) -> tuple[Mapping[str, Figures], Sums | None]:
    """The current report's figures with what they add up to, when that was kept."""
    return figures, Sums.load(previous.sums) if figures else None


def _sums(consolidated: Consolidated) -> dict[str, Any] | None:
    return None if consolidated.sums is None else consolidated.sums.dump()


def _status(
    dept: Department,
    state: DepartmentState | None,
    reference: datetime | None,
    carried: bool,
    *,
    deadlines: bool,
) -> DepartmentStatus:
    """A department's status. ``reference`` is the last deadline (with deadlines) or the
    previous report's time (without): a change after it counts as updated."""
    sheet = dept.sheet or ""
    changed_at = state.changed_at if state else None
    if state is None or state.fingerprint is None:
        return DepartmentStatus(
            dept.name,
            sheet,
            "missing",
            False,
            0,
            changed_at,
            carried,
            True,
            likely_sheet=state.likely_sheet if state else None,
        )
    updated = changed_at is not None and (reference is None or changed_at > reference)
    # Behind: nothing reported yet, or (with deadlines) nothing since the last deadline.
    behind = changed_at is None or (deadlines and not updated)
    status: DepartmentStatusName
    if state.problems or not state.table_found:
        status = "problems"
    elif updated:
        status = "updated"
    elif changed_at is None:
        status = "not_reported"
    else:
        status = "not_updated" if behind else "current"
    return DepartmentStatus(
        dept.name, sheet, status, updated, state.problems, changed_at, carried, behind
    )


def _report_messages(
    params: DamageRollupParams, report: DamageReport, artefact: str | None
) -> list[Message]:
    attachments = (artefact,) if artefact else ()
    return [
        Message(
            "report",
            f"report:{report.number}",
            "response_team",
            contact,
            "damage_report",
            {"report": report},
            attachments if contact.channel == "mail" else (),
        )
        for contact in params.report_to
    ]


def _feedback_messages(
    departments: list[Department], report: DamageReport, sheets: SheetsRead
) -> list[Message]:
    messages = []
    for dept in departments:
        shown = sheets.feedback.get(dept.name)
        state = sheets.states.get(dept.name)
        if shown is None or state is None:
            continue
        reading, counted = shown
        context = {"report": report, "department": dept, "reading": reading, "counted": counted}
        for contact in dept.contacts:
            messages.append(
                Message(
                    "feedback",
                    f"feedback:{dept.name}:{state.fingerprint}",
                    dept.name,
                    contact,
                    "damage_feedback",
                    context,
                )
            )
    return messages


@dataclass(frozen=True)
class CountedItem:
    """One item as counted from a department's sheet, for its feedback."""

    item: Item
    value: Any
    unconfirmed: int
    unreadable: int = 0  # cells of this item left out because they could not be read


def _counted(reading: SheetReading, catalogue: Catalogue) -> list[CountedItem]:
    totals: dict[str, Any] = {}
    flags: dict[str, int] = {}
    for (_, code), value in reading.amounts.items():
        totals[code] = totals.get(code, 0) + value
    for _, code in reading.unconfirmed:
        flags[code] = flags.get(code, 0) + 1
    unread = Counter(code for _, code in reading.unreadable)
    return [
        CountedItem(item, totals.get(item.code), flags.get(item.code, 0), unread[item.code])
        for item in catalogue.items
        if item.code in totals or item.code in flags or item.code in unread
    ]


def _reminders(
    params: DamageRollupParams, departments: list[Department], report: DamageReport, now: datetime
) -> list[Message]:
    if params.deadlines is None:
        return []
    due = reminder_due(params.deadlines, now)
    if due is None:
        return []
    by_name = {s.name: s for s in report.departments}
    messages = []
    for dept in departments:
        status = by_name[dept.name]
        if not status.behind:
            continue
        context = {
            "report": report,
            "department": dept,
            "status": status,
            "deadline": due,
            "deadline_ja": time_ja(due),
        }
        for contact in dept.contacts:
            messages.append(
                Message(
                    "reminder",
                    f"reminder:{due.isoformat()}",
                    dept.name,
                    contact,
                    "damage_reminder",
                    context,
                )
            )
    return messages
