"""Specs for the console's sign-in rate limit (time passed in)."""

from __future__ import annotations

from automation.console.ratelimit import LoginLimiter


def test_names_whose_failures_left_the_window_are_forgotten() -> None:
    """A stream of sign-ins under ever new names keeps only the window's keys in memory."""
    limiter = LoginLimiter(limit=5, window=300.0)
    for second in range(1000):
        limiter.blocked(f"name{second}|203.0.113.9", float(second))
        limiter.failed(f"name{second}|203.0.113.9", float(second))
    assert len(limiter) == 300


def test_a_name_is_still_blocked_within_the_window() -> None:
    """Five failures within the window block the key; once they left it, it may try again."""
    limiter = LoginLimiter(limit=5, window=300.0)
    for second in range(5):
        limiter.failed("sato|203.0.113.9", float(second))
    assert limiter.blocked("sato|203.0.113.9", 299.0)
    assert not limiter.blocked("sato|203.0.113.9", 305.0)
