"""Specs for incidents in the state store, on SQLite and a throwaway PostgreSQL: each
incident keeps its own reports, runs carry the incident, and version 8 databases migrate."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from automation.state import MIGRATIONS, Fingerprint, SheetRecord, Store
from automation.state_migrate import migrate_state
from automation.timeutil import JST
from tests.pg_server import PgServer
from tests.test_state_store import entry, state_target

NOON = datetime(2026, 9, 1, 12, 0, tzinfo=JST)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An open, empty, migrated store, once per database kind."""
    pg = request.getfixturevalue("pg") if request.param == "postgresql" else None
    with Store(state_target(str(request.param), tmp_path, pg)) as db:
        yield db


def report(store: Store, flow: str, number: int, at: datetime) -> int:
    """A run of ``flow`` that issued report ``number``; its run id."""
    run = store.start_run(flow, at, at)
    store.save_report(flow, {"number": number, "as_of": at.isoformat(), "signature": "s"}, run)
    return run


def test_an_incident_starts_its_reports_at_1_beside_the_earlier_ones(store: Store) -> None:
    """Report 1 of a new incident is stored beside report 1 of before; each reads its own."""
    report(store, "f", 1, NOON)
    store.open_incident("f", "台風第10号", '"b.xlsx"', None, NOON)
    report(store, "f", 1, NOON + timedelta(hours=1))
    report(store, "f", 2, NOON + timedelta(hours=2))

    assert [r["number"] for r in store.reports("f")] == [2, 1]
    assert {r["incident"] for r in store.reports("f")} == {"台風第10号"}
    assert (store.latest_report("f") or {})["number"] == 2


def test_opening_an_incident_starts_the_flow_afresh(store: Store) -> None:
    """After open: no workbook version seen, report number 0, no fingerprints or readings."""
    store.save_flow_state("f", "etag-1", 7, NOON)
    store.save_fingerprints("f", [Fingerprint("危機管理課", "x", NOON, 0, True)])
    store.save_sheet_readings("f", [SheetRecord("危機管理課", "p", "c", "x", b"h", b"b")])

    store.open_incident("f", "台風第10号", '"b.xlsx"', None, NOON)

    assert store.flow_state("f") == (None, 0)
    assert store.fingerprints("f") == []
    assert store.sheet_readings("f") == []


def test_runs_carry_the_open_incident_and_history_filters_by_it(store: Store) -> None:
    """A run while an incident is open names it; after close, runs name none."""
    before = store.start_run("f", NOON, NOON)
    incident = store.open_incident("f", "台風第10号", '"b.xlsx"', None, NOON)
    during = store.start_run("f", NOON, NOON)
    store.close_incident(incident, "archive/b.xlsx", NOON)
    after = store.start_run("f", NOON, NOON)

    names = {r["id"]: r["incident_name"] for r in store.runs("f")}
    assert names == {before: None, during: "台風第10号", after: None}
    assert [r["id"] for r in store.runs("f", incident="台風第10号")] == [during]


def test_a_closed_incident_keeps_its_first_and_last_report(store: Store) -> None:
    """close records the incident's report numbers, archive place and time."""
    incident = store.open_incident("f", "台風第10号", '"b.xlsx"', "https://x/b.xlsx", NOON)
    report(store, "f", 1, NOON)
    report(store, "f", 2, NOON + timedelta(hours=1))

    store.close_incident(incident, "https://x/アーカイブ/b.xlsx", NOON + timedelta(hours=2))

    (found,) = store.incidents("f")
    assert (found.first_report, found.last_report) == (1, 2)
    assert (found.archived, found.closed_at) == (
        "https://x/アーカイブ/b.xlsx",
        NOON + timedelta(hours=2),
    )
    assert not found.is_open


def test_a_version_8_database_keeps_its_reports_outside_any_incident(tmp_path: Path) -> None:
    """Migrating to incidents keeps every earlier report, under no incident."""
    path = tmp_path / "state.sqlite"
    db = sqlite3.connect(path)
    for migration in MIGRATIONS[:8]:
        db.executescript(migration)
    db.execute("PRAGMA user_version = 8")
    db.execute("INSERT INTO runs (flow, started_at, now, status) VALUES ('f', 't', 't', 'ok')")
    db.execute(
        "INSERT INTO reports (flow, number, as_of, signature, snapshot, run_id) "
        "VALUES ('f', 3, 't', 's', '{\"number\": 3}', 1)"
    )
    db.commit()
    db.close()

    with Store(path) as store:
        assert store.latest_report("f") == {"number": 3}
        assert store.reports("f") == [{"number": 3, "incident": None}]


