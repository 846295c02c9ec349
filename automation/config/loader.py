"""Load and validate configuration, reporting every problem as FILE:LINE:COL.

YAML is composed into nodes first so that each value keeps its position; pydantic's
error locations are then mapped back to those positions. ``${NAME}`` in a string is
replaced by the environment variable NAME; a missing variable is a problem at its line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from automation.config.models import (
    UNION_TAGS,
    AppConfig,
    DamageRollupFlow,
    DamageRollupParams,
    Directory,
    GraphBackend,
    ProgressCollectionFlow,
    ProgressCollectionParams,
)
from automation.errors import ConfigError

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")  # ${NAME} or ${NAME:-default}

Loc = tuple[str | int, ...]
# libyaml's loader composes the same nodes with the same marks, several times faster.
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One configuration problem with its position."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigValidationError(ConfigError):
    """The configuration has one or more problems; all are listed."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class _Positions:
    """Start marks of YAML keys and values by their path in the document."""

    file: str
    keys: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    values: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def find(self, loc: Loc, *, prefer_key: bool = False) -> tuple[int, int]:
        """Position of the deepest known path prefix of ``loc``."""
        for end in range(len(loc), -1, -1):
            prefix = loc[:end]
            first, second = (self.keys, self.values) if prefer_key else (self.values, self.keys)
            if prefix in first:
                return first[prefix]
            if prefix in second:
                return second[prefix]
        return (1, 1)


@dataclass
class LoadedConfig:
    """A validated configuration and where it came from."""

    config: AppConfig
    path: Path

    @property
    def base_dir(self) -> Path:
        """Folder that relative paths in the configuration are resolved against."""
        return self.path.parent

    def resolve(self, path: Path) -> Path:
        """Resolve a configured path relative to the configuration file."""
        return path if path.is_absolute() else (self.base_dir / path)


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    """Read, substitute, validate and cross-check a configuration file.

    Every problem found is reported at once: unset variables, problems in the directory
    file and schema problems in the main file together. Cross-checks between sections
    (departments named by flows exist, ids are unique) run once the schema is valid.
    """
    env = os.environ if environ is None else environ
    data, positions, fatal, problems = _read_yaml(path, env, CONFIG_SHAPE)
    if fatal:
        raise ConfigValidationError(fatal)
    directory_ok = True
    if isinstance(data.get("directory"), str):
        directory_ok, directory_problems = _load_directory(path, data, positions, env)
        problems += directory_problems
    substituted = {p.path for p in problems if p.file == positions.file}
    config = None
    try:
        config = AppConfig.model_validate(data)
    except ValidationError as err:
        # A value emptied because its variable is unset is reported once, as unset.
        problems += [p for p in _problems(err, data, positions) if p.path not in substituted]
    if config is not None and directory_ok and not problems:
        problems += _cross_check(config, positions)
    if problems or config is None:
        order = {name: index for index, name in reversed(list(enumerate(p.file for p in problems)))}
        problems.sort(key=lambda p: (order[p.file], p.line, p.column))
        raise ConfigValidationError(problems)
    return LoadedConfig(config, path)


def _load_directory(
    path: Path, data: dict[str, Any], positions: _Positions, env: Mapping[str, str]
) -> tuple[bool, list[ConfigProblem]]:
    """Replace ``directory: FILE`` by that file's departments; return (ok, problems)."""
    directory_path = path.parent / data["directory"]
    data["directory"] = {"departments": []}  # placeholder so the main file still validates
    if not directory_path.is_file():
        line, col = positions.find(("directory",))
        return False, [
            ConfigProblem(
                str(path),
                line,
                col,
                "directory",
                f"directory file {directory_path} does not exist; create it or list departments inline",
            )
        ]
    dir_data, dir_positions, fatal, problems = _read_yaml(directory_path, env, DIRECTORY_SHAPE)
    if fatal:
        return False, fatal
    try:
        data["directory"] = Directory.model_validate(dir_data).model_dump()
    except ValidationError as err:
        return False, problems + _problems(err, dir_data, dir_positions)
    return not problems, problems


