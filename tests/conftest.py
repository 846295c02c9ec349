"""Shared fixtures."""

from __future__ import annotations

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
