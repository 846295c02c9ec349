"""Specs for the state store, each run on SQLite and on a real throwaway PostgreSQL: the same
rules hold whichever database ``state.url`` names."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from automation.cli import main
from automation.damage.catalogue import DEFAULT_CATALOGUE
from automation.damage.totals import Consolidated, Figures, consolidate
from automation.errors import ConfigError, TransientError
from automation.jsontext import JSONTexts, compact
from automation.state import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Fence,
    FencedError,
    Fingerprint,
    Health,
    OutboxEntry,
    SheetRecord,
    Store,
    set_fence,
)
from automation.state_db import safe_url
from automation.state_migrate import migrate_state
from automation.timeutil import JST
from tests.pg_server import PASSWORD, PgServer
from tests.ports import held_port

NOON = datetime(2026, 9, 1, 12, 0, tzinfo=JST)


def state_target(kind: str, tmp_path: Path, pg: PgServer | None) -> Path | str:
    """A fresh database of ``kind``: a SQLite file or a new PostgreSQL database."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'state.sqlite'}"
    assert pg is not None
    return pg.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a fresh state database lives, once per backend."""
    pg = request.getfixturevalue("pg") if request.param == "postgresql" else None
    return state_target(str(request.param), tmp_path, pg)


@pytest.fixture
def store(target: Path | str) -> Iterator[Store]:
    """An open, empty, migrated store."""
    with Store(target) as db:
        yield db


def entry(key: str, run_id: int, occasion: str = "") -> OutboxEntry:
    """A mail message of flow f."""
    return OutboxEntry(
        key=key, flow="f", run_id=run_id, kind="report", audience="hq", channel="mail",
        recipient="hq@example.jp", recipient_label="本部", subject="第1報",
        bodies={"text": "本文"}, attachments=("a.xlsx",), digest="d", occasion=occasion,
        payload={"mentions": ["x"]},
    )  # fmt: skip


def test_a_new_database_is_migrated_to_the_current_schema(store: Store) -> None:
    """Opening an empty database creates every table at the newest schema version."""
    assert store.schema_version == SCHEMA_VERSION


def test_reopening_keeps_the_data(target: Path | str) -> None:
    """What one connection committed, the next one reads (and migrating twice is a no-op)."""
    with Store(target) as first:
        first.save_flow_state("f", "v1", 3, NOON)
    with Store(target) as second:
        assert second.flow_state("f") == ("v1", 3)
        assert second.schema_version == SCHEMA_VERSION


def test_a_database_newer_than_the_program_is_refused(target: Path | str) -> None:
    """A schema version above this program's is refused with the fix, never downgraded."""
    with Store(target) as db:
        db.database.set_version(SCHEMA_VERSION + 1)
    with pytest.raises(ConfigError, match="newer than this program's"):
        Store(target)


def test_runs_get_increasing_ids_and_keep_their_record(store: Store) -> None:
    """start_run numbers runs upward; finish_run stores status, number and record."""
    first = store.start_run("f", NOON, NOON)
    second = store.start_run("f", NOON, NOON)
    assert second > first
    store.finish_run(first, "ok", NOON, {"sent": 1}, report_number=1)
    assert store.running("f") == [second]
    newest = store.runs("f")
    assert [r["id"] for r in newest] == [second, first]
    assert newest[1]["status"] == "ok" and newest[1]["report_number"] == 1
    assert store.last_runs()["f"]["status"] == "ok"


def test_reports_keep_snapshot_and_summary(store: Store) -> None:
    """A report's snapshot is read whole or as its summary without the figures."""
    run = store.start_run("f", NOON, NOON)
    snapshot = {"number": 1, "as_of": NOON.isoformat(), "signature": "s", "figures": [1, 2]}
    store.save_report("f", snapshot, run)
    assert store.latest_report("f") == snapshot
    assert "figures" not in (store.latest_report("f", figures=False) or {})
    assert store.report_of_run(run) == 1
    assert store.report_flows() == ["f"]
    assert [r["number"] for r in store.reports("f")] == [1]


