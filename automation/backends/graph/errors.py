"""Translate Graph and HTTP failures into the operator's four kinds of error, in one place.

Every HTTP status and every httpx transport exception maps to exactly one of
ConfigError (fix a name or id), AuthError (fix credentials or a grant), TransientError
(retry later) or DataError (the content is unusable), with a message that names what was
being done, what Graph said, and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from automation.errors import (
    AuthError,
    AutomationError,
    ConfigError,
    DataError,
    NameConflictError,
    TransientError,
    UncertainError,
)

SEGMENT_NOT_FOUND = re.compile(r"Resource not found for the segment '([^']*)'")
NOT_INDEXED = re.compile(r"not indexed|HonorNonIndexedQueries", re.IGNORECASE)
# A send answered with one of these may or may not have taken effect behind the gateway.
AMBIGUOUS_STATUSES = frozenset({500, 502, 504})


def from_status(
    status: int,
    *,
    what: str,
    permission: str,
    code: str = "",
    detail: str = "",
    retry_after: str | None = None,
    request_id: str = "",
) -> AutomationError:
    """The error for a failed response. ``what``: the operation; ``permission``: what it needs;
    ``request_id``: Graph's id of the request, quoted where the message asks to report it."""
    report = (
        f"report it with Graph's request-id {request_id}."
        if request_id
        else "report it with the time it happened (Graph gave no request-id)."
    )
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
        kind = NameConflictError if code == "nameAlreadyExists" else ConfigError
        return kind(
            f"{what}: conflict{said}. A file of that name exists and conflict_behavior is 'fail'; "
            "rename the artefact or set conflict_behavior: replace."
        )
    if status == 413:
        return DataError(f"{what}: the content is too large for Graph{said}.")
    if status == 423:
        return TransientError(
            f"{what}: the file is locked by someone editing it{said}; will retry later."
        )
    if status == 507 or code == "quotaLimitReached":  # errors.md: storage quota reached
        return TransientError(
            f"{what}: the site's storage quota is full{said}. Free space in the document "
            "library, or have the SharePoint administrator raise the site's storage limit; it "
            "is tried again later."
        )
    if status in (408, 429) or status >= 500:
        wait = f" Graph asked to wait {retry_after} s." if retry_after else ""
        return TransientError(
            f"{what}: Graph is busy or unavailable (HTTP {status}){said}.{wait} Will retry later.",
            retry_after=retry_after_seconds(retry_after),
        )
    if status == 400:
        return _bad_request(what, said, code, detail, report)
    return ConfigError(
        f"{what}: unexpected response{said}. Nothing in the configuration is known to cause "
        f"it; if it persists, {report}"
    )


def _bad_request(what: str, said: str, code: str, detail: str, report: str) -> AutomationError:
    """A 400, by what the operator must do about what Graph said; unsure: quote Graph."""
    segment = SEGMENT_NOT_FOUND.search(detail)
    if segment:
        return ConfigError(
            f"{what}: Graph does not know the address part '{segment[1]}'{said}. An id in the "
            "configuration probably has the wrong shape or names something else: check "
            "site_id (host,site-guid,web-guid), list_id (a GUID or the list's name), drive_id "
            "and item_id against what Graph Explorer or `automation doctor` shows."
        )
    if NOT_INDEXED.search(detail):
        return ConfigError(
            f"{what}: Graph refused the filter{said}. The column is not indexed: index it in "
            "the list settings (Indexed columns), or filter on an indexed column."
        )
    if code == "ErrorInvalidRecipients":
        return ConfigError(
            f"{what}: Graph refused a recipient{said}. Check the contact's address in the "
            "directory: it must be a mailbox address that Exchange accepts."
        )
    if code in ("ErrorMessageSizeExceeded", "RequestEntityTooLarge"):
        return DataError(f"{what}: the message is too large for Graph{said}.")
    return ConfigError(
        f"{what}: Graph rejected the request as invalid{said}. Check the ids and names in the "
        f"configuration that this request uses; if they are right, {report}"
    )


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


def request_id(response: httpx.Response) -> str:
    """Graph's id of the request: its ``request-id`` header, else the error body's
    ``innerError`` (errors.md), else empty."""
    if response.headers.get("request-id"):
        return response.headers["request-id"]
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    inner = error.get("innerError") or error.get("innererror") if isinstance(error, dict) else None
    return str(inner.get("request-id") or "") if isinstance(inner, dict) else ""


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


# Requests that failed before they left this process: nothing can have happened at Graph.
NEVER_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
)


def from_send_exception(exc: Exception, *, what: str) -> AutomationError:
    """A send that got no HTTP answer: a plain error if it never left, else uncertain."""
    if isinstance(exc, (AutomationError, *NEVER_SENT)) or not isinstance(
        exc, httpx.HTTPError | OSError
    ):
        return from_exception(exc, what=what)
    return UncertainError(
        f"{what}: the connection failed after the request was sent ({type(exc).__name__}: "
        f"{exc}), so it may have arrived. It is looked for at the recipient before any resend."
    )


def uncertain_status(status: int, *, what: str, code: str = "", detail: str = "") -> UncertainError:
    """A send answered with a status that does not say whether it took effect (500, 502, 504)."""
    said = f", Graph: {code}: {detail}" if code or detail else ""
    return UncertainError(
        f"{what}: Graph answered HTTP {status}{said}, which does not say whether the send took "
        "effect. It is looked for at the recipient before any resend."
    )


