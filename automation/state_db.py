"""The connection under the state store: SQLite (one file, the default) or PostgreSQL (a
database several daemons share, for an active/standby pair), chosen by ``state.url``.

The store writes one SQL text for both; this module bridges what differs: the parameter
style (``?`` here, ``%s`` for psycopg), transactions, where the schema version is kept
(``PRAGMA user_version`` / a ``schema_version`` table) and the few DDL words of migrations.
Passwords never leave this module: :func:`safe_url` is what messages and logs show.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from automation.errors import ConfigError, TransientError

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
PG_SCHEMES = ("postgresql", "postgresql+psycopg", "postgres")
MIGRATION_LOCK = 7_316_001  # pg_advisory_xact_lock key: one daemon migrates at a time


class Row(Protocol):
    """A result row read by column name or position (sqlite3.Row and PgRow)."""

    def __getitem__(self, key: str | int) -> Any: ...

    def keys(self) -> list[str]: ...


class PgRow(dict[str, Any]):
    """A psycopg row shaped like sqlite3.Row: by name, by position, ``dict(row)``."""

    def __init__(self, names: Sequence[str], values: Sequence[Any]) -> None:
        super().__init__(zip(names, values, strict=True))
        self._values = tuple(values)

    def __getitem__(self, key: str | int) -> Any:
        return self._values[key] if isinstance(key, int) else super().__getitem__(key)


def is_postgresql(url: str) -> bool:
    """Whether ``url`` names a PostgreSQL database."""
    return urlsplit(url).scheme in PG_SCHEMES


def safe_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages, logs and records), the
    one before the host and a ``password=`` among the query parameters alike."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if parts.password is None and all(name != "password" for name, _ in query):
        return url  # as written: urlunsplit would turn sqlite:////abs into sqlite://abs
    if parts.password is not None:
        netloc = parts.netloc.rsplit("@", 1)
        user = netloc[0].split(":", 1)[0]
        parts = parts._replace(netloc=f"{user}:***@{netloc[1]}")
    if parts.query:
        masked = [(name, "***" if name == "password" else value) for name, value in query]
        parts = parts._replace(query=urlencode(masked, safe="*/:,"))
    return urlunsplit(parts)


def url_secrets(url: str) -> list[str]:
    """The password of ``url`` as written and as decoded (what a message must never show)."""
    parts = urlsplit(url)
    written = [parts.password] if parts.password else []
    written += [v for n, v in parse_qsl(parts.query, keep_blank_values=True) if n == "password"]
    found = {form for secret in written for form in (secret, unquote(secret)) if form}
    return sorted(found, key=len, reverse=True)  # the longer first, so no part of it is left


def _masked(text: str, url: str) -> str:
    for secret in url_secrets(url):
        text = text.replace(secret, "***")
    return text


def connect_args(url: str, connect_timeout: int = 10) -> dict[str, Any]:
    """psycopg's connection parameters from a PostgreSQL URL: host, port, user, password and
    database, then every query parameter as given (``sslmode``, ``sslrootcert``,
    ``connect_timeout``, ``application_name``, ``target_session_attrs``, ...)."""
    parts = urlsplit(url)
    args: dict[str, Any] = {
        "host": parts.hostname or "localhost",
        "port": parts.port or 5432,
        "user": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "dbname": unquote(parts.path.lstrip("/")) or None,
        "connect_timeout": connect_timeout,
        "application_name": "automation",
    }
    args.update(parse_qsl(parts.query, keep_blank_values=True))
    return args


def url_host(url: str) -> str:
    """host:port of a PostgreSQL URL (what an operator checks first)."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"


class Database:
    """One connection to the state database, SQLite or PostgreSQL."""

    dialect: str
    where: str  # the file or the URL without its password

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        """Run one statement (``?`` placeholders) and return its cursor."""
        raise NotImplementedError

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each row of arguments."""
        raise NotImplementedError

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all."""
        raise NotImplementedError
        yield  # pragma: no cover

    def version(self) -> int:
        """The schema version of the database (0 when empty)."""
        raise NotImplementedError

    def set_version(self, version: int) -> None:
        """Record the schema version (inside the migration's transaction)."""
        raise NotImplementedError

    def ddl(self, statement: str) -> str:
        """A migration statement in this dialect."""
        return statement

    def lock_migrations(self) -> None:
        """Keep other processes from migrating at the same time (inside a transaction)."""

    def close(self) -> None:
        """Close the connection."""
        raise NotImplementedError


