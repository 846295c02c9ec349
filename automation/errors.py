"""Errors split by what the operator must do about them.

Every failure the service reports belongs to exactly one of these families:

- ``ConfigError``: fix the configuration (YAML, templates, directory) and run again.
- ``AuthError``: fix credentials, consent or permissions in Entra ID.
- ``TransientError``: nothing to fix; the same run later is expected to succeed.
- ``DataError``: the input data is bad; tell the people who own it (a department).

Lower-level exceptions are translated into these in one place per backend.
"""

from __future__ import annotations


class AutomationError(Exception):
    """Base class of every error the service reports to an operator."""

    action = "investigate"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(AutomationError):
    """The configuration is wrong; an admin must edit it."""

    action = "fix the configuration"


class NameConflictError(ConfigError):
    """Graph refused to create an item because one of that name exists (409
    ``nameAlreadyExists`` under conflictBehavior ``fail``); nothing was written."""


class AuthError(AutomationError):
    """Credentials, consent or permissions are missing or expired."""

    action = "fix authentication or permissions"


class TransientError(AutomationError):
    """A temporary failure (network, throttling, lock); retry later.

    ``retry_after`` is how long the service asked us to wait (seconds), when it said.
    """

    action = "retry later"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UncertainError(TransientError):
    """A send may have reached the service, but no definite answer came back.

    The message is ``uncertain``: it is looked for at the recipient's end (Sent Items, the
    channel's newest posts) before anything may send it again.
    """

    action = "none: it is checked for at the recipient before any resend"


class DataError(AutomationError):
    """Input data cannot be used; the owner of the data must correct it."""

    action = "correct the input data"
