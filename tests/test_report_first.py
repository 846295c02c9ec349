"""Specs for the report before the artefact: the report and feedback go out first, the merged
workbook is built and stored right after, and a mail that attaches it waits for it.

Crashes are a :class:`Crash` (a BaseException, as a kill is: nothing in the run catches it)
raised by a fake port at the point named; the next run, on working ports, must leave every
message sent once and the workbook stored.
"""

from __future__ import annotations

import asyncio
import gc
import json
import pickle
import shutil
import weakref
import zipfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from automation import owed
from automation.backends.local import (
    LocalArtefactStore,
    LocalDeliverer,
    LocalListSource,
    LocalWorkbookSource,
)
from automation.config.loader import LoadedConfig, load_config
from automation.daemon import Daemon
from automation.damage.sheet_reading import SheetReading
from automation.damage.totals import Consolidated, Figures
from automation.errors import TransientError
from automation.flows.damage_rollup import DamagePlan, DamageReport
from automation.jobs import damage as damage_job
from automation.merged_workbook import build_merged_workbook
from automation.ports import Backend, Near
from automation.record import damage_record
from automation.runner import RunResult, run_flow
from automation.state import OutboxEntry, Store
from automation.timeutil import JST
from tests.builders import xlsx_bytes

CONFIG = """\
version: 1
state: {path: state/db.sqlite}
backend: {type: local, root: inputs, artefacts: out, deliveries: sent}
directory:
  departments:
    - name: 危機管理課
      sheet: 危機管理課
      contacts: [{channel: mail, address: kiki@example.jp}]
flows:
  - id: damage
    kind: damage_rollup
    params:
      disaster: 台風
      workbook: book.xlsx
      report_to:
        - {channel: teams_webhook, address: "https://example.invalid/hook"}
        - {channel: mail, address: bousai@example.jp}
"""
WORKBOOK = "被害状況集計_第1報.xlsx"
WEB = "https://contoso.sharepoint.com/sites/bousai/Shared%20Documents/" + WORKBOOK
events: list[str] = []


class Crash(BaseException):
    """The process dies here (nothing in a run catches a BaseException)."""