class Cursor(Protocol):
    """What the store reads from an executed statement."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class SqliteDatabase(Database):
    """The single-file database (mode 0600), in WAL mode."""

    dialect = SQLITE

    def __init__(self, path: Path) -> None:
        import os  # noqa: PLC0415  # only the file case creates a file

        self.where = str(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=10000")

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        return self._db.execute(sql, tuple(args))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._db.executemany(sql, rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def set_version(self, version: int) -> None:
        self._db.execute(f"PRAGMA user_version = {int(version)}")

    def close(self) -> None:
        self._db.close()


class PostgresDatabase(Database):
    """A PostgreSQL database over psycopg 3; statements outside a transaction autocommit."""

    dialect = POSTGRESQL

    def __init__(self, url: str, connect_timeout: int = 10) -> None:
        import psycopg  # noqa: PLC0415  # only PostgreSQL deployments load the driver

        self.where = safe_url(url)
        try:
            self._db = psycopg.connect(autocommit=True, **connect_args(url, connect_timeout))
        except (psycopg.OperationalError, psycopg.ProgrammingError) as err:
            raise unreachable(url, err) from None
        self._db.row_factory = _pg_row_factory

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        with self._lost():
            return self._db.execute(_pg_sql(sql) if args else sql, tuple(args) or None)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self._lost(), self._db.cursor() as cursor:
                cursor.executemany(_pg_sql(sql), [tuple(r) for r in rows])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lost(), self._db.transaction():
            yield

    @contextmanager
    def _lost(self) -> Iterator[None]:
        """A connection that broke mid-run ends the run ``transient`` (the next one retries)."""
        import psycopg  # noqa: PLC0415

        try:
            yield
        except (psycopg.OperationalError, psycopg.InterfaceError) as err:
            raise connection_lost(self.where, err) from None

    def version(self) -> int:
        # pg_tables, read with the statement's snapshot: to_regclass may answer from a cache
        # that does not yet know a table another daemon's migration just committed.
        found = self._db.execute(
            "SELECT 1 FROM pg_catalog.pg_tables "
            "WHERE schemaname = current_schema() AND tablename = 'schema_version'"
        ).fetchone()
        if found is None:
            return 0
        row = self._db.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0] or 0) if row is not None else 0

    def set_version(self, version: int) -> None:
        self._db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        self._db.execute("DELETE FROM schema_version")
        self._db.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))

    def lock_migrations(self) -> None:
        self._db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))

    def ddl(self, statement: str) -> str:
        statement = statement.replace(
            "INTEGER PRIMARY KEY AUTOINCREMENT",
            "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        )
        statement = statement.replace(" BLOB", " BYTEA")
        # SQLite orders the outbox by its implicit rowid; PostgreSQL needs the column written.
        return statement.replace("CREATE TABLE outbox (", "CREATE TABLE outbox (rowid BIGSERIAL,")

    def server_version(self) -> str:
        """The server's version, e.g. ``15.8``."""
        return str(self._db.info.parameter_status("server_version") or "unknown")

    def close(self) -> None:
        self._db.close()


def _pg_row_factory(cursor: Any) -> Any:
    names = [column.name for column in cursor.description or ()]
    return lambda values: PgRow(names, values)


_PLACEHOLDER = re.compile(r"\?")


def _pg_sql(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (the store writes no literal ``?`` or ``%``)."""
    return _PLACEHOLDER.sub("%s", sql)


def unreachable(url: str, err: Exception) -> ConfigError:
    """The start-up error for a PostgreSQL server that does not answer or refuses us."""
    reason = _masked(str(err), url).strip().splitlines()
    return ConfigError(
        f"cannot connect to the state database at {url_host(url)} ({safe_url(url)}): "
        f"{reason[0] if reason else type(err).__name__}; check that PostgreSQL runs there and "
        "accepts connections from this host (listen_addresses, pg_hba.conf, firewall), and "
        "that the user, database and password variable in state.url are right"
    )


def connection_lost(where: str, err: Exception) -> TransientError:
    """A run's error when the database went away mid-run (the next run retries)."""
    return TransientError(
        f"lost the connection to the state database {where}: {type(err).__name__}; the run "
        "stopped before sending anything it had not recorded, the next run retries"
    )


def open_database(target: Path | str) -> Database:
    """A connection to the state database at a file path, ``sqlite:///`` or PostgreSQL URL."""
    if isinstance(target, Path):
        return SqliteDatabase(target)
    if is_postgresql(target):
        return PostgresDatabase(target)
    parts = urlsplit(target)
    if parts.scheme == "sqlite":
        return SqliteDatabase(Path(unquote(target.split("sqlite:///", 1)[-1])))
    if not parts.scheme:
        return SqliteDatabase(Path(target))
    raise ConfigError(
        f"state.url {safe_url(target)!r} names neither SQLite nor PostgreSQL; write "
        "sqlite:///path/to/automation.sqlite or postgresql+psycopg://user:${PGPASSWORD}@host/db"
    )
