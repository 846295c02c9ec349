"""The Teams service account: a licensed user that posts channel messages for the service.

App-only Graph cannot post to channels (only for migration), so channel posts are made as a
user signed in once with the device-code flow (``automation login``). azure-identity keeps
the refresh token in a persistent cache (on Linux ``~/.IdentityService/NAME.cae``, in plain
text where no keyring exists, so the file is made readable by its owner only) and the
authentication record, which is not secret, sits next to the state database. The daemon
then gets tokens silently; when the refresh token is gone (90 days unused, a password
reset, an admin revoking sessions) it fails with an AuthError telling the admin to sign in
again, never with a prompt nobody sees.

Tokens are requested with CAE enabled, as the sign-in stores them in the CAE cache half
(``NAME.cae``): a daemon asking without CAE would look in the other half and find nothing.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from automation.backends.graph.gateway import CredentialToken
from automation.config.models import AccessTokenAccount, DeviceCodeAccount
from automation.errors import AuthError, TransientError

RECORD_FILE = "service_account.json"
DELEGATED_PERMISSIONS = ("ChannelMessage.Send", "ChannelMessage.Read.All")
LOGIN_AGAIN = (
    "The Teams service account must sign in again: run `automation login -c CONFIG` on the "
    "server as the user the service runs as, and follow the instructions (a browser on any "
    "device will do)."
)


def scopes(base_url: str) -> list[str]:
    """The delegated scopes on the Graph host of ``base_url`` (national clouds included)."""
    parts = urlsplit(base_url)
    return [f"{parts.scheme}://{parts.netloc}/{name}" for name in DELEGATED_PERMISSIONS]


def cache_files(account: DeviceCodeAccount) -> list[Path]:
    """Where azure-identity keeps the persistent token cache on Linux and macOS."""
    folder = Path(os.path.expanduser("~")) / ".IdentityService"
    return [folder / f"{account.cache_name}{suffix}" for suffix in (".cae", ".nocae", "")]


def record_path(state_dir: Path) -> Path:
    """The saved authentication record (which account; no secret)."""
    return state_dir / RECORD_FILE


def _restrict(path: Path) -> None:
    """Make a file readable and writable by its owner only."""
    if path.exists():
        path.chmod(0o600)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` created with mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    _restrict(path)


def _credential(account: DeviceCodeAccount, **kwargs: Any) -> Any:
    from azure.identity import (  # noqa: PLC0415  # only Graph runs with channel posts load it
        DeviceCodeCredential,
        TokenCachePersistenceOptions,
    )

    return DeviceCodeCredential(
        account.client_id,
        tenant_id=account.tenant_id,
        cache_persistence_options=TokenCachePersistenceOptions(
            name=account.cache_name, allow_unencrypted_storage=True
        ),
        **kwargs,
    )


def login(
    account: DeviceCodeAccount,
    base_url: str,
    state_dir: Path,
    say: Callable[[str], None],
    credential_factory: Callable[..., Any] = _credential,
) -> str:
    """Sign the service account in with a device code; persist the record; return the user."""

    def prompt(verification_uri: str, user_code: str, expires_on: datetime) -> None:
        minutes = max(1, int((expires_on - datetime.now(expires_on.tzinfo or UTC)).seconds / 60))
        say(
            f"Sign in as the Teams service account: open {verification_uri} and enter the code "
            f"{user_code} (valid for about {minutes} minutes)."
        )

    credential = credential_factory(account, prompt_callback=prompt, timeout=900)
    try:
        record = credential.authenticate(scopes=scopes(base_url), enable_cae=True)
    except Exception as err:  # azure-identity raises several types; all mean "not signed in"
        raise AuthError(
            f"the service account sign-in did not complete: {err}. Check that the app "
            f"registration {account.client_id} allows public client flows and has the "
            f"delegated permissions {', '.join(DELEGATED_PERMISSIONS)}, then run login again."
        ) from err
    write_private(record_path(state_dir), record.serialize())
    for path in cache_files(account):
        _restrict(path)
    return str(record.username)


@dataclass
class AccountStatus:
    """What ``doctor`` shows of the service account."""

    username: str | None
    expires_at: datetime | None
    problem: str | None


class ServiceAccountToken(CredentialToken):
    """Delegated tokens of the service account, refreshed silently, cached until near expiry."""

    def __init__(self, credential: Any, token_scopes: list[str]) -> None:
        super().__init__(credential, *token_scopes, enable_cae=True)

    def _get(self, claims: str | None = None) -> Any:
        from azure.core.exceptions import ClientAuthenticationError  # noqa: PLC0415
        from azure.identity import AuthenticationRequiredError  # noqa: PLC0415

        try:  # the app's sign-in map does not apply: a person signs this account in again
            return self._ask(claims)
        except AuthenticationRequiredError as err:
            raise AuthError(f"the Teams service account is not signed in. {LOGIN_AGAIN}") from err
        except ClientAuthenticationError as err:
            message = str(err)
            if "AADSTS" in message or "invalid_grant" in message:
                raise AuthError(
                    f"the Teams service account's sign-in expired or was revoked ({message}). "
                    f"{LOGIN_AGAIN}"
                ) from err
            raise TransientError(f"could not refresh the service account's token: {err}") from err


@dataclass
class StaticAccountToken:
    """A delegated token given in the configuration (``access_token``)."""

    value: str

    async def token(self) -> str:
        """The token as configured."""
        return self.value


def account_tokens(
    account: DeviceCodeAccount | AccessTokenAccount, base_url: str, state_dir: Path
) -> ServiceAccountToken | StaticAccountToken:
    """The token source of the configured service account (no prompt, ever)."""
    if isinstance(account, AccessTokenAccount):
        return StaticAccountToken(account.token)
    saved = record_path(state_dir)
    if not saved.exists():
        return ServiceAccountToken(_NotSignedIn(), scopes(base_url))
    from azure.identity import AuthenticationRecord  # noqa: PLC0415

    record = AuthenticationRecord.deserialize(saved.read_text(encoding="utf-8"))
    credential = _credential(
        account, authentication_record=record, disable_automatic_authentication=True
    )
    return ServiceAccountToken(credential, scopes(base_url))


class _NotSignedIn:
    """Stands in for a credential when ``automation login`` has never been run."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        """Always: sign in first."""
        raise AuthError(f"the Teams service account has never signed in. {LOGIN_AGAIN}")


def status(
    account: DeviceCodeAccount | AccessTokenAccount, base_url: str, state_dir: Path
) -> AccountStatus:
    """Whether the service account can get a token without a prompt, and until when."""
    if isinstance(account, AccessTokenAccount):
        return AccountStatus(None, None, None)
    saved = record_path(state_dir)
    username = None
    if saved.exists():
        from azure.identity import AuthenticationRecord  # noqa: PLC0415

        username = AuthenticationRecord.deserialize(saved.read_text(encoding="utf-8")).username
    tokens = account_tokens(account, base_url, state_dir)
    try:
        asyncio.run(tokens.token())
    except (AuthError, TransientError) as err:
        return AccountStatus(username, None, err.message)
    expires = tokens.expires_at if isinstance(tokens, CredentialToken) else 0.0
    return AccountStatus(username, datetime.fromtimestamp(expires, UTC) if expires else None, None)
