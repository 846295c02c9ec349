"""``automation incident``: open, close and list the incidents of a damage flow.

``open`` builds a fresh workbook named after the incident (the ``provision workbook`` plan
and writer), creates it beside the configured workbook (the local backend's workbook
folder, or the same Teams channel folder / site path through Graph; an existing file is
never overwritten), records the incident (the flow reads its workbook from then on and
numbers its reports from 第1報) and announces it through the outbox, once.

``close`` marks the incident closing, runs the flow once (its report is the final one,
最終報, and no reminder follows), moves the workbook into the archive folder beside it and
records the incident closed. The flow then stays idle until the next ``open``. A close cut
short (a refused move) leaves the incident open and closing: running ``close`` again issues
no second final report and only retries the archiving.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from automation.backends import configured_backend, configured_provisioner
from automation.config.loader import LoadedConfig
from automation.config.models import DamageRollupFlow, FileRef
from automation.errors import ConfigError
from automation.flows import incident as plans
from automation.flows.provision import UnbuildableError, WorkbookPlan, workbook_plan
from automation.input_workbook import build_input_workbook
from automation.outcome import delivery_outcome, exit_code
from automation.plan import Message
from automation.ports import Backend, WorkbookProvisioner
from automation.provision import damage_flow
from automation.queueing import outbox_entry
from automation.render import Rendered, environment, render
from automation.state import Incident, Store
from automation.textwidth import padded
from automation.timeutil import JST

LOG = logging.getLogger("automation.incidents")


@dataclass(frozen=True)
class OpenRequest:
    """What the admin asked ``incident open`` for."""

    flow: str
    name: str
    dry_run: bool = False


@dataclass(frozen=True)
class Tools:
    """Where files go and messages leave (the configured backend unless a test passes its
    own), and the clock."""

    provisioner: WorkbookProvisioner | None = None
    backend: Backend | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(JST)


def _store(loaded: LoadedConfig, *, create: bool) -> Store | None:
    """The state store; without ``create``, None when there is no database yet."""
    target = loaded.state_target
    if not create and isinstance(target, Path) and not target.exists():
        return None
    return Store(target)


def _workbook(
    loaded: LoadedConfig, flow: DamageRollupFlow, name: str
) -> tuple[FileRef, WorkbookPlan]:
    """Where the incident's workbook goes and what it holds."""
    params = flow.params
    try:
        ref = plans.incident_ref(params, name)
    except plans.IncidentRefusedError as refused:
        raise ConfigError(f"{loaded.path}: {refused}; nothing was changed") from None
    at = ("flows", loaded.config.flows.index(flow), "params")
    try:
        plan = workbook_plan(
            plans.incident_params(params, name, ref),
            loaded.config.directory,
            password=params.sheet_password,
            at=at,
        )
    except UnbuildableError as problem:
        raise ConfigError(str(loaded.problem(problem.loc, problem.message))) from None
    return ref, plan


def open_incident(
    loaded: LoadedConfig,
    request: OpenRequest,
    now: datetime,
    out: TextIO | None = None,
    tools: Tools | None = None,
) -> int:
    """Open incident ``request.name`` of a damage flow (or print what that would do)."""
    out = out or sys.stdout
    tools = tools or Tools()
    flow = damage_flow(loaded, request.flow)
    store = _store(loaded, create=False)
    try:
        known = [(i.name, i.is_open) for i in store.incidents(flow.id)] if store else []
    finally:
        if store is not None:
            store.close()
    try:
        plans.refuse_open(request.name, known, flow.id)
    except plans.IncidentRefusedError as refused:
        raise ConfigError(str(refused)) from None
    ref, plan = _workbook(loaded, flow, request.name)
    if request.dry_run:
        return _print_open_plan(loaded, flow, request.name, ref, plan, now, out)
    with Store(loaded.state_target) as created:
        return asyncio.run(_open(loaded, flow, request.name, (ref, plan), now, created, tools, out))


def _print_open_plan(
    loaded: LoadedConfig,
    flow: DamageRollupFlow,
    name: str,
    ref: FileRef,
    plan: WorkbookPlan,
    now: datetime,
    out: TextIO,
) -> int:
    where = plans.describe_ref(ref)
    print(f"would create {where} ({loaded.config.backend.type} backend):", file=out)
    for line in plan.describe():
        print(line, file=out)
    print(
        f"would record incident {name!r} of flow {flow.id}: the flow reads this workbook "
        "from then on and numbers its reports from 第1報",
        file=out,
    )
    link = where if isinstance(ref, str) else "(the new workbook's web address)"
    rendered = _announcement(loaded, flow, name, link, now)
    print(f"would send {len(rendered)} announcements:", file=out)
    for message, body in rendered:
        print(f"--- to {message.contact.label} ({message.contact.channel})", file=out)
        print(f"件名: {body.subject}", file=out)
        print((body.text or "").rstrip(), file=out)
    return 0


