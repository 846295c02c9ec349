"""Login rate limiting in sliding windows: a few failed attempts per name and address,
and a few more per address whatever the names (password spraying: one password tried
against many names from one place)."""

from __future__ import annotations

from collections import OrderedDict, deque

MAX_FAILURES = 5  # per name and address
MAX_ADDRESS_FAILURES = 20  # per address, any names
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


class SignInLimits:
    """Both limits of the sign-in form. A blocked attempt is refused the same way whether
    its name exists or not, and without checking the password. Signing in clears the
    name's failures only: an attacker's own account must not reset the address's count."""

    def __init__(
        self,
        per_name: LoginLimiter | None = None,
        per_address: LoginLimiter | None = None,
    ) -> None:
        self.per_name = per_name or LoginLimiter(MAX_FAILURES, WINDOW_SECONDS)
        self.per_address = per_address or LoginLimiter(MAX_ADDRESS_FAILURES, WINDOW_SECONDS)

    def blocked(self, name: str, address: str, now: float) -> bool:
        """True when the address, or this name from this address, used up its attempts."""
        by_address = self.per_address.blocked(address, now)
        return self.per_name.blocked(_key(name, address), now) or by_address

    def failed(self, name: str, address: str, now: float) -> None:
        """Count one failed attempt against both limits."""
        self.per_name.failed(_key(name, address), now)
        self.per_address.failed(address, now)

    def succeeded(self, name: str, address: str) -> None:
        """Forget the failures of a name that signed in from this address."""
        self.per_name.succeeded(_key(name, address))


def _key(name: str, address: str) -> str:
    return f"{name}\n{address}"
