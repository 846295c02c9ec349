"""Login rate limiting: a few failed attempts per name and address in a sliding window."""

from __future__ import annotations

from collections import OrderedDict, deque

MAX_FAILURES = 5
WINDOW_SECONDS = 300.0


class LoginLimiter:
    """Counts failed sign-ins per key; time is passed in. Keys are kept in the order of
    their last failure, so those whose failures all left the window are dropped from the
    front: names an attacker makes up do not pile up in memory."""

    def __init__(self, limit: int = MAX_FAILURES, window: float = WINDOW_SECONDS) -> None:
        self.limit = limit
        self.window = window
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        """How many keys have failures in memory."""
        return len(self._failures)

    def blocked(self, key: str, now: float) -> bool:
        """True when the key has used up its failed attempts in the window."""
        self._forget(now)
        failures = self._failures.get(key)
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures is not None and len(failures) >= self.limit

    def failed(self, key: str, now: float) -> None:
        """Count one failed attempt."""
        self._failures.setdefault(key, deque()).append(now)
        self._failures.move_to_end(key)

    def succeeded(self, key: str) -> None:
        """Forget the failures of a key that signed in."""
        self._failures.pop(key, None)

    def _forget(self, now: float) -> None:
        while self._failures:
            key, failures = next(iter(self._failures.items()))
            if failures and failures[-1] > now - self.window:
                return
            del self._failures[key]