def _announcement(
    loaded: LoadedConfig, flow: DamageRollupFlow, name: str, link: str, now: datetime
) -> list[tuple[Message, Rendered]]:
    params = flow.params
    notice = plans.opened(params, name, link, now)
    messages = plans.open_messages(params, loaded.config.directory, notice)
    env = environment(loaded.resolve(params.templates) if params.templates else None)
    return [(message, render(env, message)) for message in messages]


async def _open(
    loaded: LoadedConfig,
    flow: DamageRollupFlow,
    name: str,
    target: tuple[FileRef, WorkbookPlan],
    now: datetime,
    store: Store,
    tools: Tools,
    out: TextIO,
) -> int:
    """Create the workbook, record the incident with its announcement, deliver it."""
    from automation.runner import deliver_pending, flow_lock  # noqa: PLC0415  # loads the runs

    ref, plan = target
    provisioner = tools.provisioner or configured_provisioner(loaded)
    found = await provisioner.existing(ref)
    if found is not None:
        raise ConfigError(
            f"{found} already exists; incident {name!r} was not opened and nothing was "
            "changed. An earlier incident's workbook may still be there: move or rename that "
            "file, or give the incident another name"
        )
    with flow_lock(loaded.resolve(loaded.config.state.path), flow.id):
        data = build_input_workbook(plan)
        created = await provisioner.create_workbook(  # never replaces: no archive is made
            ref, plan.name, data, replace=False, archive_name=plan.name
        )
        rendered = _announcement(loaded, flow, name, created.location, now)
        with store.transaction():
            web = created.location if created.location.startswith("http") else None
            store.open_incident(flow.id, name, plans.dump_ref(ref), web, now)
            run_id = store.start_run(flow.id, now, tools.clock())
            for message, body in rendered:
                store.enqueue(outbox_entry(flow.id, run_id, message, body), now)
        LOG.info(
            "flow %s: incident %s opened",
            flow.id,
            name,
            extra={"flow": flow.id, "event": "incident_opened"},
        )
        backend = tools.backend or configured_backend(loaded)
        policy = loaded.config.service.outbox
        await deliver_pending(store, backend, flow.id, tools.clock, None, policy)
        record = _open_record(flow.id, run_id, name, created.location, store, rendered)
        store.finish_run(run_id, record["status"], tools.clock(), record)
    print(f"opened incident {name!r} of flow {flow.id}", file=out)
    print(f"created {created.location} ({len(data):,} bytes)", file=out)
    sent = sum(1 for d in record["deliveries"] if d["status"] == "sent")
    print(f"announced to {sent} of {len(rendered)} recipients", file=out)
    print(
        f"from now on flow {flow.id} reads this workbook; its next report is 第1報",
        file=out,
    )
    return exit_code(str(record["status"]))


def _open_record(
    flow_id: str,
    run_id: int,
    name: str,
    location: str,
    store: Store,
    rendered: list[tuple[Message, Rendered]],
) -> dict[str, Any]:
    """The run record of an ``incident open``: what was created and how each send ended."""
    deliveries = []
    for message, body in rendered:
        entry = store.get_entry(message.key(flow_id))
        deliveries.append(
            {
                "kind": message.kind,
                "audience": message.audience,
                "channel": message.contact.channel,
                "recipient": message.contact.label,
                "subject": body.subject,
                "key": message.key(flow_id),
                "status": entry.status if entry else "unknown",
                "location": entry.location if entry else None,
            }
        )
    status, undelivered = delivery_outcome("ok", deliveries)
    return {
        "flow": flow_id,
        "run_id": run_id,
        "kind": "incident_open",
        "status": status,
        "incident": name,
        "workbook": location,
        "report_number": None,
        "new_report": False,
        "deliveries": deliveries,
        "undelivered": undelivered,
    }


def _open_one(store: Store | None, flow: DamageRollupFlow, loaded: LoadedConfig) -> Incident:
    """The flow's open incident, or a ConfigError saying there is none."""
    current = store.current_incident(flow.id) if store is not None else None
    if current is None or not current.is_open:
        last = f" (the last one, {current.name!r}, is closed)" if current is not None else ""
        raise ConfigError(
            f"flow {flow.id!r} has no open incident{last}; nothing was changed. Open one with: "
            f"automation incident open -c {loaded.path.name} --flow {flow.id} --name NAME"
        )
    return current


def close_incident(
    loaded: LoadedConfig,
    flow_id: str,
    now: datetime,
    out: TextIO | None = None,
    *,
    dry_run: bool = False,
    tools: Tools | None = None,
) -> int:
    """Issue the final report of the flow's open incident, archive its workbook, close it."""
    out = out or sys.stdout
    tools = tools or Tools()
    flow = damage_flow(loaded, flow_id)
    store = _store(loaded, create=False)
    try:
        current = _open_one(store, flow, loaded)
        assert store is not None
        ref = plans.load_ref(current.workbook)
        if dry_run:
            return _print_close_plan(flow, current, ref, store, out)
        with store.transaction():
            store.mark_closing(current.id, now)
            dropped = store.drop_queued(
                flow.id,
                f"incident:{current.name}:reminder:",
                f"not sent: incident {current.name!r} was closed before it could be delivered",
                now,
            )
        if dropped:
            print(
                f"dropped {dropped} reminders still queued for incident {current.name!r}", file=out
            )
    finally:
        if store is not None:
            store.close()
    return asyncio.run(_close(loaded, flow, current, ref, now, tools, out))


