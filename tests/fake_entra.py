"""A stand-in for Entra ID's token endpoint, at msal's boundary, for app-only sign-in.

azure-identity's ClientSecretCredential asks ``msal.ConfidentialClientApplication`` for a
token; :class:`FakeConfidentialClient` takes its place and accepts exactly one client secret,
read from the file named by ``FAKE_ENTRA_ACCEPTS`` on every request (a test "renews" the
secret by writing the file). Any other secret gets the answer Entra ID gives for an expired
one (AADSTS7000222, as the token endpoint words it), which azure-identity turns into its own
``ClientAuthenticationError``. An accepted secret gets ``FAKE_GRAPH_TOKEN``.

``python -m tests.fake_entra ARGS`` runs the ``automation`` command with the stand-in in place,
so ``automation serve`` can be run as a subprocess whose credential fails and recovers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ACCEPTS = "FAKE_ENTRA_ACCEPTS"
EXPIRED = (
    "AADSTS7000222: The provided client secret keys for app '{app}' are expired. Visit the "
    "Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or "
    "consider using certificate credentials for added security: https://aka.ms/certCreds. "
    "Trace ID: 00000000-0000-0000-0000-000000000000 Correlation ID: "
    "00000000-0000-0000-0000-000000000000 Timestamp: 2026-09-01 00:00:00Z"
)


class FakeConfidentialClient:
    """The part of ``msal.ConfidentialClientApplication`` that azure-identity calls."""

    def __init__(self, client_id: str, client_credential: Any = None, **_: Any) -> None:
        self.client_id = client_id
        self.client_credential = client_credential

    def acquire_token_silent_with_error(self, scopes: list[str], **_: Any) -> None:
        """Nothing cached: every token comes from the endpoint."""
        return None

    def acquire_token_for_client(self, scopes: list[str], **_: Any) -> dict[str, Any]:
        """A token for the accepted secret; Entra ID's expired-secret answer otherwise."""
        accepted = Path(os.environ[ACCEPTS]).read_text(encoding="utf-8").strip()
        if self.client_credential == accepted:
            return {
                "access_token": os.environ["FAKE_GRAPH_TOKEN"],
                "expires_in": 3600,
                "token_type": "Bearer",
            }
        return {
            "error": "invalid_client",
            "error_description": EXPIRED.format(app=self.client_id),
            "error_codes": [7000222],
        }


def install() -> None:
    """Put the stand-in where azure-identity looks for msal's client."""
    import msal  # noqa: PLC0415

    msal.ConfidentialClientApplication = FakeConfidentialClient


if __name__ == "__main__":
    install()
    from automation.cli import main

    raise SystemExit(main())