def at(minute: int) -> datetime:
    """A time on 2026-09-01 09:MM JST."""
    return datetime(2026, 9, 1, 9, minute, tzinfo=JST)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A configuration and a one-department workbook; the event log emptied."""
    events.clear()
    (tmp_path / "automation.yaml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "inputs").mkdir()
    sheet = [["市町村", "死者"], ["前橋市", 1]]
    (tmp_path / "inputs" / "book.xlsx").write_bytes(xlsx_bytes({"危機管理課": sheet}))
    return tmp_path


@pytest.fixture
def config(workspace: Path) -> LoadedConfig:
    """The loaded configuration."""
    return load_config(workspace / "automation.yaml")


def logged_build(report: Any, processes: int = 1) -> bytes:
    """The merged workbook, its build noted in the event log (module-level: kept as a recipe)."""
    events.append("build")
    return build_merged_workbook(report, processes)


@pytest.fixture
def builds_logged(monkeypatch: pytest.MonkeyPatch) -> None:
    """The damage job builds its merged workbook with :func:`logged_build`."""
    monkeypatch.setattr("automation.merged_workbook.build_merged_workbook", logged_build)
    allowed = {*owed.BUILDERS, (__name__, "logged_build")}
    monkeypatch.setattr("automation.owed.BUILDERS", frozenset(allowed))


class NotedStore(LocalArtefactStore):
    """Artefacts as files, each put noted; ``web`` answers a web address as Graph does;
    ``crash`` dies before (``before``) or after (``after``) writing the file."""

    def __init__(self, root: Path, *, web: bool = False, crash: str = "") -> None:
        super().__init__(root)
        self.web = web
        self.crash = crash

    async def put(self, name: str, data: bytes, near: Near = None) -> str:
        """Write the file (unless crashing first) and note it."""
        if self.crash == "before":
            raise Crash
        location = await super().put(name, data, near)
        events.append(f"put {name}")
        if self.crash == "after":
            raise Crash
        return WEB if self.web else location


class Deliverer(LocalDeliverer):
    """Deliveries as files, each noted as ``KIND CHANNEL``."""

    async def deliver(self, entry: OutboxEntry, attachments: Mapping[str, bytes]) -> str:
        """Write the delivery and note it."""
        location = await super().deliver(entry, attachments)
        events.append(f"{entry.kind} {entry.channel}")
        return location


def ports(workspace: Path, artefacts: LocalArtefactStore | None = None) -> Backend:
    """Local ports that note what they do, with another artefact store if given."""
    return Backend(
        LocalWorkbookSource(workspace / "inputs"),
        artefacts or NotedStore(workspace / "out"),
        Deliverer(workspace / "sent"),
        LocalListSource(workspace / "inputs"),
    )


def run(config: LoadedConfig, minute: int, backend: Backend) -> RunResult:
    """Run the flow at 09:MM on ``backend``."""
    return asyncio.run(
        run_flow(config, "damage", at(minute), backend=backend, clock=lambda: at(minute))
    )


def delivered(workspace: Path) -> list[str]:
    """``KIND CHANNEL`` of every delivery written so far, sorted."""
    found = []
    for path in (workspace / "sent").glob("*.envelope.json"):
        envelope = json.loads(path.read_text(encoding="utf-8"))
        found.append(f"{envelope['kind']} {envelope['channel']}")
    return sorted(found)


EVERY_MESSAGE = ["feedback mail", "report mail", "report teams_webhook"]


@pytest.mark.usefixtures("builds_logged")
def test_the_report_goes_out_before_the_workbook_is_built_and_its_mail_once_stored(
    config: LoadedConfig, workspace: Path
) -> None:
    """The card is delivered first; then the workbook is built and stored (the feedback
    meanwhile), then the mail that attaches it is sent."""
    run(config, 1, ports(workspace))
    assert events[0] == "report teams_webhook"
    assert sorted(events[1:]) == sorted(
        ["feedback mail", "build", f"put {WORKBOOK}", "report mail"]
    )
    assert events.index("build") < events.index(f"put {WORKBOOK}") < events.index("report mail")


class SlowFeedback(Deliverer):
    """Feedback that is delivered only once the workbook was stored: a mailbox's rate makes
    60 departments' feedback take minutes, which the workbook must not wait for."""

    def __init__(self, root: Path, stored: asyncio.Event) -> None:
        super().__init__(root)
        self.stored = stored

    async def deliver(self, entry: OutboxEntry, attachments: Mapping[str, bytes]) -> str:
        if entry.kind == "feedback":
            await asyncio.wait_for(self.stored.wait(), 120)  # a bound: never hangs the suite
        return await super().deliver(entry, attachments)


class StoreTelling(NotedStore):
    """Artefacts as files; ``stored`` set once one is."""

    def __init__(self, root: Path, stored: asyncio.Event) -> None:
        super().__init__(root)
        self.stored = stored

    async def put(self, name: str, data: bytes, near: Near = None) -> str:
        location = await super().put(name, data, near)
        self.stored.set()
        return location


def test_the_workbook_and_its_mail_do_not_wait_for_the_feedback(
    config: LoadedConfig, workspace: Path
) -> None:
    """The workbook is built and stored, and the mail attaching it sent, while the feedback
    is still being delivered (here: feedback that waits for the workbook would otherwise
    never go out)."""

    async def scenario() -> RunResult:
        stored = asyncio.Event()
        backend = Backend(
            LocalWorkbookSource(workspace / "inputs"),
            StoreTelling(workspace / "out", stored),
            SlowFeedback(workspace / "sent", stored),
            LocalListSource(workspace / "inputs"),
        )
        return await run_flow(config, "damage", at(1), backend=backend, clock=lambda: at(1))

    result = asyncio.run(scenario())
    assert result.record["status"] == "ok"
    assert events.index("report mail") < events.index("feedback mail")
    assert delivered(workspace) == EVERY_MESSAGE


class Yielding(Deliverer):
    """Deliveries that let other tasks run mid-send, as a send over the network does."""

    async def deliver(self, entry: OutboxEntry, attachments: Mapping[str, bytes]) -> str:
        await asyncio.sleep(0)  # a yield to the loop, not a wait
        return await super().deliver(entry, attachments)


