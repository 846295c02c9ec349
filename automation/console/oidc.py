"""Sign-in to the console with Entra ID: OpenID Connect authorization code flow with PKCE.

msal runs the protocol (the authorization request with ``state``, ``nonce`` and a PKCE
S256 challenge; the code exchange with the verifier; the state and nonce checks). Since
msal 1.38 it no longer validates the ID token, so the token is validated here with PyJWT:
the signature against the tenant's published keys (JWKS), the issuer and tenant, the
audience (this app), the times (against the console's clock) and the nonce again.

The user's role comes from the configuration: the user's object id (``oid``) or the object
id of one of their groups listed under ``console.entra.roles``, or an app role of theirs
(the ``roles`` claim) listed under ``console.entra.app_roles``; the highest wins. The
sign-in name (``preferred_username``) is shown, never trusted: Entra ID lets it change.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jwt
import msal

from automation.config.models import ConsoleConfig, EntraConsoleSignIn

PENDING_SECONDS = 600  # a sign-in must come back from Entra ID within ten minutes
MAX_PENDING = 1000  # sign-ins under way at once; the oldest is forgotten beyond it
LEEWAY_SECONDS = 120  # clock skew allowed on exp, nbf and iat
ROLE_ORDER = ("admin", "operator", "viewer")


class EntraSignInError(Exception):
    """A sign-in that cannot be accepted; the message says why in Japanese for the page,
    ``detail`` says what was found for the audit log."""

    def __init__(self, message: str, detail: str, status: int = 401) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.status = status


@dataclass(frozen=True)
class Identity:
    """Who signed in: the name to show, their object id (what identifies them) and the
    role the configuration gives them."""

    user: str
    role: str
    object_id: str


@dataclass
class EntraSignIn:
    """The console's Entra ID sign-in for one app registration."""

    config: EntraConsoleSignIn
    clock: Callable[[], datetime]
    http_client: Any = None  # msal's HTTP client (tests give a fake OpenID provider)
    _app: Any = field(default=None, init=False, repr=False)
    _metadata: dict[str, Any] | None = field(default=None, init=False, repr=False)
    _pending: dict[str, tuple[float, dict[str, Any]]] = field(
        default_factory=dict, init=False, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def authority(self) -> str:
        """https://login.microsoftonline.com/TENANT."""
        return f"https://{self.config.authority_host}/{self.config.tenant_id}"

    @property
    def issuer(self) -> str:
        """The ``iss`` of this tenant's v2.0 ID tokens."""
        return f"{self.authority}/v2.0"

    def app(self) -> Any:
        """The msal application, made on first use (it reads the tenant's metadata)."""
        if self._app is None:
            self._app = msal.ConfidentialClientApplication(
                self.config.client_id,
                client_credential=self.config.client_secret,
                authority=self.authority,
                http_client=self.http_client,
            )
        return self._app

    def begin(self) -> tuple[str, str]:
        """Start a sign-in: (the address to send the browser to, its state)."""
        flow = self.app().initiate_auth_code_flow(scopes=[], redirect_uri=self.config.redirect_uri)
        now = self.clock().timestamp()
        with self._lock:
            self._pending = {k: v for k, v in self._pending.items() if v[0] > now - PENDING_SECONDS}
            while len(self._pending) >= MAX_PENDING:
                self._pending.pop(next(iter(self._pending)))
            self._pending[flow["state"]] = (now, flow)
        return str(flow["auth_uri"]), str(flow["state"])

    def finish(self, response: Mapping[str, str], browser_state: str) -> Identity:
        """Finish a sign-in from Entra ID's redirect; EntraSignInError when it fails."""
        state = response.get("state", "")
        if "error" in response:
            raise EntraSignInError(
                "Entra ID がサインインを断りました。管理者に確認してください。",
                f"{response.get('error')}: {response.get('error_description', '')[:300]}",
            )
        if not state or state != browser_state:
            raise EntraSignInError(
                "サインインの確認情報がこのブラウザーのものと一致しません。もう一度サインインしてください。",
                "state does not match the browser's",
            )
        with self._lock:
            started, flow = self._pending.pop(state, (0.0, {}))
        if not flow or started < self.clock().timestamp() - PENDING_SECONDS:
            raise EntraSignInError(
                "サインインの有効期限が切れました。もう一度サインインしてください。",
                "no sign-in under way with this state (expired or used)",
            )
        try:
            result = self.app().acquire_token_by_auth_code_flow(flow, dict(response))
        except (ValueError, RuntimeError) as exc:  # msal's own state and nonce checks
            raise _refused(f"msal refused the answer: {exc}") from exc
        if "id_token" not in result:
            raise EntraSignInError(
                "Entra ID からトークンを受け取れませんでした。管理者に確認してください。",
                f"{result.get('error')}: {str(result.get('error_description', ''))[:300]}",
            )
        claims = self.validate(str(result["id_token"]), str(flow["nonce"]))
        role = self.role_of(claims)
        shown = str(claims.get("preferred_username") or claims.get("name") or claims["oid"])
        return Identity(shown[:128], role, str(claims["oid"]).lower())

    def validate(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims once signature, issuer, tenant, audience, times and nonce
        are checked; EntraSignInError naming the first that fails."""
        try:
            header = jwt.get_unverified_header(id_token)
            key = self._key(str(header.get("kid", "")))
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key=key,
                algorithms=["RS256"],
                audience=self.config.client_id,
                issuer=self.issuer,
                options={
                    "require": ["iss", "aud", "exp", "iat", "sub", "oid", "tid"],
                    "verify_exp": False,  # checked below against the console's clock
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise _refused(f"ID token rejected: {exc}") from exc
        self._check_times(claims)
        if claims.get("tid") != self.config.tenant_id:
            raise _refused(f"ID token of tenant {claims.get('tid')!r}, expected this tenant")
        expected = hashlib.sha256(nonce.encode("ascii")).hexdigest()
        if claims.get("nonce") not in (expected, nonce):
            raise _refused("ID token nonce does not match the sign-in's")
        return claims

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self.clock().timestamp()
        if float(claims["exp"]) < now - LEEWAY_SECONDS:
            raise _refused("ID token expired")
        if float(claims.get("nbf", claims["iat"])) > now + LEEWAY_SECONDS:
            raise _refused("ID token not valid yet")

    def _key(self, kid: str) -> Any:
        """The tenant's signing key with this key id (the key set is read again once when
        the id is unknown: Entra ID rolls its keys)."""
        for attempt in range(2):
            keys = self._keys(refresh=attempt == 1)
            if kid in keys:
                return keys[kid]
        raise _refused(f"ID token signed with key {kid!r}, not one of the tenant's keys")

    def _keys(self, *, refresh: bool) -> dict[str, Any]:
        if self._metadata is None or refresh:
            config = self._get(f"{self.issuer}/.well-known/openid-configuration")
            jwks = self._get(str(config["jwks_uri"]))
            keys = {}
            for jwk in jwks.get("keys", []):
                try:
                    keys[str(jwk.get("kid", ""))] = jwt.PyJWK(jwk, algorithm="RS256").key
                except jwt.PyJWTError:
                    continue
            self._metadata = {"keys": keys}
        return dict(self._metadata["keys"])

    def _get(self, url: str) -> dict[str, Any]:
        client = self.app().http_client
        response = client.get(url)
        if response.status_code != 200:
            raise _refused(f"GET {url} answered {response.status_code}")
        data = json.loads(response.text)
        return data if isinstance(data, dict) else {}

    def role_of(self, claims: Mapping[str, Any]) -> str:
        """The highest role whose list names the user's object id, one of their groups'
        object ids, or one of their app roles. ``preferred_username`` decides nothing: it
        can change, and only ``oid`` (with ``tid``, checked in validate) is stable."""
        ids = {str(claims.get("oid") or "").lower()} | {
            str(g).lower() for g in _claim_list(claims, "groups")
        }
        ids.discard("")
        app_roles = {str(r) for r in _claim_list(claims, "roles")}
        for role in ROLE_ORDER:
            if ids & set(getattr(self.config.roles, role)) or app_roles & set(
                getattr(self.config.app_roles, role)
            ):
                return role
        raise EntraSignInError(
            "このアカウントにはコンソールを使う権限がありません。管理者に、利用者かグループの"
            "オブジェクト ID を設定の console.entra.roles に（またはアプリ ロールを "
            "console.entra.app_roles に）追加するよう依頼してください。",
            f"{_user(claims)} is in no role of console.entra.roles or app_roles",
            status=403,
        )


def _claim_list(claims: Mapping[str, Any], name: str) -> list[Any]:
    value = claims.get(name)
    return list(value) if isinstance(value, list | tuple) else []


def _user(claims: Mapping[str, Any]) -> str:
    """The user as the audit log and pages show them: the sign-in name for people to read,
    with the object id that identifies them."""
    oid = str(claims.get("oid") or claims.get("sub") or "")
    name = str(claims.get("preferred_username") or "")[:128]
    return f"{name} ({oid})" if name else oid


def _refused(detail: str) -> EntraSignInError:
    return EntraSignInError(
        "Entra ID のサインイン結果を確認できませんでした。もう一度サインインしてください。",
        detail,
    )


def entra_of(config: ConsoleConfig, clock: Callable[[], datetime]) -> EntraSignIn | None:
    """The Entra ID sign-in the configuration asks for, if any."""
    return None if config.entra is None else EntraSignIn(config.entra, clock)
