"""Specs for ``state.url`` on PostgreSQL: its query parameters reach the connection, and its
password, as written (percent-encoded) or decoded, appears in no error, doctor row or log."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from automation.config.loader import load_config
from automation.demo import write_workspace
from automation.doctor.state import state_rows
from automation.errors import ConfigError
from automation.redaction import REDACTOR, register
from automation.state import Store
from automation.state_db import safe_url, unreachable
from tests.pg_server import PgServer
from tests.ports import held_port

TRICKY = "Sp@c:e/p%ss-7"  # a password that must be percent-encoded in a URL
ENCODED = quote(TRICKY, safe="")


def tricky_url(pg: PgServer, port: int | None = None) -> str:
    """A database on ``pg`` (or on a ``port`` where nothing listens) for a user whose password
    holds reserved characters."""
    database = pg.new_database().rsplit("/", 1)[1]
    conninfo = pg.url().replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as db:
        found = db.execute("SELECT 1 FROM pg_roles WHERE rolname = 'tricky'").fetchone()
        if found is None:
            db.execute(f"CREATE ROLE tricky LOGIN SUPERUSER PASSWORD '{TRICKY}'")  # type: ignore[arg-type]  # a constant
    return f"postgresql+psycopg://tricky:{ENCODED}@127.0.0.1:{port or pg.port}/{database}"


def test_query_parameters_of_the_url_reach_the_connection(pg: PgServer) -> None:
    """application_name and connect_timeout in the URL are what the server sees."""
    url = pg.new_database() + "?application_name=pair-spec&connect_timeout=7"
    with Store(url) as store:
        row = store.database.execute("SELECT current_setting('application_name')").fetchone()
        assert row is not None and row[0] == "pair-spec"


def test_sslmode_in_the_url_is_honoured(pg: PgServer) -> None:
    """sslmode=require against a server without TLS is refused, not silently ignored."""
    with pytest.raises(ConfigError, match=r"(?i)ssl") as caught:
        Store(pg.new_database() + "?sslmode=require")
    assert "cannot connect to the state database at 127.0.0.1" in caught.value.message


def test_a_password_in_the_query_is_masked() -> None:
    """A ``password=`` query parameter is masked like the one before the host."""
    url = "postgresql+psycopg://a@db.example.lg.jp/s?sslmode=verify-full&password=hunter22"
    assert safe_url(url) == (
        "postgresql+psycopg://a@db.example.lg.jp/s?sslmode=verify-full&password=***"
    )


@pytest.mark.parametrize(
    "url", ["sqlite:////srv/automation/state.sqlite", "sqlite:////srv/state.sqlite?timeout=5"]
)
def test_a_url_without_a_password_is_shown_as_written(url: str) -> None:
    """A URL with nothing to mask is shown as written (an SQLite path keeps its four slashes)."""
    # so what a message shows can be copied into state.url
    assert safe_url(url) == url


def test_the_decoded_password_never_reaches_the_start_up_error() -> None:
    """An error that quotes the decoded password is masked, not only the URL's encoded form."""
    url = f"postgresql+psycopg://tricky:{ENCODED}@db.example.lg.jp:5432/s"
    message = unreachable(url, psycopg.OperationalError(f"bad password {TRICKY!r}")).message
    assert TRICKY not in message and ENCODED not in message and "***" in message


def test_a_password_with_reserved_characters_connects_and_is_shown_nowhere(
    pg: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A password with reserved characters signs in and is shown nowhere, in neither form."""
    # not in the store's name, the start-up error, the doctor's rows or a log line quoting it
    with Store(tricky_url(pg)) as store:
        assert TRICKY not in store.where and ENCODED not in store.where
    config = write_workspace(tmp_path / "ws")
    with held_port() as port:  # held: nobody listens there
        nowhere = tricky_url(pg, port=port)
        with pytest.raises(ConfigError) as caught:
            Store(nowhere)
        text = config.read_text(encoding="utf-8").replace(
            "  path: state/automation.sqlite",
            f"  path: state/automation.sqlite\n  url: '{nowhere.replace(ENCODED, '${SPEC_TRICKY}')}'",
        )
        config.write_text(text, encoding="utf-8")
        monkeypatch.setenv("SPEC_TRICKY", ENCODED)
        loaded = load_config(config)
        rows = state_rows(loaded)
    register(loaded.config.secrets())
    record = logging.LogRecord("spec", logging.ERROR, "", 0, "failed: %s", (TRICKY,), None)
    REDACTOR.filter(record)
    shown = [caught.value.message, record.getMessage(), *(str(r) for r in rows)]
    assert [s for s in shown if TRICKY in s or ENCODED in s] == []
    assert rows[0].result == "FAIL"