def test_state_migrate_copies_incidents_and_their_reports(tmp_path: Path, pg: PgServer) -> None:
    """SQLite to PostgreSQL keeps each incident with its reports apart."""
    source = tmp_path / "state.sqlite"
    with Store(source) as db:
        report(db, "f", 1, NOON)
        db.open_incident("f", "台風第10号", '"b.xlsx"', None, NOON)
        report(db, "f", 1, NOON)
    target = pg.new_database()

    moved = migrate_state(source, target)

    assert moved["incidents"] == 1 and moved["reports"] == 2
    with Store(target) as db:
        (incident,) = db.incidents("f")
        assert (incident.name, incident.first_report) == ("台風第10号", 1)
        assert db.open_incident("f", "次", '"c.xlsx"', None, NOON) == incident.id + 1


def test_dropping_queued_messages_spares_those_that_may_have_left(store: Store) -> None:
    """pending and failed messages of the prefix become dead; uncertain ones and others stay."""
    run = store.start_run("f", NOON, NOON)
    for key, occasion, status in (
        ("a", "incident:台風:reminder:1", "pending"),
        ("b", "incident:台風:reminder:2", "failed"),
        ("c", "incident:台風:reminder:3", "uncertain"),
        ("d", "incident:台風:report:1", "pending"),
        ("e", "incident:台風2:reminder:1", "pending"),
    ):
        store.enqueue(entry(key, run, occasion), NOON)
        if status != "pending":
            store.mark(key, status, NOON)

    dropped = store.drop_queued("f", "incident:台風:reminder:", "closed", NOON)

    assert dropped == 2
    statuses = {e.key: e.status for e in store.outbox("f")}
    assert statuses == {"a": "dead", "b": "dead", "c": "uncertain", "d": "pending", "e": "pending"}


def _two_first_reports(store: Store) -> tuple[int, int]:
    """第1報 before incidents, then 第1報 of incident 台風第10号; their run ids."""
    before = report(store, "f", 1, NOON)
    store.finish_run(before, "ok", NOON, {"artefacts": [{"name": "old.xlsx", "location": "o"}]})
    store.open_incident("f", "台風第10号", '"b.xlsx"', None, NOON)
    after = report(store, "f", 1, NOON + timedelta(hours=1))
    store.finish_run(after, "ok", NOON, {"artefacts": []})
    store.hold_artefact("f", after, "new.xlsx", b"recipe", NOON)
    store.artefact_done("f", after, "new.xlsx", "stored", "https://example.jp/new.xlsx", NOON)
    return before, after


def test_an_earlier_incidents_reports_are_read_by_its_id(store: Store) -> None:
    """``reports(incident=ID)`` reads that incident's reports (0: those outside any)."""
    _two_first_reports(store)
    assert [r["as_of"][:13] for r in store.reports("f", incident=0)] == ["2026-09-01T12"]
    assert [r["incident"] for r in store.reports("f")] == ["台風第10号"]


def test_every_incident_that_issued_a_report_number_is_listed_newest_first(store: Store) -> None:
    """``report_incidents`` names each incident with a 第N報 of that number, newest first."""
    _two_first_reports(store)
    incident = store.incidents("f")[0].id
    assert store.report_incidents("f", 1) == [incident, 0]
    assert store.report_incidents("f", 2) == []


def test_report_records_of_an_incident_carry_its_stored_artefacts(store: Store) -> None:
    """``report_records`` gives an incident's run records with the artefacts stored after them."""
    # in place of the record's own list
    _two_first_reports(store)
    incident = store.incidents("f")[0].id
    assert store.report_records("f", incident) == {
        1: {"artefacts": [{"name": "new.xlsx", "location": "https://example.jp/new.xlsx"}]}
    }
    assert store.report_records("f", 0) == {
        1: {"artefacts": [{"name": "old.xlsx", "location": "o"}]}
    }