def _print_close_plan(
    flow: DamageRollupFlow, current: Incident, ref: FileRef, store: Store, out: TextIO
) -> int:
    latest = store.latest_report(flow.id, figures=False) or {}
    number = int(latest.get("number") or 0)
    if latest.get("final"):
        print(f"第{number}報 is already the final report (最終報); none would be issued", file=out)
    else:
        print(
            f"would run flow {flow.id} once and issue 第{number + 1}報（最終報） of incident "
            f"{current.name!r} to the response team, with no reminders",
            file=out,
        )
    print(
        f"would move {plans.describe_ref(ref)} into the folder {plans.ARCHIVE_FOLDER} beside it",
        file=out,
    )
    print(
        f"would record the incident closed; flow {flow.id} then reads and sends nothing until "
        "the next incident is opened",
        file=out,
    )
    return 0


async def _close(
    loaded: LoadedConfig,
    flow: DamageRollupFlow,
    current: Incident,
    ref: FileRef,
    now: datetime,
    tools: Tools,
    out: TextIO,
) -> int:
    from automation.runner import run_flow  # noqa: PLC0415  # loads the runs

    result = await run_flow(loaded, flow.id, now, backend=tools.backend, clock=tools.clock)
    record = result.record
    if record["status"] == "failed":
        error = record.get("error") or {}
        print(
            f"the final report of incident {current.name!r} could not be issued: "
            f"{error.get('message', '')}\nthe incident stays open; fix that and run "
            "incident close again",
            file=out,
        )
        return result.exit_code
    number = record.get("report_number")
    if record.get("new_report"):
        print(f"issued 第{number}報（最終報） of incident {current.name!r}", file=out)
    else:
        print(f"第{number}報 was already the final report; none issued again", file=out)
    provisioner = tools.provisioner or configured_provisioner(loaded)
    try:
        archived = await provisioner.archive_workbook(ref, plans.ARCHIVE_FOLDER)
    except ConfigError as err:
        raise ConfigError(
            f"{err.message}\nthe final report went out, but the workbook was not archived; "
            f"incident {current.name!r} stays open (closing): run incident close again"
        ) from None
    with Store(loaded.state_target) as store:
        store.close_incident(current.id, archived, tools.clock())
    LOG.info(
        "flow %s: incident %s closed",
        flow.id,
        current.name,
        extra={"flow": flow.id, "event": "incident_closed"},
    )
    print(f"archived the workbook to {archived}", file=out)
    print(
        f"closed incident {current.name!r}; flow {flow.id} reads and sends nothing (no "
        "reports, no reminders) until the next incident is opened",
        file=out,
    )
    return result.exit_code


def list_incidents(
    loaded: LoadedConfig, flow_id: str | None, out: TextIO | None = None, *, as_json: bool = False
) -> int:
    """Print the incidents (of one flow, or all), oldest first."""
    out = out or sys.stdout
    store = _store(loaded, create=False)
    try:
        found = store.incidents(flow_id) if store is not None else []
    finally:
        if store is not None:
            store.close()
    if as_json:
        print(
            json.dumps([_incident_json(i) for i in found], ensure_ascii=False, indent=2), file=out
        )
        return 0
    if not found:
        print(
            "(no incidents yet: automation incident open -c FILE --flow ID --name NAME)", file=out
        )
        return 0
    print(
        f"{'flow':<14} {'incident':<24} {'opened':<17} {'closed':<17} {padded('報', 7)} workbook",
        file=out,
    )
    for i in found:
        print(
            f"{i.flow:<14} {padded(i.name, 24)} {i.opened_at:%Y-%m-%d %H:%M}  "
            f"{_closed(i):<17} {padded(_numbers(i), 7)} {i.archived or i.web_url or _path(i)}",
            file=out,
        )
    return 0


def _closed(incident: Incident) -> str:
    if incident.closed_at is not None:
        return f"{incident.closed_at:%Y-%m-%d %H:%M}"
    return "(closing)" if incident.closing_at else "(open)"


def _numbers(incident: Incident) -> str:
    if incident.first_report is None:
        return "-"
    return f"{incident.first_report}-{incident.last_report}"


def _path(incident: Incident) -> str:
    return plans.describe_ref(plans.load_ref(incident.workbook))


def _incident_json(incident: Incident) -> dict[str, Any]:
    return {
        "flow": incident.flow,
        "name": incident.name,
        "opened_at": incident.opened_at.isoformat(),
        "closed_at": incident.closed_at.isoformat() if incident.closed_at else None,
        "workbook": json.loads(incident.workbook),
        "web_url": incident.web_url,
        "archived": incident.archived,
        "first_report": incident.first_report,
        "last_report": incident.last_report,
    }