# credentials ---------------------------------------------------------------------------------

AADSTS = re.compile(r"AADSTS\d+\b[^\r\n]*")
# What an Entra ID sign-in error code means (the run's error and `automation doctor` use it).
AADSTS_HINTS = {
    "AADSTS90002": "the tenant was not found: check tenant_id (Directory (tenant) ID)",
    "AADSTS900023": "the tenant id is malformed: check tenant_id (Directory (tenant) ID)",
    "AADSTS700016": "the app is not registered in that tenant: check client_id "
    "(Application (client) ID) and tenant_id",
    "AADSTS7000215": "the client secret is wrong: give the secret's Value, not its Secret ID",
    "AADSTS7000222": "the client secret has expired: add a new one under Certificates & secrets",
    "AADSTS700027": "the certificate is not accepted: upload its public part under "
    "Certificates & secrets, or replace an expired one",
    "AADSTS700024": "the sign-in was outside its valid time: the local clock is off "
    "(see the clock row)",
}
RENEW = frozenset({"AADSTS7000222", "AADSTS7000215", "AADSTS700027"})  # a new credential fixes it
RENEW_CREDENTIAL = {
    "client_secret": (
        "Create a new client secret for app {app} (Entra admin center > App registrations > "
        "Certificates & secrets), put its Value in the environment variable that "
        "backend.auth.client_secret reads, and reload the service"
    ),
    "certificate": (
        "Upload a new certificate for app {app} (Entra admin center > App registrations > "
        "Certificates & secrets) and point backend.auth.certificate_path at its key and "
        "certificate"
    ),
    "managed_identity": (
        "Check that this host has the managed identity assigned and that it holds the "
        "application permissions"
    ),
}


@dataclass(frozen=True)
class AppCredential:
    """Which app signs in and with what, named when its sign-in fails."""

    kind: str  # client_secret, certificate or managed_identity
    client_id: str | None = None
    tenant_id: str | None = None
    certificate_path: Path | None = None

    @property
    def name(self) -> str:
        """How the message names the app."""
        app = f"app {self.client_id}" if self.client_id else "the app"
        return f"{app} in tenant {self.tenant_id}" if self.tenant_id else app


def from_credential_error(exc: Exception, app: AppCredential) -> AutomationError | None:
    """The error for a failed token request, or None when it is not a sign-in failure."""
    from azure.core.exceptions import (  # noqa: PLC0415  # only Graph backends load azure
        ClientAuthenticationError,
        ServiceRequestError,
        ServiceResponseError,
    )

    if isinstance(exc, AutomationError):
        return exc
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return TransientError(
            f"sign-in of {app.name}: Entra ID could not be reached ({type(exc).__name__}: "
            f"{_first_line(str(exc))}); will retry later."
        )
    if isinstance(exc, ClientAuthenticationError):
        said = str(exc.message or exc)
        if not AADSTS.search(said) and isinstance(exc.__cause__, OSError):
            return TransientError(  # azure-identity wraps a network failure in this class too
                f"sign-in of {app.name}: Entra ID could not be reached "
                f"({type(exc.__cause__).__name__}); will retry later."
            )
        return AuthError(_sign_in_failed(said, app))
    if isinstance(exc, OSError) and app.certificate_path is not None:
        return ConfigError(
            f"sign-in of {app.name}: cannot read the certificate file {app.certificate_path} "
            f"({exc.strerror or exc}); check backend.auth.certificate_path and its permissions."
        )
    if isinstance(exc, ValueError) and app.kind == "certificate":
        return AuthError(
            f"sign-in of {app.name}: the certificate file {app.certificate_path} cannot be used "
            f"({_first_line(str(exc))}). It must hold the private key and the certificate in "
            "PEM (cat automation.key automation.crt > automation.pem); check "
            "certificate_password if the key is encrypted."
        )
    return None


def _sign_in_failed(said: str, app: AppCredential) -> str:
    """What failed, what Entra ID said, until when (a certificate's expiry) and the fix."""
    found = AADSTS.search(said)
    code = found[0].split(":")[0].split()[0] if found else ""
    fixes = [AADSTS_HINTS[code]] if code in AADSTS_HINTS else []
    if not fixes or code in RENEW:
        fixes.append(RENEW_CREDENTIAL[app.kind].format(app=app.client_id or ""))
    until = ""
    if app.kind == "certificate" and app.certificate_path is not None:
        expiry = certificate_expiry(app.certificate_path)
        if expiry is not None:
            state = "expired on" if expiry < datetime.now(UTC) else "is valid until"
            until = (
                f" The certificate in {app.certificate_path} {state} {expiry:%Y-%m-%d %H:%M} UTC."
            )
    quoted = found[0].strip() if found else _first_line(said)
    return (
        f"sign-in of {app.name} with its {app.kind.replace('_', ' ')} failed: Entra ID said "
        f'"{quoted}".{until} Fix: {"; ".join(fixes)}. Every Graph run fails until then '
        "(admins are alerted after service.alert_after_failures failed runs)."
    )


def certificate_expiry(path: Path) -> datetime | None:
    """When the first certificate in a PEM file expires, or None if it cannot be read."""
    try:
        from cryptography import x509  # noqa: PLC0415  # azure-identity's own dependency

        certificates = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError, ImportError):
        return None
    return certificates[0].not_valid_after_utc if certificates else None


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:300]
