"""Provisioning inputs in the tenant: the departments' workbook, created and never overwritten.

A new workbook is uploaded with ``@microsoft.graph.conflictBehavior=fail`` (driveitem-put-
content.md: an existing item of that name answers 409 ``nameAlreadyExists`` and is left as it
is), after a look-up that names the existing file before anything is sent. ``--replace``
first stores the existing workbook's bytes as an archived copy beside it (conflict ``fail``
too, so no archive is ever overwritten), then replaces the workbook's content.
"""

from __future__ import annotations

from automation.backends.graph.gateway import WRITE, GraphGateway
from automation.config.models import ChannelFile, DriveFile, FileRef, SiteFile
from automation.errors import ConfigError
from automation.ports import CreatedFile


class GraphProvisioner:
    """Creates the departments' workbook in SharePoint or a Teams channel's files."""

    def __init__(self, gateway: GraphGateway) -> None:
        self.gateway = gateway

    async def create_workbook(
        self, ref: FileRef, name: str, data: bytes, *, replace: bool, archive_name: str
    ) -> CreatedFile:
        """Upload ``data`` as the workbook ``ref`` names; return its web URL."""
        if not isinstance(ref, DriveFile | SiteFile | ChannelFile):
            raise ConfigError(
                f"params.workbook is the local path {ref!r}, but backend.type is graph; write "
                "{site_id, path} or {team_id, channel_id, path} to upload it"
            )
        existing = await self._existing(ref)
        if existing is None and isinstance(ref, DriveFile):
            raise ConfigError(
                f"params.workbook names drive item {ref.item_id}, which does not exist; a new "
                "workbook needs a place, not an id: write {site_id, path} or "
                "{team_id, channel_id, path}"
            )
        if existing is not None and not replace:
            raise ConfigError(
                f"a workbook already exists at {existing[1] or name}; nothing was changed. "
                "Departments may have typed into it: pass --replace to keep it as an archived "
                "copy and upload the new one, or give params.workbook a new path"
            )
        archived = None
        if existing is not None:
            name = existing[0] or name
            old = await self.gateway.download_if_changed(ref, None)
            archived = await self.gateway.upload_next_to(
                ref, archive_name, old.data or b"", conflict="fail"
            )
        url = await self.gateway.upload_next_to(
            ref, name, data, conflict="replace" if replace else "fail"
        )
        return CreatedFile(url, archived)

    async def _existing(self, ref: DriveFile | SiteFile | ChannelFile) -> tuple[str, str] | None:
        """(name, web URL) of the file ``ref`` names, or None when there is none (404)."""
        path = await self.gateway.content_path(ref)
        response = await self.gateway.request(
            "GET",
            path,
            what="look for an existing workbook",
            permission=WRITE,
            ok=(200, 404),
            params={"$select": "name,webUrl"},
        )
        if response.status_code == 404:
            return None
        meta = response.json()
        return str(meta.get("name", "")), str(meta.get("webUrl", ""))
