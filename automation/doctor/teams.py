"""The Teams channel probes: each teams_channel contact is readable as the service account."""

from __future__ import annotations

from urllib.parse import quote

from automation.backends.graph import service_account
from automation.backends.graph.gateway import GraphGateway, TokenSource
from automation.config.models import Contact
from automation.doctor.credential import scopes, token_claims
from automation.doctor.hints import SEE_TEAMS, channel_hints
from automation.doctor.probe import Probe, unique
from automation.doctor.rows import Row, error_row, refused
from automation.errors import AutomationError


async def channel_rows(
    probe: Probe,
    delegated: GraphGateway | None,
    tokens: TokenSource | None,
    signed_in: service_account.AccountStatus | None,
) -> list[Row]:
    """One row per channel: FAIL without a service account, SKIP without its token."""
    rows = []
    for contact in unique(probe.loaded.config.contacts(), "teams_channel"):
        target = contact.name or contact.address.partition("/")[2]
        if delegated is None:
            rows.append(
                Row(
                    "channel",
                    target,
                    "FAIL",
                    "teams_channel contacts need backend.service_account, which is not set",
                    "add service_account: {type: device_code, tenant_id, client_id} and "
                    "run `automation login`",
                    SEE_TEAMS,
                )
            )
        elif signed_in is not None and signed_in.problem:
            rows.append(
                Row(
                    "channel",
                    target,
                    "SKIP",
                    "not checked: the service account has no token (see its row)",
                )
            )
        else:
            rows.append(await _channel(probe, delegated, tokens, contact, target, signed_in))
    return rows


async def _channel(
    probe: Probe,
    delegated: GraphGateway,
    tokens: TokenSource | None,
    contact: Contact,
    target: str,
    signed_in: service_account.AccountStatus | None,
) -> Row:
    """The newest message is readable, and the token may post (posting is not tried)."""
    team, _, channel = contact.address.partition("/")
    who = (signed_in.username if signed_in else None) or "the service account"
    try:
        token = await tokens.token() if tokens else ""
        granted = scopes(token_claims(token))
        response = await probe.get(
            delegated,
            f"/teams/{quote(team)}/channels/{quote(channel)}/messages",
            f"read the newest message of channel {channel}",
            {"$top": "1"},
        )
    except AutomationError as err:
        return error_row("channel", target, err)
    if response.status_code == 200:
        if granted is not None and "ChannelMessage.Send" not in granted:
            return Row(
                "channel",
                target,
                "FAIL",
                f"readable as {who}, but the token lacks the delegated ChannelMessage.Send: "
                "posts would be refused",
                "add ChannelMessage.Send (delegated) in API permissions, grant consent, "
                "then run `automation login` again",
                SEE_TEAMS,
            )
        return Row(
            "channel",
            target,
            "OK",
            f"newest message readable as {who} (ChannelMessage.Read.All); posting is not tried",
        )
    hints = channel_hints(team, channel, who, granted, probe.loaded.path)
    return refused("channel", target, response, hints)
