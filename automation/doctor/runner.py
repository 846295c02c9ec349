"""Run the doctor's checks on a configuration and print their rows."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from pathlib import Path
from typing import TextIO

from automation.backends.graph.backend import token_source
from automation.backends.graph.gateway import GraphGateway, TokenSource
from automation.config.loader import ConfigValidationError, LoadedConfig
from automation.config.models import GraphBackend, GraphLimits
from automation.configuration import load_config
from automation.doctor.checks import GatewayFactory, GraphChecks, TokenFactory
from automation.doctor.design import local_design_rows
from automation.doctor.rows import Row
from automation.doctor.state import state_rows
from automation.doctor.table import format_table
from automation.errors import ConfigError


def default_gateway(base_url: str, tokens: TokenSource, limits: GraphLimits) -> GraphGateway:
    """A gateway on the real network (no remembered lookups: every probe asks Graph)."""
    return GraphGateway(base_url, tokens, limits=limits)


def default_tokens(backend: GraphBackend, base_dir: Path) -> TokenSource:
    """The app-only credential chosen in ``backend.auth``."""
    return token_source(backend.auth, backend.base_url, base_dir)


def run_doctor(
    loaded_or_path: LoadedConfig | Path,
    *,
    send_test: str | None,
    out: TextIO,
    gateway_factory: GatewayFactory = default_gateway,
    token_factory: TokenFactory = default_tokens,
    as_json: bool = False,
) -> int:
    """Run every check, print the rows; 0 all passed, 1 a check failed, 2 invalid config."""
    rows = check(
        loaded_or_path,
        send_test=send_test,
        gateway_factory=gateway_factory,
        token_factory=token_factory,
    )
    out.write(
        json.dumps([asdict(r) for r in rows], ensure_ascii=False, indent=2) + "\n"
        if as_json
        else format_table(rows)
    )
    if rows[0].result == "FAIL":
        return 2
    return 1 if any(r.result == "FAIL" for r in rows) else 0


def check(
    loaded_or_path: LoadedConfig | Path,
    *,
    send_test: str | None,
    gateway_factory: GatewayFactory = default_gateway,
    token_factory: TokenFactory = default_tokens,
) -> list[Row]:
    """The rows, in order; the first is the configuration's (checks stop if it fails)."""
    if isinstance(loaded_or_path, LoadedConfig):
        loaded = loaded_or_path
    else:
        try:
            loaded = load_config(loaded_or_path)
        except ConfigError as err:
            problems = err.problems if isinstance(err, ConfigValidationError) else [err.message]
            return [
                Row(
                    "config",
                    str(loaded_or_path),
                    "FAIL",
                    "\n".join(str(p) for p in problems),
                    "fix each problem at its line, then run `automation validate -c FILE`",
                )
            ]
    backend = loaded.config.backend
    if not isinstance(backend, GraphBackend):
        return [
            Row(
                "config",
                str(loaded.path),
                "OK",
                "local backend: nothing in Microsoft 365 to check",
            ),
            *asyncio.run(local_design_rows(loaded)),
            *state_rows(loaded),
        ]
    flows = len(loaded.config.flows)
    first = Row(
        "config",
        str(loaded.path),
        "OK",
        f"graph backend at {backend.base_url}; {flows} flow{'s' if flows != 1 else ''}",
    )
    return [
        first,
        *asyncio.run(GraphChecks(loaded, backend, gateway_factory).rows(send_test, token_factory)),
        *state_rows(loaded),
    ]