def test_fingerprints_are_replaced_per_flow(store: Store) -> None:
    """Saving a flow's fingerprints replaces the previous set."""
    store.save_fingerprints("f", [Fingerprint("総務部", "a", NOON, 0, True)])
    store.save_fingerprints("f", [Fingerprint("土木部", "b", None, 2, False)])
    assert store.fingerprints("f") == [Fingerprint("土木部", "b", None, 2, False)]


def test_a_missing_sheets_likely_sheet_is_kept_with_its_fingerprint(store: Store) -> None:
    """The sheet that looks like a missing one comes back for the next run's reminder."""
    store.save_fingerprints("f", [Fingerprint("企業局", None, None, 0, True, "企業局 (2)")])
    assert store.fingerprints("f") == [Fingerprint("企業局", None, None, 0, True, "企業局 (2)")]


def test_fingerprints_stored_before_hints_load_without_one(tmp_path: Path) -> None:
    """A version 12 database's fingerprints migrate with no likely sheet."""
    path = tmp_path / "state.sqlite"
    db = sqlite3.connect(path)
    for migration in MIGRATIONS[:12]:
        db.executescript(migration)
    db.execute("PRAGMA user_version = 12")
    db.execute("INSERT INTO sheet_fingerprints VALUES ('f', '企業局', NULL, NULL, 0, 1)")
    db.commit()
    db.close()
    with Store(path) as store:
        assert store.fingerprints("f") == [Fingerprint("企業局", None, None, 0, True)]


def test_sheet_readings_are_written_where_they_changed(store: Store) -> None:
    """Saving readings replaces the given rows, keeps those named unchanged, drops the rest."""
    # the bytes come back as stored
    first = SheetRecord("総務部", "p1", "c1", "f1", b"\x00head", b"\xffbody")
    second = SheetRecord("土木部", None, "c2", "f2", b"h", b"b")
    store.save_sheet_readings("f", [first, second])
    assert sorted(store.sheet_readings("f"), key=lambda r: r.department) == [second, first]
    changed = SheetRecord("総務部", "p3", "c3", "f3", b"h3", b"b3")
    store.save_sheet_readings("f", [changed], keep=frozenset({"土木部"}))
    assert sorted(store.sheet_readings("f"), key=lambda r: r.department) == [second, changed]
    store.save_sheet_readings("f", [changed])
    assert store.sheet_readings("f") == [changed]
    assert store.sheet_readings("other") == []


def test_lookups_are_remembered_and_forgotten(store: Store) -> None:
    """A lookup is kept, replaced and dropped by key."""
    store.remember("k", "1", NOON)
    store.remember("k", "2", NOON)
    assert store.lookup("k") == "2"
    store.forget("k")
    assert store.lookup("k") is None


def test_an_owed_artefact_keeps_its_recipe_until_stored(store: Store) -> None:
    """An owed artefact keeps its recipe (bytes as written) until it is stored or dropped."""
    # then it is owed no more and its recipe is not kept
    run = store.start_run("f", NOON, NOON)
    recipe = bytes(range(256)) * 4
    store.hold_artefact("f", run, "第1報.xlsx", recipe, NOON)
    store.hold_artefact("f", run, "第1報.csv", b"x", NOON)
    assert [(h.name, h.recipe) for h in store.held_artefacts("f")] == [
        ("第1報.csv", b"x"),
        ("第1報.xlsx", recipe),
    ]
    store.artefact_done("f", run, "第1報.xlsx", "stored", "https://example.jp/1.xlsx", NOON)
    store.artefact_done("f", run, "第1報.csv", "dropped", None, NOON)
    assert store.held_artefacts("f") == []
    kept = store.database.execute("SELECT recipe FROM artefacts WHERE recipe IS NOT NULL")
    assert kept.fetchall() == []


