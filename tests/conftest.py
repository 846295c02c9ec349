"""Shared fixtures."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest
from hypothesis import settings

from automation.damage.catalogue import DEFAULT_CATALOGUE, Catalogue
from tests.pg_server import PgServer, pg_server

# No property spec fails for an example that ran slow (hypothesis's default deadline is
# 200 ms, which a loaded machine can pass on any example): each spec that sets its own
# settings says deadline=None too, and this covers one that forgets.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")


@pytest.fixture
def catalogue() -> Catalogue:
    """The default FDMA catalogue."""
    return DEFAULT_CATALOGUE


@pytest.fixture(scope="session")
def pg() -> Iterator[PgServer]:
    """One throwaway PostgreSQL server for the whole session (each spec makes its database)."""
    with pg_server() as server:
        yield server


@pytest.fixture(scope="session", autouse=True)
def user_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Compiled templates go to a folder of the test session, not the user's ~/.cache (the
    commands the specs start as processes inherit it)."""
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if before is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = before


@pytest.fixture(autouse=True)
def no_kept_sheets() -> Iterator[None]:
    """Each spec's builds start with no 読取_ sheet kept by another spec's (the process's
    ``KEPT_SHEETS``; a spec that builds twice shares them, as a daemon's builds do)."""
    yield
    kept = sys.modules.get("automation.merged_workbook")
    if kept is not None:
        kept.KEPT_SHEETS.clear()
