"""A doctor row, and the row for a probe that Graph refused or that failed on the way."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import httpx

from automation.doctor.hints import Hint
from automation.errors import AutomationError
from automation.summary import clean_terminal

Result = Literal["OK", "WARN", "FAIL", "SKIP"]  # WARN: works, but differs from the plan


@dataclass(frozen=True)
class Row:
    """One check: what was checked, on what, the verdict, and what to do about a failure."""

    check: str
    target: str
    result: Result
    detail: str
    fix: str = ""
    see: str = ""


def refused(check: str, target: str, response: httpx.Response, hints: Mapping[int, Hint]) -> Row:
    """A FAIL row for a 401/403/404 answer: the hint, then what Graph said."""
    hint = hints.get(response.status_code)
    said = _graph_said(response)
    if hint is None:
        return Row(check, target, "FAIL", f"unexpected answer ({said})")
    return Row(check, target, "FAIL", f"{hint.detail} ({said})", hint.fix, hint.see)


def _graph_said(response: httpx.Response) -> str:
    from automation.backends.graph.errors import odata_error  # noqa: PLC0415  # small, local use

    code, message = odata_error(response)
    text = f"HTTP {response.status_code}" + (f" {code}" if code else "")
    return one_line(f"{text}: {message}" if message else text)


def error_row(check: str, target: str, err: AutomationError) -> Row:
    """A FAIL row for a failure the gateway mapped (throttling, network, unexpected status)."""
    return Row(check, target, "FAIL", one_line(err.message), err.action)


def one_line(text: str, limit: int = 300) -> str:
    """Text from Graph or an exception on one line, safe for a terminal, cut to ``limit``."""
    flat = " ".join(clean_terminal(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
