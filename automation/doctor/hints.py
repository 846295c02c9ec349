"""What a refused probe means: the missing permission or grant, its fix, the README point."""

from __future__ import annotations

from dataclasses import dataclass

from automation.config.models import CertificateAuth, ClientSecretAuth, ManagedIdentityAuth

README = "README.md#permissions-in-entra-id"
SEE_CREDENTIAL = f"{README} (Register the app, Credential)"
SEE_SITES = f"{README} (Sites.Selected)"
SEE_FILES = f"{README} (Files.Read.All)"
SEE_MAIL = f"{README} (Mail.Send)"
SEE_TEAMS = f"{README} (Teams)"


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


@dataclass(frozen=True)
class Hint:
    """What a refused probe means: what is missing, the fix, and the README point."""

    detail: str
    fix: str
    see: str


def credential_fix(auth: object, found: str) -> str:
    """What to check for a credential that got no token (or whose token was rejected)."""
    hints = [
        hint for code, hint in AADSTS_HINTS.items() if f"{code}:" in found or f"{code} " in found
    ]
    ids = (
        "check backend.auth.tenant_id (Directory (tenant) ID) and client_id (Application "
        "(client) ID) in Entra admin center → App registrations"
    )
    if isinstance(auth, CertificateAuth):
        general = (
            f"{ids}; the file {auth.certificate_path} must hold the private key, and its "
            "certificate must be uploaded under Certificates & secrets and not expired"
        )
    elif isinstance(auth, ClientSecretAuth):
        general = f"{ids}; the secret must be the Value of a secret that has not expired"
    elif isinstance(auth, ManagedIdentityAuth):
        general = (
            "a managed identity works only on Azure with the identity assigned to this host "
            "(check client_id of a user-assigned one); elsewhere use certificate auth"
        )
    else:
        general = "backend.auth.token must be a current token for this tenant and Graph host"
    return "; ".join([*hints, general])
