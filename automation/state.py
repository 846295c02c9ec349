"""The state database: run history, report snapshots, per-sheet fingerprints and the
outbox, in one SQLite file (the default) or a PostgreSQL database (``state.url``, for an
active/standby pair). The same SQL runs on both (:mod:`automation.state_db` bridges the
dialects). The schema carries a version and is migrated forward on open; a database newer
than this program is refused.
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from automation.errors import ConfigError, TransientError
from automation.jsontext import JSONTexts, compact
from automation.redaction import scrub
from automation.state_db import POSTGRESQL, Database, Row, open_database

P = ParamSpec("P")
R = TypeVar("R")
LEASE = "serve"  # the one lease a pair of daemons shares
SUMS = "sums"  # a report snapshot's key for what its figures add up to (not shown)
FIGURE_DIGESTS = "figure_digests"  # ... for its figures' digests (in report_figures)

MIGRATIONS: tuple[str, ...] = (
    # 1: initial schema
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        flow TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        now TEXT NOT NULL,
        status TEXT NOT NULL,
        report_number INTEGER,
        error TEXT,
        record TEXT
    );
    CREATE INDEX runs_flow ON runs (flow, id);
    CREATE TABLE flow_state (
        flow TEXT PRIMARY KEY,
        version TEXT,
        report_number INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE reports (
        flow TEXT NOT NULL,
        number INTEGER NOT NULL,
        as_of TEXT NOT NULL,
        signature TEXT NOT NULL,
        snapshot TEXT NOT NULL,
        run_id INTEGER NOT NULL REFERENCES runs (id),
        PRIMARY KEY (flow, number)
    );
    CREATE TABLE sheet_fingerprints (
        flow TEXT NOT NULL,
        department TEXT NOT NULL,
        fingerprint TEXT,
        changed_at TEXT,
        problems INTEGER NOT NULL DEFAULT 0,
        table_found INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (flow, department)
    );
    CREATE TABLE outbox (
        key TEXT PRIMARY KEY,
        flow TEXT NOT NULL,
        run_id INTEGER NOT NULL REFERENCES runs (id),
        kind TEXT NOT NULL,
        audience TEXT NOT NULL,
        channel TEXT NOT NULL,
        recipient TEXT NOT NULL,
        recipient_label TEXT NOT NULL,
        subject TEXT NOT NULL,
        bodies TEXT NOT NULL,
        attachments TEXT NOT NULL,
        digest TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        delivered_at TEXT,
        location TEXT,
        last_error TEXT
    );
    CREATE INDEX outbox_status ON outbox (status, created_at);
    """,
    # 2: the occasion of each message, so flows can ask what was already sent
    """
    ALTER TABLE outbox ADD COLUMN occasion TEXT;
    CREATE INDEX outbox_occasion ON outbox (flow, occasion);
    """,
    # 3: lookups worth keeping across runs (a Teams channel's files folder)
    """
    CREATE TABLE lookups (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    """,
    # 4: retry backoff per message; failure streaks per flow (alert once, and on recovery)
    """
    ALTER TABLE outbox ADD COLUMN not_before TEXT;
    CREATE TABLE flow_health (
        flow TEXT PRIMARY KEY,
        failing_since TEXT,
        failures INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        alerted INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL
    );
    """,
    # 5: each report's summary without its per-sheet figures (an unchanged poll reads it only)
    """
    ALTER TABLE reports ADD COLUMN summary TEXT;
    """,
    # 6: the web console's local accounts and its audit log of operator actions
    """
    CREATE TABLE console_users (
        name TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        who TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        outcome TEXT NOT NULL
    );
    """,
    # 7: what a send needs beyond its bodies, fixed when the message is queued (a channel
    # post's @mentions, the links of attachments too large to send)
    """
    ALTER TABLE outbox ADD COLUMN payload TEXT;
    """,
    # 8: the leader lease of a pair of daemons on one PostgreSQL (holder, fencing token, expiry)
    """
    CREATE TABLE leader_lease (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        token INTEGER NOT NULL,
        expires_at TEXT NOT NULL,
        acquired_at TEXT NOT NULL,
        renewed_at TEXT NOT NULL
    );
    """,
    # 9: incidents of a damage flow (``automation incident open/close``); each run and report
    # belongs to the incident open when it ran (0: none), so numbering restarts at 第1報
    """
    CREATE TABLE incidents (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        flow TEXT NOT NULL,
        name TEXT NOT NULL,
        opened_at TEXT NOT NULL,
        closing_at TEXT,
        closed_at TEXT,
        workbook TEXT NOT NULL,
        web_url TEXT,
        archived TEXT,
        first_report INTEGER,
        last_report INTEGER,
        UNIQUE (flow, name)
    );
    ALTER TABLE runs ADD COLUMN incident INTEGER;
    CREATE TABLE reports_v9 (
        flow TEXT NOT NULL,
        incident INTEGER NOT NULL DEFAULT 0,
        number INTEGER NOT NULL,
        as_of TEXT NOT NULL,
        signature TEXT NOT NULL,
        snapshot TEXT NOT NULL,
        run_id INTEGER NOT NULL REFERENCES runs (id),
        summary TEXT,
        PRIMARY KEY (flow, incident, number)
    );
    INSERT INTO reports_v9 (flow, incident, number, as_of, signature, snapshot, run_id, summary)
        SELECT flow, 0, number, as_of, signature, snapshot, run_id, summary FROM reports;
    DROP TABLE reports;
    ALTER TABLE reports_v9 RENAME TO reports;
    CREATE INDEX reports_run ON reports (run_id);
    """,
    # 10: artefacts still to build and store after their run's report went out: what builds
    # each (its recipe, dropped once stored) and the messages that wait for it
    """
    CREATE TABLE artefacts (
        flow TEXT NOT NULL,
        run_id INTEGER NOT NULL REFERENCES runs (id),
        name TEXT NOT NULL,
        recipe BLOB,
        status TEXT NOT NULL,
        location TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (flow, run_id, name)
    );
    """,
    # 11: each department's last sheet reading (compressed), so a run reads changed sheets only
    """
    CREATE TABLE sheet_readings (
        flow TEXT NOT NULL,
        department TEXT NOT NULL,
        package TEXT,
        content TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        head BLOB NOT NULL,
        body BLOB NOT NULL,
        PRIMARY KEY (flow, department)
    );
    """,
    # 12: a report's figures per department, each stored once however many reports keep it
    # (a report's snapshot names them by digest, and holds only what its summary does not)
    """
    CREATE TABLE report_figures (
        flow TEXT NOT NULL,
        digest TEXT NOT NULL,
        figures TEXT NOT NULL,
        PRIMARY KEY (flow, digest)
    );
    """,
    # 13: a department's sheet missing: the workbook's sheet that looks like it (a copy, a
    # renamed tab), for the reminders sent by runs that see the workbook unchanged
    """
    ALTER TABLE sheet_fingerprints ADD COLUMN likely_sheet TEXT;
    """,
)
# The incident a flow's reports are read and kept under: its newest, open or closed (0
# before the first), so after ``incident close`` the console still shows the final report.
LATEST_INCIDENT = "COALESCE((SELECT MAX(id) FROM incidents WHERE flow = ?), 0)"
# The incident a run belongs to: the open one (0 when none is open).
OPEN_INCIDENT = "COALESCE((SELECT MAX(id) FROM incidents WHERE flow = ? AND closed_at IS NULL), 0)"
STATUSES = ("pending", "sending", "sent", "failed", "uncertain", "dead")
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class OutboxEntry:
    """A message stored before any attempt to send it."""

    key: str
    flow: str
    run_id: int
    kind: str
    audience: str
    channel: str
    recipient: str
    recipient_label: str
    subject: str
    bodies: Mapping[str, str]
    attachments: tuple[str, ...]
    digest: str
    occasion: str = ""
    status: str = "pending"
    attempts: int = 0
    location: str | None = None
    last_error: str | None = None
    not_before: datetime | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    # When it entered its status: for ``sending``, when the send was claimed; for an
    # ``uncertain`` one, when the send whose answer was lost began or failed.
    updated_at: datetime | None = None


