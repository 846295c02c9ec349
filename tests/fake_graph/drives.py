"""Files (driveItem): items by id or path, content downloads, simple uploads and upload sessions,
folders and moves (driveitem-get.md, driveitem-get-content.md, driveitem-put-content.md,
driveitem-createuploadsession.md, driveitem-post-children.md, driveitem-move.md).
"""

from __future__ import annotations

import mimetypes
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from tests.fake_graph.wire import (
    FakeState,
    GraphError,
    Json,
    _iso,
    _json,
    _odata_context,
    _segments,
    _select,
)

DOWNLOAD_ORIGIN = "https://download.fake-sharepoint.test"
UPLOAD_ORIGIN = "https://upload.fake-sharepoint.test"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SIMPLE_UPLOAD_LIMIT = 4 * 1024 * 1024  # driveitem-put-content.md (newer versions say 250 MB)
# driveitem-createuploadsession.md: "If your app splits a file into multiple byte ranges, the
# size of each byte range MUST be a multiple of 320 KiB (327,680 bytes)", and "the maximum
# bytes in any given request is less than 60 MiB"
UPLOAD_FRAGMENT_UNIT = 320 * 1024
UPLOAD_FRAGMENT_LIMIT = 60 * 1024 * 1024
CONFLICT_BEHAVIOR = "@microsoft.graph.conflictBehavior"


@dataclass
class DriveItem:
    """A file (``content`` is bytes) or folder (``content`` is None) in a drive."""

    drive_id: str
    item_id: str
    name: str
    parent_path: str  # "/" for children of the root, "" for the root itself
    content: bytes | None
    web_url: str
    created: datetime
    modified: datetime
    version: int = 1  # eTag: changes with metadata or content
    content_version: int = 1  # cTag: changes with content only

    @property
    def is_folder(self) -> bool:
        """Whether the item is a folder."""
        return self.content is None

    @property
    def path(self) -> str:
        """The item's path from the drive root, e.g. ``/General/book.xlsx`` ("/" for the root)."""
        return "/" if not self.parent_path else _join(self.parent_path, self.name)

    @property
    def guid(self) -> str:
        """A stable GUID for the item, as SharePoint tags carry."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.drive_id}/{self.item_id}")).upper()

    @property
    def e_tag(self) -> str:
        """The item's eTag (metadata and content)."""
        return f'"{{{self.guid}}},{self.version}"'

    @property
    def c_tag(self) -> str:
        """The item's cTag (content only)."""
        return f'"c:{{{self.guid}}},{self.content_version}"'

    @property
    def size(self) -> int:
        """The size of a file's content (0 for a folder)."""
        return len(self.content or b"")


@dataclass
class Drive:
    """A document library."""

    drive_id: str
    root_id: str
    items: dict[str, DriveItem] = field(default_factory=dict)


@dataclass
class UploadSession:
    """An upload session created by createUploadSession."""

    session_id: str
    drive_id: str
    path: str
    conflict: str
    expires: datetime
    received: bytearray = field(default_factory=bytearray)
    total: int | None = None


def _join(parent: str, child: str) -> str:
    return "/" + "/".join([*_segments(parent), *_segments(child)])


def _path_key(path: str) -> tuple[str, ...]:
    """SharePoint paths compare case-insensitively."""
    return tuple(part.casefold() for part in _segments(path))


def _mime_type(name: str) -> str:
    if name.lower().endswith(".xlsx"):
        return XLSX_MIME
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _none_match(request: Request, item: DriveItem) -> bool:
    """``If-None-Match`` with the item's current eTag or cTag (driveitem-get-content.md)."""
    tag = request.headers.get("if-none-match")
    if tag is None:
        return False
    tag = tag.strip().removeprefix("W/")
    return tag in (item.e_tag, item.c_tag)


