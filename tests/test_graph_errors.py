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


def test_an_unknown_address_segment_points_at_the_ids_not_at_filters() -> None:
    """400 'Resource not found for the segment' means an id of the wrong shape: say so."""
    error = from_status(
        400,
        what="read the columns of list 進捗管理",
        permission="Sites.Selected (read) on the site",
        code="BadRequest",
        detail="Resource not found for the segment 'columns'.",
    )
    assert isinstance(error, ConfigError)
    assert "indexed" not in error.message
    assert error.message == (
        "read the columns of list 進捗管理: Graph does not know the address part 'columns' "
        "(HTTP 400, Graph: BadRequest: Resource not found for the segment 'columns'.). An id "
        "in the configuration probably has the wrong shape or names something else: check "
        "site_id (host,site-guid,web-guid), list_id (a GUID or the list's name), drive_id and "
        "item_id against what Graph Explorer or `automation doctor` shows."
    )


def test_a_filter_on_a_column_that_is_not_indexed_says_to_index_it() -> None:
    """The indexed-column hint is given only when Graph says the column is not indexed."""
    error = from_status(
        400,
        what="read the items of list 進捗管理",
        permission="x",
        code="invalidRequest",
        detail="Field '_x90e8_' cannot be referenced in filter or orderby as it is not indexed.",
    )
    assert "index it in the list settings" in error.message


def test_an_unrecognised_400_quotes_graph_and_claims_no_cause() -> None:
    """Where the cause is unknown, the message says what Graph said, not a guess."""
    error = from_status(
        400, what="send mail", permission="x", code="ErrorSomething", detail="Odd request."
    )
    assert "(HTTP 400, Graph: ErrorSomething: Odd request.)" in error.message
    assert "indexed" not in error.message


def test_a_full_storage_quota_says_to_free_space_not_that_graph_is_busy() -> None:
    """507 (errors.md: "The maximum storage quota has been reached") names the quota and the fix."""
    error = from_status(
        507,
        what="upload 集計.xlsx",
        permission="x",
        code="quotaLimitReached",
        detail="Insufficient Space Available",
    )
    assert isinstance(error, TransientError)
    assert error.message == (
        "upload 集計.xlsx: the site's storage quota is full (HTTP 507, Graph: quotaLimitReached: "
        "Insufficient Space Available). Free space in the document library, or have the "
        "SharePoint administrator raise the site's storage limit; it is tried again later."
    )