@dataclass(frozen=True)
class HeldArtefact:
    """An artefact recorded with its run's report, not yet stored: what builds it."""

    flow: str
    run_id: int
    name: str
    recipe: bytes


@dataclass(frozen=True)
class Health:
    """A flow's current failure streak (none when ``failing_since`` is None)."""

    flow: str
    failing_since: datetime | None = None
    failures: int = 0
    last_error: str | None = None
    alerted: bool = False


@dataclass(frozen=True)
class Fingerprint:
    """A department sheet's last seen content digest."""

    department: str
    fingerprint: str | None
    changed_at: datetime | None
    problems: int
    table_found: bool
    likely_sheet: str | None = None  # the sheet missing: the workbook's sheet like it


@dataclass(frozen=True)
class Incident:
    """One incident of a damage flow: its own workbook and its own 第1報, 第2報, ...

    ``workbook`` is the workbook's reference as JSON (a local path or a Graph address);
    ``closing_at`` is set while ``incident close`` issues the final report and archives.
    """

    id: int
    flow: str
    name: str
    opened_at: datetime
    workbook: str
    web_url: str | None = None
    closing_at: datetime | None = None
    closed_at: datetime | None = None
    archived: str | None = None
    first_report: int | None = None
    last_report: int | None = None

    @property
    def is_open(self) -> bool:
        """Whether the incident is still open (reports go on being issued)."""
        return self.closed_at is None

    @property
    def closing(self) -> bool:
        """Whether ``incident close`` began: the flow's next run issues the final report."""
        return self.is_open and self.closing_at is not None


@dataclass(frozen=True)
class SheetRecord:
    """A department's stored sheet reading and the keys it is valid for (opaque here)."""

    department: str
    package: str | None
    content: str
    fingerprint: str
    head: bytes
    body: bytes


@dataclass(frozen=True)
class Lease:
    """Who leads a pair of daemons: the holder, its fencing token and when the lease ends."""

    holder: str
    token: int
    expires_at: datetime
    acquired_at: datetime


@dataclass(frozen=True)
class Fence:
    """The leader's token: every write checks it is still the lease's, so a leader that was
    paused past its lease (and replaced) cannot write or send when it wakes up.

    ``valid_until`` is this process's ``time.monotonic()`` at which its lease ends even if
    the database cannot be asked (the last renewal's start plus the lease length);
    ``send_margin`` is how much of it must remain for a message to be claimed or sent (a
    send started just before the lease ends could reach Graph after a takeover).
    """

    holder: str
    token: int
    valid_until: float = math.inf
    name: str = LEASE
    send_margin: float = 0.0
    lease_seconds: float | None = None  # on PostgreSQL: a transaction idle longer is ended


class FencedError(TransientError):
    """This daemon no longer holds the leader lease; it must not write or send."""


_FENCE: Fence | None = None


def set_fence(fence: Fence | None) -> None:
    """Stores opened from now on in this process check ``fence`` on every write (the daemon
    sets it while it leads a pair; None: no lease, as with SQLite)."""
    global _FENCE  # noqa: PLW0603  # one daemon per process; the runner opens its own stores
    _FENCE = fence


def _renewed(fence: Fence | None) -> Fence | None:
    """``fence`` with the local validity of the latest renewal of the same lease (a store
    opened before a renewal is extended by it); a fence since dropped or replaced stays as
    it was, so its token or its validity refuses the write."""
    live = _FENCE
    same = (live.holder, live.token, live.name) if live is not None else None
    if fence is not None and same == (fence.holder, fence.token, fence.name):
        return live
    return fence


def current_fence() -> Fence | None:
    """The fence this process writes under now (None: no lease, as with SQLite)."""
    return _FENCE


def check_fence(
    fence: Fence | None,
    stored: Callable[[str], tuple[str, int] | None],
    *,
    sending: bool = False,
    by_clock: bool = True,
) -> None:
    """Raise FencedError unless ``fence`` (as last renewed) is still valid by the local clock
    and ``stored(name)``, the lease's holder and token as the database has them, carries its
    token. ``sending``: also refuse when less than the fence's send margin is left;
    ``by_clock=False``: the token alone decides."""
    fence = _renewed(fence)
    if fence is None:
        return
    margin = fence.send_margin if sending else 0.0
    if by_clock and time.monotonic() > fence.valid_until - margin:
        raise FencedError(
            f"the leader lease of {fence.holder} (token {fence.token}) ran out before it "
            "could be renewed; this daemon stops writing and sending until it leads again"
            if not sending or time.monotonic() > fence.valid_until
            else f"the leader lease of {fence.holder} (token {fence.token}) has less than "
            f"{margin:g} s left and was not renewed; no message is sent until it is"
        )
    row = stored(fence.name)
    if row is None or row[1] != fence.token:
        now = "nobody" if row is None else f"{row[0]} with token {row[1]}"
        raise FencedError(
            f"this daemon ({fence.holder}, token {fence.token}) no longer holds the leader "
            f"lease: {now} does; it wrote and sent nothing more, the leader carries on"
        )