def test_the_mail_queued_once_the_workbook_is_stored_is_delivered_once(
    config: LoadedConfig, workspace: Path
) -> None:
    """The mail the workbook's storing queues is delivered by the pass after it, once: the
    deliveries beside the build are given the messages due before it, never that mail (nor
    take it, seen mid-send, for one a crash interrupted)."""
    backend = Backend(
        LocalWorkbookSource(workspace / "inputs"),
        NotedStore(workspace / "out"),
        Yielding(workspace / "sent"),
        LocalListSource(workspace / "inputs"),
    )
    result = run(config, 1, backend)
    assert result.record["status"] == "ok"
    assert events.count("report mail") == 1
    assert events.index(f"put {WORKBOOK}") < events.index("report mail")
    assert delivered(workspace) == EVERY_MESSAGE
    with Store(workspace / "state" / "db.sqlite") as store:
        (mail,) = [e for e in store.outbox("damage") if e.kind == "report" and e.channel == "mail"]
    assert (mail.status, mail.attempts, mail.last_error) == ("sent", 1, None)
    assert Path(mail.location or "").name.endswith(".envelope.json")  # its send's, not a check's


def test_the_run_record_which_repeats_the_report_is_made_after_the_report_went_out(
    config: LoadedConfig, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A changed run's record (totals, changes, problems) does not delay the post."""
    made = damage_record

    def noted(*args: Any) -> dict[str, Any]:
        events.append("record")
        return made(*args)

    monkeypatch.setattr("automation.jobs.damage.damage_record", noted)
    result = run(config, 1, ports(workspace))
    assert events.index("report teams_webhook") < events.index("record")
    assert result.record["report_number"] == 1 and result.record["totals"]


def test_the_previous_report_is_let_go_once_the_state_is_saved(
    config: LoadedConfig, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The previous report's state (tens of MB at 60 x 2,000) is not held while the workbook
    is built: the run saved the new one before."""
    run(config, 1, ports(workspace))
    load = damage_job._load_state

    def kept(*args: Any, **kwargs: Any) -> Any:
        state = load(*args, **kwargs)
        previous_states.append(weakref.ref(state))
        return state

    monkeypatch.setattr(damage_job, "_load_state", kept)
    monkeypatch.setattr("automation.merged_workbook.build_merged_workbook", build_noting_previous)
    allowed = {*owed.BUILDERS, (__name__, "build_noting_previous")}
    monkeypatch.setattr("automation.owed.BUILDERS", frozenset(allowed))
    edited = [["市町村", "死者"], ["前橋市", 2]]
    (workspace / "inputs" / "book.xlsx").write_bytes(xlsx_bytes({"危機管理課": edited}))
    events.clear()
    run(config, 2, ports(workspace))
    assert "previous let go" in events and "previous held" not in events


def test_the_previous_report_is_let_go_before_the_new_one_is_written(
    config: LoadedConfig, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writing the new report (a large run's peak before the post) does not stack on the
    previous report's figures and sums: the previous state is gone by then."""
    run(config, 1, ports(workspace))
    load = damage_job._load_state

    def kept(*args: Any, **kwargs: Any) -> Any:
        state = load(*args, **kwargs)
        previous_states.append(weakref.ref(state))
        return state

    save_report = Store.save_report

    def noted(store: Store, *args: Any, **kwargs: Any) -> None:
        gc.collect()
        events.append("previous held" if previous_states[-1]() is not None else "let go")
        save_report(store, *args, **kwargs)

    monkeypatch.setattr(damage_job, "_load_state", kept)
    monkeypatch.setattr(Store, "save_report", noted)
    edited = [["市町村", "死者"], ["前橋市", 2]]
    (workspace / "inputs" / "book.xlsx").write_bytes(xlsx_bytes({"危機管理課": edited}))
    events.clear()
    assert run(config, 2, ports(workspace)).record["report_number"] == 2
    assert [e for e in events if e in ("let go", "previous held")] == ["let go"]


previous_states: list[weakref.ref[Any]] = []


def build_noting_previous(report: Any, processes: int = 1) -> bytes:
    """The merged workbook, noting whether the run's previous state is still held."""
    gc.collect()
    events.append("previous held" if previous_states[-1]() is not None else "previous let go")
    return build_merged_workbook(report, processes)


def test_the_plan_is_let_go_before_the_workbook_is_built(
    config: LoadedConfig, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the workbook is built (a large run's peak) the run holds its recipe, not the
    plan: no plan, report, added-up figures or sheet reading of the run is alive, and none
    waits for the cyclic collector either."""
    monkeypatch.setattr("automation.merged_workbook.build_merged_workbook", build_noting_plans)
    allowed = {*owed.BUILDERS, (__name__, "build_noting_plans")}
    monkeypatch.setattr("automation.owed.BUILDERS", frozenset(allowed))
    result = run(config, 1, ports(workspace))
    assert result.record["report_number"] == 1 and result.record["totals"]
    assert [e for e in events if e.startswith("alive")] == ["alive while built: []"]


PLANNED = (DamagePlan, DamageReport, Consolidated, Figures, SheetReading)


def build_noting_plans(report: Any, processes: int = 1) -> bytes:
    """The merged workbook, noting which of the run's planned objects are still alive
    (objects made before the run are frozen out of ``gc.get_objects``)."""
    alive = sorted({type(o).__name__ for o in gc.get_objects() if isinstance(o, PLANNED)})
    events.append(f"alive while built: {alive}")
    return build_merged_workbook(report, processes)


def test_the_mail_attaching_the_workbook_links_where_it_was_stored(
    config: LoadedConfig, workspace: Path
) -> None:
    """The mail is queued once the upload answered, so it links the workbook's web address;
    the card, sent before, carries no link to it."""
    result = run(config, 1, ports(workspace, NotedStore(workspace / "out", web=True)))
    keys = {d["channel"]: d["key"] for d in result.record["deliveries"] if d["kind"] == "report"}
    with Store(workspace / "state" / "db.sqlite") as store:
        mail = store.get_entry(keys["mail"])
        card = store.get_entry(keys["teams_webhook"])
    assert mail is not None and mail.payload["attachment_links"] == {WORKBOOK: WEB}
    assert card is not None and WEB not in json.dumps(dict(card.bodies), ensure_ascii=False)


def test_the_run_record_lists_the_workbook_every_delivery_and_when_the_report_went_out(
    config: LoadedConfig, workspace: Path
) -> None:
    """artefacts and deliveries are listed as before; timings_s marks report_delivered_s
    after fetched_s."""
    record = run(config, 1, ports(workspace)).record
    assert [a["name"] for a in record["artefacts"]] == [WORKBOOK]
    assert record["artefacts"][0]["location"].endswith(WORKBOOK)
    assert sorted(f"{d['kind']} {d['channel']}" for d in record["deliveries"]) == EVERY_MESSAGE
    assert {d["status"] for d in record["deliveries"]} == {"sent"}
    timings = record["timings_s"]
    assert 0 <= timings["fetched_s"] <= timings["report_delivered_s"] <= timings["total"]


def test_a_crash_between_the_report_and_the_upload_stores_the_workbook_once_next_run(
    config: LoadedConfig, workspace: Path
) -> None:
    """Killed after the card went out, before the upload: the next run uploads the workbook
    once and sends the waiting mail, and sends the card and feedback no second time."""
    with pytest.raises(Crash):
        run(config, 1, ports(workspace, NotedStore(workspace / "out", crash="before")))
    assert delivered(workspace) == ["feedback mail", "report teams_webhook"]
    events.clear()
    second = run(config, 2, ports(workspace))
    assert events == [f"put {WORKBOOK}", "report mail"]
    assert second.record["status"] == "unchanged"
    assert delivered(workspace) == EVERY_MESSAGE
    run(config, 3, ports(workspace))
    assert delivered(workspace) == EVERY_MESSAGE


def test_a_crash_between_the_upload_and_queueing_its_mail_sends_the_mail_once(
    config: LoadedConfig, workspace: Path
) -> None:
    """Killed after the upload, before its mail was queued: the next run stores the same
    file again and sends the mail once."""
    with pytest.raises(Crash):
        run(config, 1, ports(workspace, NotedStore(workspace / "out", crash="after")))
    assert delivered(workspace) == ["feedback mail", "report teams_webhook"]
    events.clear()
    run(config, 2, ports(workspace))
    run(config, 3, ports(workspace))
    assert events == [f"put {WORKBOOK}", "report mail"]
    assert delivered(workspace) == EVERY_MESSAGE
    assert (workspace / "out" / WORKBOOK).exists()


def test_a_crash_before_the_state_is_recorded_sends_nothing(
    config: LoadedConfig, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed inside the transaction that records the run: nothing is sent, nothing owed, and
    the next run issues 第1報 and sends each message once."""

    def killed(*args: object, **kwargs: object) -> None:
        raise Crash

    with monkeypatch.context() as patched:
        patched.setattr(owed, "owe", killed)
        with pytest.raises(Crash):
            run(config, 1, ports(workspace))
    assert not (workspace / "sent").exists()
    with Store(workspace / "state" / "db.sqlite") as store:
        assert store.flow_state("damage") == (None, 0)
        assert store.held_artefacts("damage") == []
    assert run(config, 2, ports(workspace)).record["report_number"] == 1
    assert delivered(workspace) == EVERY_MESSAGE


def test_the_daemon_stores_an_owed_workbook_when_it_starts_leading(
    config: LoadedConfig, workspace: Path
) -> None:
    """A daemon starting after such a crash stores the workbook and queues its mail before
    its first run."""
    with pytest.raises(Crash):
        run(config, 1, ports(workspace, NotedStore(workspace / "out", crash="before")))
    events.clear()
    backend = ports(workspace)
    daemon = Daemon(workspace / "automation.yaml", backend_factory=lambda _: backend)
    asyncio.run(daemon.close_interrupted())
    assert events == [f"put {WORKBOOK}"]
    with Store(workspace / "state" / "db.sqlite") as store:
        assert [e.kind for e in store.outbox("damage", ("pending",))] == ["report"]


def test_a_recipe_this_program_cannot_read_is_dropped_once_with_an_error(
    config: LoadedConfig, workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An owed workbook whose recipe cannot be read any more (another version kept it) is
    dropped with an error naming it, and holds back nothing after it."""
    with pytest.raises(Crash):
        run(config, 1, ports(workspace, NotedStore(workspace / "out", crash="before")))
    with Store(workspace / "state" / "db.sqlite") as store:
        store.database.execute("UPDATE artefacts SET recipe = ?", (b"not a recipe",))
    run(config, 2, ports(workspace))
    run(config, 3, ports(workspace))
    assert caplog.text.count(f"{WORKBOOK} of run 1 was not stored") == 1
    with Store(workspace / "state" / "db.sqlite") as store:
        assert store.held_artefacts("damage") == []


calls: list[str] = []


def noted_call(what: str) -> str:
    """A callable a forged recipe tries to have the loader call."""
    calls.append(what)
    return what


class Forged:
    """Pickles as a call of ``target(*args)``, as a row forged into the database would."""

    def __init__(self, target: Any, *args: Any) -> None:
        self.target, self.args = target, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.target, self.args


def test_a_recipe_calling_a_function_outside_the_program_is_refused() -> None:
    """A kept recipe is read back by a loader that calls nothing but the program's own
    classes and builders: a forged row naming another function is refused, never called."""
    forged = pickle.dumps(Forged(noted_call, "forged"))
    with pytest.raises(
        owed.UnsafeRecipeError, match=r"may not name tests\.test_report_first\.noted_call"
    ):
        owed._loads(forged)
    assert calls == []


def test_a_recipe_reaching_a_method_through_getattr_is_refused() -> None:
    """``getattr`` in a recipe yields only an Enum member of a class of ours, never one of
    its methods (which a forged row could then call)."""
    forged = pickle.dumps(Forged(getattr, Store, "close"))
    with pytest.raises(owed.UnsafeRecipeError, match="may not read 'close'"):
        owed._loads(forged)


def test_a_workbook_stored_by_a_later_run_is_found_with_the_report_that_owed_it(
    config: LoadedConfig, workspace: Path
) -> None:
    """The console finds 第1報's workbook through the issuing run even when the next run
    stored it after a crash."""
    with pytest.raises(Crash):
        run(config, 1, ports(workspace, NotedStore(workspace / "out", crash="before")))
    run(config, 2, ports(workspace))
    with Store(workspace / "state" / "db.sqlite") as store:
        record = store.report_record("damage", 1)
    assert record is not None
    assert [Path(a["location"]).name for a in record["artefacts"]] == [WORKBOOK]


class RefusingStore(NotedStore):
    """An artefact store whose upload Graph refuses as busy (HTTP 503)."""

    async def put(self, name: str, data: bytes, near: Near = None) -> str:
        """Refuse."""
        raise TransientError(f"upload {name}: Graph is busy (HTTP 503)")


@pytest.mark.usefixtures("builds_logged")
def test_a_workbook_whose_upload_failed_is_uploaded_later_without_building_it_again(
    config: LoadedConfig, workspace: Path
) -> None:
    """After a refused upload the built bytes are kept: the next try uploads them, once."""
    run(config, 1, ports(workspace, RefusingStore(workspace / "out")))
    run(config, 2, ports(workspace, RefusingStore(workspace / "out")))
    run(config, 3, ports(workspace))
    assert events.count("build") == 1
    assert events.count(f"put {WORKBOOK}") == 1
    assert delivered(workspace) == EVERY_MESSAGE


def test_a_run_that_cannot_store_an_owed_workbook_is_partial(
    config: LoadedConfig, workspace: Path
) -> None:
    """While a workbook stays owed, each run says so (partial, naming it), not unchanged."""
    run(config, 1, ports(workspace, RefusingStore(workspace / "out")))
    second = run(config, 2, ports(workspace, RefusingStore(workspace / "out")))
    assert second.record["status"] == "partial"
    assert second.record["undelivered"]["message"] == (
        f"{WORKBOOK} not stored (upload {WORKBOOK}: Graph is busy (HTTP 503)); "
        "the next run stores it, then sends what waits"
    )
    assert run(config, 3, ports(workspace)).record["status"] == "unchanged"


def test_the_run_that_owes_the_workbook_builds_it_from_the_recipe_it_holds(
    config: LoadedConfig, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database's copy of the recipe is for a crash only: the run that kept it builds
    and stores the workbook without reading it back (here: unreadable)."""

    def unreadable(data: bytes) -> object:
        raise pickle.UnpicklingError("read back")

    monkeypatch.setattr(owed, "_loads", unreadable)
    record = run(config, 1, ports(workspace)).record
    assert record["status"] == "ok"
    assert (workspace / "out" / WORKBOOK).exists()
    assert delivered(workspace) == EVERY_MESSAGE


def _package_parts(path: Path) -> dict[str, bytes]:
    """A workbook's parts, but for its creation time."""
    with zipfile.ZipFile(path) as package:
        return {n: package.read(n) for n in package.namelist() if n != "docProps/core.xml"}


def test_a_workbook_built_after_a_crash_equals_the_one_an_uncrashed_run_stores(
    workspace: Path, tmp_path: Path
) -> None:
    """Built by the next run from the kept recipe alone, the workbook is part for part the
    one the run that kept it would have stored (cells, styles, notes, sheets)."""
    sheet = [["市町村", "死者", "軽傷者"], ["前橋市", 1, "多数"], ["高崎市", "未確認", 2]]
    (workspace / "inputs" / "book.xlsx").write_bytes(xlsx_bytes({"危機管理課": sheet}))
    calm = tmp_path / "calm"
    shutil.copytree(workspace, calm)
    run(load_config(calm / "automation.yaml"), 1, ports(calm))
    config = load_config(workspace / "automation.yaml")
    with pytest.raises(Crash):
        run(config, 1, ports(workspace, NotedStore(workspace / "out", crash="before")))
    run(config, 2, ports(workspace))
    stored = _package_parts(workspace / "out" / WORKBOOK)
    assert any(n.startswith("xl/comments") for n in stored)
    assert stored == _package_parts(calm / "out" / WORKBOOK)


def test_a_recipe_kept_without_a_field_the_program_now_has_is_dropped_once(
    config: LoadedConfig, workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A recipe that reads back but whose workbook source lacks a field (kept by another
    version) would fail while building, every run again: it is dropped once, with an error
    naming the field."""
    with pytest.raises(Crash):
        run(config, 1, ports(workspace, NotedStore(workspace / "out", crash="before")))
    with Store(workspace / "state" / "db.sqlite") as store:
        (held,) = store.held_artefacts("damage")
        recipe = owed._loads(held.recipe)
        assert isinstance(recipe, owed.Recipe)
        source, _processes = recipe.artefact.inputs
        del source.__dict__["packed_figures"]  # as an older MergedSource had it
        store.database.execute("UPDATE artefacts SET recipe = ?", (owed._dumps(recipe),))
    run(config, 2, ports(workspace))
    run(config, 3, ports(workspace))
    assert caplog.text.count(f"{WORKBOOK} of run 1 was not stored") == 1
    assert "MergedSource was kept without packed_figures" in caplog.text
    assert delivered(workspace) == ["feedback mail", "report teams_webhook"]
