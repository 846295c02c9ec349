"""Shared fixtures."""

from __future__ import annotations

import pytest

from automation.damage.catalogue import DEFAULT_CATALOGUE, Catalogue


@pytest.fixture
def catalogue() -> Catalogue:
    """The default FDMA catalogue."""
    return DEFAULT_CATALOGUE