def _writes(method: Callable[P, R]) -> Callable[P, R]:
    """A write: under a fence it runs in a transaction that first checks the token."""

    @functools.wraps(method)
    def write(*args: P.args, **kwargs: P.kwargs) -> R:
        store = args[0]
        assert isinstance(store, Store)
        if store.fence is None or store.in_transaction:
            return method(*args, **kwargs)
        with store.transaction():
            return method(*args, **kwargs)

    return write


class RecordJSON(str):
    """A run record as one line of JSON, secrets scrubbed (made by :func:`record_json` only)."""


def record_json(record: Mapping[str, Any], ahead: EncodedItems | None = None) -> RecordJSON:
    """``record`` as the runs table keeps it: ``json.dumps(record, ensure_ascii=False)`` (one
    line), every registered secret replaced. A command that prints the record prints this
    same text rather than encoding megabytes again. ``ahead``: items encoded before (see
    :class:`EncodedItems`), taken where the record still holds the very same value."""
    if ahead is None:
        return RecordJSON(scrub(json.dumps(record, ensure_ascii=False)))
    items = ", ".join(ahead.item(key, value) for key, value in record.items())
    return RecordJSON(scrub(f"{{{items}}}"))


class EncodedItems:
    """Some of a record's items encoded ahead of the record (a run's report body, megabytes,
    encoded while the run waits for its workbook), as ``json.dumps`` encodes a dict's items.

    Each is taken only for the same key holding the very same object (``is``): a value
    replaced since is encoded again."""

    def __init__(self, items: Mapping[str, Any]) -> None:
        self._encoded = {key: (value, _item_json(key, value)) for key, value in items.items()}

    def item(self, key: str, value: Any) -> str:
        """``"key": value`` as json.dumps writes it in a dict (from before where it holds)."""
        known = self._encoded.get(key)
        if known is not None and known[0] is value:
            return known[1]
        return _item_json(key, value)


def _item_json(key: str, value: Any) -> str:
    return f"{json.dumps(key, ensure_ascii=False)}: {json.dumps(value, ensure_ascii=False)}"


def record_json_with(text: RecordJSON, key: str, value: Any) -> RecordJSON:
    """``text`` (a non-empty record's :func:`record_json`) with ``key: value`` added last,
    as ``record_json`` gives the record once ``key`` (not in it before) is set."""
    tail = scrub(f", {_item_json(key, value)}")
    return RecordJSON(f"{text[:-1]}{tail}}}")