CONFIG_SHAPE = "expected a mapping with 'version: 1' at the top"
DIRECTORY_SHAPE = "expected a mapping with 'departments:' at the top"


def _read_yaml(
    path: Path, env: Mapping[str, str], shape: str
) -> tuple[dict[str, Any], _Positions, list[ConfigProblem], list[ConfigProblem]]:
    """Parse a YAML file keeping positions: (data, positions, fatal problems, other problems)."""
    positions = _Positions(str(path))

    def fatal(
        line: int, col: int, message: str
    ) -> tuple[dict[str, Any], _Positions, list[ConfigProblem], list[ConfigProblem]]:
        return {}, positions, [ConfigProblem(str(path), line, col, "", message)], []

    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return fatal(1, 1, "file not found; check the path given with -c")
    except (OSError, UnicodeDecodeError) as err:
        return fatal(1, 1, f"cannot read file: {err}; save it as UTF-8")
    try:
        try:
            node, data = _compose(SAFE_LOADER, text)
        except yaml.YAMLError:
            node, data = _compose(yaml.SafeLoader, text)  # its messages are the readable ones
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        hint = "check indentation and quoting on this line"
        if err.context_mark is not None and (mark is None or mark.index >= len(text.rstrip())):
            mark = err.context_mark  # the problem is only noticed at the end: point at its start
            hint = f"{err.context} here is never closed; close it or quote the whole value"
        elif "{" in text.splitlines()[mark.line if mark else 0] and "${" in text:
            hint += "; quote values that contain ${VAR} inside {...} mappings"
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return fatal(line, col, f"YAML syntax: {err.problem or err}; {hint}")
    except yaml.YAMLError as err:
        return fatal(1, 1, f"YAML: {err}")
    if node is None or not isinstance(data, dict):
        return fatal(1, 1, shape)
    problems: list[ConfigProblem] = []
    _record(node, (), positions, problems)
    data = _substitute(data, (), env, positions, problems)
    return data, positions, [], problems


def _compose(loader_class: type[yaml.SafeLoader], text: str) -> tuple[yaml.Node | None, Any]:
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


