"""What a refused probe means: the missing permission or grant, its fix, the README point."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from automation.backends.graph.errors import AADSTS_HINTS
from automation.config.models import (
    AccessTokenAuth,
    CertificateAuth,
    ChannelFile,
    ClientSecretAuth,
    GraphAuth,
    ManagedIdentityAuth,
    SiteList,
)

README = "README.md#permissions-in-entra-id"
SEE_CREDENTIAL = f"{README} (Register the app, Credential)"
SEE_SITES = f"{README} (Sites.Selected)"
SEE_FILES = f"{README} (Files.Read.All)"
SEE_MAIL = f"{README} (Mail.Send)"
SEE_TEAMS = f"{README} (Teams)"


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


@dataclass(frozen=True)
class AppGrants:
    """What the app's refusals mean, by what its token showed."""

    auth: GraphAuth
    roles: frozenset[str] | None  # application permissions in the token; None if it is opaque
    client_id: str

    def rejected(self) -> Hint:
        """A 401: the app's token was not accepted."""
        auth = self.auth
        if isinstance(auth, AccessTokenAuth):
            fix = "backend.auth.token is expired or for another tenant or host; give a fresh one"
        else:
            fix = credential_fix(auth, "")
        return Hint("the app's token was rejected", fix, SEE_CREDENTIAL)

    def site(self, site: str | None, role: str, what: str) -> Hint:
        """A 403 under Sites.Selected: not consented, or consented but the site not granted."""
        grant = (
            f"POST /sites/{site or '{site-id}'}/permissions with "
            f'{{"roles": ["{role}"], "grantedTo": [{{"application": {{"id": "{self.client_id}"}}}}]}}'
        )
        where = f"site {site}" if site else "the site holding it"
        if self.roles is not None and "Sites.Selected" in self.roles:
            return Hint(
                f"access denied to {what}: Sites.Selected is consented but {where} is not granted",
                f"a SharePoint administrator grants it (needs Sites.FullControl.All): {grant}",
                SEE_SITES,
            )
        if self.roles is not None:
            return Hint(
                f"access denied to {what}: the token carries no Sites.Selected",
                "consent Sites.Selected (application) in API permissions (Grant admin consent), "
                f"then grant {where}: {grant}",
                SEE_SITES,
            )
        return Hint(
            f"access denied to {what}: the app lacks Sites.Selected ({role}) on {where}",
            "Sites.Selected needs admin consent in API permissions and a grant on the site "
            f"(consent alone gives no access): {grant}",
            SEE_SITES,
        )

    def workbook(self, site: str | None, missing: str, check: str) -> dict[int, Hint]:
        """Refusals of the workbook's metadata; ``missing``, ``check``: what a 404 means."""
        return {
            401: self.rejected(),
            403: self.site(site, "write", "the workbook"),
            404: Hint(
                missing,
                f"{check}; if the ids are right, the app may lack the grant on its site",
                SEE_SITES,
            ),
        }

    def folder(self, ref: ChannelFile) -> dict[int, Hint]:
        """Refusals of a channel's files folder (where a channel's workbook is)."""
        return {
            401: self.rejected(),
            403: Hint(
                "access denied to the channel's files folder: looking it up needs "
                "Files.Read.All (application), which Sites.Selected does not cover",
                "consent Files.Read.All in API permissions (Grant admin consent), or address "
                "the workbook by {site_id, path} or {drive_id, item_id} instead",
                SEE_FILES,
            ),
            404: Hint(
                f"team {ref.team_id} or channel {ref.channel_id} not found",
                "check params.workbook.team_id and channel_id (Teams: the channel's ⋯ → "
                "Get link to channel: groupId= is the team id, the channel id starts with 19:)",
                SEE_FILES,
            ),
        }

    def site_list(self, ref: SiteList) -> dict[int, Hint]:
        """Refusals of a list's columns."""
        return {
            401: self.rejected(),
            403: self.site(ref.site_id, "read", "the list"),
            404: Hint(
                f"no list {ref.list_id} on site {ref.site_id}",
                "check params.list.site_id and list_id; if they are right, the app may lack "
                "the grant on the site",
                SEE_SITES,
            ),
        }

    def sent_items(self, mailbox: str) -> dict[int, Hint]:
        """Refusals of the mailbox's Sent Items (read before a send is repeated)."""
        return {
            401: self.rejected(),
            403: Hint(
                f"access denied to Sent Items of {mailbox}: checking for an interrupted send "
                "before resending needs Mail.Read on this mailbox",
                "in Exchange Online PowerShell: New-ManagementRoleAssignment -App "
                f'{self.client_id} -Role "Application Mail.Read" -CustomResourceScope '
                "<the scope used for Mail.Send> (Mail.ReadBasic lacks extended properties); "
                "changes can take an hour or two",
                SEE_MAIL,
            ),
            404: Hint(
                f"no mailbox {mailbox}",
                "check backend.mailbox (the UPN or primary address of the sending mailbox)",
                SEE_MAIL,
            ),
        }

    def mail_send(self, mailbox: str) -> dict[int, Hint]:
        """Refusals of the test mail."""
        return {
            401: self.rejected(),
            403: Hint(
                f"Mail.Send is not granted for the mailbox {mailbox}",
                f"in Exchange Online PowerShell: New-ManagementRoleAssignment -App {self.client_id} "
                '-Role "Application Mail.Send" -CustomResourceScope <a scope holding the '
                "mailbox>, then Test-ServicePrincipalAuthorization; changes can take an hour or two",
                SEE_MAIL,
            ),
            404: Hint(f"no mailbox {mailbox}", "check backend.mailbox", SEE_MAIL),
        }


def channel_hints(
    team: str, channel: str, who: str, scopes: frozenset[str] | None, config: Path
) -> dict[int, Hint]:
    """Refusals of a channel's newest message (``scopes``: the service account's delegated
    permissions; None if its token is opaque)."""
    login = f"run `automation login -c {config}` again as the service's user"
    if scopes is not None and "ChannelMessage.Read.All" not in scopes:
        denied = Hint(
            "access denied: the service account's token lacks the delegated "
            "ChannelMessage.Read.All (finding an interrupted post after a crash needs it)",
            f"add it in API permissions (Delegated), grant admin consent, then {login}",
            SEE_TEAMS,
        )
    else:
        denied = Hint(
            f"access denied: {who} is not a member of team {team}, or the delegated "
            "ChannelMessage.Read.All has no admin consent",
            f"add {who} to the team, and grant admin consent for ChannelMessage.Read.All",
            SEE_TEAMS,
        )
    return {
        401: Hint("the service account's token was rejected", login, SEE_TEAMS),
        403: denied,
        404: Hint(
            f"team {team} or channel {channel} not found",
            "check the contact's address TEAM_ID/CHANNEL_ID (Teams: the channel's ⋯ → "
            "Get link to channel: groupId= is the team id)",
            SEE_TEAMS,
        ),
    }
