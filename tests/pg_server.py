"""A throwaway PostgreSQL server for specs and trials: the distribution's binaries, a temporary
data folder and a port held for it (``tests.ports``), stopped at the end. It never skips: when
the server cannot start, the error says why and how to install it (``make postgres``).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.ports import held_port

PASSWORD = "spec-only-password"  # a throwaway server's; never a real one
USER = "automation"


@dataclass(frozen=True)
class PgServer:
    """A running server and how to reach it."""

    port: int
    data: Path

    def url(self, database: str = "postgres", password: str | None = PASSWORD) -> str:
        """A ``state.url`` for ``database`` on this server."""
        secret = f":{password}" if password else ""
        return f"postgresql+psycopg://{USER}{secret}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh empty database's URL (one per spec keeps specs independent)."""
        import psycopg  # noqa: PLC0415

        name = f"spec_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=USER,
            password=PASSWORD,
            dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]  # name built here
        return self.url(name)


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path:
        return on_path
    raise RuntimeError(
        f"PostgreSQL's {name} was not found (looked in /usr/lib/postgresql/*/bin and PATH); "
        "the state specs need a real server: run `make postgres` (apt-get install postgresql)"
    )


def _as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run it as the distribution's postgres user."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _run(args: list[str], what: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}): {done.stderr.strip()[-800:]}")


@contextmanager
def pg_server() -> Iterator[PgServer]:
    """Start a server on a temporary folder and a held port; stop and delete it after."""
    root = Path(tempfile.mkdtemp(prefix="automation-pg-"))
    data, pwfile = root / "data", root / "pw"
    pwfile.write_text(PASSWORD + "\n", encoding="utf-8")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(pwfile, "postgres")
    _run(
        _as_postgres(
            [
                _bin("initdb"),
                "-D",
                str(data),
                "-U",
                USER,
                f"--pwfile={pwfile}",
                "-A",
                "scram-sha-256",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ]
        ),
        "initdb",
    )
    with held_port() as port:  # held until the server stops: nobody else is handed it
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        options += " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        start = [_bin("pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-o", options]
        _run(_as_postgres([*start, "-w", "start"]), "starting PostgreSQL")
        try:
            yield PgServer(port, data)
        finally:
            subprocess.run(
                _as_postgres([_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                capture_output=True,
                check=False,
            )
            shutil.rmtree(root, ignore_errors=True)
