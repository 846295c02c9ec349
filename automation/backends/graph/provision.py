"""Provisioning inputs in the tenant: the departments' workbook, created and never
overwritten, and the progress list, created with its columns.

A new workbook is uploaded with ``@microsoft.graph.conflictBehavior=fail`` (driveitem-put-
content.md: an existing item of that name answers 409 ``nameAlreadyExists`` and is left as it
is), after a look-up that names the existing file before anything is sent; a file that takes
the name between the two is named, with the fix, and left as it is. ``--replace`` first
stores the existing workbook's bytes as an archived copy beside it (conflict ``fail`` too, so
no archive is ever overwritten), then replaces the workbook's content (the item keeps its id
and links); a copy that cannot be made stops it before anything changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from automation.backends.graph.gateway import WRITE, GraphGateway
from automation.config.models import ChannelFile, DriveFile, FileRef, ListRef, SiteFile, SiteList
from automation.errors import ConfigError, NameConflictError, TransientError
from automation.ports import CreatedFile, ExistingColumn, ListColumn


@dataclass(frozen=True)
class _Found:
    """A file found where the workbook goes: its name, web URL and size as Graph lists them."""

    name: str
    web_url: str
    size: int | None


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
        existing = await self._found(ref)
        if existing is None and isinstance(ref, DriveFile):
            raise ConfigError(
                f"params.workbook names drive item {ref.item_id}, which does not exist; a new "
                "workbook needs a place, not an id: write {site_id, path} or "
                "{team_id, channel_id, path}"
            )
        if existing is not None and not replace:
            raise ConfigError(
                f"a workbook already exists at {existing.web_url or name}; nothing was "
                "changed. Departments may have typed into it: pass --replace to keep it as an "
                "archived copy and upload the new one, or give params.workbook a new path"
            )
        if existing is None:
            return CreatedFile(await self._upload_new(ref, name, data))
        archived = await self._archive_copy(ref, existing, archive_name)
        url = await self.gateway.upload_next_to(ref, existing.name or name, data, "replace")
        return CreatedFile(url, archived)

    async def _upload_new(self, ref: FileRef, name: str, data: bytes) -> str:
        """Upload a workbook where none was (conflict ``fail``): a file of that name created
        meanwhile is named and left as it is; our own upload whose answer was lost is not a
        conflict."""
        try:
            return await self.gateway.upload_next_to(ref, name, data, "fail")
        except NameConflictError:
            clash = await self._next_to(ref, name, "the file that took the workbook's name")
            if clash is not None and await self._holds(clash, data):
                return str(clash.get("webUrl", ""))
            raise ConfigError(
                f"{_named(clash, name)} appeared after this command looked for it and before "
                "the upload; nothing was changed. Departments may be typing into it: open it "
                "and check, then run the command again with --replace to keep it as an "
                "archived copy and upload the new one, or give params.workbook a new path"
            ) from None

    async def _archive_copy(
        self, ref: DriveFile | SiteFile | ChannelFile, existing: _Found, archive_name: str
    ) -> str:
        """Store the existing workbook's bytes as ``archive_name`` beside it and return the
        copy's web URL. Nothing of the old workbook is changed here, and a copy that cannot
        be made (an empty download of a non-empty file, the name taken) stops the replace.

        The bytes go down and up again rather than through driveitem-copy.md: that copy is
        asynchronous (202 and a monitor URL; "the response from the API will only indicate
        that the copy operation was accepted or rejected") and lists Files.ReadWrite.All or
        Sites.ReadWrite.All, while this works under Sites.Selected (write).
        """
        old = (await self.gateway.download_if_changed(ref, None)).data
        if old is None or (not old and existing.size != 0):
            raise TransientError(
                f"download {existing.name}: Graph lists it at {existing.size} bytes but the "
                "download was empty, so no archived copy could be made; nothing was changed. "
                "Run the command again"
            )
        try:
            return await self.gateway.upload_next_to(ref, archive_name, old, "fail")
        except NameConflictError:
            clash = await self._next_to(ref, archive_name, "the file with the archive's name")
            raise ConfigError(
                f"{_named(clash, archive_name)} already exists, so the old workbook cannot be "
                "archived under that name; nothing was changed. Rename or move that file, or "
                "run the command again a second later (archived copies are named by the second)"
            ) from None

    async def _next_to(self, ref: FileRef, name: str, what: str) -> dict[str, Any] | None:
        """The item ``name`` beside the workbook (name, URL, size, who changed it), or None."""
        response = await self.gateway.request(
            "GET",
            await self.gateway.path_next_to(ref, name),
            what=f"read {what}",
            permission=WRITE,
            ok=(200, 404),
            params={
                "$select": "id,name,webUrl,size,parentReference,lastModifiedBy,lastModifiedDateTime"
            },
        )
        return dict(response.json()) if response.status_code == 200 else None

    async def _holds(self, item: Mapping[str, Any], data: bytes) -> bool:
        """Whether ``item`` is exactly ``data`` (size first, then the content)."""
        if item.get("size") != len(data) or "id" not in item:
            return False
        parent = item.get("parentReference") or {}
        drive = parent.get("driveId")
        if not drive:
            return False
        stored = await self.gateway.request(
            "GET",
            f"/drives/{quote(str(drive))}/items/{quote(str(item['id']))}/content",
            what=f"compare {item.get('name', '')} with the new workbook",
        )
        return stored.content == data

    async def _found(self, ref: DriveFile | SiteFile | ChannelFile) -> _Found | None:
        """The file ``ref`` names, or None when there is none (404)."""
        path = await self.gateway.content_path(ref)
        response = await self.gateway.request(
            "GET",
            path,
            what="look for an existing workbook",
            permission=WRITE,
            ok=(200, 404),
            params={"$select": "name,webUrl,size"},
        )
        if response.status_code == 404:
            return None
        meta = response.json()
        size = meta.get("size")
        return _Found(
            str(meta.get("name", "")),
            str(meta.get("webUrl", "")),
            size if isinstance(size, int) else None,
        )

    async def existing(self, ref: FileRef) -> str | None:
        """The web URL (or name) of the file ``ref`` names, or None when there is none."""
        if not isinstance(ref, DriveFile | SiteFile | ChannelFile):
            return None
        found = await self._found(ref)
        return None if found is None else found.web_url or found.name

    async def archive_workbook(self, ref: FileRef, folder: str) -> str:
        """Move the workbook into ``folder`` beside it (driveitem-move.md: PATCH its
        parentReference; the folder is created with conflictBehavior ``fail`` when missing,
        driveitem-post-children.md). An item of the same name already in the folder is
        named and left alone, before anything changes. Returns the moved item's web URL."""
        if not isinstance(ref, DriveFile | SiteFile | ChannelFile):
            raise ConfigError(f"the Graph backend needs a file reference, not the path {ref!r}")
        item = await self._item(ref)
        parent = item.get("parentReference") or {}
        drive, parent_id, name = str(parent["driveId"]), str(parent["id"]), str(item["name"])
        folder_id = await self._folder(drive, parent_id, folder)
        clash = await self.gateway.request(
            "GET",
            f"/drives/{quote(drive)}/items/{quote(folder_id)}:/{quote(name)}:",
            what=f"look for {name} in {folder}",
            permission=WRITE,
            ok=(200, 404),
            params={"$select": "name,webUrl"},
        )
        if clash.status_code == 200:
            raise ConfigError(
                f"{folder}/{name} already exists ({clash.json().get('webUrl', '')}); nothing "
                "was changed. Rename or move that file, then run incident close again"
            )
        moved = await self.gateway.request(
            "PATCH",
            f"/drives/{quote(drive)}/items/{quote(str(item['id']))}",
            what=f"move {name} into {folder}",
            permission=WRITE,
            ok=(200, 409),
            retry=False,  # a move is not repeated blindly: a rerun looks again first
            json={"parentReference": {"id": folder_id}},
        )
        if moved.status_code == 409:
            raise ConfigError(
                f"{folder}/{name} appeared while moving it there; the workbook stayed where it "
                "was. Rename or move that file, then run incident close again"
            )
        return str(moved.json().get("webUrl") or f"{folder}/{name}")

    async def _item(self, ref: DriveFile | SiteFile | ChannelFile) -> dict[str, Any]:
        """The workbook's id, name and parent, or a ConfigError when it is gone."""
        path = await self.gateway.content_path(ref)
        response = await self.gateway.request(
            "GET",
            path,
            what="find the workbook to archive",
            permission=WRITE,
            ok=(200, 404),
            params={"$select": "id,name,parentReference,webUrl"},
        )
        if response.status_code == 404:
            raise ConfigError(
                f"the workbook {getattr(ref, 'path', '')} is not there (moved or deleted by "
                "hand?); nothing was changed. Put it back, or archive it yourself"
            )
        return dict(response.json())

    async def _folder(self, drive: str, parent_id: str, folder: str) -> str:
        """The id of ``folder`` under the parent, created when missing."""
        found = await self.gateway.request(
            "GET",
            f"/drives/{quote(drive)}/items/{quote(parent_id)}:/{quote(folder)}:",
            what=f"look for the folder {folder}",
            permission=WRITE,
            ok=(200, 404),
            params={"$select": "id,folder"},
        )
        if found.status_code == 200:
            return str(found.json()["id"])
        created = await self.gateway.request(
            "POST",
            f"/drives/{quote(drive)}/items/{quote(parent_id)}/children",
            what=f"create the folder {folder}",
            permission=WRITE,
            ok=(201,),
            retry=False,
            json={
                "name": folder,
                "folder": {},
                "@microsoft.graph.conflictBehavior": "fail",
            },
        )
        return str(created.json()["id"])


def _named(item: Mapping[str, Any] | None, name: str) -> str:
    """A conflicting item as the admin can find it: its name, address, who changed it when."""
    if item is None:
        return f"a file named {name}"
    who = ((item.get("lastModifiedBy") or {}).get("user") or {}).get("displayName")
    when = item.get("lastModifiedDateTime")
    by = f", last changed by {who}" if who else ""
    at = f" at {when}" if when else ""
    return f"{item.get('name') or name} ({item.get('webUrl') or 'no web address'}{by}{at})"


MANAGE = "Sites.Selected (manage) on the site, to create a list and its columns"
FACETS = ("choice", "number", "text", "dateTime", "boolean", "personOrGroup", "currency", "lookup")


def column_definition(column: ListColumn) -> dict[str, Any]:
    """The columnDefinition of ``column`` (columndefinition.md): an ASCII internal name, the
    display name the flow reads by, and one type facet (choicecolumn.md, numbercolumn.md)."""
    digest = hashlib.sha1(column.name.encode("utf-8"), usedforsecurity=False).hexdigest()
    body: dict[str, Any] = {
        "name": f"m365_{digest[:12]}",
        "displayName": column.name,
        "required": column.required,
        "indexed": column.indexed,
        "enforceUniqueValues": False,
        "hidden": False,
    }
    if column.kind == "choice":
        body["choice"] = {
            "allowTextEntry": False,
            "choices": list(column.choices),
            "displayAs": "dropDownMenu",
        }
    elif column.kind == "number":
        number: dict[str, Any] = {"decimalPlaces": "automatic", "displayAs": "number"}
        if column.minimum is not None:
            number["minimum"] = column.minimum
        body["number"] = number
    else:
        body["text"] = {"allowMultipleLines": False, "maxLength": 255}
    return body


class GraphListProvisioner:
    """Creates a SharePoint list with its columns (list-create.md), or adds columns to one
    (list-post-columns.md). Both need the site's ``manage`` role under Sites.Selected."""

    def __init__(self, gateway: GraphGateway) -> None:
        self.gateway = gateway

    @staticmethod
    def _site_list(ref: ListRef) -> SiteList:
        if not isinstance(ref, SiteList):
            raise ConfigError(
                f"params.list is the local path {ref!r}, but backend.type is graph; write "
                "{site_id, list_id} (list_id: the list's id, or the title to create it under)"
            )
        return ref

    async def list_columns(self, ref: ListRef) -> list[ExistingColumn] | None:
        """The list's columns by display name (every page of them), or None when the site
        has no such list."""
        site = self._site_list(ref)
        response = await self.gateway.request(
            "GET",
            f"/sites/{quote(site.site_id)}/lists/{quote(site.list_id)}/columns",
            what=f"read the columns of list {site.list_id}",
            permission=MANAGE,
            ok=(200, 404),
        )
        if response.status_code == 404:
            return None
        columns = await self.gateway.rest_of(
            response, what=f"read the columns of list {site.list_id}", permission=MANAGE
        )
        return [existing_column(c) for c in columns]

    async def create_list(self, ref: ListRef, columns: Sequence[ListColumn]) -> str:
        """POST the list with its columns; return its id and web URL."""
        site = self._site_list(ref)
        response = await self.gateway.request(
            "POST",
            f"/sites/{quote(site.site_id)}/lists",
            what=f"create list {site.list_id}",
            permission=MANAGE,
            ok=(201, 409),
            retry=False,  # not idempotent: a rerun looks the list up first
            json={
                "displayName": site.list_id,
                "columns": [column_definition(c) for c in columns],
                "list": {"template": "genericList"},
            },
        )
        if response.status_code == 409:
            raise ConfigError(
                f"create list {site.list_id}: the site already has a list of that name that "
                "could not be read as params.list; nothing was changed. Set params.list.list_id "
                "to that list's id, or choose another name"
            )
        created = response.json()
        return f"list id {created.get('id')} at {created.get('webUrl', '')}"

    async def add_columns(self, ref: ListRef, columns: Sequence[ListColumn]) -> None:
        """POST each missing column to the existing list."""
        site = self._site_list(ref)
        for column in columns:
            await self.gateway.request(
                "POST",
                f"/sites/{quote(site.site_id)}/lists/{quote(site.list_id)}/columns",
                what=f"add column {column.name} to list {site.list_id}",
                permission=MANAGE,
                ok=(201,),
                retry=False,
                json=column_definition(column),
            )

    async def set_choices(
        self, ref: ListRef, column: ExistingColumn, choices: Sequence[str]
    ) -> None:
        """PATCH the column's choice facet (columndefinition-update.md): ``choices`` in full."""
        site = self._site_list(ref)
        await self.gateway.request(
            "PATCH",
            f"/sites/{quote(site.site_id)}/lists/{quote(site.list_id)}/columns/{quote(column.id)}",
            what=f"add choices to column {column.name} of list {site.list_id}",
            permission=MANAGE,
            ok=(200,),
            json={
                "choice": {
                    "allowTextEntry": False,
                    "choices": list(choices),
                    "displayAs": "dropDownMenu",
                }
            },
        )


def existing_column(definition: Mapping[str, Any]) -> ExistingColumn:
    """A columnDefinition as read back, by its display name, type facet and choices."""
    kind = next((f for f in FACETS if f in definition), "")
    choices = (definition.get("choice") or {}).get("choices") or []
    return ExistingColumn(
        str(definition.get("displayName") or definition.get("name", "")),
        kind or "other",
        tuple(str(c) for c in choices),
        bool(definition.get("required", False)),
        str(definition.get("id", "")),
    )
