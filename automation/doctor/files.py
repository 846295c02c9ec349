"""The probes of what the flows read: each configured workbook and SharePoint list."""

from __future__ import annotations

from urllib.parse import quote

from automation.backends.graph.gateway import GraphGateway
from automation.config.models import ChannelFile, DriveFile, SiteFile, SiteList
from automation.doctor.probe import Probe
from automation.doctor.rows import Row, error_row, one_line, refused
from automation.errors import AutomationError
from automation.flows.provision_list import ListPlan, differences

WorkbookRef = DriveFile | ChannelFile | SiteFile


async def workbook_row(probe: Probe, app: GraphGateway, flows: str, ref: WorkbookRef) -> Row:
    """The workbook's metadata is readable (its download and upload are not probed)."""
    target = workbook_target(flows, ref)
    select = {"$select": "id,name,eTag,size"}
    try:
        if isinstance(ref, ChannelFile):
            folder = await probe.get(
                app,
                f"/teams/{quote(ref.team_id)}/channels/{quote(ref.channel_id)}/filesFolder",
                f"find the files folder of channel {ref.channel_id}",
            )
            if folder.status_code != 200:
                return refused("workbook", target, folder, probe.grants().folder(ref))
            parent = folder.json()
            drive, item = parent["parentReference"]["driveId"], parent["id"]
            site = parent["parentReference"].get("siteId")
            path = f"/drives/{quote(drive)}/items/{quote(item)}:/{quote(ref.path.strip('/'))}:"
            missing = (
                f"no file {ref.path} in the channel's files folder "
                f"({one_line(str(parent.get('name', '')))})",
                "check params.workbook.path (a path inside the channel's folder)",
            )
        elif isinstance(ref, SiteFile):
            site = ref.site_id
            path = f"/sites/{quote(ref.site_id)}/drive/root:/{quote(ref.path.strip('/'))}:"
            missing = (
                f"no file {ref.path} in the default library of site {ref.site_id}",
                "check params.workbook.site_id and path",
            )
        else:
            site = None
            path = f"/drives/{quote(ref.drive_id)}/items/{quote(ref.item_id)}"
            missing = (
                f"no item {ref.item_id} in drive {ref.drive_id}",
                "check params.workbook.drive_id and item_id",
            )
        response = await probe.get(app, path, "read the workbook's metadata", select)
    except AutomationError as err:
        return error_row("workbook", target, err)
    if response.status_code == 200:
        item = response.json()
        return Row(
            "workbook",
            target,
            "OK",
            f"{one_line(str(item.get('name', '')))}, {_size(item.get('size'))}: readable "
            "(the merged workbook's upload needs the site's write role; not probed)",
        )
    return refused("workbook", target, response, probe.grants().workbook(site, *missing))


async def list_row(
    probe: Probe, app: GraphGateway, flows: str, ref: SiteList, plan: ListPlan | None = None
) -> Row:
    """The list's columns are readable, and (with ``plan``) whether they are what
    ``automation provision list`` would build: a list made by hand may still be read."""
    target = list_target(flows, ref)
    try:
        response = await probe.get(
            app,
            f"/sites/{quote(ref.site_id)}/lists/{quote(ref.list_id)}/columns",
            f"read the columns of list {ref.list_id}",
            None if plan is not None else {"$select": "name,displayName"},
        )
    except AutomationError as err:
        return error_row("list", target, err)
    if response.status_code == 200:
        try:  # every page: a list's columns may come in more than one (paging.md)
            columns = await app.rest_of(response, what=f"read the columns of list {ref.list_id}")
        except AutomationError as err:
            return error_row("list", target, err)
        finally:
            probe.saw(app)
        detail = f"{len(columns)} columns readable (Sites.Selected, read)"
        if plan is not None:
            detail += "; " + _design(plan, columns)
        return Row("list", target, "OK", detail)
    return refused("list", target, response, probe.grants().site_list(ref))


def _design(plan: ListPlan, columns: list[dict[str, object]]) -> str:
    """Whether the columns are what provision would build, the first difference if not."""
    from automation.backends.graph.provision import existing_column  # noqa: PLC0415

    found = differences(plan, [existing_column(c) for c in columns])
    if not found:
        return "matches what `automation provision list` would build"
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return (
        f"differs from what `automation provision list` would build: {found[0]}{more}; "
        "run it to see all, with --apply to add what is missing"
    )


def workbook_target(flows: str, ref: WorkbookRef) -> str:
    """How a workbook row names its target: the flows and the file (or item id)."""
    if isinstance(ref, ChannelFile | SiteFile):
        return f"{flows}: {ref.path.strip('/').rsplit('/', 1)[-1]}"
    return f"{flows}: item {ref.item_id}"


def list_target(flows: str, ref: SiteList) -> str:
    """How a list row names its target: the flows and the list id."""
    return f"{flows}: list {ref.list_id}"


def _size(value: object) -> str:
    if not isinstance(value, int):
        return "size unknown"
    return f"{value / 1024:.0f} KB" if value >= 1024 else f"{value} bytes"
