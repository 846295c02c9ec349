"""Every Graph failure maps to exactly one operator action, with a message saying what to do."""

from __future__ import annotations

import inspect

import httpx
import pytest

from automation.backends.graph.errors import from_exception, from_status, odata_error
from automation.errors import AuthError, AutomationError, ConfigError, DataError, TransientError


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, ConfigError),
        (401, AuthError),
        (403, AuthError),
        (404, ConfigError),
        (409, ConfigError),
        (413, DataError),
        (423, TransientError),
        (408, TransientError),
        (429, TransientError),
        (500, TransientError),
        (502, TransientError),
        (503, TransientError),
        (504, TransientError),
        (418, ConfigError),
    ],
)
def test_each_status_maps_to_one_action(status: int, kind: type[AutomationError]) -> None:
    """HTTP statuses map to config, auth, transient or data errors."""
    assert (
        type(from_status(status, what="download the workbook", permission="Sites.Selected")) is kind
    )


def test_permission_errors_name_the_missing_permission() -> None:
    """A 403 says which permission the app needs and where the README explains it."""
    error = from_status(
        403,
        what="send mail as bousai@example.jp",
        permission="Mail.Send (application)",
        code="ErrorAccessDenied",
        detail="Access is denied.",
    )
    assert error.message == (
        "send mail as bousai@example.jp: access denied (HTTP 403, Graph: ErrorAccessDenied: Access is denied.). "
        "The app needs Mail.Send (application); see the README section 'Permissions in Entra ID'."
    )


def test_expired_token_says_to_sign_in_again() -> None:
    """A 401 points at the credentials and at `automation login` for the service account."""
    assert "run `automation login` again" in from_status(401, what="post", permission="x").message


def test_throttling_mentions_retry_after() -> None:
    """A 429 that outlived the retries keeps Graph's Retry-After in the message."""
    assert (
        "Graph asked to wait 300 s."
        in from_status(429, what="read", permission="x", retry_after="300").message
    )


def _all_httpx_errors() -> list[type[Exception]]:
    return [
        cls
        for _, cls in inspect.getmembers(httpx, inspect.isclass)
        if issubclass(cls, httpx.HTTPError) and cls is not httpx.HTTPStatusError
    ]


@pytest.mark.parametrize("error_class", _all_httpx_errors())
def test_every_httpx_transport_error_is_mapped(error_class: type[Exception]) -> None:
    """No httpx exception escapes unmapped: each becomes a transient or config error."""
    request = httpx.Request("GET", "https://graph.microsoft.com/v1.0/me")
    try:
        exc = error_class("boom", request=request)  # type: ignore[call-arg]
    except TypeError:
        exc = error_class("boom")
    assert isinstance(from_exception(exc, what="read"), TransientError | ConfigError)


def test_connection_errors_are_transient() -> None:
    """A refused connection or timeout is 'retry later'."""
    request = httpx.Request("GET", "https://graph.microsoft.com/v1.0/me")
    assert isinstance(
        from_exception(httpx.ConnectError("refused", request=request), what="x"), TransientError
    )
    assert isinstance(
        from_exception(httpx.ReadTimeout("slow", request=request), what="x"), TransientError
    )


def test_odata_error_body_is_read() -> None:
    """code and message come from Graph's OData error body; a non-JSON body gives empties."""
    ok = httpx.Response(
        404, json={"error": {"code": "itemNotFound", "message": "The resource could not be found."}}
    )
    assert odata_error(ok) == ("itemNotFound", "The resource could not be found.")
    assert odata_error(httpx.Response(502, text="<html>Bad gateway</html>")) == ("", "")