def test_a_message_key_is_stored_once(store: Store) -> None:
    """Enqueuing a known key again changes nothing and says so."""
    run = store.start_run("f", NOON, NOON)
    assert store.enqueue(entry("m1", run), NOON) is True
    assert store.enqueue(entry("m1", run), NOON) is False
    stored = store.get_entry("m1")
    assert stored is not None and stored.bodies == {"text": "本文"}
    assert stored.payload == {"mentions": ["x"]} and stored.attachments == ("a.xlsx",)


def test_the_outbox_keeps_queue_order_and_statuses(store: Store) -> None:
    """Entries come out oldest first; mark moves status, counts follow."""
    run = store.start_run("f", NOON, NOON)
    for key in ("m3", "m1", "m2"):
        store.enqueue(entry(key, run, occasion=f"o-{key}"), NOON)
    assert [e.key for e in store.outbox()] == ["m3", "m1", "m2"]
    store.mark("m1", "sent", NOON, location="inbox", attempt=True)
    store.mark("m2", "uncertain", NOON, error="reset", attempt=True)
    assert store.outbox_counts()["sent"] == 1 and store.outbox_counts()["pending"] == 1
    assert [e.key for e in store.outbox(statuses=("uncertain",))] == ["m2"]
    assert store.sent_occasions("f") == frozenset({"o-m1"})
    assert store.flows_with_undelivered() == ["f"]
    sent = store.get_entry("m1")
    assert sent is not None and sent.attempts == 1 and sent.location == "inbox"


def test_a_deferred_message_is_not_due_before_its_time(store: Store) -> None:
    """due leaves out a message until its backoff has passed."""
    run = store.start_run("f", NOON, NOON)
    store.enqueue(entry("m1", run), NOON)
    store.defer("m1", NOON + timedelta(minutes=5))
    assert store.due("f", NOON) == []
    assert [e.key for e in store.due("f", NOON + timedelta(minutes=5))] == ["m1"]


def test_a_transaction_commits_all_or_nothing(store: Store) -> None:
    """An error inside a transaction leaves none of its writes behind."""
    with pytest.raises(RuntimeError), store.transaction():
        store.save_flow_state("f", "v9", 9, NOON)
        raise RuntimeError("boom")
    assert store.flow_state("f") == (None, 0)
    with store.transaction():
        store.save_flow_state("f", "v1", 1, NOON)
    assert store.flow_state("f") == ("v1", 1)


def test_flow_health_round_trips(store: Store) -> None:
    """A failure streak is stored and read back as it was."""
    store.save_health(Health("f", NOON, 3, "timeout", alerted=True), NOON)
    assert store.health("f") == Health("f", NOON, 3, "timeout", True)
    assert store.health("g") == Health("g")


def test_console_accounts_and_audit_log(store: Store) -> None:
    """Accounts are replaced by name; the audit log lists the newest action first."""
    store.save_user("sato", "h1", "viewer", NOON)
    store.save_user("sato", "h2", "operator", NOON)
    assert store.user("sato") == ("h2", "operator")
    store.audit("sato", "run", "f", "ok", NOON)
    store.audit("sato", "retry", "m1", "ok", NOON)
    assert [a["action"] for a in store.audit_log()] == ["retry", "run"]
    run = store.start_run("f", NOON, NOON)
    store.finish_run(run, "ok", NOON, {"artefacts": ["x"]})
    store.save_report("f", {"number": 1, "as_of": "t", "signature": "s"}, run)
    assert store.report_record("f", 1) == {"artefacts": ["x"]}


def test_the_store_names_its_database_without_the_password(pg: PgServer) -> None:
    """Messages name the PostgreSQL database by a URL whose password is masked."""
    with Store(pg.new_database()) as db:
        assert PASSWORD not in db.where and "***" in db.where
    assert safe_url(pg.url()) == pg.url().replace(PASSWORD, "***")


