"""Login rate limiting: a few failed attempts per name and address in a sliding window."""

from __future__ import annotations

from collections import defaultdict, deque

MAX_FAILURES = 5
WINDOW_SECONDS = 300.0


class LoginLimiter:
    """Counts failed sign-ins per key; time is passed in."""

    def __init__(self, limit: int = MAX_FAILURES, window: float = WINDOW_SECONDS) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def blocked(self, key: str, now: float) -> bool:
        """True when the key has used up its failed attempts in the window."""
        failures = self._failures[key]
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return len(failures) >= self.limit

    def failed(self, key: str, now: float) -> None:
        """Count one failed attempt."""
        self._failures[key].append(now)

    def succeeded(self, key: str) -> None:
        """Forget the failures of a key that signed in."""
        self._failures.pop(key, None)
