"""Load a configuration completely: what ``config/`` checks, plus template overrides rendered.

``config/`` validates everything it can know by itself (schema, positions, cross-checks)
and imports nothing above it. Rendering a flow's template overrides needs the flows' sample
plans, so the check is passed in from here. Every command and the daemon load through
:func:`load_config`; jinja2 and the flows are imported only for a flow with ``templates``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path

from automation.config import loader
from automation.config.loader import LoadedConfig
from automation.config.models import DamageRollupFlow, Directory, ProgressCollectionFlow


def load_config(
    path: Path, environ: Mapping[str, str] | None = None, *, today: date | None = None
) -> LoadedConfig:
    """Read, validate and cross-check ``path``, template overrides included (``today``:
    the date round deadlines are checked against; default: today in JST)."""
    return loader.load_config(path, environ, template_check=check_templates, today=today)


def check_templates(
    flow: DamageRollupFlow | ProgressCollectionFlow, directory: Directory, folder: Path
) -> list[str]:
    """What is wrong with the overrides in ``folder`` for ``flow`` (jinja2: overrides only)."""
    from automation import templates_check  # noqa: PLC0415  # jinja2 and the flows

    return templates_check.check_templates(flow, directory, folder)
