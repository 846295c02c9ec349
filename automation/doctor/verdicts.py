"""Rows decided from what is already known, without a request of their own.

A Teams webhook URL's form (posting would show in the channel), the service account's
cached sign-in, and the local clock against the Date headers of Graph's answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit

from automation.backends.graph import service_account
from automation.config.models import AccessTokenAccount, Contact
from automation.doctor.hints import SEE_TEAMS
from automation.doctor.rows import Row, one_line
from automation.timeutil import JST

SKEW_LIMIT = timedelta(minutes=5)
WORKFLOW_HOSTS = (  # Teams Workflows webhooks: Logic Apps and Power Automate hosts
    "logic.azure.com",
    "logic.azure.us",
    "logic.azure.cn",
    "api.powerplatform.com",
    "powerautomate.com",
    "flow.microsoft.com",
)
RETIRED_HOSTS = ("webhook.office.com",)  # Office 365 connector webhooks, retired
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def webhook_row(contact: Contact) -> Row:
    """Only the URL's form is checked (a post would appear in the channel); never shown."""
    target = contact.label
    parts = urlsplit(contact.address)
    host = (parts.hostname or "").lower()
    see = SEE_TEAMS
    if host in LOOPBACK:
        return Row("webhook", target, "OK", f"a loopback test server ({host}); not posted")
    if parts.scheme != "https":
        return Row(
            "webhook",
            target,
            "FAIL",
            f"the URL is {parts.scheme or 'not a URL'}, expected https (the URL carries its key)",
            "copy the https URL from the workflow's trigger in Teams (Workflows → "
            "Post to a channel when a webhook request is received)",
            see,
        )
    if _on(host, RETIRED_HOSTS):
        return Row(
            "webhook",
            target,
            "FAIL",
            f"{host} is an Office 365 connector webhook, which Microsoft retires",
            "create a Teams Workflows webhook (channel → Workflows → Post to a channel when a "
            "webhook request is received) and use its URL",
            see,
        )
    if not _on(host, WORKFLOW_HOSTS):
        return Row(
            "webhook",
            target,
            "FAIL",
            f"{host} is not a Teams Workflows host (expected …logic.azure.com or "
            "…api.powerplatform.com)",
            "copy the URL from the workflow's trigger in Teams (Workflows → Post to a channel "
            "when a webhook request is received)",
            see,
        )
    return Row("webhook", target, "OK", f"https on {host} (Teams Workflows); not posted")


def _on(host: str, hosts: Iterable[str]) -> bool:
    """Whether ``host`` is one of ``hosts`` or a subdomain of one."""
    return any(host == h or host.endswith("." + h) for h in hosts)


def account_row(
    account: object, signed_in: service_account.AccountStatus | None, config: Path
) -> Row:
    """The service account's cached sign-in, as ``service_account.status`` found it."""
    if account is None or signed_in is None:
        return Row(
            "service account",
            "-",
            "SKIP",
            "no backend.service_account (needed only for teams_channel contacts)",
        )
    if isinstance(account, AccessTokenAccount):
        return Row(
            "service account",
            "access_token",
            "OK",
            "a fixed delegated token from the configuration; the channel probes check it",
        )
    target = signed_in.username or f"client {getattr(account, 'client_id', '?')}"
    if signed_in.problem:
        return Row(
            "service account",
            target,
            "FAIL",
            one_line(signed_in.problem),
            f"run `automation login -c {config}` on the server as the user the service runs as",
            SEE_TEAMS,
        )
    until = (
        f"; access token valid until {signed_in.expires_at.astimezone(JST):%Y-%m-%d %H:%M} JST"
        if signed_in.expires_at
        else ""
    )
    return Row(
        "service account",
        target,
        "OK",
        f"cached sign-in works{until} (refreshed silently; the sign-in ends after 90 days "
        "unused, a password reset or an admin revoking sessions)",
    )


def clock_row(host: str, dates: Sequence[tuple[str, datetime]]) -> Row:
    """The local clock against the newest of Graph's ``(Date header, local time then)``."""
    if not dates:
        return Row("clock", host, "SKIP", "no Graph response carried a Date header")
    header, local = dates[-1]
    try:
        graph = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return Row("clock", host, "SKIP", f"Graph's Date header is unreadable: {header!r}")
    skew = local - graph
    off = _duration(abs(skew))
    side = "ahead of" if skew > timedelta(0) else "behind"
    if abs(skew) < timedelta(seconds=2):  # the Date header counts whole seconds
        return Row("clock", host, "OK", "local clock agrees with Graph's (to the second)")
    if abs(skew) <= SKEW_LIMIT:
        return Row("clock", host, "OK", f"local clock {off} {side} Graph's (within 5 minutes)")
    return Row(
        "clock",
        host,
        "FAIL",
        f"local clock is {off} {side} Graph's (Date: {one_line(header)}); more than 5 "
        "minutes off, sign-ins and tokens are rejected",
        "turn on time synchronisation: `timedatectl set-ntp true` (systemd-timesyncd or "
        "chrony), then `timedatectl status` should say System clock synchronized: yes",
    )


def _duration(delta: timedelta) -> str:
    seconds = round(delta.total_seconds())
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
