"""Shared fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from automation.damage.catalogue import DEFAULT_CATALOGUE, Catalogue
from tests.pg_server import PgServer, pg_server


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
