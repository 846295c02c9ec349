"""What the models say about the value at a YAML path: its type, its model, its field."""

from __future__ import annotations

from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from automation.config.positions import Loc


def node_at(loc: Loc, data: Any) -> Any:
    """The value at ``loc`` in the read data, or None if there is none."""
    node = data
    for part in loc:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return None
    return node


def resolve(annotation: Any, node: Any) -> Any:
    """``annotation`` without Annotated/Optional, the union member ``node`` selects."""
    annotation = _unannotated(annotation)
    if get_origin(annotation) in (Union, UnionType):
        members = [resolve(a, node) for a in get_args(annotation) if a is not type(None)]
        models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        if not models:
            return members[0] if len(members) == 1 else None
        return _select_model(models, node)
    return annotation


def _select_model(models: list[type[BaseModel]], node: Any) -> type[BaseModel] | None:
    if len(models) == 1:
        return models[0]
    if not isinstance(node, dict):
        return None
    for key in ("kind", "type"):
        for model in models:
            field_info = model.model_fields.get(key)
            if field_info is not None and node.get(key) in get_args(field_info.annotation):
                return model
    overlap = {m: len(set(node) & set(m.model_fields)) for m in models}
    best = max(models, key=lambda m: overlap[m])
    return best if overlap[best] else None


def annotation_at(loc: Loc, data: Any, root: type[BaseModel]) -> Any:
    """The type the models give the value at ``loc`` (unions not yet resolved), or None."""
    annotation: Any = root
    for index, part in enumerate(loc):
        resolved = resolve(annotation, node_at(loc[:index], data))
        if isinstance(resolved, type) and issubclass(resolved, BaseModel):
            field_info = resolved.model_fields.get(str(part))
            if field_info is None:
                return None
            annotation = field_info.annotation
        elif get_origin(resolved) is tuple and get_args(resolved):
            annotation = get_args(resolved)[0]
        elif get_origin(resolved) is dict and len(get_args(resolved)) == 2:
            annotation = get_args(resolved)[1]
        else:
            return None
    return annotation


def model_at(loc: Loc, data: Any, root: type[BaseModel]) -> type[BaseModel] | None:
    """The model the value at ``loc`` is validated as, if it is a model."""
    resolved = resolve(annotation_at(loc, data, root), node_at(loc, data))
    return resolved if isinstance(resolved, type) and issubclass(resolved, BaseModel) else None


def union_tags(annotation: Any, key: str) -> list[str]:
    """The values of ``key`` that select each member of a tagged union."""
    annotation = _unannotated(annotation)
    tags = []
    for member in get_args(annotation):
        field_info = getattr(member, "model_fields", {}).get(key)
        if field_info is not None:
            tags += [str(a) for a in get_args(field_info.annotation)]
    return tags


def field_at(loc: Loc, data: Any, root: type[BaseModel]) -> FieldInfo | None:
    """The model field of the key at ``loc``, if the models have one."""
    model = model_at(loc[:-1], data, root)
    return model.model_fields.get(str(loc[-1])) if model else None


def _unannotated(annotation: Any) -> Any:
    """``annotation`` without its ``Annotated[...]`` wrappers."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation
