"""Specs for the app's sign-in failures: the ``auth`` kind, which app, until when, and the fix.

Entra ID is stood in for at msal's boundary (:mod:`tests.fake_entra`), so azure-identity's
own ClientSecretCredential raises the exception it raises for an expired secret.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError

from automation import logs
from automation.backends.graph.backend import token_source
from automation.backends.graph.errors import AppCredential, from_credential_error
from automation.backends.graph.gateway import CredentialToken, GraphGateway
from automation.config.models import CertificateAuth, ClientSecretAuth
from automation.errors import AuthError, ConfigError, TransientError
from tests import fake_entra
from tests.fake_graph import GRAPH_BASE_URL, FakeGraph

APP = AppCredential("client_secret", "2222-app", "1111-tenant")


@pytest.fixture
def entra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Entra ID accepting only the secret written to the returned file ('renewed')."""
    accepts = tmp_path / "accepted-secret"
    accepts.write_text("renewed", encoding="utf-8")
    monkeypatch.setenv(fake_entra.ACCEPTS, str(accepts))
    monkeypatch.setenv("FAKE_GRAPH_TOKEN", "t")
    import msal  # noqa: PLC0415

    monkeypatch.setattr(msal, "ConfidentialClientApplication", fake_entra.FakeConfidentialClient)
    return accepts


def secret_auth(secret: str) -> ClientSecretAuth:
    """``backend.auth`` with a client secret for app 2222-app in tenant 1111-tenant."""
    return ClientSecretAuth(
        type="client_secret", tenant_id="1111-tenant", client_id="2222-app", client_secret=secret
    )


def test_an_expired_client_secret_is_an_auth_error_with_the_app_and_the_fix(entra: Path) -> None:
    """AADSTS7000222 names the app and tenant, quotes Entra ID, and says how to renew."""
    tokens = token_source(secret_auth("expired"), GRAPH_BASE_URL, Path())
    with pytest.raises(AuthError) as raised:
        asyncio.run(tokens.token())
    message = raised.value.message
    assert message.startswith(
        "sign-in of app 2222-app in tenant 1111-tenant with its client secret failed: Entra ID "
        "said \"AADSTS7000222: The provided client secret keys for app '2222-app' are expired."
    )
    assert (
        "Fix: the client secret has expired: add a new one under Certificates & secrets; "
        "Create a new client secret for app 2222-app (Entra admin center > App registrations > "
        "Certificates & secrets), put its Value in the environment variable that "
        "backend.auth.client_secret reads, and reload the service. Every Graph run fails until "
        "then (admins are alerted after service.alert_after_failures failed runs)."
    ) in message


def test_a_renewed_secret_signs_in(entra: Path) -> None:
    """With the secret Entra ID accepts, a token comes."""
    tokens = token_source(secret_auth("renewed"), GRAPH_BASE_URL, Path())
    assert asyncio.run(tokens.token()) == "t"


def test_a_request_whose_sign_in_fails_raises_the_auth_error_not_azures(entra: Path) -> None:
    """The token is fetched inside the gateway's mapped block: callers see AuthError only."""
    fake = FakeGraph(token="t")
    gateway = GraphGateway(
        GRAPH_BASE_URL,
        token_source(secret_auth("expired"), GRAPH_BASE_URL, Path()),
        transport=httpx.ASGITransport(app=fake.app),
    )
    with pytest.raises(AuthError, match="AADSTS7000222"):
        asyncio.run(gateway.list_columns("site", "list"))
    assert fake.calls == []


def test_entra_id_out_of_reach_is_transient() -> None:
    """A token endpoint that cannot be reached is 'retry later', not a credential problem."""
    error = from_credential_error(ServiceRequestError("Connection refused"), APP)
    assert isinstance(error, TransientError)
    assert error.message == (
        "sign-in of app 2222-app in tenant 1111-tenant: Entra ID could not be reached "
        "(ServiceRequestError: Connection refused); will retry later."
    )


def test_a_network_failure_wrapped_by_azure_identity_is_transient() -> None:
    """azure-identity wraps msal's network errors in ClientAuthenticationError: still transient."""
    wrapped = ClientAuthenticationError(message="Authentication failed: connection reset")
    wrapped.__cause__ = ConnectionResetError(104, "Connection reset by peer")
    assert isinstance(from_credential_error(wrapped, APP), TransientError)