def _record(
    node: yaml.Node, loc: Loc, positions: _Positions, problems: list[ConfigProblem]
) -> None:
    positions.values[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            mark = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in seen:
                problems.append(
                    ConfigProblem(
                        positions.file,
                        *mark,
                        _dotted((*loc, key)),
                        f"key {key!r} appears twice in this mapping; keep one "
                        "(YAML would silently use the last)",
                    )
                )
            seen.add(key)
            positions.keys[(*loc, key)] = mark
            _record(value_node, (*loc, key), positions, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record(item, (*loc, index), positions, problems)


def _substitute(
    value: Any,
    loc: Loc,
    env: Mapping[str, str],
    positions: _Positions,
    problems: list[ConfigProblem],
) -> Any:
    if isinstance(value, dict):
        return {
            k: _substitute(v, (*loc, str(k)), env, positions, problems) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_substitute(v, (*loc, i), env, positions, problems) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:

        def replace(match: re.Match[str]) -> str:
            name = match[1]
            if name not in env and match[2] is not None:
                return str(match[2])
            if name not in env:
                line, col = positions.find(loc)
                problems.append(
                    ConfigProblem(
                        positions.file,
                        line,
                        col,
                        _dotted(loc),
                        f"environment variable {name} is not set; export it "
                        "(or put it in the service's environment file)",
                    )
                )
                return ""
            return env[name]

        return ENV_REF.sub(replace, value)
    return value


def _problems(err: ValidationError, data: Any, positions: _Positions) -> list[ConfigProblem]:
    problems = []
    errors = err.errors()
    deeper = {tuple(e["loc"][:i]) for e in errors for i in range(len(e["loc"]))}
    for error in errors:
        if error["type"] == "too_short" and tuple(error["loc"]) in deeper:
            continue  # a list is short only because its invalid items were dropped
        loc = _data_loc(tuple(error["loc"]), data)
        extra = error["type"] == "extra_forbidden"
        message = str(error["msg"]).removeprefix("Value error, ")
        ctx = error.get("ctx") or {}
        if error["type"] == "union_tag_invalid":
            key = str(ctx.get("discriminator", "type")).strip("'")
            loc = (*loc, key)
            message = (
                f"unknown {key} {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
            )
        elif extra:
            message = f"unknown key {loc[-1]!r}; check its spelling (see 'automation schema')"
        elif error["type"] == "missing":
            message = "required key is missing"
        elif error["type"] == "literal_error":
            message = f"{message} (got {error.get('input')!r})"
        line, col = positions.find(loc, prefer_key=extra)
        problems.append(ConfigProblem(positions.file, line, col, _dotted(loc), message))
    return sorted(problems, key=lambda p: (p.line, p.column))


def _data_loc(loc: Loc, data: Any) -> Loc:
    """Drop pydantic's union-tag steps (``'matrix'``) that do not exist in the YAML."""
    result: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict):
            if part in node:
                result.append(part)
                node = node[part]
                continue
            if (isinstance(part, str) and node.get("type") == part) or node.get("kind") == part:
                continue
            if part in UNION_TAGS:
                continue
            result.append(part)
            node = None
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            result.append(part)
            node = node[part]
        else:
            result.append(part)
            node = None
    return tuple(result)


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


Add = Callable[[Loc, str], None]


def _cross_check(config: AppConfig, positions: _Positions) -> list[ConfigProblem]:
    problems = []

    def add(loc: Loc, message: str) -> None:
        line, col = positions.find(loc)
        problems.append(ConfigProblem(positions.file, line, col, _dotted(loc), message))

    seen_ids: set[str] = set()
    for index, flow in enumerate(config.flows):
        loc: Loc = ("flows", index)
        if flow.id in seen_ids:
            add((*loc, "id"), f"flow id {flow.id!r} is used twice; give each flow its own id")
        seen_ids.add(flow.id)
        if isinstance(flow, DamageRollupFlow):
            _check_damage(flow.params, config, (*loc, "params"), add)
        else:
            _check_progress(flow.params, config, (*loc, "params"), add)
        _check_refs(flow, config, (*loc, "params"), add)
        templates = flow.params.templates
        if templates is not None and not (Path(positions.file).parent / templates).is_dir():
            add((*loc, "params", "templates"), f"template folder {templates} does not exist")
    return problems


def _check_refs(
    flow: DamageRollupFlow | ProgressCollectionFlow, config: AppConfig, loc: Loc, add: Add
) -> None:
    """Inputs are paths on the local backend and Graph references on the Graph backend."""
    graph = isinstance(config.backend, GraphBackend)
    key = "workbook" if isinstance(flow, DamageRollupFlow) else "list"
    ref = getattr(flow.params, key)
    if graph and isinstance(ref, str):
        shapes = (
            "{drive_id, item_id}, {team_id, channel_id, path} or {site_id, path}"
            if key == "workbook"
            else "{site_id, list_id}"
        )
        add((*loc, key), f"with backend.type: graph, give the {key} as {shapes}, not a path")
    if not graph and not isinstance(ref, str):
        add(
            (*loc, key),
            f"the local backend reads the {key} from a path under backend.root; "
            "write a path, or set backend.type: graph",
        )
    if (
        graph
        and getattr(config.backend, "service_account", None) is None
        and _uses_channel(flow, config, "teams_channel")
    ):
        add(
            ("backend",),
            "teams_channel contacts are configured but backend.service_account is not; app-only "
            "Graph cannot post to channels: add service_account: {type: device_code, tenant_id, "
            "client_id} and run `automation login`, or use teams_webhook or mail",
        )
    if graph and getattr(config.backend, "mailbox", None) is None and _uses_mail(flow, config):
        add(
            ("backend",),
            "mail contacts are configured but backend.mailbox is not; "
            "set the mailbox (UPN) that sends mail",
        )


def _uses_mail(flow: DamageRollupFlow | ProgressCollectionFlow, config: AppConfig) -> bool:
    return _uses_channel(flow, config, "mail")


def _uses_channel(
    flow: DamageRollupFlow | ProgressCollectionFlow, config: AppConfig, channel: str
) -> bool:
    contacts = [
        c for d in config.directory.departments for c in (*d.contacts, *d.dx_leaders, *d.escalation)
    ]
    if isinstance(flow, DamageRollupFlow):
        contacts += list(flow.params.report_to)
    else:
        contacts += [*flow.params.secretariat, *flow.params.summary_to]
    return any(c.channel == channel for c in contacts)


def _known(config: AppConfig) -> str:
    return ", ".join(d.name for d in config.directory.departments)


def _check_damage(params: DamageRollupParams, config: AppConfig, loc: Loc, add: Add) -> None:
    for i, dept in enumerate(params.departments or ()):
        department = config.directory.get(dept)
        if department is None:
            add(
                (*loc, "departments", i),
                f"department {dept!r} is not in the directory; add it there or fix the name "
                f"(known: {_known(config)})",
            )
        elif department.sheet is None:
            add(
                (*loc, "departments", i),
                f"department {dept!r} has no 'sheet' in the directory; add its sheet name",
            )
    if params.departments is None and not any(d.sheet for d in config.directory.departments):
        add(loc, "no department in the directory has a 'sheet'; add sheet names")
    for dept in params.layouts:
        if config.directory.get(dept) is None:
            add(
                (*loc, "layouts", dept), f"layout given for {dept!r}, which is not in the directory"
            )
    from automation.damage.catalogue import DEFAULT_ITEMS  # noqa: PLC0415  # only for damage flows

    codes = {item.code for item in DEFAULT_ITEMS}
    for key in ("only", "exclude"):
        for i, code in enumerate(getattr(params.catalogue, key) or ()):
            if code not in codes:
                add(
                    (*loc, "catalogue", key, i),
                    f"unknown item code {code!r}; see docs/catalogue.md for the codes",
                )
    for i, spec in enumerate(params.catalogue.extra):
        if spec.code in codes:
            add(
                (*loc, "catalogue", "extra", i, "code"),
                f"item code {spec.code!r} already exists; choose another code",
            )


def _check_progress(
    params: ProgressCollectionParams, config: AppConfig, loc: Loc, add: Add
) -> None:
    from automation.fiscal import parse_period  # noqa: PLC0415  # only for progress flows

    for i, dept in enumerate(params.departments or ()):
        if config.directory.get(dept) is None:
            add(
                (*loc, "departments", i),
                f"department {dept!r} is not in the directory; add it there or fix the name "
                f"(known: {_known(config)})",
            )
    for i, status in enumerate(params.delayed_statuses):
        if status not in params.statuses:
            add(
                (*loc, "delayed_statuses", i),
                f"{status!r} is not one of statuses {list(params.statuses)}; add it there or fix it",
            )
    for i, round_ in enumerate(params.rounds):
        if round_.period is not None and parse_period(round_.period, params.period_kind) is None:
            add(
                (*loc, "rounds", i, "period"),
                f"period {round_.period!r} is not a {params.period_kind}; write e.g. "
                + ("2026H1 or 令和8年度上期" if params.period_kind == "half" else "2026Q1"),
            )
    if params.status_field in params.numeric:
        add((*loc, "numeric"), f"{params.status_field!r} is the status field, not a number")
