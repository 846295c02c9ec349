"""Specs for a standby's configuration: before it claims the lease it loads the files as
deployed now, so a change made while it stood by is what it leads with; an invalid one keeps
it from leading, with the error's FILE:LINE:COL, until the files change."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest

from automation.daemon import Daemon
from automation.demo import write_workspace
from automation.pair import LeaseKeeper
from automation.state import Lease, Store
from automation.timeutil import JST
from tests.pg_server import PASSWORD, PgServer

NOON = datetime(2026, 9, 1, 12, 0, tzinfo=JST)
EVERY_MINUTE = 'schedule: {cron: "* * * * *"}'


@pytest.fixture
def config(tmp_path: Path, pg: PgServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo workspace with its state on a fresh PostgreSQL database."""
    monkeypatch.setenv("SPEC_PGPASSWORD", PASSWORD)
    path = write_workspace(tmp_path / "ws")
    url = pg.new_database().replace(PASSWORD, "${SPEC_PGPASSWORD}")
    text = path.read_text(encoding="utf-8").replace(
        "  path: state/automation.sqlite",
        f"  path: state/automation.sqlite\n  url: '{url}'",
    )
    path.write_text(text, encoding="utf-8")
    return path


def edit(config: Path, old: str, new: str) -> None:
    """Deploy a change to the configuration file."""
    text = config.read_text(encoding="utf-8")
    assert old in text
    config.write_text(text.replace(old, new), encoding="utf-8")


def cron_of(daemon: Daemon) -> str:
    """The damage flow's schedule the daemon would run."""
    flow = daemon.loaded.config.flow("typhoon_damage")
    assert flow is not None and flow.schedule is not None
    return " | ".join(flow.schedule.cron or ())


def test_a_change_deployed_while_standing_by_is_what_the_standby_leads_with(
    config: Path,
) -> None:
    """Before claiming, the standby loads the edited files: it leads with the new schedule."""
    daemon = Daemon(config, clock=lambda: NOON)
    edit(config, EVERY_MINUTE, 'schedule: {cron: "*/5 * * * *"}')
    assert daemon.lead_refusal() is None
    assert cron_of(daemon) == "*/5 * * * *"


def test_an_invalid_configuration_keeps_the_standby_from_leading_until_fixed(
    config: Path,
) -> None:
    """An invalid edit is refused (FILE:LINE:COL); the standby stays standby until it is fixed."""
    daemon = Daemon(config, clock=lambda: NOON)
    edit(config, EVERY_MINUTE, 'schedule: {cron: "every minute"}')
    refusal = daemon.lead_refusal()
    assert refusal is not None
    assert refusal.startswith("the configuration is invalid; this daemon stays standby")
    assert f"{config}:" in refusal and "cron" in refusal
    assert daemon.lead_refusal() == refusal  # unchanged files: still refused, not re-read
    assert cron_of(daemon) == "* * * * *"  # the invalid version was not adopted
    edit(config, 'schedule: {cron: "every minute"}', 'schedule: {cron: "*/10 * * * *"}')
    assert daemon.lead_refusal() is None
    assert cron_of(daemon) == "*/10 * * * *"


def test_a_standby_that_must_not_lead_does_not_claim_the_lease(pg: PgServer) -> None:
    """While the refusal stands the lease stays unclaimed and the health section says why."""
    # the lease keeper only reads the lease
    url = pg.new_database()
    stopping = asyncio.Event()

    def refusal() -> str:
        stopping.set()  # one pass of the keeper is enough
        return "the configuration is invalid"

    async def gained(lease: Lease, previous: str | None) -> bool:
        raise AssertionError("a refusing standby gained the lead")

    async def lost(why: str) -> None:
        raise AssertionError("a refusing standby lost a lead it never had")

    keeper = LeaseKeeper(url, 10, lambda: NOON, gained, lost, refusal)
    asyncio.run(keeper.run(stopping))
    with Store(url) as store:
        assert store.lease() is None
    shown = keeper.role.as_dict()
    assert (shown["role"], shown["refused_to_lead"]) == ("standby", "the configuration is invalid")


def test_a_daemon_that_cannot_start_leading_gives_the_lease_up(pg: PgServer) -> None:
    """A daemon that wins the lease but cannot start leading releases it at once."""
    # so the other daemon need not wait for it to expire
    url = pg.new_database()
    stopping = asyncio.Event()

    async def gained(lease: Lease, previous: str | None) -> bool:
        stopping.set()  # one pass of the keeper is enough
        return False  # e.g. its scheduler could not read the job table

    whys: list[str] = []

    async def lost(why: str) -> None:
        whys.append(why)

    keeper = LeaseKeeper(url, 10, lambda: NOON, gained, lost)
    asyncio.run(keeper.run(stopping))
    with Store(url) as store:
        lease = store.lease()
    assert whys == ["it could not start leading (the error is above)"]
    assert lease is not None and lease.expires_at == NOON  # released when won
    assert (keeper.role.leader, keeper.role.changes) == (False, 2)