def _item_properties(item: DriveItem) -> Json:
    """A driveItem's own properties: ids, tags, name, times, authors."""
    who = {"user": {"displayName": "Fake User", "email": "fake.user@contoso.test"}}
    created, modified = _iso(item.created), _iso(item.modified)
    properties: Json = {
        "createdDateTime": created,
        "eTag": item.e_tag,
        "id": item.item_id,
        "lastModifiedDateTime": modified,
        "name": item.name,
        "webUrl": item.web_url,
    }
    if not item.is_folder:
        properties["cTag"] = item.c_tag
    return properties | {
        "createdBy": who,
        "lastModifiedBy": who,
        "fileSystemInfo": {"createdDateTime": created, "lastModifiedDateTime": modified},
    }


def _renamed(name: str, attempt: int) -> str:
    stem, dot, suffix = name.rpartition(".")
    return f"{stem} {attempt}.{suffix}" if dot and stem else f"{name} {attempt}"


_ADDRESS = re.compile(r"^(?:items/(?P<item>[^/:]+)|(?P<root>root))(?P<after>.*)$")
_TAILS = ("", "/content", "/createUploadSession", "/children")
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


@dataclass(frozen=True)
class Address:
    """A driveItem address: an item (None: the root), a path below it, and a tail."""

    item_id: str | None
    rel_path: str
    tail: str


def parse_address(rest: str) -> Address | None:
    """Parse ``items/{id}[:/{path}[:]][/content|/createUploadSession|/children]`` or
    ``root...``."""
    match = _ADDRESS.match(rest)
    if match is None:
        return None
    after, rel = match["after"], ""
    if after.startswith(":"):
        body = after[1:]
        rel, _, tail = body.rpartition(":") if ":" in body else (body, "", "")
    else:
        tail = after
    if tail not in _TAILS:
        return None
    return Address(None if match["root"] else match["item"], rel.strip("/"), tail)


