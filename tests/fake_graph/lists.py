"""Sites and lists: list columns and list items with ``expand=fields``, ``$filter`` and
``$skiptoken`` paging (list-list-columns.md, listitem-list.md); a list read by id or title
(list-get.md), created with its columns (list-create.md: 201 and the list; new lists of the
``genericList`` template also get its Title column) and a column added to one
(list-post-columns.md: 201 and the columnDefinition) or changed (columndefinition-update.md).
Item fields follow resources/fieldvalueset.md: a lookup or person field comes as its
``XLookupId`` unless selected, then with its value; a selected field keeps its
``X@odata.type`` annotation (a multi-choice array's ``Collection(Edm.String)``).
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import Response

from tests.fake_graph.wire import (
    FakeState,
    GraphError,
    Json,
    _int_param,
    _iso,
    _json,
    _next_link,
    _odata_context,
    _select,
)

LIST_PAGE_CAP = 200  # list item page size is not documented; configurable
PREFER_NON_INDEXED = "HonorNonIndexedQueriesWarningMayFailRandomly"
COLUMN_FACETS: dict[str, Json] = {
    "text": {
        "allowMultipleLines": False,
        "appendChangesToExistingText": False,
        "linesForEditing": 0,
        "maxLength": 255,
    },
    "choice": {"allowTextEntry": False, "choices": [], "displayAs": "dropDownMenu"},
    "number": {"decimalPlaces": "automatic", "displayAs": "number"},
    "dateTime": {"displayAs": "default", "format": "dateTime"},
    "boolean": {},
    "personOrGroup": {"allowMultipleSelection": False, "chooseFromType": "peopleOnly"},
    "lookup": {"allowMultipleValues": False, "columnName": "Title", "listId": ""},
}
LOOKUP_TYPES = ("lookup", "personOrGroup")  # fields carry XLookupId; the value when selected


@dataclass
class ListItem:
    """A SharePoint list item: fields by internal column name."""

    item_id: str
    fields: dict[str, Any]
    web_url: str
    created: str
    modified: str
    version: int = 1


@dataclass
class SpList:
    """A SharePoint list with its column specs and items."""

    site_id: str
    list_id: str
    columns: list[Json]
    items: list[ListItem]
    display_name: str = ""

    def column(self, name: str) -> Json | None:
        """The column spec with this internal name."""
        return next((c for c in self.columns if c["name"] == name), None)


def _skiptoken(last_id: str) -> str:
    raw = f"Paged=TRUE&p_ID={last_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _skiptoken_id(token: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise GraphError(400, message="The skip token is not valid.") from exc
    return dict(parse_qsl(raw)).get("p_ID", "")


def _id_order(item_id: str) -> tuple[int, str]:
    """List items page in ID order (numeric IDs first, numerically)."""
    return (int(item_id), "") if item_id.isdigit() else (1 << 62, item_id)


def _unquote_literal(literal: str) -> str:
    return literal[1:-1].replace("''", "'")


_EXPAND_FIELDS = re.compile(r"^fields(?:\(\s*\$?select=(?P<select>[^)]*)\))?$", re.IGNORECASE)
_FIELD_FILTER = re.compile(
    r"^fields/(?P<name>[A-Za-z0-9_]+)\s+eq\s+(?P<value>'(?:[^']|'')*'|-?\d+(?:\.\d+)?|true|false)$"
)


def parse_fields_expand(expand: str | None) -> tuple[bool, list[str] | None]:
    """``fields`` / ``fields(select=A,B)`` -> (expanded, selected names or None for all)."""
    if not expand:
        return False, None
    match = _EXPAND_FIELDS.match(expand.strip())
    if match is None:
        raise GraphError(400, message=f"Parsing OData Select and Expand failed: '{expand}'.")
    if match["select"] is None:
        return True, None
    return True, [name.strip() for name in match["select"].split(",") if name.strip()]


def parse_field_filter(text: str) -> tuple[str, Any]:
    """``fields/X eq 'v'`` (or a number, true, false) -> (X, value)."""
    match = _FIELD_FILTER.match(text.strip())
    if match is None:
        raise GraphError(
            400, message=f"Invalid filter clause (fake Graph supports fields/X eq v): {text}"
        )
    value = match["value"]
    if value.startswith("'"):
        return match["name"], _unquote_literal(value)
    if value in ("true", "false"):
        return match["name"], value == "true"
    return match["name"], float(value)


def _field_matches(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, bool) or isinstance(value, bool):
        return value is wanted
    if isinstance(wanted, float):
        return isinstance(value, int | float) and float(value) == wanted
    return value is not None and str(value) == wanted


COLUMN_TYPES = (
    "text",
    "choice",
    "number",
    "dateTime",
    "boolean",
    "personOrGroup",
    "currency",
    "lookup",
)


def column_spec(definition: Mapping[str, Any]) -> Json:
    """The fake's column spec from a columnDefinition as a client sends it (list-create.md,
    list-post-columns.md): its one type facet, given settings kept over the defaults."""
    kinds = [k for k in COLUMN_TYPES if k in definition]
    if len(kinds) > 1:
        raise GraphError(400, "invalidRequest", f"A column has one type; got {', '.join(kinds)}.")
    if not isinstance(definition.get("name"), str) or not definition["name"]:
        raise GraphError(400, "invalidRequest", "A column needs a name.")
    kind = kinds[0] if kinds else "text"
    return {
        "name": definition["name"],
        "displayName": definition.get("displayName") or definition["name"],
        "indexed": bool(definition.get("indexed", False)),
        "required": bool(definition.get("required", False)),
        "type": kind,
        "facet": dict(definition.get(kind) or {}),
    }


def column_definition(spec: Mapping[str, Any], list_id: str) -> Json:
    """A columnDefinition (list-list-columns.md) from ``dict(name, displayName, indexed, type)``
    (and ``required`` and the type's ``facet`` settings, when the column was created)."""
    name, kind = spec["name"], spec.get("type", "text")
    return {
        "columnGroup": "Custom Columns",
        "description": "",
        "displayName": spec.get("displayName", name),
        "enforceUniqueValues": False,
        "hidden": False,
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{list_id}/{name}")),
        "indexed": bool(spec.get("indexed", False)),
        "name": name,
        "readOnly": False,
        "required": bool(spec.get("required", False)),
        kind: {**COLUMN_FACETS.get(kind, {}), **spec.get("facet", {})},
    }


def _field_names(sp_list: SpList, item: ListItem, selected: list[str] | None) -> list[str]:
    """The fields an item returns (resources/fieldvalueset.md): a lookup field's value only
    when selected, otherwise its XLookupId; a selected field with its X@odata.type."""
    lookups = {c["name"] for c in sp_list.columns if c.get("type") in LOOKUP_TYPES}
    if selected is None:
        return [n for n in item.fields if n not in lookups]
    names = []
    for name in selected:
        for key in (f"{name}@odata.type", name, f"{name}LookupId" if name in lookups else ""):
            if key in item.fields and key not in names:
                names.append(key)
    return names


class ListEndpoints(FakeState):
    """Seeding and endpoints of SharePoint lists."""

    def add_list(
        self, site_id: str, list_id: str, columns: list[Json], items: list[Json]
    ) -> SpList:
        """Add a list: column specs (name, displayName, indexed, type) and items by internal name.

        An item's ``id``, ``webUrl``, ``createdDateTime`` and ``lastModifiedDateTime`` keys are
        listItem properties; every other key is a field.
        """
        now = _iso(self.clock())
        rows = []
        for number, spec in enumerate(items, start=1):
            fields = dict(spec)
            item_id = str(fields.pop("id", number))
            default_url = (
                f"https://contoso.sharepoint.com/sites/fake/Lists/{list_id}/{item_id}_.000"
            )
            rows.append(
                ListItem(
                    item_id=item_id,
                    web_url=fields.pop("webUrl", default_url),
                    created=fields.pop("createdDateTime", now),
                    modified=fields.pop("lastModifiedDateTime", now),
                    fields=fields,
                )
            )
        sp_list = SpList(site_id, list_id, [dict(c) for c in columns], rows)
        self.lists[(site_id, list_id)] = sp_list
        return sp_list

    def _list(self, request: Request) -> SpList:
        """The list by id, or by its title as list-get.md allows ({list-id | list-title})."""
        key = (request.path_params["site_id"], request.path_params["list_id"])
        sp_list = self.lists.get(key) or next(
            (
                candidate
                for (site, _), candidate in self.lists.items()
                if site == key[0] and candidate.display_name == key[1]
            ),
            None,
        )
        if sp_list is None:
            raise GraphError(404, "itemNotFound", f"List {key[1]} was not found on site {key[0]}.")
        return sp_list

    def _list_json(self, request: Request, sp_list: SpList) -> Json:
        """A list resource (list-get.md, list-create.md), without its relationships."""
        site = quote(sp_list.site_id, safe="")
        name = sp_list.display_name or sp_list.list_id
        return {
            "@odata.context": _odata_context(request, f"sites('{site}')/lists/$entity"),
            "id": sp_list.list_id,
            "name": name,
            "displayName": name,
            "createdDateTime": _iso(self.clock()),
            "lastModifiedDateTime": _iso(self.clock()),
            "webUrl": f"https://contoso.sharepoint.com/sites/fake/Lists/{quote(name)}",
            "list": {"contentTypesEnabled": False, "hidden": False, "template": "genericList"},
        }

    async def _get_list(self, request: Request) -> Response:
        return _json(self._list_json(request, self._list(request)))

    async def _create_list(self, request: Request) -> Response:
        """POST /sites/{s}/lists: 201 and the list; a title in use on the site is 409
        nameAlreadyExists (not documented: what SharePoint answers for a duplicate title)."""
        site_id = request.path_params["site_id"]
        body = await self._json_body(request)
        name = body.get("displayName")
        if not isinstance(name, str) or not name.strip():
            raise GraphError(400, "invalidRequest", "A list needs a displayName.")
        if any(
            s == site_id and (known.display_name or known.list_id) == name
            for (s, _), known in self.lists.items()
        ):
            raise GraphError(409, "nameAlreadyExists", f"A list named '{name}' already exists.")
        template = (body.get("list") or {}).get("template", "genericList")
        if template != "genericList":
            raise GraphError(
                400, "invalidRequest", f"The fake creates genericList lists, not {template}."
            )
        title = {"name": "Title", "displayName": "Title", "type": "text", "required": True}
        columns = [title, *(column_spec(c) for c in body.get("columns") or [])]
        if len({c["name"] for c in columns}) != len(columns):
            raise GraphError(400, "invalidRequest", "Two columns share a name.")
        list_id = str(uuid.uuid4())
        sp_list = SpList(site_id, list_id, columns, [], display_name=name)
        self.lists[(site_id, list_id)] = sp_list
        return _json(self._list_json(request, sp_list), 201)

    async def _create_column(self, request: Request) -> Response:
        """POST /sites/{s}/lists/{l}/columns: 201 and the columnDefinition; a name in use is
        409 nameAlreadyExists (not documented)."""
        sp_list = self._list(request)
        spec = column_spec(await self._json_body(request))
        if sp_list.column(spec["name"]) is not None:
            raise GraphError(409, "nameAlreadyExists", f"A column named '{spec['name']}' exists.")
        sp_list.columns.append(spec)
        site = quote(sp_list.site_id, safe="")
        context = f"sites('{site}')/lists('{quote(sp_list.list_id)}')/columns/$entity"
        body = {"@odata.context": _odata_context(request, context)}
        return _json({**body, **column_definition(spec, sp_list.list_id)}, 201)

    async def _update_column(self, request: Request) -> Response:
        """PATCH /sites/{s}/lists/{l}/columns/{id} (columndefinition-update.md): the given
        properties change (a type facet's settings too); 200 and the columnDefinition."""
        sp_list = self._list(request)
        column_id = request.path_params["column_id"]
        spec = next(
            (
                c
                for c in sp_list.columns
                if column_definition(c, sp_list.list_id)["id"] == column_id
            ),
            None,
        )
        if spec is None:
            raise GraphError(404, "itemNotFound", f"Column {column_id} was not found.")
        body = await self._json_body(request)
        if "id" in body:
            raise GraphError(400, "invalidRequest", "The id of a column cannot be changed.")
        kind = spec.get("type", "text")
        if any(k in body for k in COLUMN_TYPES if k != kind):
            raise GraphError(400, "invalidRequest", "The fake does not change a column's type.")
        if kind in body:
            spec["facet"] = {**spec.get("facet", {}), **body[kind]}
        for key in ("displayName", "required", "indexed"):
            if key in body:
                spec[key] = body[key]
        site = quote(sp_list.site_id, safe="")
        context = f"sites('{site}')/lists('{quote(sp_list.list_id)}')/columns/$entity"
        answer = {"@odata.context": _odata_context(request, context)}
        return _json({**answer, **column_definition(spec, sp_list.list_id)})

    async def _list_columns_endpoint(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._create_column(request)
        return await self._list_columns(request)

    async def _list_columns(self, request: Request) -> Response:
        sp_list = self._list(request)
        columns = [column_definition(c, sp_list.list_id) for c in sp_list.columns]
        select = _select(request)
        if select:
            columns = [{k: c[k] for k in select if k in c} for c in columns]
        fragment = (
            f"sites('{quote(sp_list.site_id, safe='')}')/lists('{quote(sp_list.list_id)}')/columns"
        )
        return _json({"@odata.context": _odata_context(request, fragment), "value": columns})

    async def _list_items(self, request: Request) -> Response:
        sp_list = self._list(request)
        params = request.query_params
        expanded, selected = parse_fields_expand(params.get("expand") or params.get("$expand"))
        items = sorted(sp_list.items, key=lambda i: _id_order(i.item_id))
        text = params.get("$filter") or params.get("filter")
        if text:
            items = self._filter_items(request, sp_list, items, text)
        top = _int_param(request, "$top", "top")
        size = min(top, self.list_page_cap) if top else self.list_page_cap
        token = params.get("$skiptoken")
        if token:
            after = _id_order(_skiptoken_id(token))
            items = [i for i in items if _id_order(i.item_id) > after]
        page = items[:size]
        fragment = (
            f"sites('{quote(sp_list.site_id, safe='')}')/lists('{quote(sp_list.list_id)}')/items"
        )
        body: Json = {"@odata.context": _odata_context(request, fragment)}
        if len(items) > size:
            body["@odata.nextLink"] = _next_link(
                request, {"$skiptoken": _skiptoken(page[-1].item_id)}
            )
        body["value"] = [
            self._list_item_json(request, sp_list, i, expanded, selected) for i in page
        ]
        return _json(body)

    @staticmethod
    def _filter_items(
        request: Request, sp_list: SpList, items: list[ListItem], text: str
    ) -> list[ListItem]:
        name, wanted = parse_field_filter(text)
        column = sp_list.column(name)
        if column is None:
            raise GraphError(400, message=f"Field '{name}' is not recognized.")
        prefer = request.headers.get("prefer", "")
        if not column.get("indexed") and PREFER_NON_INDEXED.lower() not in prefer.lower():
            message = (
                f"Field '{name}' cannot be referenced in filter or orderby as it is not indexed. Provide the"
                f" 'Prefer: {PREFER_NON_INDEXED}' header to allow this, but be warned that such queries may"
                " fail on large lists."
            )
            raise GraphError(400, "invalidRequest", message)
        return [i for i in items if _field_matches(i.fields.get(name), wanted)]

    @staticmethod
    def _list_item_json(
        request: Request,
        sp_list: SpList,
        item: ListItem,
        expanded: bool,
        selected: list[str] | None,
    ) -> Json:
        """A listItem (listitem-list.md); ``fields`` only when expanded."""
        guid = uuid.uuid5(uuid.NAMESPACE_URL, f"{sp_list.site_id}/{sp_list.list_id}/{item.item_id}")
        etag = f'"{guid},{item.version}"'
        who = {"user": {"displayName": "Fake User", "email": "fake.user@contoso.test"}}
        body: Json = {
            "@odata.etag": etag,
            "createdDateTime": item.created,
            "eTag": etag,
            "id": item.item_id,
            "lastModifiedDateTime": item.modified,
            "webUrl": item.web_url,
            "createdBy": who,
            "lastModifiedBy": who,
            "parentReference": {"id": sp_list.list_id, "siteId": sp_list.site_id},
            "contentType": {"id": "0x0100FAKE", "name": "Item"},
        }
        if expanded:
            fragment = (
                f"sites('{quote(sp_list.site_id, safe='')}')/lists('{quote(sp_list.list_id)}')"
                f"/items('{quote(item.item_id)}')/fields/$entity"
            )
            names = _field_names(sp_list, item, selected)
            body["fields@odata.context"] = _odata_context(request, fragment)
            body["fields"] = {
                "@odata.etag": etag,
                **{n: item.fields[n] for n in names},
                "id": item.item_id,
            }
        return body