def test_migrate_moves_every_table_and_keeps_the_outbox_order(
    tmp_path: Path, pg: PgServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """state migrate copies SQLite into an empty PostgreSQL with ids, statuses and queue order."""
    source = tmp_path / "state.sqlite"
    with Store(source) as db:
        run = db.start_run("f", NOON, NOON)
        db.finish_run(run, "ok", NOON, {"sent": 1}, report_number=1)
        db.save_report("f", {"number": 1, "as_of": "t", "signature": "s"}, run)
        for key in ("m2", "m1"):
            db.enqueue(entry(key, run), NOON)
        db.mark("m2", "sent", NOON, attempt=True)
        db.audit("sato", "run", "f", "ok", NOON)
        db.hold_artefact("f", run, "第1報.xlsx", b"recipe", NOON)
    target = pg.new_database()
    assert main(["state", "migrate", "--from", str(source), "--to", target]) == 0
    out = capsys.readouterr().out
    assert "1 runs" in out and "2 outbox" in out and PASSWORD not in out
    with Store(target) as db:
        assert [e.key for e in db.outbox()] == ["m2", "m1"]
        assert db.outbox_counts()["sent"] == 1
        assert db.report_of_run(run) == 1
        assert [(h.name, h.recipe) for h in db.held_artefacts("f")] == [("第1報.xlsx", b"recipe")]
        assert db.start_run("f", NOON, NOON) == run + 1  # ids continue after the copied ones


def test_migrate_refuses_a_target_that_holds_state(tmp_path: Path, pg: PgServer) -> None:
    """Migrating into a database with runs in it is refused, nothing is overwritten."""
    source, target = tmp_path / "state.sqlite", pg.new_database()
    for where in (source, target):
        with Store(where) as db:
            db.start_run("f", NOON, NOON)
    with pytest.raises(ConfigError, match=r"already holds state \(1 runs\); migrate into an empty"):
        migrate_state(source, target)


def test_migrate_takes_the_password_from_the_environment(
    tmp_path: Path, pg: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """${NAME} in --to is filled from the environment, so the password stays off the command line."""
    with Store(tmp_path / "state.sqlite") as db:
        db.start_run("f", NOON, NOON)
    monkeypatch.setenv("SPEC_PGPASSWORD", PASSWORD)
    target = pg.new_database().replace(PASSWORD, "${SPEC_PGPASSWORD}")
    assert (
        main(
            ["state", "migrate", "--from", f"sqlite:///{tmp_path / 'state.sqlite'}", "--to", target]
        )
        == 0
    )
    with Store(target.replace("${SPEC_PGPASSWORD}", PASSWORD)) as db:
        assert len(db.runs()) == 1


def test_an_unreachable_database_names_the_host_and_the_fix(pg: PgServer) -> None:
    """A PostgreSQL that does not answer is a configuration error naming host:port and what to check."""
    with held_port() as port, pytest.raises(ConfigError) as caught:  # held: nobody listens
        Store(pg.url().replace(str(pg.port), str(port)))
    message = caught.value.message
    assert f"cannot connect to the state database at 127.0.0.1:{port}" in message
    assert "check that PostgreSQL runs there" in message and PASSWORD not in message


def test_the_first_claim_takes_the_lease_and_a_second_holder_waits(store: Store) -> None:
    """One holder at a time: a claim on a live lease leaves it; the holder's claim renews it."""
    first = store.claim_lease("a", NOON, 10)
    assert (first.holder, first.token) == ("a", 1)
    assert store.claim_lease("b", NOON + timedelta(seconds=5), 10).holder == "a"
    renewed = store.claim_lease("a", NOON + timedelta(seconds=8), 10)
    assert (renewed.holder, renewed.token) == ("a", 1)
    assert renewed.expires_at == NOON + timedelta(seconds=18)


def test_an_expired_lease_passes_to_the_next_claim_with_a_new_token(store: Store) -> None:
    """After expiry another holder takes the lease and the fencing token goes up."""
    store.claim_lease("a", NOON, 10)
    taken = store.claim_lease("b", NOON + timedelta(seconds=10), 10)
    assert (taken.holder, taken.token) == ("b", 2)
    assert store.claim_lease("a", NOON + timedelta(seconds=11), 10).holder == "b"


def test_a_released_lease_is_taken_at_once(store: Store) -> None:
    """A clean stop releases the lease, so the standby need not wait for it to expire."""
    store.claim_lease("a", NOON, 10)
    store.release_lease("a", NOON + timedelta(seconds=1))
    assert store.claim_lease("b", NOON + timedelta(seconds=1), 10).holder == "b"


def test_a_replaced_leader_can_neither_write_nor_queue(target: Path | str) -> None:
    """Writes under a fence whose token is no longer the lease's fail, and nothing is written."""
    with Store(target) as db:
        lease = db.claim_lease("a", NOON, 10)
        run = db.start_run("f", NOON, NOON)
    set_fence(Fence("a", lease.token))
    try:
        with Store(target) as old:
            old.save_flow_state("f", "v1", 1, NOON)  # still the leader: allowed
            with Store(target) as other:
                other.claim_lease("b", NOON + timedelta(seconds=10), 10)
            with pytest.raises(
                FencedError, match=r"no longer holds the leader lease: b with token 2"
            ):
                old.enqueue(entry("m1", run), NOON)
            with pytest.raises(FencedError):
                old.save_flow_state("f", "v2", 2, NOON)
    finally:
        set_fence(None)
    with Store(target) as db:
        assert db.get_entry("m1") is None and db.flow_state("f") == ("v1", 1)


def test_a_leader_past_its_local_lease_stops_writing_without_asking(target: Path | str) -> None:
    """A fence whose local validity ran out (the process was paused) refuses every write."""
    with Store(target) as db:
        lease = db.claim_lease("a", NOON, 10)
    set_fence(Fence("a", lease.token, valid_until=0.0))
    try:
        with (
            Store(target) as old,
            pytest.raises(FencedError, match="ran out before it could be renewed"),
        ):
            old.start_run("f", NOON, NOON)
    finally:
        set_fence(None)


def test_a_store_opened_before_a_renewal_writes_while_the_lease_is_held(
    target: Path | str,
) -> None:
    """A renewal extends every open store of the leader: a run longer than the lease writes."""
    # (the store was opened under an earlier renewal whose local validity has passed)
    with Store(target) as db:
        lease = db.claim_lease("a", NOON, 10)
    set_fence(Fence("a", lease.token, valid_until=0.0))
    try:
        with Store(target) as running:
            set_fence(Fence("a", lease.token))  # renewed since the run opened its store
            running.save_flow_state("f", "v1", 1, NOON)
            assert running.flow_state("f") == ("v1", 1)
    finally:
        set_fence(None)


def test_daemons_starting_together_migrate_once(pg: PgServer) -> None:
    """Stores opening one empty PostgreSQL together migrate it once; the others find it current."""
    # none fails on a table another just created
    url = pg.new_database()
    with ThreadPoolExecutor(max_workers=4) as pool:
        versions = list(pool.map(lambda _: _opened_version(url), range(8)))
    assert versions == [SCHEMA_VERSION] * 8


def _opened_version(url: str) -> int:
    with Store(url) as db:
        return db.schema_version


def test_a_connection_lost_mid_run_ends_the_run_transient(pg: PgServer) -> None:
    """PostgreSQL lost under an open store: the next write is transient, naming no password."""
    # so the run ends transient and is retried
    with Store(pg.new_database()) as db:
        pid = db.database.execute("SELECT pg_backend_pid()").fetchone()[0]
        with psycopg.connect(pg.url().replace("+psycopg", ""), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(
            TransientError, match="lost the connection to the state database"
        ) as caught:
            db.start_run("f", NOON, NOON)
    assert PASSWORD not in caught.value.message


def report_snapshot(number: int, consolidated: Consolidated) -> dict[str, Any]:
    """A damage report's snapshot as the flow keeps it (the parts these specs need)."""
    return {
        "number": number,
        "as_of": NOON.isoformat(),
        "signature": consolidated.signature,
        "totals": consolidated.totals_dump(),
        "figures": consolidated.figure_texts,
    }


def test_a_report_s_figures_are_stored_once_and_read_back_with_its_sums(store: Store) -> None:
    """A report reads back as saved; figures the next report keeps are not stored again."""
    # snapshot, figures and sums (the console's reading of it does not see the sums)
    kept = Figures({("前橋市", "dead"): Decimal(2)}, {("高崎市", "dead")})
    first = consolidate({"危機管理課": kept}, DEFAULT_CATALOGUE)
    second = consolidate(
        {"危機管理課": kept, "土木部": Figures({("前橋市", "dead"): Decimal("1.5")})},
        DEFAULT_CATALOGUE,
    )
    assert second.sums is not None
    store.save_report("damage", report_snapshot(1, first), store.start_run("damage", NOON, NOON))
    run = store.start_run("damage", NOON, NOON)
    store.save_report("damage", report_snapshot(2, second), run, second.sums.dump())
    back, sums = store.latest_report_and_sums("damage")
    assert back == report_snapshot(2, second) == store.latest_report("damage")
    assert back is not None and isinstance(back["figures"], JSONTexts)
    assert back["figures"].text("土木部") == second.figures["土木部"].text
    assert sums == json.loads(compact(second.sums.dump()))
    stored = store._db.execute("SELECT COUNT(*) AS n FROM report_figures").fetchone()
    assert stored["n"] == 2  # 危機管理課's figures once, 土木部's once


def test_migrate_keeps_each_report_s_figures(tmp_path: Path) -> None:
    """state migrate copies the figures a report names by digest along with the report."""
    source, target = tmp_path / "state.sqlite", tmp_path / "moved.sqlite"
    consolidated = consolidate(
        {"危機管理課": Figures({("前橋市", "dead"): Decimal(2)})}, DEFAULT_CATALOGUE
    )
    with Store(source) as db:
        db.save_report(
            "damage", report_snapshot(1, consolidated), db.start_run("damage", NOON, NOON)
        )
    migrate_state(source, target)
    with Store(target) as db:
        back, _ = db.latest_report_and_sums("damage")
    assert back is not None and dict(back["figures"]) == {
        "危機管理課": {"amounts": {"前橋市": {"dead": "2"}}, "unconfirmed": [], "statuses": {}}
    }


def test_a_leaders_transaction_on_postgresql_ends_when_idle_past_the_lease(pg: PgServer) -> None:
    """Under a fence, PostgreSQL ends a transaction idle longer than the lease."""
    # so a leader frozen mid-transaction cannot keep the lease row locked against the standby
    url = pg.new_database()
    with Store(url) as db:
        lease = db.claim_lease("a", NOON, 10)
    # a lease of ten minutes and a half: the spec's own transaction, idle between its
    # statements on a slow machine, is not the one the server ends
    set_fence(Fence("a", lease.token, lease_seconds=630.5))
    try:
        with Store(url) as leader, leader.transaction():
            row = leader.database.execute("SHOW idle_in_transaction_session_timeout").fetchone()
            setting = next(iter(row.values())) if isinstance(row, dict) else row[0]
        with Store(url) as other:
            outside = other.database.execute("SHOW idle_in_transaction_session_timeout")
            default = outside.fetchone()
    finally:
        set_fence(None)
    assert setting == "630500ms"
    assert (next(iter(default.values())) if isinstance(default, dict) else default[0]) == "0"
