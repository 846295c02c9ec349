"""The doctor's rows about the state database: reachable, its version, and the pair's lease.

Read-only: the database is opened without migrating it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from automation.config.loader import LoadedConfig
from automation.doctor.rows import Row, error_row, one_line
from automation.errors import AutomationError
from automation.state import LEASE, SCHEMA_VERSION
from automation.state_db import PostgresDatabase, open_database, safe_url


def state_rows(loaded: LoadedConfig, now: datetime | None = None) -> list[Row]:
    """On PostgreSQL (``state.url``): the database row and the lease row; a local SQLite
    file needs no check (the first run creates it, ``serve`` refuses a newer one)."""
    target = loaded.state_target
    if isinstance(target, Path):
        return []
    where = str(target) if isinstance(target, Path) else safe_url(target)
    try:
        db = open_database(target)
    except AutomationError as err:
        return [error_row("state", where, err)]
    try:
        version = db.version()
        kind = f"PostgreSQL {db.server_version()}" if isinstance(db, PostgresDatabase) else "SQLite"
        if version > SCHEMA_VERSION:
            return [
                Row(
                    "state",
                    where,
                    "FAIL",
                    f"{kind}, schema version {version}, newer than this program's {SCHEMA_VERSION}",
                    "upgrade the program on this host to the release the database was used with",
                )
            ]
        rows = [Row("state", where, "OK", f"{kind}, schema version {version} of {SCHEMA_VERSION}")]
        if isinstance(db, PostgresDatabase):
            rows.append(_lease_row(db, where, now or datetime.now(UTC)))
        return rows
    except AutomationError as err:
        return [error_row("state", where, err)]
    finally:
        db.close()


def _lease_row(db: PostgresDatabase, where: str, now: datetime) -> Row:
    found = db.execute(
        "SELECT 1 FROM pg_catalog.pg_tables "
        "WHERE schemaname = current_schema() AND tablename = 'leader_lease'"
    ).fetchone()
    if found is None:
        return Row("lease", where, "OK", "no daemon has served on this database yet")
    row = db.execute(
        "SELECT holder, token, expires_at FROM leader_lease WHERE name = ?", (LEASE,)
    ).fetchone()
    if row is None or not row["holder"]:
        return Row("lease", where, "OK", "no daemon has claimed the leader lease yet")
    expires = datetime.fromisoformat(row["expires_at"])
    left = (expires - now).total_seconds()
    if left <= 0:
        return Row(
            "lease",
            where,
            "FAIL",
            one_line(
                f"no daemon leads: the lease of {row['holder']} (token {row['token']}) "
                f"expired {-left:.0f} s ago"
            ),
            "start `automation serve` on the pair's hosts (or check why they stopped: their logs)",
        )
    return Row(
        "lease",
        where,
        "OK",
        f"{row['holder']} leads (fencing token {row['token']}; the lease runs {left:.0f} s more)",
    )
