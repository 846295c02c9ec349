"""Checks of single configured values that cannot work: each returns what is wrong and the fix.

- a mail address must be one address (email-validator's syntax rules, no DNS look-up) and
  never carry a line break, which would let it add mail headers;
- a Teams Workflows webhook is an https address (Teams issues nothing else; plain http is
  accepted only on this machine's loopback, for test servers);
- a Teams team id is the team's group id (a GUID: Graph answers "teamId needs to be a valid
  GUID" otherwise) and a channel id has Graph's form ``19:...@thread.tacv2`` (or
  ``@thread.skype`` for older channels).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
CHANNEL_ID = re.compile(r"^19:[^\s/@]+@thread\.(?:tacv2|skype)$")
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
# An address of this plain ASCII shape passes email-validator's syntax rules (dot-atom local
# part; lower-case host labels without "--"; a top-level label of letters), so it is accepted
# without importing email-validator, whose Unicode patterns cost ~30 ms of every start.
# tests/test_config_values.py holds the two together; every other address goes to the library.
PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
)
# email-validator's special-use domains (RFC 6761 and others): never a deliverable address
SPECIAL_USE_TLDS = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})
CHANNEL_EXAMPLE = "19:4a95f7d8db4c4e7fae857bcebe0623e6@thread.tacv2"
TEAM_EXAMPLE = "5f5d7b71-1161-44d8-bcc1-3da710eb4171"
WHERE_IDS = (
    "in Teams, open the channel's ⋯ menu, 'Get link to channel': the link holds the channel id "
    "after /channel/ and the team id as groupId="
)


def mail_address_problem(address: str) -> str | None:
    """Why ``address`` is not one mail address, or None when it is."""
    if "\r" in address or "\n" in address:
        return (
            f"the mail address {address!r} contains a line break (CR/LF), which would add mail "
            "headers; write the address alone on one line"
        )
    if is_plain_address(address):
        return None
    from email_validator import EmailNotValidError, validate_email  # noqa: PLC0415  # 30 ms

    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as err:
        return (
            f"{address!r} is not a mail address: {err} Write one address as name@domain, "
            "e.g. bousai@pref.gunma.lg.jp"
        )
    return None


def is_plain_address(address: str) -> bool:
    """True for an ordinary address email-validator surely accepts (no import needed)."""
    if len(address) > 254 or PLAIN_ADDRESS.fullmatch(address) is None:
        return False
    domain = address.rpartition("@")[2]
    return "--" not in domain and domain.rpartition(".")[2] not in SPECIAL_USE_TLDS


def webhook_problem(url: str) -> str | None:
    """Why ``url`` cannot be a Teams Workflows webhook, or None."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or not host or parts.scheme not in ("https", "http"):
        return (
            "a teams_webhook address is the https URL the Teams Workflows 'Post to a channel "
            "when a webhook request is received' template gives; copy it into an environment "
            "variable and write ${NAME} here"
        )
    if parts.scheme == "http" and host not in LOOPBACK:
        return (
            f"the webhook URL uses http on {host}; Teams webhooks are https only (a webhook "
            "over http would send its secret signature in clear): write the https URL"
        )
    return None


def channel_address_problem(address: str) -> str | None:
    """Why ``address`` is not TEAM_ID/CHANNEL_ID of the right shapes, or None."""
    if address.count("/") != 1:
        return (
            "a teams_channel address is TEAM_ID/CHANNEL_ID, e.g. "
            f"{TEAM_EXAMPLE}/{CHANNEL_EXAMPLE}; {WHERE_IDS}"
        )
    team, channel = address.split("/")
    return team_id_problem(team) or channel_id_problem(channel)


def team_id_problem(team: str) -> str | None:
    """Why ``team`` is not a team (group) id, or None."""
    if GUID.match(team):
        return None
    return (
        f"team id {team!r} is not a team's group id, which is a GUID such as {TEAM_EXAMPLE}; "
        f"{WHERE_IDS}"
    )


def channel_id_problem(channel: str) -> str | None:
    """Why ``channel`` is not a channel id, or None."""
    if CHANNEL_ID.match(channel):
        return None
    return (
        f"channel id {channel!r} does not have the form of a Teams channel id, "
        f"19:…@thread.tacv2 (older channels: @thread.skype), e.g. {CHANNEL_EXAMPLE}; "
        f"{WHERE_IDS} (decode %3a as ':' and %40 as '@')"
    )