class Store:
    """Access to the state database; one instance per process."""

    def __init__(self, target: Path | str) -> None:
        """Open (creating or migrating) the database at a file path or a ``state.url``."""
        self._db: Database = open_database(target)
        self.path = target if isinstance(target, Path) else Path(self._db.where)
        self.dialect = self._db.dialect
        self.fence = _FENCE
        self.in_transaction = False
        try:
            self._migrate()
        except BaseException:
            self._db.close()
            raise

    @property
    def where(self) -> str:
        """The database file or URL (without its password), for messages."""
        return self._db.where

    @property
    def database(self) -> Database:
        """The connection (for the leader lease and ``state migrate``)."""
        return self._db

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        if self._db.version() == SCHEMA_VERSION:
            return
        with self._db.transaction():
            self._db.lock_migrations()
            version = self._db.version()
            if version > SCHEMA_VERSION:
                raise ConfigError(
                    f"state database {self.where} has schema version {version}, newer than "
                    f"this program's {SCHEMA_VERSION}; upgrade the program or point "
                    "state.path (or state.url) elsewhere"
                )
            for index in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[index].split(";"):
                    if statement.strip():
                        self._db.execute(self._db.ddl(statement))
                self._db.set_version(index + 1)

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        return self._db.version()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all (under a fence: only while this
        process still holds the lease; nested, the outer transaction decides)."""
        if self.in_transaction:
            yield
            return
        with self._db.transaction():
            self.in_transaction = True
            try:
                self._bound_idle()
                self._check_fence()
                yield
            finally:
                self.in_transaction = False

    def _bound_idle(self) -> None:
        """Under a fence on PostgreSQL, the server ends this transaction (and frees the lease
        row it share-locks) once it has waited idle for the client longer than the lease:
        a leader frozen mid-transaction (SIGSTOP, a paused VM) cannot hold off the standby's
        takeover, and when it wakes its transaction is gone, nothing of it committed."""
        fence = _renewed(self.fence)
        if fence is None or fence.lease_seconds is None or self.dialect != POSTGRESQL:
            return
        milliseconds = max(1, round(fence.lease_seconds * 1000))
        self._db.execute(f"SET LOCAL idle_in_transaction_session_timeout = {milliseconds}")

    def _check_fence(self, *, sending: bool = False) -> None:
        """Raise FencedError unless this process's lease token is still the current one; on
        PostgreSQL the row stays share-locked, so no takeover commits before this write.
        ``sending``: also refuse when less than the fence's send margin of the lease is left."""
        lock = " FOR SHARE" if self.dialect == POSTGRESQL else ""

        def stored(name: str) -> tuple[str, int] | None:
            row = self._db.execute(
                f"SELECT holder, token FROM leader_lease WHERE name = ?{lock}", (name,)
            ).fetchone()
            return None if row is None else (str(row["holder"]), int(row["token"]))

        check_fence(self.fence, stored, sending=sending)

    # leader lease ---------------------------------------------------------
    def claim_lease(self, holder: str, now: datetime, seconds: float, name: str = LEASE) -> Lease:
        """Renew the lease when ``holder`` has it, take it (next token) when it expired, else
        leave it; one UPDATE each, so two daemons never both win. Returns the lease now."""
        stamp, until = _utc(now), _utc(now + timedelta(seconds=seconds))
        self._db.execute(
            "INSERT INTO leader_lease (name, holder, token, expires_at, acquired_at, renewed_at) "
            "VALUES (?, '', 0, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
            (name, stamp, stamp, stamp),
        )
        self._db.execute(
            "UPDATE leader_lease SET token = CASE WHEN holder = ? THEN token ELSE token + 1 END, "
            "acquired_at = CASE WHEN holder = ? THEN acquired_at ELSE ? END, holder = ?, "
            "expires_at = ?, renewed_at = ? WHERE name = ? AND (holder = ? OR expires_at <= ?)",
            (holder, holder, stamp, holder, until, stamp, name, holder, stamp),
        )
        lease = self.lease(name)
        assert lease is not None
        return lease

    def release_lease(self, holder: str, now: datetime, name: str = LEASE) -> None:
        """End ``holder``'s lease now (a clean stop: the standby need not wait for expiry)."""
        self._db.execute(
            "UPDATE leader_lease SET expires_at = ? WHERE name = ? AND holder = ?",
            (_utc(now), name, holder),
        )

    def lease(self, name: str = LEASE) -> Lease | None:
        """The lease as stored, if any daemon ever claimed it."""
        row = self._db.execute("SELECT * FROM leader_lease WHERE name = ?", (name,)).fetchone()
        if row is None or not row["holder"]:
            return None
        return Lease(
            str(row["holder"]),
            int(row["token"]),
            datetime.fromisoformat(row["expires_at"]),
            datetime.fromisoformat(row["acquired_at"]),
        )

    # runs -----------------------------------------------------------------
    @_writes
    def start_run(self, flow: str, now: datetime, started_at: datetime) -> int:
        """Record that a run began; returns its id."""
        row = self._db.execute(
            "INSERT INTO runs (flow, started_at, now, status, incident) "
            f"VALUES (?, ?, ?, 'running', {OPEN_INCIDENT}) RETURNING id",
            (flow, started_at.isoformat(), now.isoformat(), flow),
        ).fetchone()
        return int(row["id"])

    @_writes
    def finish_run(
        self,
        run_id: int,
        status: str,
        finished_at: datetime,
        record: Mapping[str, Any] | RecordJSON,
        report_number: int | None = None,
        error: str | None = None,
    ) -> None:
        """Record a run's outcome and its JSON run record (or that record's ``record_json``)."""
        self._db.execute(
            "UPDATE runs SET status = ?, finished_at = ?, record = ?, report_number = ?, error = ? "
            "WHERE id = ?",
            (
                status,
                finished_at.isoformat(),
                record if isinstance(record, RecordJSON) else record_json(record),
                report_number,
                scrub(error) if error else error,
                run_id,
            ),
        )

    def running(self, flow: str) -> list[int]:
        """Runs of ``flow`` still marked ``running`` (under its lock: left by a crash)."""
        rows = self._db.execute(
            "SELECT id FROM runs WHERE flow = ? AND status = 'running' ORDER BY id", (flow,)
        )
        return [int(row["id"]) for row in rows]

    def runs(
        self, flow: str | None = None, limit: int = 20, incident: str | None = None
    ) -> list[dict[str, Any]]:
        """Recent runs, newest first, each with ``incident_name`` (None: no incident was
        open); ``incident`` keeps only the runs of the incident of that name."""
        sql = (
            "SELECT runs.*, incidents.name AS incident_name FROM runs "
            "LEFT JOIN incidents ON incidents.id = runs.incident WHERE 1 = 1"
        )
        args: list[Any] = []
        if flow:
            sql += " AND runs.flow = ?"
            args.append(flow)
        if incident is not None:
            sql += " AND incidents.name = ?"
            args.append(incident)
        sql += " ORDER BY runs.id DESC LIMIT ?"
        return [dict(row) for row in self._db.execute(sql, [*args, limit])]

    def run(self, run_id: int) -> dict[str, Any] | None:
        """One run by id, with its stored run record (JSON text)."""
        row = self._db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else dict(row)

    # flow state -----------------------------------------------------------
    def flow_state(self, flow: str) -> tuple[str | None, int]:
        """(workbook version tag, last report number) of a flow."""
        row = self._db.execute(
            "SELECT version, report_number FROM flow_state WHERE flow = ?", (flow,)
        ).fetchone()
        return (None, 0) if row is None else (row["version"], int(row["report_number"]))

    @_writes
    def save_flow_state(self, flow: str, version: str | None, number: int, now: datetime) -> None:
        """Remember the processed version tag and the last report number."""
        self._db.execute(
            "INSERT INTO flow_state (flow, version, report_number, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (flow) DO UPDATE SET version = excluded.version, "
            "report_number = excluded.report_number, updated_at = excluded.updated_at",
            (flow, version, number, now.isoformat()),
        )

    def latest_report(self, flow: str, *, figures: bool = True) -> dict[str, Any] | None:
        """The snapshot of the newest report of a flow; without ``figures``, only its summary
        (totals and statuses), which stays small however large the workbook grows."""
        if not figures:
            row = self._latest(flow, "COALESCE(summary, snapshot)")
            return None if row is None else dict(json.loads(row["data"]))
        snapshot, _ = self.latest_report_and_sums(flow)
        return snapshot

    def latest_report_and_sums(
        self, flow: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The newest report's snapshot with its figures (each department's kept as text
        until read, :class:`automation.jsontext.JSONTexts`), and the sums it was saved with."""
        row = self._latest(flow, "summary AS summary, snapshot")
        if row is None:
            return None, None
        # The summary, and the rest (stored before report_figures: the whole snapshot).
        snapshot = dict(json.loads(row["summary"])) if row["summary"] else {}
        snapshot.update(json.loads(row["data"]))
        digests = snapshot.pop(FIGURE_DIGESTS, None)
        if isinstance(digests, dict):
            snapshot["figures"] = self._figure_texts(flow, digests)
        sums = snapshot.pop(SUMS, None)
        return snapshot, sums if isinstance(sums, dict) else None

    def _figure_texts(self, flow: str, digests: Mapping[str, str]) -> JSONTexts:
        wanted = sorted(set(digests.values()))
        texts: dict[str, str] = {}
        for start in range(0, len(wanted), 500):  # under any driver's limit of parameters
            batch = wanted[start : start + 500]
            rows = self._db.execute(
                "SELECT digest, figures FROM report_figures WHERE flow = ? AND digest IN "
                f"({', '.join('?' * len(batch))})",
                (flow, *batch),
            )
            texts.update((row["digest"], row["figures"]) for row in rows)
        return JSONTexts({name: texts[d] for name, d in digests.items()}, digests)

    def _latest(self, flow: str, column: str) -> Row | None:
        row: Row | None = self._db.execute(
            f"SELECT {column} AS data FROM reports WHERE flow = ? AND incident = {LATEST_INCIDENT} "
            "ORDER BY number DESC LIMIT 1",
            (flow, flow),
        ).fetchone()
        return row

    def report_of_run(self, run_id: int) -> int | None:
        """The number of the report a run issued, if it issued one."""
        row = self._db.execute("SELECT number FROM reports WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else int(row["number"])

    @_writes
    def save_report(
        self,
        flow: str,
        snapshot: Mapping[str, Any],
        run_id: int,
        sums: Mapping[str, Any] | None = None,
    ) -> None:
        """Store a new report's snapshot under the flow's incident (numbers are never reused
        within an incident), with ``sums``: what its figures add up to, kept so that the
        next report adds up only what changed (:func:`latest_report_and_sums`). Each
        department's figures are stored once, by digest: a report that reuses them (the
        department's sheet did not change) names them only."""
        summary = {k: v for k, v in snapshot.items() if k != "figures"}
        stored: dict[str, Any] = {}  # what the summary does not hold
        figures = snapshot.get("figures")
        if isinstance(figures, Mapping):
            texts = (
                figures
                if isinstance(figures, JSONTexts)
                else JSONTexts({name: compact(value) for name, value in figures.items()})
            )
            stored[FIGURE_DIGESTS] = self._save_figures(flow, texts)
        elif "figures" in snapshot:
            stored["figures"] = figures
        if sums is not None:
            stored[SUMS] = sums
        self._db.execute(
            "INSERT INTO reports (flow, incident, number, as_of, signature, snapshot, run_id, "
            f"summary) VALUES (?, {LATEST_INCIDENT}, ?, ?, ?, ?, ?, ?)",
            (
                flow,
                flow,
                snapshot["number"],
                snapshot["as_of"],
                snapshot["signature"],
                compact(stored),
                run_id,
                compact(summary),
            ),
        )

    def _save_figures(self, flow: str, texts: JSONTexts) -> dict[str, str]:
        """Store the figures not stored yet; return each department's digest."""
        digests = {name: texts.digest(name) for name in texts}
        known = {
            row["digest"]
            for row in self._db.execute("SELECT digest FROM report_figures WHERE flow = ?", (flow,))
        }
        new = {d: name for name, d in digests.items() if d not in known}
        self._db.executemany(
            "INSERT INTO report_figures (flow, digest, figures) VALUES (?, ?, ?) "
            "ON CONFLICT (flow, digest) DO NOTHING",
            [(flow, d, texts.text(name)) for d, name in new.items()],
        )
        return digests

    def fingerprints(self, flow: str) -> list[Fingerprint]:
        """Every department's last seen sheet digest for a flow."""
        rows = self._db.execute("SELECT * FROM sheet_fingerprints WHERE flow = ?", (flow,))
        return [
            Fingerprint(
                row["department"],
                row["fingerprint"],
                datetime.fromisoformat(row["changed_at"]) if row["changed_at"] else None,
                int(row["problems"]),
                bool(row["table_found"]),
                row["likely_sheet"],
            )
            for row in rows
        ]

    @_writes
    def save_fingerprints(self, flow: str, prints: list[Fingerprint]) -> None:
        """Replace the stored sheet digests of a flow."""
        self._db.execute("DELETE FROM sheet_fingerprints WHERE flow = ?", (flow,))
        self._db.executemany(
            "INSERT INTO sheet_fingerprints (flow, department, fingerprint, changed_at, "
            "problems, table_found, likely_sheet) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    flow,
                    p.department,
                    p.fingerprint,
                    p.changed_at.isoformat() if p.changed_at else None,
                    p.problems,
                    int(p.table_found),
                    p.likely_sheet,
                )
                for p in prints
            ],
        )

    def sheet_readings(self, flow: str) -> list[SheetRecord]:
        """Every department's stored sheet reading for a flow."""
        rows = self._db.execute("SELECT * FROM sheet_readings WHERE flow = ?", (flow,))
        return [
            SheetRecord(
                row["department"],
                row["package"],
                row["content"],
                row["fingerprint"],
                bytes(row["head"]),
                bytes(row["body"]),
            )
            for row in rows
        ]

    @_writes
    def save_sheet_readings(
        self, flow: str, records: list[SheetRecord], keep: frozenset[str] = frozenset()
    ) -> None:
        """Store (insert or replace) ``records``; drop the flow's other stored readings
        except those of the departments in ``keep`` (unchanged, not written again)."""
        kept = {r.department for r in records} | keep
        stale = [
            (flow, row["department"])
            for row in self._db.execute(
                "SELECT department FROM sheet_readings WHERE flow = ?", (flow,)
            )
            if row["department"] not in kept
        ]
        self._db.executemany("DELETE FROM sheet_readings WHERE flow = ? AND department = ?", stale)
        self._db.executemany(
            "INSERT INTO sheet_readings (flow, department, package, content, fingerprint, head, "
            "body) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (flow, department) DO UPDATE SET "
            "package = excluded.package, content = excluded.content, "
            "fingerprint = excluded.fingerprint, head = excluded.head, body = excluded.body",
            [
                (flow, r.department, r.package, r.content, r.fingerprint, r.head, r.body)
                for r in records
            ],
        )

    # lookups --------------------------------------------------------------
    def lookup(self, key: str) -> str | None:
        """A remembered lookup (e.g. a channel's files folder), if any."""
        row = self._db.execute("SELECT value FROM lookups WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    @_writes
    def remember(self, key: str, value: str, now: datetime) -> None:
        """Keep a lookup for later runs."""
        self._db.execute(
            "INSERT INTO lookups (key, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (key, value, now.isoformat()),
        )

    @_writes
    def forget(self, key: str) -> None:
        """Drop a lookup that turned out stale."""
        self._db.execute("DELETE FROM lookups WHERE key = ?", (key,))

    # outbox ---------------------------------------------------------------
    @_writes
    def enqueue(self, entry: OutboxEntry, now: datetime) -> bool:
        """Store a message unless its key is already known; True when it was new."""
        cursor = self._db.execute(
            "INSERT INTO outbox (key, flow, run_id, kind, audience, channel, recipient, "
            "recipient_label, subject, bodies, attachments, digest, occasion, payload, status, "
            "attempts, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?) "
            "ON CONFLICT (key) DO NOTHING",
            (
                entry.key,
                entry.flow,
                entry.run_id,
                entry.kind,
                entry.audience,
                entry.channel,
                entry.recipient,
                scrub(entry.recipient_label),
                scrub(entry.subject),
                scrub(json.dumps(dict(entry.bodies), ensure_ascii=False)),
                json.dumps(list(entry.attachments)),
                entry.digest,
                entry.occasion,
                json.dumps(dict(entry.payload), ensure_ascii=False),
                now.isoformat(),
                now.isoformat(),
            ),
        )
        return cursor.rowcount == 1

    def claim(self, key: str, now: datetime) -> OutboxEntry | None:
        """Take ``key`` for sending: one transaction that checks the leader's fencing token
        (under a fence, with the send margin), locks the entry (``FOR UPDATE SKIP LOCKED`` on
        PostgreSQL: an entry another transaction holds is skipped, not waited for) and marks
        it ``sending``. None when it is locked elsewhere or no longer waits to be sent."""
        lock = " FOR UPDATE SKIP LOCKED" if self.dialect == POSTGRESQL else ""
        with self.transaction():
            self._check_fence(sending=True)
            row = self._db.execute(
                "SELECT * FROM outbox WHERE key = ? AND status IN ('pending', 'failed', "
                f"'uncertain'){lock}",
                (key,),
            ).fetchone()
            if row is None:
                return None
            self._db.execute(
                "UPDATE outbox SET status = 'sending', updated_at = ?, last_error = NULL, "
                "not_before = NULL WHERE key = ?",
                (now.isoformat(), key),
            )
        return replace(_entry(row), status="sending", updated_at=now)

    def check_sending(self) -> None:
        """Right before a send: raise FencedError unless this daemon still holds the lease,
        by its own clock with the send margin left and by the token in the database (no
        fence, as with SQLite: nothing to check)."""
        self._check_fence(sending=True)

    def outbox(
        self, flow: str | None = None, statuses: tuple[str, ...] | None = None
    ) -> list[OutboxEntry]:
        """Outbox entries, oldest first, optionally filtered."""
        sql = "SELECT * FROM outbox WHERE 1 = 1"
        args: list[Any] = []
        if flow:
            sql += " AND flow = ?"
            args.append(flow)
        if statuses:
            sql += f" AND status IN ({', '.join('?' for _ in statuses)})"
            args.extend(statuses)
        sql += " ORDER BY created_at, rowid"
        return [_entry(row) for row in self._db.execute(sql, args)]

    def sent_occasions(self, flow: str) -> frozenset[str]:
        """Occasions of a flow with at least one message delivered."""
        rows = self._db.execute(
            "SELECT DISTINCT occasion FROM outbox WHERE flow = ? AND status = 'sent' "
            "AND occasion IS NOT NULL",
            (flow,),
        )
        return frozenset(row[0] for row in rows)

    def due(self, flow: str, now: datetime) -> list[OutboxEntry]:
        """Entries of a flow still to deliver whose backoff has passed, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM outbox WHERE flow = ? AND status IN "
            "('pending', 'sending', 'failed', 'uncertain') "
            "AND (not_before IS NULL OR not_before <= ?) ORDER BY created_at, rowid",
            (flow, now.astimezone(UTC).isoformat()),
        )
        return [_entry(row) for row in rows]

    def flows_with_undelivered(self) -> list[str]:
        """Flows that have messages still to deliver (for the outbox worker)."""
        rows = self._db.execute(
            "SELECT DISTINCT flow FROM outbox WHERE status IN "
            "('pending', 'sending', 'failed', 'uncertain') ORDER BY flow"
        )
        return [row[0] for row in rows]

    def outbox_counts(self) -> dict[str, int]:
        """How many messages are in each status."""
        counts = dict.fromkeys(STATUSES, 0)
        for row in self._db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status"):
            counts[row[0]] = int(row[1])
        return counts

    @_writes
    def defer(self, key: str, until: datetime) -> None:
        """Do not try ``key`` again before ``until``."""
        self._db.execute(
            "UPDATE outbox SET not_before = ? WHERE key = ?",
            (until.astimezone(UTC).isoformat(), key),
        )

    # artefacts built after the report ------------------------------------------
    @_writes
    def hold_artefact(
        self, flow: str, run_id: int, name: str, recipe: bytes, now: datetime
    ) -> None:
        """Record that run ``run_id`` owes artefact ``name``, built from ``recipe``."""
        self._db.execute(
            "INSERT INTO artefacts (flow, run_id, name, recipe, status, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, 'pending', ?, ?)",
            (flow, run_id, name, recipe, now.isoformat(), now.isoformat()),
        )

    @_writes
    def keep_recipe(self, flow: str, run_id: int, name: str, recipe: bytes, now: datetime) -> None:
        """Replace an owed artefact's recipe (with its bytes, once built)."""
        self._db.execute(
            "UPDATE artefacts SET recipe = ?, updated_at = ? WHERE flow = ? AND run_id = ? "
            "AND name = ? AND status = 'pending'",
            (recipe, now.isoformat(), flow, run_id, name),
        )

    def owed_artefacts(self, flow: str) -> list[str]:
        """Names of the artefacts a flow still owes, oldest run first."""
        rows = self._db.execute(
            "SELECT name FROM artefacts WHERE flow = ? AND status = 'pending' "
            "ORDER BY run_id, name",
            (flow,),
        )
        return [row["name"] for row in rows]

    def held_artefacts(self, flow: str) -> list[HeldArtefact]:
        """A flow's artefacts still to build and store, oldest run first."""
        rows = self._db.execute(
            "SELECT flow, run_id, name, recipe FROM artefacts WHERE flow = ? "
            "AND status = 'pending' ORDER BY run_id, name",
            (flow,),
        )
        return [
            HeldArtefact(row["flow"], int(row["run_id"]), row["name"], bytes(row["recipe"]))
            for row in rows
        ]

    @_writes
    def artefact_tried(self, flow: str, run_id: int, name: str, now: datetime) -> None:
        """An owed artefact's store failed again at ``now`` (the daemon waits before the next)."""
        self._db.execute(
            "UPDATE artefacts SET updated_at = ? WHERE flow = ? AND run_id = ? AND name = ? "
            "AND status = 'pending'",
            (now.isoformat(), flow, run_id, name),
        )

    def artefacts_last_tried(self) -> dict[str, datetime]:
        """Per flow that still owes an artefact, when one of them was last tried (or
        recorded): the daemon's outbox worker stores them between runs, backing off."""
        rows = self._db.execute("SELECT flow, updated_at FROM artefacts WHERE status = 'pending'")
        last: dict[str, datetime] = {}
        for row in rows:
            tried = datetime.fromisoformat(row["updated_at"])
            last[row["flow"]] = max(tried, last.get(row["flow"], tried))
        return last

    @_writes
    def artefact_done(
        self, flow: str, run_id: int, name: str, status: str, location: str | None, now: datetime
    ) -> None:
        """The artefact is ``stored`` at ``location`` (or ``dropped``: it cannot be built);
        either way its recipe is no longer kept."""
        self._db.execute(
            "UPDATE artefacts SET status = ?, location = ?, recipe = NULL, "
            "updated_at = ? WHERE flow = ? AND run_id = ? AND name = ?",
            (status, location, now.isoformat(), flow, run_id, name),
        )

    # flow health ----------------------------------------------------------
    def health(self, flow: str) -> Health:
        """The flow's failure streak."""
        row = self._db.execute("SELECT * FROM flow_health WHERE flow = ?", (flow,)).fetchone()
        if row is None:
            return Health(flow)
        since = row["failing_since"]
        return Health(
            flow,
            datetime.fromisoformat(since) if since else None,
            int(row["failures"]),
            row["last_error"],
            bool(row["alerted"]),
        )

    @_writes
    def save_health(self, health: Health, now: datetime) -> None:
        """Store the flow's failure streak."""
        self._db.execute(
            "INSERT INTO flow_health (flow, failing_since, failures, last_error, alerted, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (flow) DO UPDATE SET "
            "failing_since = excluded.failing_since, failures = excluded.failures, "
            "last_error = excluded.last_error, alerted = excluded.alerted, "
            "updated_at = excluded.updated_at",
            (
                health.flow,
                health.failing_since.isoformat() if health.failing_since else None,
                health.failures,
                health.last_error,
                int(health.alerted),
                now.isoformat(),
            ),
        )

    def last_runs(self) -> dict[str, dict[str, Any]]:
        """The newest finished run of each flow: status, time and report number."""
        rows = self._db.execute(
            "SELECT flow, status, now, finished_at, report_number FROM runs WHERE id IN "
            "(SELECT MAX(id) FROM runs WHERE finished_at IS NOT NULL GROUP BY flow)"
        )
        return {row["flow"]: dict(row) for row in rows}

    def get_entry(self, key: str) -> OutboxEntry | None:
        """One outbox entry by key."""
        row = self._db.execute("SELECT * FROM outbox WHERE key = ?", (key,)).fetchone()
        return None if row is None else _entry(row)

    @_writes
    def mark(
        self,
        key: str,
        status: str,
        now: datetime,
        *,
        location: str | None = None,
        error: str | None = None,
        attempt: bool = False,
    ) -> None:
        """Move an outbox entry to a new status."""
        self._db.execute(
            "UPDATE outbox SET status = ?, updated_at = ?, location = COALESCE(?, location), "
            "last_error = ?, attempts = attempts + ?, not_before = NULL, "
            "delivered_at = CASE WHEN ? = 'sent' THEN ? ELSE delivered_at END WHERE key = ?",
            (
                status,
                now.isoformat(),
                scrub(location) if location else location,
                scrub(error) if error else error,
                int(attempt),
                status,
                now.isoformat(),
                key,
            ),
        )

    # incidents ------------------------------------------------------------
    @_writes
    def open_incident(
        self, flow: str, name: str, workbook: str, web_url: str | None, now: datetime
    ) -> int:
        """Record a new incident of ``flow`` and start its reporting afresh: no workbook
        version seen, 第1報 next, no sheet fingerprints or stored readings. Returns its id."""
        row = self._db.execute(
            "INSERT INTO incidents (flow, name, opened_at, workbook, web_url) "
            "VALUES (?, ?, ?, ?, ?) RETURNING id",
            (flow, name, now.isoformat(), workbook, web_url),
        ).fetchone()
        self.save_flow_state(flow, None, 0, now)
        self._db.execute("DELETE FROM sheet_fingerprints WHERE flow = ?", (flow,))
        self._db.execute("DELETE FROM sheet_readings WHERE flow = ?", (flow,))
        return int(row["id"])

    def incidents(self, flow: str | None = None) -> list[Incident]:
        """Incidents, oldest first (of one flow, or all), with their first and last report."""
        sql = (
            "SELECT i.*, (SELECT MIN(number) FROM reports r WHERE r.flow = i.flow "
            "AND r.incident = i.id) AS first_number, (SELECT MAX(number) FROM reports r "
            "WHERE r.flow = i.flow AND r.incident = i.id) AS last_number FROM incidents i"
        )
        args: tuple[Any, ...] = ()
        if flow:
            sql += " WHERE i.flow = ?"
            args = (flow,)
        return [_incident(row) for row in self._db.execute(sql + " ORDER BY i.id", args)]

    def current_incident(self, flow: str) -> Incident | None:
        """The newest incident of ``flow`` (open or closed), or None if it never had one."""
        found = self.incidents(flow)
        return found[-1] if found else None

    @_writes
    def mark_closing(self, incident_id: int, now: datetime) -> None:
        """``incident close`` began: the next run of the flow issues the final report."""
        self._db.execute(
            "UPDATE incidents SET closing_at = COALESCE(closing_at, ?) WHERE id = ?",
            (now.isoformat(), incident_id),
        )

    @_writes
    def drop_queued(self, flow: str, occasion_prefix: str, reason: str, now: datetime) -> int:
        """Give up the messages of ``flow`` whose occasion starts with ``occasion_prefix`` and
        that never left (``pending``, or ``failed`` with a definite answer): each becomes
        ``dead`` with ``reason``. One that may have left (``sending``, ``uncertain``) is left
        to be reconciled. Returns how many were dropped."""
        cursor = self._db.execute(
            "UPDATE outbox SET status = 'dead', last_error = ?, updated_at = ?, not_before = NULL "
            "WHERE flow = ? AND status IN ('pending', 'failed') "
            "AND substr(occasion, 1, ?) = ?",
            (reason, now.isoformat(), flow, len(occasion_prefix), occasion_prefix),
        )
        return int(cursor.rowcount)

    @_writes
    def close_incident(self, incident_id: int, archived: str | None, now: datetime) -> None:
        """The incident is over: keep where its workbook went and its report numbers."""
        self._db.execute(
            "UPDATE incidents SET closed_at = ?, archived = ?, "
            "first_report = (SELECT MIN(number) FROM reports r WHERE r.incident = incidents.id "
            "AND r.flow = incidents.flow), "
            "last_report = (SELECT MAX(number) FROM reports r WHERE r.incident = incidents.id "
            "AND r.flow = incidents.flow) WHERE id = ?",
            (now.isoformat(), archived, incident_id),
        )

    # console: reports, accounts and the audit log --------------------------
    def report_flows(self) -> list[str]:
        """Flows that have issued at least one report or opened an incident, by name (a
        flow whose first incident is open before its first report waits for it)."""
        rows = self._db.execute(
            "SELECT flow FROM reports UNION SELECT flow FROM incidents ORDER BY flow"
        )
        return [str(row["flow"]) for row in rows]

    def reports(
        self, flow: str, limit: int = 200, incident: int | None = None
    ) -> list[dict[str, Any]]:
        """The summaries (totals, no per-sheet figures) of the reports of one incident of a
        flow, newest first: its current incident (see ``LATEST_INCIDENT``) unless
        ``incident`` gives an id (0: the reports issued outside any incident); each names
        its ``incident`` (None for reports issued before the flow had incidents)."""
        which, args = _incident_clause(flow, incident)
        rows = self._db.execute(
            "SELECT COALESCE(summary, snapshot) AS data, incidents.name AS incident "
            "FROM reports LEFT JOIN incidents ON incidents.id = reports.incident "
            f"WHERE reports.flow = ? AND reports.incident = {which} "
            "ORDER BY number DESC LIMIT ?",
            (flow, *args, limit),
        )
        return [{**json.loads(row["data"]), "incident": row["incident"]} for row in rows]

    def report_incidents(self, flow: str, number: int) -> list[int]:
        """The incidents (ids, newest first; 0: outside any incident) in which ``flow``
        issued a report numbered ``number``: one, unless numbering restarted since."""
        rows = self._db.execute(
            "SELECT incident FROM reports WHERE flow = ? AND number = ? ORDER BY incident DESC",
            (flow, number),
        )
        return [int(row["incident"]) for row in rows]

    def report_record(
        self, flow: str, number: int, incident: int | None = None
    ) -> dict[str, Any] | None:
        """The run record of the run that issued a report (of the flow's current incident,
        or of the incident with id ``incident``), if it has one; its artefacts where they
        were stored (also when a later run stored one the issuing run owed)."""
        return self._report_records(flow, incident, number).get(number)

    def report_records(self, flow: str, incident: int | None = None) -> dict[int, dict[str, Any]]:
        """``report_record`` of every report of one incident (as ``reports`` chooses it),
        by report number, read in two queries."""
        return self._report_records(flow, incident, None)

    def _report_records(
        self, flow: str, incident: int | None, number: int | None
    ) -> dict[int, dict[str, Any]]:
        which, args = _incident_clause(flow, incident)
        where = f"WHERE reports.flow = ? AND reports.incident = {which}"
        params: tuple[Any, ...] = (flow, *args)
        if number is not None:
            where += " AND reports.number = ?"
            params += (number,)
        records: dict[int, dict[str, Any]] = {}
        runs: dict[int, int] = {}
        for row in self._db.execute(
            "SELECT reports.number AS number, runs.id AS run_id, runs.record AS record "
            f"FROM reports JOIN runs ON runs.id = reports.run_id {where}",
            params,
        ):
            record = _record(row["record"])
            if record is not None:
                records[int(row["number"])] = record
                runs[int(row["run_id"])] = int(row["number"])
        stored: dict[int, list[dict[str, Any]]] = {}
        for row in self._db.execute(
            "SELECT artefacts.run_id AS run_id, artefacts.name AS name, "
            "artefacts.location AS location FROM artefacts "
            "JOIN reports ON reports.run_id = artefacts.run_id "
            f"{where} AND artefacts.flow = reports.flow AND artefacts.status = 'stored' "
            "ORDER BY artefacts.name",
            params,
        ):
            found = {"name": row["name"], "location": row["location"]}
            stored.setdefault(int(row["run_id"]), []).append(found)
        for run_id, artefacts in stored.items():
            if run_id in runs:
                records[runs[run_id]]["artefacts"] = artefacts
        return records

    @_writes
    def save_user(self, name: str, password_hash: str, role: str, now: datetime) -> None:
        """Create or replace a console account."""
        self._db.execute(
            "INSERT INTO console_users (name, password_hash, role, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, "
            "role = excluded.role",
            (name, password_hash, role, now.isoformat()),
        )

    def user(self, name: str) -> tuple[str, str] | None:
        """(password hash, role) of a console account, or None."""
        row = self._db.execute(
            "SELECT password_hash, role FROM console_users WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else (str(row["password_hash"]), str(row["role"]))

    @_writes
    def audit(self, who: str, action: str, target: str, outcome: str, now: datetime) -> None:
        """Record one operator action: who did what to which thing, and how it ended."""
        self._db.execute(
            "INSERT INTO audit_log (at, who, action, target, outcome) VALUES (?, ?, ?, ?, ?)",
            (now.isoformat(), who, action, target, scrub(outcome)),
        )

    def audit_log(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest operator actions first."""
        rows = self._db.execute("SELECT * FROM audit_log ORDER BY id DESC LIMIT ?", (limit,))
        return [dict(row) for row in rows]


def _incident_clause(flow: str, incident: int | None) -> tuple[str, tuple[Any, ...]]:
    """The SQL for "the reports' incident" and its arguments: the flow's current incident
    (``LATEST_INCIDENT``) when ``incident`` is None, else that id."""
    return (LATEST_INCIDENT, (flow,)) if incident is None else ("?", (incident,))


def _record(text: str | None) -> dict[str, Any] | None:
    """A stored run record as a dict, or None (none kept, or not a JSON object)."""
    if not text:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _entry(row: Row) -> OutboxEntry:
    return OutboxEntry(
        key=row["key"],
        flow=row["flow"],
        run_id=row["run_id"],
        kind=row["kind"],
        audience=row["audience"],
        channel=row["channel"],
        recipient=row["recipient"],
        recipient_label=row["recipient_label"],
        subject=row["subject"],
        bodies=json.loads(row["bodies"]),
        attachments=tuple(json.loads(row["attachments"])),
        digest=row["digest"],
        occasion=row["occasion"] or "",
        status=row["status"],
        attempts=row["attempts"],
        location=row["location"],
        last_error=row["last_error"],
        not_before=datetime.fromisoformat(row["not_before"]) if row["not_before"] else None,
        payload=json.loads(row["payload"]) if row["payload"] else {},
        updated_at=datetime.fromisoformat(row["updated_at"]) if row["updated_at"] else None,
    )


def _incident(row: Row) -> Incident:
    def when(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    first, last = row["first_report"], row["last_report"]
    return Incident(
        id=int(row["id"]),
        flow=str(row["flow"]),
        name=str(row["name"]),
        opened_at=datetime.fromisoformat(row["opened_at"]),
        workbook=str(row["workbook"]),
        web_url=row["web_url"],
        closing_at=when(row["closing_at"]),
        closed_at=when(row["closed_at"]),
        archived=row["archived"],
        first_report=int(first) if first is not None else row["first_number"],
        last_report=int(last) if last is not None else row["last_number"],
    )


def _utc(moment: datetime) -> str:
    """A UTC timestamp that sorts as text (always with microseconds)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
