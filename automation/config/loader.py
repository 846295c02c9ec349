"""Load and validate configuration, reporting every problem as FILE:LINE:COL.

YAML is composed into nodes first so that each value keeps its position, and ``${NAME}``
in a string is replaced by the environment variable NAME (:mod:`.yaml_reader`); pydantic's
error locations are then mapped back to those positions (:mod:`.messages`), and a valid
configuration is checked across its sections (:mod:`.cross_checks`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from automation.config.cross_checks import (
    TemplateCheck,
    config_warnings,
    cross_check,
)
from automation.config.messages import schema_problems
from automation.config.models import AppConfig, Directory
from automation.config.place_names import place_name_warnings
from automation.config.positions import ConfigProblem, Positions
from automation.config.spelling import did_you_mean
from automation.config.yaml_reader import read_yaml
from automation.errors import ConfigError

__all__ = ["ConfigProblem", "ConfigValidationError", "LoadedConfig", "load_config"]

CONFIG_SHAPE = "expected a mapping with 'version: 1' at the top"
DIRECTORY_SHAPE = "expected a mapping with 'departments:' at the top"


class ConfigValidationError(ConfigError):
    """The configuration has one or more problems; all are listed."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class LoadedConfig:
    """A validated configuration, where it came from, and what it was warned about."""

    config: AppConfig
    path: Path
    warnings: tuple[ConfigProblem, ...] = ()  # valid, but probably not meant
    # Where each key and value is, for problems found after loading (provision).
    positions: Positions | None = field(default=None, repr=False, compare=False)

    def problem(self, loc: tuple[str | int, ...], message: str) -> ConfigProblem:
        """A problem found after loading, placed at ``loc`` as validate places its own."""
        if self.positions is None:
            return ConfigProblem(str(self.path), 1, 1, "", message)
        return self.positions.problem(loc, message)

    @property
    def base_dir(self) -> Path:
        """Folder that relative paths in the configuration are resolved against."""
        return self.path.parent

    def resolve(self, path: Path) -> Path:
        """Resolve a configured path relative to the configuration file."""
        return path if path.is_absolute() else (self.base_dir / path)

    @property
    def state_target(self) -> Path | str:
        """The state database: ``state.url`` when given (a relative sqlite path resolved
        here), else the ``state.path`` file."""
        url = self.config.state.url
        if url is None:
            return self.resolve(self.config.state.path)
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            return self.resolve(Path(url.removeprefix("sqlite:///")))
        return url


def load_config(
    path: Path,
    environ: Mapping[str, str] | None = None,
    *,
    template_check: TemplateCheck | None = None,
    today: date | None = None,
) -> LoadedConfig:
    """Read, substitute, validate and cross-check a configuration file.

    Every problem found is reported at once: unset variables, problems in the directory
    file and schema problems in the main file together. Cross-checks between sections
    (departments named by flows exist, ids are unique) run once the schema is valid.
    Template overrides are rendered only with ``template_check``: the service loads its
    configuration through :func:`automation.configuration.load_config`, which passes it.
    ``today`` (default: the date in JST) dates the check of round deadlines. Municipality
    names the national code list does not know are ``warnings`` of the result.
    """
    env = os.environ if environ is None else environ
    data, positions, fatal, problems = read_yaml(path, env, CONFIG_SHAPE)
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
        problems += [
            p for p in schema_problems(err, data, positions, AppConfig) if p.path not in substituted
        ]
    if config is not None and directory_ok and not problems:
        problems += cross_check(config, positions, template_check, today)
    if problems or config is None:
        order = {name: index for index, name in reversed(list(enumerate(p.file for p in problems)))}
        problems.sort(key=lambda p: (order[p.file], p.line, p.column))
        raise ConfigValidationError(problems)
    from automation.redaction import register  # noqa: PLC0415  # light: no dependencies

    register(config.secrets())
    warnings = (*config_warnings(config, positions), *place_name_warnings(config, positions))
    ordered = tuple(sorted(warnings, key=lambda w: (w.line, w.column)))
    return LoadedConfig(config, path, ordered, positions)


def _load_directory(
    path: Path, data: dict[str, Any], positions: Positions, env: Mapping[str, str]
) -> tuple[bool, list[ConfigProblem]]:
    """Replace ``directory: FILE`` by that file's departments; return (ok, problems)."""
    directory_path = path.parent / data["directory"]
    data["directory"] = {"departments": []}  # placeholder so the main file still validates
    if not directory_path.is_file():
        return False, [
            positions.problem(
                ("directory",),
                f"directory file {directory_path} does not exist; "
                + did_you_mean(directory_path.name, _yaml_files(directory_path.parent))
                + "create it or list departments inline",
            )
        ]
    dir_data, dir_positions, fatal, problems = read_yaml(directory_path, env, DIRECTORY_SHAPE)
    if fatal:
        return False, fatal
    try:
        data["directory"] = Directory.model_validate(dir_data).model_dump()
    except ValidationError as err:
        return False, problems + schema_problems(err, dir_data, dir_positions, Directory)
    return not problems, problems


def _yaml_files(folder: Path) -> list[str]:
    try:
        return [p.name for p in folder.iterdir() if p.suffix in (".yaml", ".yml")]
    except OSError:
        return []
