"""What the Graph probes share: the configuration, the app's grants and Graph's clock."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import httpx

from automation.backends.graph.gateway import GraphGateway
from automation.config.loader import LoadedConfig
from automation.config.models import Contact, GraphBackend
from automation.doctor.hints import AppGrants

PROBED = (200, 202, 401, 403, 404)  # answers each probe explains; others raise mapped errors


@dataclass
class Probe:
    """One doctor run's shared view: what the app's token showed, and every Date Graph sent."""

    loaded: LoadedConfig
    backend: GraphBackend
    roles: frozenset[str] | None = None  # application permissions in the app token
    client_id: str = ""
    dates: list[tuple[str, datetime]] = field(default_factory=list)  # (Date header, local time)

    def __post_init__(self) -> None:
        if not self.client_id:
            client = getattr(self.backend.auth, "client_id", None)
            self.client_id = str(client) if client else "<the app's client id>"

    async def get(
        self,
        gateway: GraphGateway,
        path: str,
        what: str,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One read-only GET; 401/403/404 come back for the caller to explain."""
        try:
            return await gateway.request("GET", path, what=what, ok=PROBED, params=params)
        finally:
            self.saw(gateway)

    def saw(self, gateway: GraphGateway) -> None:
        """Keep the Date header of the gateway's last answer, for the clock row."""
        if gateway.last_date is not None:
            self.dates.append(gateway.last_date)

    def grants(self) -> AppGrants:
        """What the app's refusals mean, by what its token showed (see the credential row)."""
        return AppGrants(self.backend.auth, self.roles, self.client_id)


def unique(contacts: Iterable[Contact], channel: str) -> list[Contact]:
    """Contacts of one channel, one per address (first name wins)."""
    seen: dict[str, Contact] = {}
    for contact in contacts:
        if contact.channel == channel:
            seen.setdefault(contact.address, contact)
    return list(seen.values())
