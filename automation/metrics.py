"""Counters the daemon exposes at /metrics (Prometheus text format) and /healthz.

Plain in-process counters: a daemon is one process, and the figures an operator watches
(runs, failures, deliveries, Graph requests, throttling waits) fit in a few dictionaries.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Metrics:
    """Counters since the daemon started."""

    runs: Counter[tuple[str, str]] = field(default_factory=Counter)  # (flow, status)
    deliveries: Counter[tuple[str, str]] = field(default_factory=Counter)  # (channel, status)
    graph_requests: int = 0
    throttled_responses: int = 0
    throttle_wait_seconds: float = 0.0

    def render(self, outbox: dict[str, int], up: bool) -> str:
        """The Prometheus exposition text."""
        lines = [
            "# HELP automation_up Whether the scheduler is running.",
            "# TYPE automation_up gauge",
            f"automation_up {int(up)}",
            "# HELP automation_runs_total Flow runs by outcome.",
            "# TYPE automation_runs_total counter",
        ]
        lines += [
            f'automation_runs_total{{flow="{f}",status="{s}"}} {n}'
            for (f, s), n in sorted(self.runs.items())
        ]
        lines += [
            "# HELP automation_run_failures_total Failed flow runs.",
            "# TYPE automation_run_failures_total counter",
        ]
        failures: Counter[str] = Counter()
        for (flow, status), count in self.runs.items():
            if status == "failed":
                failures[flow] += count
        lines += [
            f'automation_run_failures_total{{flow="{f}"}} {n}' for f, n in sorted(failures.items())
        ]
        lines += [
            "# HELP automation_deliveries_total Delivery attempts by channel and outcome.",
            "# TYPE automation_deliveries_total counter",
        ]
        lines += [
            f'automation_deliveries_total{{channel="{c}",status="{s}"}} {n}'
            for (c, s), n in sorted(self.deliveries.items())
        ]
        lines += [
            "# HELP automation_outbox_messages Messages in the outbox by status.",
            "# TYPE automation_outbox_messages gauge",
        ]
        lines += [
            f'automation_outbox_messages{{status="{s}"}} {n}' for s, n in sorted(outbox.items())
        ]
        lines += [
            "# HELP automation_graph_requests_total HTTP requests sent to Microsoft Graph.",
            "# TYPE automation_graph_requests_total counter",
            f"automation_graph_requests_total {self.graph_requests}",
            "# HELP automation_graph_throttled_total Responses 429/503 (throttled or busy).",
            "# TYPE automation_graph_throttled_total counter",
            f"automation_graph_throttled_total {self.throttled_responses}",
            "# HELP automation_throttle_wait_seconds_total Time waited for Retry-After and pacing.",
            "# TYPE automation_throttle_wait_seconds_total counter",
            f"automation_throttle_wait_seconds_total {self.throttle_wait_seconds:.3f}",
        ]
        return "\n".join(lines) + "\n"


METRICS = Metrics()
