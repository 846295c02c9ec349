"""The credential check: the app's credential gives a token, and what the token carries."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from automation.backends.graph.gateway import TokenSource
from automation.config.models import (
    AccessTokenAuth,
    CertificateAuth,
    ClientSecretAuth,
    ManagedIdentityAuth,
)
from automation.doctor.hints import SEE_CREDENTIAL, credential_fix
from automation.doctor.probe import Probe
from automation.doctor.rows import Row, one_line
from automation.errors import AutomationError
from automation.timeutil import JST


async def credential_row(probe: Probe, tokens: TokenSource) -> tuple[Row, bool]:
    """The credential row, and whether a token came (even an expired one).

    A readable token's roles and app id sharpen the hints of the probes after it.
    """
    auth = probe.backend.auth
    ids = _ids(auth)
    started = time.perf_counter()
    try:
        token = await tokens.token()
    except Exception as err:  # azure-identity raises many types; all are reported
        cause = err.__cause__ if isinstance(err, AutomationError) and err.__cause__ else err
        found = one_line(f"{type(cause).__name__}: {cause}")  # what Entra ID said, as it said it
        return Row(
            "credential",
            auth.type,
            "FAIL",
            f"{ids}no token: {found}",
            credential_fix(auth, found),
            SEE_CREDENTIAL,
        ), False
    seconds = time.perf_counter() - started
    claims = token_claims(token)
    if claims is not None and isinstance(claims.get("roles"), list):
        probe.roles = frozenset(str(r) for r in claims["roles"])
    probe.client_id = str((claims or {}).get("appid") or probe.client_id)
    if isinstance(auth, AccessTokenAuth):
        got = "a fixed token from backend.auth.token; Graph checks it in the probes below"
    else:
        got = f"token in {seconds:.2f} s"
    return _verdict(probe, auth.type, ids, got, claims), True


def _verdict(probe: Probe, kind: str, ids: str, got: str, claims: Mapping[str, Any] | None) -> Row:
    """OK, or FAIL for an expired token or one that carries no permission."""
    if claims is None:
        return Row("credential", kind, "OK", f"{ids}{got}")
    expired = _expired(claims)
    if expired:
        return Row(
            "credential",
            kind,
            "FAIL",
            f"{ids}the token expired at {expired}",
            "give a fresh token in backend.auth.token (its variable)",
            SEE_CREDENTIAL,
        )
    if "roles" not in claims and "scp" not in claims:
        return Row(
            "credential",
            kind,
            "FAIL",
            f"{ids}{got}, but it carries no permission (no roles claim): none is consented",
            "in the app registration: API permissions → add the application permissions "
            "→ Grant admin consent",
            SEE_CREDENTIAL,
        )
    if probe.roles is None:
        granted = f"delegated permissions: {claims['scp']}"
    else:
        granted = f"application permissions: {', '.join(sorted(probe.roles)) or 'none'}"
    return Row("credential", kind, "OK", f"{ids}{got}; {granted}")


def token_claims(token: str) -> dict[str, Any] | None:
    """The claims of a JWT access token (unverified, for hints only), or None if opaque."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:  # binascii.Error and JSONDecodeError are ValueErrors
        return None
    return claims if isinstance(claims, dict) else None


def scopes(claims: dict[str, Any] | None) -> frozenset[str] | None:
    """Delegated permissions (``scp``) of a token, if it is readable."""
    if claims is None or not isinstance(claims.get("scp"), str):
        return None
    return frozenset(claims["scp"].split())


def _expired(claims: Mapping[str, Any]) -> str | None:
    """When a token expired (JST), if it has."""
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp > time.time():
        return None
    return f"{datetime.fromtimestamp(exp, JST):%Y-%m-%d %H:%M} JST"


def _ids(auth: object) -> str:
    """``tenant X, client Y: `` for credentials that name them."""
    if isinstance(auth, CertificateAuth | ClientSecretAuth):
        return f"tenant {auth.tenant_id}, client {auth.client_id}: "
    if isinstance(auth, ManagedIdentityAuth):
        return f"managed identity {auth.client_id or '(system-assigned)'}: "
    return ""
