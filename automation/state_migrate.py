"""``automation state migrate``: move a deployment's state from one database to another (e.g.
its SQLite file to the PostgreSQL a pair shares), keeping ids, report numbers and the outbox
with every message's status, so nothing is sent again or forgotten.

The scheduler's job table is not copied: ``serve`` rebuilds it from the configuration.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from automation.errors import ConfigError
from automation.state import Store
from automation.state_db import POSTGRESQL

# Parents before children (reports and outbox refer to runs); each with its queue order.
TABLES: tuple[tuple[str, str], ...] = (
    ("runs", "id"),
    ("incidents", "id"),
    ("flow_state", "flow"),
    ("reports", "flow, incident, number"),
    ("report_figures", "flow, digest"),
    ("sheet_fingerprints", "flow, department"),
    ("sheet_readings", "flow, department"),
    ("outbox", "created_at, rowid"),
    ("lookups", "key"),
    ("flow_health", "flow"),
    ("console_users", "name"),
    ("audit_log", "id"),
    ("artefacts", "run_id, name"),
)
IDENTITY = (("runs", "id"), ("incidents", "id"), ("audit_log", "id"), ("outbox", "rowid"))
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand(url: str) -> str:
    """``${NAME}`` in a URL replaced from the environment (a password stays off the command
    line and out of the shell history); an unset variable is an error naming it."""

    def value(match: re.Match[str]) -> str:
        name = match[1]
        if name not in os.environ:
            raise ConfigError(f"environment variable {name} is not set; export it and run again")
        return os.environ[name]

    return ENV_REF.sub(value, url)


def target_of(text: str) -> Path | str:
    """A command-line database: a URL, or a plain path to a SQLite file."""
    return text if "://" in text else Path(text)


def migrate_state(source: Path | str, target: Path | str) -> dict[str, int]:
    """Copy every table from ``source`` into the empty ``target``; rows per table."""
    if isinstance(source, Path) and not source.is_file():
        raise ConfigError(f"no state database at {source}; give the file --from names")
    moved: dict[str, int] = {}
    with Store(source) as src, Store(target) as dst:
        held = {t: _count(dst, t) for t, _ in TABLES}
        if any(held.values()):
            filled = ", ".join(f"{n} {t}" for t, n in held.items() if n)
            raise ConfigError(
                f"the target database {dst.where} already holds state ({filled}); migrate "
                "into an empty database, or drop and recreate it first"
            )
        with dst.transaction():
            for table, order in TABLES:
                moved[table] = _copy(src, dst, table, order)
            if dst.dialect == POSTGRESQL:
                for table, column in IDENTITY:
                    dst.database.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                        f"COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
                    )
    return moved


def _count(store: Store, table: str) -> int:
    return int(store.database.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def _copy(src: Store, dst: Store, table: str, order: str) -> int:
    rows = src.database.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
    if not rows:
        return 0
    columns = [c for c in rows[0].keys() if c != "rowid"]  # noqa: SIM118  # sqlite3.Row iterates values
    marks = ", ".join("?" for _ in columns)
    dst.database.executemany(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
        [tuple(row[c] for c in columns) for row in rows],
    )
    return len(rows)
