"""A stand-in for Entra ID's OpenID Connect endpoints, at msal's HTTP client boundary.

It answers what msal and the console ask of ``login.microsoftonline.com``: the tenant's
``/v2.0/.well-known/openid-configuration``, its JWKS, the authorization endpoint (a signed-in
user approves at once: the answer is the redirect back with ``code`` and ``state``) and the
token endpoint, which checks the client secret, the redirect URI and the PKCE verifier
against the S256 challenge before issuing an RS256 ID token with the nonce of the request,
as Entra ID does. ``tamper`` makes the next ID token wrong in one way, to see it refused.

Tests give it to msal as ``http_client``; the browser specs route the browser's requests
for ``https://login.microsoftonline.com/`` to :meth:`authorize`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

HOST = "https://login.microsoftonline.com"
TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "66666666-7777-8888-9999-000000000000"
SECRET = "console-app-secret"
KID = "fake-key-1"


@dataclass
class Answer:
    """What msal reads of an HTTP response."""

    status_code: int
    text: str
    headers: dict[str, str] = field(default_factory=dict)

    def raise_for_status(self) -> None:
        """Like requests: an error status raises."""
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}: {self.text}")

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.text)


def _json(status: int, body: Any) -> Answer:
    return Answer(status, json.dumps(body), {"Content-Type": "application/json"})


@dataclass
class FakeEntra:
    """One tenant with one app registration and the user who signs in next."""

    now: datetime
    user: dict[str, Any] = field(
        default_factory=lambda: {
            "preferred_username": "sato@pref.example.lg.jp",
            "oid": "aaaaaaaa-0000-0000-0000-000000000001",
            "name": "佐藤 花子",
            "groups": ["bbbbbbbb-0000-0000-0000-00000000000b"],
        }
    )
    tamper: str = ""  # issuer | audience | signature | nonce | expired | tenant
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    @property
    def issuer(self) -> str:
        """The tenant's v2.0 issuer."""
        return f"{HOST}/{TENANT}/v2.0"

    # msal's http_client ---------------------------------------------------------------------
    def get(self, url: str, params: Any = None, headers: Any = None, **_: Any) -> Answer:
        """Discovery and keys."""
        path = urlsplit(url).path
        if path == f"/{TENANT}/v2.0/.well-known/openid-configuration":
            return _json(200, self.metadata())
        if path == f"/{TENANT}/discovery/v2.0/keys":
            return _json(200, self.jwks())
        return _json(404, {"error": "not_found", "error_description": url})

    def post(self, url: str, params: Any = None, data: Any = None, **_: Any) -> Answer:
        """The token endpoint."""
        if urlsplit(url).path != f"/{TENANT}/oauth2/v2.0/token":
            return _json(404, {"error": "not_found"})
        form = {k: v[0] if isinstance(v, list) else v for k, v in dict(data or {}).items()}
        self.token_requests.append(form)
        return self.token(form)

    def close(self) -> None:
        """msal may close its client."""

    # the endpoints ----------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """The tenant's OpenID configuration, as Entra ID publishes it."""
        base = f"{HOST}/{TENANT}"
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["plain", "S256"],
        }

    def jwks(self) -> dict[str, Any]:
        """The public key the ID tokens are signed with."""
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": KID, "use": "sig", "alg": "RS256"}]}

    def authorize(self, url: str) -> str:
        """The user signs in and consents: the redirect back to the app with a code."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        assert query["response_type"] == "code" and query["client_id"] == CLIENT
        assert query["code_challenge_method"] == "S256", "PKCE with S256 is required"
        code = secrets.token_urlsafe(16)
        self.codes[code] = query
        answer = {"code": code, "state": query["state"], "session_state": "s"}
        return f"{query['redirect_uri']}?{urlencode(answer)}"

    def token(self, form: dict[str, str]) -> Answer:
        """Redeem a code once: client secret, redirect URI and PKCE verifier must match."""
        request = self.codes.pop(form.get("code", ""), None)
        if request is None:
            return _json(400, {"error": "invalid_grant", "error_description": "AADSTS54005"})
        if form.get("client_secret") != SECRET or form.get("client_id") != CLIENT:
            return _json(401, {"error": "invalid_client", "error_description": "AADSTS7000215"})
        if form.get("redirect_uri") != request["redirect_uri"]:
            return _json(400, {"error": "invalid_grant", "error_description": "AADSTS50148"})
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        if challenge.decode().rstrip("=") != request["code_challenge"]:
            return _json(400, {"error": "invalid_grant", "error_description": "AADSTS501481"})
        body = {
            "token_type": "Bearer",
            "scope": "openid profile offline_access",
            "expires_in": 3600,
            "access_token": "not-used-by-the-console",
            "id_token": self.id_token(request.get("nonce", "")),
        }
        return _json(200, body)

    def id_token(self, nonce: str) -> str:
        """An ID token as Entra ID issues it (v2.0), tampered with as asked."""
        issued = int(self.now.timestamp())
        claims = {
            "iss": self.issuer,
            "aud": CLIENT,
            "tid": TENANT,
            "sub": "subject-of-" + str(self.user.get("oid")),
            "iat": issued,
            "nbf": issued,
            "exp": issued + 3600,
            "nonce": nonce,
            "ver": "2.0",
            **self.user,
        }
        key: Any = self.key
        tamper = self.tamper
        if tamper == "issuer":
            claims["iss"] = f"{HOST}/99999999-2222-3333-4444-555555555555/v2.0"
        elif tamper == "audience":
            claims["aud"] = "another-app"
        elif tamper == "nonce":
            claims["nonce"] = "replayed"
        elif tamper == "expired":
            claims["exp"] = issued - 3600
        elif tamper == "tenant":
            claims["tid"] = "99999999-2222-3333-4444-555555555555"
        elif tamper == "signature":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID})
