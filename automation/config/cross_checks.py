"""Cross-checks between sections of a schema-valid configuration.

Departments named by flows exist in the directory, ids are unique, inputs fit the backend,
contacts have what their channel needs, item codes and periods are real, and template
override folders exist. Rendering the overrides needs the flows, which sit above this
package, so the caller passes that check in (:func:`automation.configuration.load_config`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from automation.config.models import (
    AppConfig,
    DamageRollupFlow,
    DamageRollupParams,
    Directory,
    GraphBackend,
    ProgressCollectionFlow,
    ProgressCollectionParams,
)
from automation.config.positions import ConfigProblem, Loc, Positions
from automation.config.spelling import did_you_mean
from automation.timeutil import JST

Add = Callable[[Loc, str], None]
STALE_YEARS = 2  # a round deadline more than this many years ago is refused
TemplateCheck = Callable[[DamageRollupFlow | ProgressCollectionFlow, Directory, Path], list[str]]


def cross_check(
    config: AppConfig,
    positions: Positions,
    template_check: TemplateCheck | None = None,
    today: date | None = None,
) -> list[ConfigProblem]:
    """The problems between sections of ``config``, each at the line it is about.

    ``template_check`` renders a flow's override folder (when it exists); without it the
    overrides are not rendered. ``today`` (JST) dates the check of round deadlines.
    """
    problems = []
    today = today or datetime.now(JST).date()

    def add(loc: Loc, message: str) -> None:
        problems.append(positions.problem(loc, message))

    _check_state_path(config, Path(positions.file).parent, add)
    _check_state_url(config, positions, add)

    seen_ids: set[str] = set()
    for index, flow in enumerate(config.flows):
        loc: Loc = ("flows", index)
        if flow.id in seen_ids:
            add((*loc, "id"), f"flow id {flow.id!r} is used twice; give each flow its own id")
        seen_ids.add(flow.id)
        if isinstance(flow, DamageRollupFlow):
            _check_damage(flow.params, config, (*loc, "params"), add)
        else:
            _check_progress(flow.params, config, (*loc, "params"), add)
            _check_rounds(flow.params, today, (*loc, "params"), add)
        _check_refs(flow, config, (*loc, "params"), add)
        if flow.params.templates is not None:
            folder = Path(positions.file).parent / flow.params.templates
            for message in _check_templates(flow, config, folder, template_check):
                add((*loc, "params", "templates"), message)
    return problems


def _check_state_url(config: AppConfig, positions: Positions, add: Add) -> None:
    """state.url names SQLite or PostgreSQL, and its password comes from the environment."""
    url = config.state.url
    if url is None:
        return
    loc: Loc = ("state", "url")
    try:
        parts = urlsplit(url)
        password = parts.password or any(n == "password" for n, _ in parse_qsl(parts.query))
    except ValueError:
        add(loc, "state.url is not a URL; write postgresql+psycopg://user:${PGPASSWORD}@host/db")
        return
    if parts.scheme not in ("sqlite", "postgresql", "postgresql+psycopg", "postgres"):
        add(
            loc,
            f"state.url starts with {parts.scheme or '(no scheme)'!r}; write sqlite:///path or "
            "postgresql+psycopg://user:${PGPASSWORD}@host:5432/db",
        )
        return
    if password and not positions.env_refs.get(loc):
        add(
            loc,
            "state.url has a password written in the configuration file; keep it out of files "
            "others read: export it as an environment variable and write "
            "postgresql+psycopg://user:${PGPASSWORD}@host/db",
        )


def _check_state_path(config: AppConfig, folder: Path, add: Add) -> None:
    """The state database is a file (a folder there would fail the first run in sqlite)."""
    path = config.state.path if config.state.path.is_absolute() else folder / config.state.path
    if path.is_dir():
        add(
            ("state", "path"),
            f"{path} is a folder; state.path names the database file itself, e.g. "
            f"{config.state.path / 'automation.sqlite'}",
        )
    elif path.parent.exists() and not path.parent.is_dir():
        add(
            ("state", "path"),
            f"{path.parent} is a file, so the database cannot be created inside it; "
            "choose another folder for state.path",
        )


def _check_rounds(params: ProgressCollectionParams, today: date, loc: Loc, add: Add) -> None:
    """A deadline years before today is a typo (2016 for 2026): that round would never run."""
    for i, round_ in enumerate(params.rounds):
        years = (today - round_.deadline).days / 365.25
        if years > STALE_YEARS:
            add(
                (*loc, "rounds", i, "deadline"),
                f"deadline {round_.deadline.isoformat()} is {int(years)} years before today "
                f"({today.isoformat()}), so this round would never run; fix the year, or "
                "remove rounds that are over",
            )


def _check_templates(
    flow: DamageRollupFlow | ProgressCollectionFlow,
    config: AppConfig,
    folder: Path,
    template_check: TemplateCheck | None,
) -> list[str]:
    """The override folder exists and (with ``template_check``) each template in it renders."""
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.is_file() else "does not exist"
        return [
            f"template folder {folder} {what}; create it with the override files, or remove "
            "templates: to use the packaged ones (a relative path starts at this file's folder)"
        ]
    return [] if template_check is None else template_check(flow, config.directory, folder)


def _check_refs(
    flow: DamageRollupFlow | ProgressCollectionFlow, config: AppConfig, loc: Loc, add: Add
) -> None:
    """Inputs are paths on the local backend and Graph references on the Graph backend."""
    graph = isinstance(config.backend, GraphBackend)
    key = "workbook" if isinstance(flow, DamageRollupFlow) else "list"
    ref = getattr(flow.params, key)
    if graph and isinstance(ref, str):
        shapes = (
            "{drive_id, item_id}, {team_id, channel_id, path} or {site_id, path}"
            if key == "workbook"
            else "{site_id, list_id}"
        )
        add((*loc, key), f"with backend.type: graph, give the {key} as {shapes}, not a path")
    if not graph and not isinstance(ref, str):
        add(
            (*loc, key),
            f"the local backend reads the {key} from a path under backend.root; "
            "write a path, or set backend.type: graph",
        )
    if (
        graph
        and getattr(config.backend, "service_account", None) is None
        and _uses_channel(flow, config, "teams_channel")
    ):
        add(
            ("backend",),
            "teams_channel contacts are configured but backend.service_account is not; app-only "
            "Graph cannot post to channels: add service_account: {type: device_code, tenant_id, "
            "client_id} and run `automation login`, or use teams_webhook or mail",
        )
    if (
        graph
        and getattr(config.backend, "mailbox", None) is None
        and _uses_channel(flow, config, "mail")
    ):
        add(
            ("backend",),
            "mail contacts are configured but backend.mailbox is not; "
            "set the mailbox (UPN) that sends mail",
        )


def _uses_channel(
    flow: DamageRollupFlow | ProgressCollectionFlow, config: AppConfig, channel: str
) -> bool:
    contacts = [
        c for d in config.directory.departments for c in (*d.contacts, *d.dx_leaders, *d.escalation)
    ]
    if isinstance(flow, DamageRollupFlow):
        contacts += list(flow.params.report_to)
    else:
        contacts += [*flow.params.secretariat, *flow.params.summary_to]
    return any(c.channel == channel for c in contacts)


def _known(config: AppConfig) -> str:
    return ", ".join(d.name for d in config.directory.departments)


def _unknown_department(dept: str, config: AppConfig) -> str:
    return (
        f"department {dept!r} is not in the directory; add it there or fix the name "
        f"(known: {_known(config)})"
    )


def _check_damage(params: DamageRollupParams, config: AppConfig, loc: Loc, add: Add) -> None:
    for i, dept in enumerate(params.departments or ()):
        department = config.directory.get(dept)
        if department is None:
            add((*loc, "departments", i), _unknown_department(dept, config))
        elif department.sheet is None:
            add(
                (*loc, "departments", i),
                f"department {dept!r} has no 'sheet' in the directory; add its sheet name",
            )
    if params.departments is None and not any(d.sheet for d in config.directory.departments):
        add(loc, "no department in the directory has a 'sheet'; add sheet names")
    if params.municipalities is not None and not params.municipalities:
        add(
            (*loc, "municipalities"),
            "the list of municipalities is empty, so every row would be an unknown "
            "municipality; list them (e.g. [前橋市, 高崎市]) or remove the key to accept any name",
        )
    _check_sheet_names(params, config, add)
    for dept in params.layouts:
        if config.directory.get(dept) is None:
            add(
                (*loc, "layouts", dept),
                f"layout given for {dept!r}, which is not in the directory; add it there or fix "
                f"the name (known: {_known(config)})",
            )
    from automation.damage.catalogue import DEFAULT_ITEMS  # noqa: PLC0415  # only for damage flows

    codes = {item.code for item in DEFAULT_ITEMS}
    for key in ("only", "exclude"):
        for i, code in enumerate(getattr(params.catalogue, key) or ()):
            if code not in codes:
                add(
                    (*loc, "catalogue", key, i),
                    f"unknown item code {code!r}; {did_you_mean(code, codes)}"
                    "use a code listed in docs/catalogue.md",
                )
    for i, spec in enumerate(params.catalogue.extra):
        if spec.code in codes:
            add(
                (*loc, "catalogue", "extra", i, "code"),
                f"item code {spec.code!r} already exists; choose another code",
            )


EXCEL_SHEET_CHARS = frozenset("[]:*?/\\")
EXCEL_SHEET_LENGTH = 31


def _check_sheet_names(params: DamageRollupParams, config: AppConfig, add: Add) -> None:
    """Sheets of the departments a damage flow reads are names Excel can give a sheet, and
    no two departments share one (a workbook could never hold them)."""
    owners: dict[str, str] = {}
    for index, dept in enumerate(config.directory.departments):
        if dept.sheet is None or (params.departments and dept.name not in params.departments):
            continue
        loc: Loc = ("directory", "departments", index, "sheet")
        bad = "".join(sorted(EXCEL_SHEET_CHARS & set(dept.sheet)))
        if len(dept.sheet) > EXCEL_SHEET_LENGTH or bad or dept.sheet.strip("'") != dept.sheet:
            found = (
                f"contains {bad}"
                if bad
                else (
                    f"has {len(dept.sheet)} characters"
                    if len(dept.sheet) > EXCEL_SHEET_LENGTH
                    else "starts or ends with a quote"
                )
            )
            add(
                loc,
                f"department {dept.name!r}: sheet name {dept.sheet!r} {found}; Excel names a sheet with at most "
                f"{EXCEL_SHEET_LENGTH} characters, none of [ ] : * ? / \\ and no quote at "
                "either end; rename the sheet and write that name here",
            )
        other = owners.setdefault(dept.sheet.casefold(), dept.name)
        if other != dept.name:
            add(
                loc,
                f"department {dept.name!r}: sheet {dept.sheet!r} is also {other!r}'s sheet; "
                "Excel cannot hold two sheets of one name (case does not count); give each "
                "department its own sheet",
            )


def _check_progress(
    params: ProgressCollectionParams, config: AppConfig, loc: Loc, add: Add
) -> None:
    from automation.fiscal import parse_period  # noqa: PLC0415  # only for progress flows

    for i, dept in enumerate(params.departments or ()):
        if config.directory.get(dept) is None:
            add((*loc, "departments", i), _unknown_department(dept, config))
    for i, status in enumerate(params.delayed_statuses):
        if status not in params.statuses:
            add(
                (*loc, "delayed_statuses", i),
                f"{status!r} is not one of statuses {list(params.statuses)}; add it there or fix it",
            )
    for i, round_ in enumerate(params.rounds):
        if round_.period is not None and parse_period(round_.period, params.period_kind) is None:
            add(
                (*loc, "rounds", i, "period"),
                f"period {round_.period!r} is not a {params.period_kind}; write e.g. "
                + ("2026H1 or 令和8年度上期" if params.period_kind == "half" else "2026Q1"),
            )
    if params.status_field in params.numeric:
        add(
            (*loc, "numeric", params.numeric.index(params.status_field)),
            f"{params.status_field!r} is the status field, not a number; remove it from numeric",
        )


def config_warnings(config: AppConfig, positions: Positions) -> list[ConfigProblem]:
    """What is valid but probably not meant, each at its line: a round collecting a period
    that neither contains its deadline nor ends shortly before it."""
    progress = [(i, f) for i, f in enumerate(config.flows) if isinstance(f, ProgressCollectionFlow)]
    if not progress:
        return []  # the fiscal calendar (and its holidays) loads only for progress flows
    from automation.fiscal import (  # noqa: PLC0415
        date_ja,
        parse_period,
        period_due,
        period_fits_deadline,
    )

    found = []
    for index, flow in progress:
        params = flow.params
        for i, round_ in enumerate(params.rounds):
            period = parse_period(round_.period or "", params.period_kind)
            if period is None or period_fits_deadline(period, round_.deadline):
                continue
            due = period_due(round_.deadline, params.period_kind)
            found.append(
                positions.problem(
                    ("flows", index, "params", "rounds", i, "period"),
                    f"warning: period {round_.period!r} ({period.label_ja}, "
                    f"{period.start:%Y-%m-%d} to {period.end:%Y-%m-%d}) neither contains the "
                    f"deadline {round_.deadline} ({date_ja(round_.deadline)}) nor ends shortly "
                    f"before it; a round due then usually collects {due.key} ({due.label_ja}). "
                    f"Write period: {due.key}, or leave period out to collect it",
                )
            )
    return found