class DriveEndpoints(FakeState):
    """Seeding, lookup and endpoints of drives and their items."""

    def add_drive_item(
        self,
        drive_id: str,
        item_id: str,
        name: str,
        content: bytes,
        parent_path: str = "/General",
        web_url: str | None = None,
    ) -> DriveItem:
        """Add a file (its parent folders are created as needed)."""
        drive = self._drive(drive_id)
        if item_id in drive.items:
            raise ValueError(f"item {item_id} already exists in drive {drive_id}")
        parent = self._ensure_folder(drive, parent_path)
        return self._new_item(drive, parent.path, name, content, item_id=item_id, web_url=web_url)

    def add_folder(self, drive_id: str, item_id: str, path: str) -> DriveItem:
        """Add a folder with a chosen id (or give an existing folder at ``path`` that id)."""
        drive = self._drive(drive_id)
        folder = self._ensure_folder(drive, path)
        if folder.item_id != item_id:
            if item_id in drive.items:
                raise ValueError(f"item {item_id} already exists in drive {drive_id}")
            drive.items.pop(folder.item_id)
            folder.item_id = item_id
            drive.items[item_id] = folder
        return folder

    def set_content(self, drive_id: str, item_id: str, content: bytes) -> DriveItem:
        """Replace a file's content: both its eTag and cTag change."""
        item = self.drives[drive_id].items[item_id]
        item.content = content
        item.version += 1
        item.content_version += 1
        item.modified = self.clock()
        return item

    def touch(self, drive_id: str, item_id: str) -> DriveItem:
        """A metadata-only change: the eTag changes, the cTag does not."""
        item = self.drives[drive_id].items[item_id]
        item.version += 1
        item.modified = self.clock()
        return item

    def set_site_drive(self, site_id: str, drive_id: str) -> None:
        """Make ``/sites/{site_id}/drive/...`` address ``drive_id``."""
        self._drive(drive_id)
        self.site_drives[site_id] = drive_id

    def file_at(self, drive_id: str, path: str) -> DriveItem | None:
        """The item at a path in a drive, e.g. ``/General/report.xlsx``."""
        return self._find(self.drives[drive_id], path)

    def _drive(self, drive_id: str) -> Drive:
        """The drive, created (with its root folder) on first use."""
        drive = self.drives.get(drive_id)
        if drive is None:
            root_id = f"01FAKEROOT{next(self._ids):022d}"
            drive = Drive(drive_id, root_id)
            now = self.clock()
            drive.items[root_id] = DriveItem(
                drive_id, root_id, "root", "", None, self._default_web_url("/"), now, now
            )
            self.drives[drive_id] = drive
        return drive

    @staticmethod
    def _default_web_url(path: str) -> str:
        return "https://contoso.sharepoint.com/sites/fake/Shared%20Documents" + quote(
            path.rstrip("/")
        )

    @staticmethod
    def _find(drive: Drive, path: str) -> DriveItem | None:
        key = _path_key(path)
        return next((i for i in drive.items.values() if _path_key(i.path) == key), None)

    def _ensure_folder(self, drive: Drive, path: str) -> DriveItem:
        folder = drive.items[drive.root_id]
        for segment in _segments(path):
            child = self._find(drive, _join(folder.path, segment))
            if child is None:
                child = self._new_item(drive, folder.path, segment, None)
            elif not child.is_folder:
                raise GraphError(
                    409, "nameAlreadyExists", f"'{child.path}' is a file, not a folder."
                )
            folder = child
        return folder

    def _new_item(
        self,
        drive: Drive,
        parent_path: str,
        name: str,
        content: bytes | None,
        *,
        item_id: str | None = None,
        web_url: str | None = None,
    ) -> DriveItem:
        kind = "FOLDER" if content is None else "ITEM"
        item_id = item_id or f"01FAKE{kind}{next(self._ids):020d}"
        now = self.clock()
        url = web_url or self._default_web_url(_join(parent_path, name))
        item = DriveItem(drive.drive_id, item_id, name, parent_path, content, url, now, now)
        drive.items[item_id] = item
        return item

    def _drive_item_json(self, request: Request, item: DriveItem) -> Json:
        """A driveItem (driveitem-get.md; resources/driveitem.md)."""
        drive = self.drives[item.drive_id]
        context = f"drives('{quote(item.drive_id)}')/items/$entity"
        body: Json = {"@odata.context": _odata_context(request, context)}
        if not item.is_folder:
            body["@microsoft.graph.downloadUrl"] = self._download_url(request, item)
        body |= _item_properties(item)
        body["parentReference"] = self._parent_reference(drive, item)
        return body | self._item_facets(drive, item)

    @staticmethod
    def _item_facets(drive: Drive, item: DriveItem) -> Json:
        """size and the file, folder or root facet."""
        if not item.is_folder:
            return {"size": item.size, "file": {"mimeType": _mime_type(item.name)}}
        key = _path_key(item.path)
        children = [
            i for i in drive.items.values() if i.parent_path and _path_key(i.parent_path) == key
        ]
        facets: Json = {
            "size": sum(c.size for c in children),
            "folder": {"childCount": len(children)},
        }
        return facets | ({} if item.parent_path else {"root": {}})

    def _parent_reference(self, drive: Drive, item: DriveItem) -> Json:
        reference: Json = {"driveType": "documentLibrary", "driveId": drive.drive_id}
        if item.parent_path:
            parent = self._find(drive, item.parent_path)
            assert parent is not None
            reference["id"] = parent.item_id
            reference["name"] = "root" if not parent.parent_path else parent.name
            suffix = "" if parent.path == "/" else parent.path
            reference["path"] = f"/drives/{drive.drive_id}/root:{suffix}"
        return reference

    def _download_url(self, request: Request, item: DriveItem) -> str:
        token = uuid.uuid4().hex
        self._downloads[token] = (item.drive_id, item.item_id)
        origin = self._preauth_origin(request, self.download_origin, DOWNLOAD_ORIGIN)
        return f"{origin}/download/{token}?tempauth={uuid.uuid4().hex}"

    @staticmethod
    def _preauth_origin(request: Request, configured: str | None, default: str) -> str:
        """Another origin: loopback swaps 127.0.0.1 and localhost, otherwise ``default``."""
        if configured:
            return configured
        host, port = request.url.hostname, request.url.port
        if host in ("127.0.0.1", "localhost"):
            other = "localhost" if host == "127.0.0.1" else "127.0.0.1"
            return f"{request.url.scheme}://{other}" + (f":{port}" if port else "")
        return default

    async def _site_drive_endpoint(self, request: Request) -> Response:
        site_id = request.path_params["site_id"]
        drive_id = self.site_drives.get(site_id)
        if drive_id is None:
            raise GraphError(404, message=f"The site {site_id} has no drive in the fake.")
        return await self._drive_request(request, drive_id)

    async def _drive_endpoint(self, request: Request) -> Response:
        return await self._drive_request(request, request.path_params["drive_id"])

    async def _drive_request(self, request: Request, drive_id: str) -> Response:
        drive = self.drives.get(drive_id)
        if drive is None:
            raise GraphError(404, message=f"The drive {drive_id} could not be found.")
        address = parse_address(request.path_params["rest"])
        if address is None:
            raise GraphError(
                400, "BadRequest", f"Resource not found for the segment '{request.url.path}'."
            )
        base_id = drive.root_id if address.item_id in (None, "root") else address.item_id
        base = drive.items.get(base_id or "")
        if base is None:
            raise GraphError(404)
        path = _join(base.path, address.rel_path)
        by_path = bool(address.rel_path)
        match ("GET" if request.method == "HEAD" else request.method, address.tail):
            case ("GET", ""):
                return self._get_item(request, drive, path)
            case ("GET", "/content"):
                return self._get_content(request, drive, path)
            case ("PUT", "/content"):
                return await self._put_content(request, drive, path, by_path=by_path)
            case ("POST", "/createUploadSession"):
                return await self._create_session(request, drive, path, by_path=by_path)
            case ("POST", "/children"):
                return await self._create_child(request, drive, path)
            case ("PATCH", ""):
                return await self._update_item(request, drive, path)
        raise GraphError(405)

    async def _create_child(self, request: Request, drive: Drive, path: str) -> Response:
        """A new folder under ``path`` (driveitem-post-children.md); a name already taken
        follows the body's conflictBehavior (fail: 409 nameAlreadyExists)."""
        parent = self._existing(drive, path)
        payload = await self._json_body(request)
        name = payload.get("name")
        if not parent.is_folder or not isinstance(name, str) or "folder" not in payload:
            raise GraphError(400, "invalidRequest", "Give a folder's name and a folder facet.")
        conflict = payload.get(CONFLICT_BEHAVIOR, "fail")
        final, attempt = name, 1
        while self._find(drive, _join(parent.path, final)) is not None:
            if conflict != "rename":
                raise GraphError(
                    409, "nameAlreadyExists", "The specified item name already exists."
                )
            final, attempt = _renamed(name, attempt), attempt + 1
        item = self._new_item(drive, parent.path, final, None)
        return _json(self._drive_item_json(request, item), 201)

    async def _update_item(self, request: Request, drive: Drive, path: str) -> Response:
        """Rename and/or move an item (driveitem-update.md, driveitem-move.md): the new parent
        by id, in the same drive; an item of that name there answers 409."""
        item = self._existing(drive, path)
        payload = await self._json_body(request)
        reference = payload.get("parentReference") or {}
        parent_path = item.parent_path
        if reference:
            if reference.get("driveId", drive.drive_id) != drive.drive_id:
                raise GraphError(400, "invalidRequest", "Items cannot be moved between drives.")
            parent = drive.items.get(str(reference.get("id", "")))
            if parent is None or not parent.is_folder:
                raise GraphError(404, message="The new parent folder could not be found.")
            parent_path = parent.path
        name = str(payload.get("name") or item.name)
        clash = self._find(drive, _join(parent_path, name))
        if clash is not None and clash is not item:
            raise GraphError(409, "nameAlreadyExists", "The specified item name already exists.")
        old = item.path
        item.parent_path, item.name = parent_path, name
        for child in drive.items.values():  # a folder's contents move with it
            if (
                child.parent_path
                and _path_key(child.parent_path)[: len(_path_key(old))] == _path_key(old)
                and child is not item
            ):
                child.parent_path = _join(item.path, child.parent_path[len(old) :])
        item.web_url = self._default_web_url(item.path)
        item.version += 1
        item.modified = self.clock()
        return _json(self._drive_item_json(request, item))

    def _existing(self, drive: Drive, path: str) -> DriveItem:
        item = self._find(drive, path)
        if item is None:
            raise GraphError(404)
        return item

    def _get_item(self, request: Request, drive: Drive, path: str) -> Response:
        item = self._existing(drive, path)
        if _none_match(request, item):
            return Response(status_code=304, headers={"ETag": item.e_tag})
        body = self._drive_item_json(request, item)
        select = _select(request)
        if select:
            picked = {k: body[k] for k in select if k in body}
            body = {"@odata.context": body["@odata.context"], "@odata.etag": item.e_tag, **picked}
        return _json(body)

    def _get_content(self, request: Request, drive: Drive, path: str) -> Response:
        item = self._existing(drive, path)
        if item.is_folder:
            raise GraphError(
                400, message="Only driveItems with the file property can be downloaded."
            )
        if _none_match(request, item):
            return Response(status_code=304, headers={"ETag": item.e_tag})
        return Response(status_code=302, headers={"Location": self._download_url(request, item)})

    async def _put_content(
        self, request: Request, drive: Drive, path: str, *, by_path: bool
    ) -> Response:
        content = await request.body()
        if len(content) > self.simple_upload_limit:
            message = f"Simple upload takes at most {self.simple_upload_limit} bytes; use an upload session."
            raise GraphError(413, message=message)
        existing = self._find(drive, path)
        if not by_path and (existing is None or existing.is_folder):
            raise GraphError(
                400, message="Address the parent folder and a file name to create a file."
            )
        conflict = request.query_params.get(CONFLICT_BEHAVIOR, "replace")  # the default for PUT
        item, created = self._store_file(drive, path, content, conflict)
        return _json(self._drive_item_json(request, item), 201 if created else 200)

    def _store_file(
        self, drive: Drive, path: str, content: bytes, conflict: str
    ) -> tuple[DriveItem, bool]:
        """Create or replace a file; (item, created). Conflicts follow conflictBehavior."""
        if conflict not in ("fail", "replace", "rename"):
            raise GraphError(400, message=f"Invalid {CONFLICT_BEHAVIOR} '{conflict}'.")
        segments = _segments(path)
        if not segments:
            raise GraphError(400, message="The drive root has no content.")
        parent_path, name = "/" + "/".join(segments[:-1]), segments[-1]
        existing = self._find(drive, path)
        if existing is not None and (conflict == "fail" or existing.is_folder):
            raise GraphError(409, "nameAlreadyExists", "The specified item name already exists.")
        if existing is not None and conflict == "replace":
            return self.set_content(drive.drive_id, existing.item_id, content), False
        attempt = 1
        while existing is not None:
            name = _renamed(segments[-1], attempt)
            existing = self._find(drive, _join(parent_path, name))
            attempt += 1
        parent = self._ensure_folder(drive, parent_path)
        return self._new_item(drive, parent.path, name, content), True

    async def _create_session(
        self, request: Request, drive: Drive, path: str, *, by_path: bool
    ) -> Response:
        payload = await self._json_body(request, required=False)
        item = payload.get("item")
        item = item if isinstance(item, dict) else {}
        existing = self._find(drive, path)
        if existing is not None and existing.is_folder and not by_path:
            raise GraphError(
                400, message="Address the parent folder and a file name to create a file."
            )
        default = "fail" if by_path else "replace"  # createuploadsession.md: fail is the default
        conflict = str(
            item.get(CONFLICT_BEHAVIOR) or request.query_params.get(CONFLICT_BEHAVIOR) or default
        )
        session = UploadSession(
            uuid.uuid4().hex, drive.drive_id, path, conflict, self.clock() + timedelta(hours=1)
        )
        self.upload_sessions[session.session_id] = session
        origin = self._preauth_origin(request, self.upload_origin, UPLOAD_ORIGIN)
        body = {
            "@odata.context": _odata_context(request, "microsoft.graph.uploadSession"),
            "expirationDateTime": _iso(session.expires, millis=True),
            "nextExpectedRanges": ["0-"],
            "uploadUrl": f"{origin}/upload/{session.session_id}?tempauth={uuid.uuid4().hex}",
        }
        return _json(body)

    async def _upload_fragment(self, request: Request) -> Response:
        session = self.upload_sessions.get(request.path_params["session_id"])
        if session is None:
            raise GraphError(404, "itemNotFound", "The upload session was not found.")
        if request.method in ("GET", "HEAD"):
            return _json(self._session_status(session))
        if request.method == "DELETE":
            del self.upload_sessions[session.session_id]
            return Response(status_code=204)
        start, end, total = self._content_range(request, session)
        fragment = await request.body()
        if len(fragment) != end - start + 1:
            raise GraphError(400, message="The fragment length differs from its Content-Range.")
        self._check_fragment_size(len(fragment), last=end + 1 == total)
        if start != len(session.received):
            raise GraphError(
                416,
                "invalidRange",
                "Uploaded fragment overlaps with existing data or is out of order.",
            )
        session.received += fragment
        if len(session.received) < total:
            return _json(self._session_status(session), 202)
        return self._complete_upload(request, session)

    def _complete_upload(self, request: Request, session: UploadSession) -> Response:
        drive = self.drives[session.drive_id]
        try:
            item, created = self._store_file(
                drive, session.path, bytes(session.received), session.conflict
            )
        except GraphError as exc:
            if exc.status != 409:
                raise
            message = (
                "Another file exists with the same name as the uploaded session. You can redirect the upload"
                " session to use a new filename by calling PUT with the new metadata and"
                " @microsoft.graph.sourceUrl attribute."
            )
            raise GraphError(409, "nameAlreadyExists", message) from exc
        del self.upload_sessions[session.session_id]
        return _json(self._drive_item_json(request, item), 201 if created else 200)

    def _check_fragment_size(self, size: int, *, last: bool) -> None:
        """A byte range under 60 MiB, a multiple of 320 KiB unless it ends the file (the page
        names no status for either refusal: 413 and 400 are chosen, not documented)."""
        if size >= UPLOAD_FRAGMENT_LIMIT:
            raise GraphError(
                413, "invalidRequest", "A byte range must be less than 60 MiB (62,914,560 bytes)."
            )
        if not last and size % self.upload_fragment_unit:
            raise GraphError(
                400,
                "invalidRequest",
                f"A byte range of {size} bytes is not a multiple of "
                f"{self.upload_fragment_unit} bytes (320 KiB); only the last may be shorter.",
            )

    @staticmethod
    def _session_status(session: UploadSession) -> Json:
        return {
            "expirationDateTime": _iso(session.expires, millis=True),
            "nextExpectedRanges": [f"{len(session.received)}-"],
        }

    @staticmethod
    def _content_range(request: Request, session: UploadSession) -> tuple[int, int, int]:
        match = _CONTENT_RANGE.match(request.headers.get("content-range", "").strip())
        if match is None:
            raise GraphError(
                400, message="A Content-Range header 'bytes start-end/total' is required."
            )
        start, end, total = (int(g) for g in match.groups())
        if end < start or end >= total:
            raise GraphError(
                416, "invalidRange", "The specified byte range is invalid or unavailable."
            )
        if session.total is None:
            session.total = total
        elif session.total != total:
            raise GraphError(
                400, message="Declared total size differs from that of the upload session."
            )
        return start, end, total

    async def _download(self, request: Request) -> Response:
        target = self._downloads.get(request.path_params["token"])
        item = self.drives[target[0]].items.get(target[1]) if target else None
        if item is None or item.content is None:
            raise GraphError(404)
        return Response(
            item.content, media_type=_mime_type(item.name), headers={"ETag": item.e_tag}
        )
