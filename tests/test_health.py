"""Specs for the health endpoint: it shows whatever its health source reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from automation.health import answer


@dataclass
class Source:
    """A health source that is not the daemon (a console, say)."""

    status: str = "ok"
    metrics: str = "console_up 1\n"
    extra: dict[str, Any] = field(default_factory=dict)

    def health(self) -> dict[str, Any]:
        return {"status": self.status, **self.extra}

    def metrics_text(self) -> str:
        return self.metrics


def test_healthz_shows_the_sources_health_as_json() -> None:
    """/healthz answers 200 with the source's health when its status is ok."""
    status, kind, body = answer(Source(extra={"sessions": 2}), "GET", "/healthz")
    assert (status, kind) == (200, "application/json")
    assert body == b'{"status": "ok", "sessions": 2}'


def test_healthz_answers_503_when_the_source_is_not_ok() -> None:
    """/healthz answers 503 when the source's status is anything but ok."""
    status, _, body = answer(Source(status="stopping"), "GET", "/healthz")
    assert status == 503 and body == b'{"status": "stopping"}'


def test_metrics_shows_the_sources_metrics_text() -> None:
    """/metrics answers the source's Prometheus text as it is."""
    status, kind, body = answer(Source(), "GET", "/metrics")
    assert (status, kind, body) == (200, "text/plain; version=0.0.4", b"console_up 1\n")


def test_other_methods_and_paths_are_refused() -> None:
    """Only GET is answered (405 otherwise), and only /healthz and /metrics (404 otherwise)."""
    assert answer(Source(), "POST", "/healthz")[0] == 405
    assert answer(Source(), "GET", "/")[0] == 404