def expired_certificate(path: Path) -> Path:
    """A PEM with a key and a self-signed certificate that expired on 2026-01-31."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "m365-automation")])
    until = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(until - timedelta(days=365))
        .not_valid_after(until)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + certificate.public_bytes(serialization.Encoding.PEM)
    )
    return path


def test_a_refused_certificate_says_until_when_it_was_valid(tmp_path: Path) -> None:
    """A refused certificate sign-in gives the certificate's expiry and how to replace it."""
    pem = expired_certificate(tmp_path / "automation.pem")
    app = AppCredential("certificate", "2222-app", "1111-tenant", pem)
    refused = ClientAuthenticationError(
        message="Authentication failed: AADSTS700027: Client assertion failed signature validation."
    )
    error = from_credential_error(refused, app)
    assert isinstance(error, AuthError)
    assert f"The certificate in {pem} expired on 2026-01-31 09:00 UTC." in error.message
    assert "Upload a new certificate for app 2222-app" in error.message


def test_an_unreadable_certificate_file_is_a_configuration_error(tmp_path: Path) -> None:
    """A certificate path that does not exist fails each run with the path to fix."""
    auth = CertificateAuth(
        type="certificate",
        tenant_id="1111-tenant",
        client_id="2222-app",
        certificate_path=tmp_path / "missing.pem",
    )
    tokens = token_source(auth, GRAPH_BASE_URL, tmp_path)
    with pytest.raises(ConfigError, match="cannot read the certificate file"):
        asyncio.run(tokens.token())


def test_a_credential_failure_of_another_kind_is_not_hidden() -> None:
    """An exception that is no sign-in failure is left to the run boundary, unchanged."""

    class Broken:
        def get_token(self, *scopes: str, **options: object) -> object:
            raise RuntimeError("bug")

    with pytest.raises(RuntimeError, match="bug"):
        asyncio.run(CredentialToken(Broken(), "scope", app=APP).token())


def test_azure_request_and_header_logging_is_silenced_below_warning() -> None:
    """The daemon's logging keeps azure's INFO lines (request URLs and headers) out."""
    logs.setup(stream=open("/dev/null", "w"))  # noqa: SIM115  # closed with the process
    policy = logging.getLogger("azure.core.pipeline.policies.http_logging_policy")
    assert not policy.isEnabledFor(logging.INFO)
    assert policy.isEnabledFor(logging.WARNING)


CONFIG = """\
version: 1
state: {{path: state/db.sqlite}}
backend:
  type: graph
  base_url: {base_url}
  auth: {{type: client_secret, tenant_id: 1111-tenant, client_id: 2222-app,
         client_secret: '${{GRAPH_SECRET}}'}}
directory: {{departments: [{{name: 危機管理課, sheet: 危機管理課}}]}}
flows:
  - id: damage
    kind: damage_rollup
    params:
      disaster: 台風
      workbook: {{drive_id: b!drive, item_id: 01BOOK}}
      report_to: [{{channel: teams_webhook, address: 'https://example.invalid/hook'}}]
"""


@pytest.mark.e2e
def test_run_json_prints_the_auth_record_and_no_traceback(tmp_path: Path) -> None:
    """`automation run --json` with an expired secret prints a failed record of kind auth."""
    import json  # noqa: PLC0415

    accepts = tmp_path / "accepted-secret"
    accepts.write_text("renewed", encoding="utf-8")
    config = tmp_path / "automation.yaml"
    config.write_text(CONFIG.format(base_url="http://127.0.0.1:9/v1.0"), encoding="utf-8")
    env = {
        "PATH": "/usr/bin:/bin",
        "GRAPH_SECRET": "expired",
        fake_entra.ACCEPTS: str(accepts),
        "FAKE_GRAPH_TOKEN": "t",
    }
    done = subprocess.run(
        [sys.executable, "-m", "tests.fake_entra", "run", "damage", "-c", str(config), "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        check=False,
        timeout=120,
    )
    record = json.loads(done.stdout)
    assert (done.returncode, record["status"], record["error"]["kind"]) == (1, "failed", "auth")
    assert "AADSTS7000222" in record["error"]["message"]
    assert "Traceback" not in done.stderr
