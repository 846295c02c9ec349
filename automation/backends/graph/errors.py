"""Translate Graph and HTTP failures into the operator's four kinds of error, in one place.

Every HTTP status and every httpx transport exception maps to exactly one of
ConfigError (fix a name or id), AuthError (fix credentials or a grant), TransientError
(retry later) or DataError (the content is unusable), with a message that names what was
being done, what Graph said, and the fix.
"""

from __future__ import annotations

import httpx

from automation.errors import AuthError, AutomationError, ConfigError, DataError, TransientError


def from_status(
    status: int,
    *,
    what: str,
    permission: str,
    code: str = "",
    detail: str = "",
    retry_after: str | None = None,
) -> AutomationError:
    """The error for a failed response. ``what``: the operation; ``permission``: what it needs."""
    said = f" (HTTP {status}, Graph: {code}: {detail})" if code or detail else f" (HTTP {status})"
    if status == 401:
        return AuthError(
            f"{what}: the access token was rejected{said}. Check the app's credentials in "
            "backend.auth (an expired secret or certificate?); for the Teams service account "
            "run `automation login` again."
        )
    if status == 403:
        return AuthError(
            f"{what}: access denied{said}. The app needs {permission}; see the README section "
            "'Permissions in Entra ID'."
        )
    if status == 404:
        return ConfigError(
            f"{what}: not found{said}. Check the ids or names in the configuration; the app "
            f"may also lack {permission} for it."
        )
    if status == 409:
        return ConfigError(
            f"{what}: conflict{said}. A file of that name exists and conflict_behavior is 'fail'; "
            "rename the artefact or set conflict_behavior: replace."
        )
    if status == 413:
        return DataError(f"{what}: the content is too large for Graph{said}.")
    if status == 423:
        return TransientError(
            f"{what}: the file is locked by someone editing it{said}; will retry later."
        )
    if status in (408, 429) or status >= 500:
        wait = f" Graph asked to wait {retry_after} s." if retry_after else ""
        return TransientError(
            f"{what}: Graph is busy or unavailable (HTTP {status}){said}.{wait} Will retry later.",
            retry_after=retry_after_seconds(retry_after),
        )
    if status == 400:
        return ConfigError(
            f"{what}: Graph rejected the request{said}. Check filters and column names in the "
            "configuration (filtering needs an indexed column)."
        )
    return ConfigError(f"{what}: unexpected response{said}.")


def retry_after_seconds(retry_after: str | None) -> float | None:
    """Retry-After in seconds (a number, or an HTTP date), or None."""
    if not retry_after:
        return None
    try:
        return max(0.0, float(retry_after))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime  # noqa: PLC0415  # rare: dates are unusual

    try:
        when = parsedate_to_datetime(retry_after)
    except (TypeError, ValueError):
        return None
    from datetime import UTC, datetime  # noqa: PLC0415

    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def from_exception(exc: Exception, *, what: str) -> AutomationError:
    """The error for a transport failure (no HTTP response)."""
    if isinstance(exc, AutomationError):
        return exc
    if isinstance(exc, httpx.TimeoutException):
        return TransientError(
            f"{what}: Graph did not answer in time ({type(exc).__name__}); will retry later."
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ConfigError(f"{what}: the URL is not usable ({exc}); check backend.base_url.")
    if isinstance(exc, httpx.TooManyRedirects):
        return TransientError(f"{what}: too many redirects ({exc}); will retry later.")
    if isinstance(exc, httpx.TransportError):
        return TransientError(
            f"{what}: network error ({type(exc).__name__}: {exc}); will retry later."
        )
    if isinstance(exc, httpx.HTTPError):
        return TransientError(
            f"{what}: HTTP error ({type(exc).__name__}: {exc}); will retry later."
        )
    raise exc


def odata_error(response: httpx.Response) -> tuple[str, str]:
    """(code, message) from an OData error body, or empty strings."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", ""
    return str(error.get("code") or ""), str(error.get("message") or "")
