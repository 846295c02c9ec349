"""Specs for loading the YAML configuration and reporting its problems as FILE:LINE:COL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from automation.cli import main
from automation.config import ConfigProblem, ConfigValidationError, load_config
from automation.errors import ConfigError

# The flows part shared by every configuration below; its first line is line 9 of BASE.
FLOWS = """\
flows:
  - id: damage
    kind: damage_rollup
    params:
      disaster: 令和8年台風第10号
      workbook: 被害状況報告.xlsx
      report_to:
        - {channel: mail, address: bousai@example.jp}
"""

# A minimal valid configuration; the tests pin line numbers in it:
#   1 version, 2 directory, 4/6/8 departments (秘書課 on line 8 has no sheet),
#   9 flows, 10 id, 11 kind, 12 params, 13 disaster, 14 workbook, 15 report_to, 16 a contact.
BASE = (
    """\
version: 1
directory:
  departments:
    - name: 危機管理課
      sheet: 危機管理課
    - name: 県土整備部
      sheet: 県土整備部
    - name: 秘書課
"""
    + FLOWS
)

# The same configuration with the departments in a directory file: FLOWS starts at line 3.
WITH_DIRECTORY_FILE = "version: 1\ndirectory: directory.yaml\n" + FLOWS

DIRECTORY = """\
departments:
  - name: 危機管理課
    sheet: 危機管理課
    contacts:
      - {channel: mail, address: kikikanri@example.jp}
  - name: 県土整備部
    sheet: 県土整備部
"""


def with_params(*lines: str) -> str:
    """BASE with these lines added inside the flow's ``params``, from line 17, column 7."""
    return BASE + "".join(f"      {line}\n" for line in lines)


def write(folder: Path, text: str, name: str = "config.yaml") -> Path:
    """Write ``text`` to ``folder/name`` and return its path."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path, environ: dict[str, str] | None = None) -> list[ConfigProblem]:
    """The problems that loading ``path`` reports; the load must fail with them."""
    with pytest.raises(ConfigValidationError) as caught:
        load_config(path, environ={} if environ is None else environ)
    return caught.value.problems


def only_problem(path: Path, environ: dict[str, str] | None = None) -> ConfigProblem:
    """The one problem that loading ``path`` reports."""
    problems = problems_of(path, environ)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def where(problem: ConfigProblem) -> tuple[int, int, str]:
    """A problem's line, column and field path."""
    return problem.line, problem.column, problem.path


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """An empty folder for a configuration file and its directory file."""
    folder = tmp_path / "conf"
    folder.mkdir()
    return folder


@pytest.fixture
def config_path(config_dir: Path) -> Path:
    """The minimal valid configuration written to ``config_dir/config.yaml``."""
    return write(config_dir, BASE)


# --- valid configurations -------------------------------------------------------------------


def test_minimal_config_loads(config_path: Path) -> None:
    """version 1, an inline directory and one damage_rollup flow make a valid configuration."""
    loaded = load_config(config_path, environ={})

    assert [(f.id, f.kind) for f in loaded.config.flows] == [("damage", "damage_rollup")]
    assert [d.name for d in loaded.config.directory.departments] == [
        "危機管理課",
        "県土整備部",
        "秘書課",
    ]
    params = loaded.config.flows[0].params
    assert (params.disaster, params.workbook) == ("令和8年台風第10号", "被害状況報告.xlsx")
    assert [(c.channel, c.address) for c in params.report_to] == [("mail", "bousai@example.jp")]


def test_relative_paths_resolve_against_the_config_folder(config_path: Path) -> None:
    """LoadedConfig.resolve puts a relative path under the config file's folder; absolute stays."""
    loaded = load_config(config_path, environ={})

    assert loaded.base_dir == config_path.parent
    assert (
        loaded.resolve(loaded.config.state.path) == config_path.parent / "state/automation.sqlite"
    )
    assert loaded.resolve(loaded.config.backend.artefacts) == config_path.parent / "artefacts"
    elsewhere = config_path.parent.parent / "elsewhere"
    assert loaded.resolve(elsewhere) == elsewhere


def test_directory_file_supplies_the_departments(config_dir: Path) -> None:
    """``directory: directory.yaml`` reads the department list from that file beside the config."""
    write(config_dir, DIRECTORY, "directory.yaml")
    path = write(config_dir, WITH_DIRECTORY_FILE)

    departments = load_config(path, environ={}).config.directory.departments

    assert [(d.name, d.sheet) for d in departments] == [
        ("危機管理課", "危機管理課"),
        ("県土整備部", "県土整備部"),
    ]
    assert [c.address for c in departments[0].contacts] == ["kikikanri@example.jp"]


def test_missing_directory_file_is_reported_on_the_directory_line(config_dir: Path) -> None:
    """A directory file that does not exist is one problem at the ``directory`` value."""
    path = write(config_dir, WITH_DIRECTORY_FILE)

    problem = only_problem(path)

    assert where(problem) == (2, 12, "directory")
    assert "directory.yaml" in problem.message
    assert "does not exist" in problem.message


# --- problems and their positions -------------------------------------------------------------


def test_problem_renders_as_file_line_col_path_message(config_dir: Path) -> None:
    """Problems are ConfigValidationError (a ConfigError) rendering FILE:LINE:COL: path: message."""
    path = write(config_dir, with_params("reprot_to: []"))

    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})

    assert isinstance(caught.value, ConfigValidationError)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:17:7: flows[0].params.reprot_to: unknown key 'reprot_to'; "
        "did you mean 'report_to'? rename it (see 'automation schema')"
    ]
    assert caught.value.message == str(caught.value.problems[0])


def test_unknown_key_is_reported_at_the_key(config_dir: Path) -> None:
    """A misspelt key is an 'unknown key' problem at the key itself, not at its value."""
    path = write(
        config_dir, with_params("reprot_to:", "  - {channel: mail, address: x@example.jp}")
    )

    problem = only_problem(path)

    assert where(problem) == (17, 7, "flows[0].params.reprot_to")
    assert "unknown key 'reprot_to'" in problem.message


def test_wrong_type_is_reported_at_the_value(config_dir: Path) -> None:
    """A value of the wrong type is reported where the value starts."""
    path = write(config_dir, with_params("max_workbook_mb: lots"))

    problem = only_problem(path)

    assert where(problem) == (17, 24, "flows[0].params.max_workbook_mb")
    assert "valid number" in problem.message


def test_missing_required_key_is_reported_in_its_mapping(config_dir: Path) -> None:
    """A missing required key is reported at the start of the mapping that should hold it."""
    path = write(config_dir, BASE.replace("      disaster: 令和8年台風第10号\n", ""))

    problem = only_problem(path)

    assert where(problem) == (13, 7, "flows[0].params.disaster")
    assert problem.message == (
        "required key 'disaster' is missing here; add it (Disaster name, e.g. 令和8年台風第10号)"
    )


def test_unsupported_version_says_what_it_got(config_dir: Path) -> None:
    """``version: 2`` is a problem at the value whose message shows the value given."""
    path = write(config_dir, BASE.replace("version: 1", "version: 2"))

    problem = only_problem(path)

    assert where(problem) == (1, 10, "version")
    assert "(got 2)" in problem.message


def test_unknown_flow_kind_is_reported_at_the_kind(config_dir: Path) -> None:
    """An unknown flow ``kind`` is reported at its value, naming the kind given and the known one."""
    path = write(config_dir, BASE.replace("kind: damage_rollup", "kind: rollup"))

    problem = only_problem(path)

    assert where(problem) == (11, 11, "flows[0].kind")
    assert "'rollup'" in problem.message
    assert "damage_rollup" in problem.message


def test_unknown_layout_type_names_the_layout_not_the_union_tags(config_dir: Path) -> None:
    """A layout with an unknown ``type`` is reported at that value; its path has no tag names."""
    path = write(config_dir, with_params("layouts:", "  県土整備部:", "    type: grid"))

    problem = only_problem(path)

    assert where(problem) == (19, 17, "flows[0].params.layouts.県土整備部.type")
    assert "'grid'" in problem.message
    assert "'matrix'" in problem.message
    assert "'records'" in problem.message


def test_error_inside_a_layout_has_no_union_tag_in_its_path(config_dir: Path) -> None:
    """Pydantic's union tag ('records') is not a YAML key, so it never appears in the path."""
    text = with_params("layouts:", "  県土整備部:", "    type: records", "    statuse: [通行止め]")
    path = write(config_dir, text)

    problem = only_problem(path)

    assert where(problem) == (20, 11, "flows[0].params.layouts.県土整備部.statuse")
    assert "unknown key 'statuse'" in problem.message


def test_duplicate_flow_ids_are_reported_at_the_second_id(config_dir: Path) -> None:
    """Two flows with the same id are a problem at the second one's id."""
    path = write(config_dir, BASE + FLOWS.removeprefix("flows:\n"))

    problem = only_problem(path)

    assert where(problem) == (17, 9, "flows[1].id")
    assert "'damage' is used twice" in problem.message


def test_department_not_in_directory_names_the_known_ones(config_dir: Path) -> None:
    """A reporting department missing from the directory is reported with the known names."""
    path = write(config_dir, with_params("departments:", "  - 危機管理課", "  - 総務課"))

    problem = only_problem(path)

    assert where(problem) == (19, 11, "flows[0].params.departments[1]")
    assert "'総務課' is not in the directory" in problem.message
    assert "known: 危機管理課, 県土整備部, 秘書課" in problem.message


def test_reporting_department_needs_a_sheet(config_dir: Path) -> None:
    """A reporting department whose directory entry has no sheet is a problem at its name."""
    path = write(config_dir, with_params("departments:", "  - 危機管理課", "  - 秘書課"))

    problem = only_problem(path)

    assert where(problem) == (19, 11, "flows[0].params.departments[1]")
    assert "'秘書課' has no 'sheet'" in problem.message


def test_unknown_catalogue_codes_in_only_and_exclude(config_dir: Path) -> None:
    """Codes in ``only`` and ``exclude`` must be in the catalogue; each stranger is a problem."""
    text = with_params(
        "catalogue:", "  only: [dead, deaths]", "  exclude:", "    - roads", "    - road"
    )
    path = write(config_dir, text)

    problems = problems_of(path)

    assert [where(p) for p in problems] == [
        (18, 22, "flows[0].params.catalogue.only[1]"),
        (21, 13, "flows[0].params.catalogue.exclude[1]"),
    ]
    assert "unknown item code 'deaths'" in problems[0].message
    assert "unknown item code 'road'" in problems[1].message


def test_extra_item_may_not_reuse_a_catalogue_code(config_dir: Path) -> None:
    """An ``extra`` item whose code is already in the catalogue is a problem at its code."""
    text = with_params("catalogue:", "  extra:", "    - {code: dead, label: 死者, unit: 人}")
    path = write(config_dir, text)

    problem = only_problem(path)

    assert where(problem) == (19, 20, "flows[0].params.catalogue.extra[0].code")
    assert "'dead' already exists" in problem.message


def test_deadlines_with_both_times_and_every_hours(config_dir: Path) -> None:
    """Deadlines giving both ``times`` and ``every_hours`` are a problem at the deadlines."""
    text = with_params("deadlines:", "  times: ['09:00']", "  every_hours: 3")
    path = write(config_dir, text)

    problem = only_problem(path)

    assert where(problem) == (18, 9, "flows[0].params.deadlines")
    assert "exactly one of 'times' or 'every_hours'" in problem.message


def test_deadlines_with_neither_times_nor_every_hours(config_dir: Path) -> None:
    """Deadlines giving neither ``times`` nor ``every_hours`` are a problem at the deadlines."""
    path = write(config_dir, with_params("deadlines:", "  remind_minutes_before: 30"))

    problem = only_problem(path)

    assert where(problem) == (18, 9, "flows[0].params.deadlines")
    assert "exactly one of 'times' or 'every_hours'" in problem.message


def test_artefact_name_needs_the_report_number(config_dir: Path) -> None:
    """``artefact_name`` without {number} is a problem at its value."""
    path = write(config_dir, with_params("artefact_name: report.xlsx"))

    problem = only_problem(path)

    assert where(problem) == (17, 22, "flows[0].params.artefact_name")
    assert "{number}" in problem.message


def test_all_problems_are_reported_at_once(config_dir: Path) -> None:
    """Two independent mistakes in one file are two problems, in file order."""
    path = write(config_dir, with_params("reprot_to: []", "max_workbook_mb: lots"))

    problems = problems_of(path)

    assert [where(p) for p in problems] == [
        (17, 7, "flows[0].params.reprot_to"),
        (18, 24, "flows[0].params.max_workbook_mb"),
    ]


# --- YAML and files ---------------------------------------------------------------------------


def test_yaml_syntax_error_is_one_problem_on_its_line(config_dir: Path) -> None:
    """A YAML syntax error is one problem on the offending line, with a hint how to fix it."""
    path = write(config_dir, BASE.replace("    kind: damage_rollup", "     kind: damage_rollup"))

    problem = only_problem(path)

    assert (problem.line, problem.column, problem.path) == (11, 10, "")
    assert problem.message.startswith("YAML syntax: mapping values are not allowed here")
    assert "check indentation and quoting" in problem.message


def test_unclosed_quote_is_reported_where_the_quote_opens(config_dir: Path) -> None:
    """An unclosed quote is reported on the line where the quoted string starts."""
    path = write(config_dir, BASE.replace("disaster: 令和8年", 'disaster: "令和8年'))

    problem = only_problem(path)

    assert (problem.line, problem.column) == (13, 17)


def test_environment_variable_is_substituted_from_environ(config_dir: Path) -> None:
    """``${NAME}`` in a value is replaced by NAME from the ``environ`` mapping."""
    text = BASE.replace(
        "        - {channel: mail, address: bousai@example.jp}\n",
        "        - channel: teams_webhook\n          address: https://${HOST}/hooks/${HOOK}\n",
    )
    path = write(config_dir, text)

    loaded = load_config(path, environ={"HOST": "h.example.jp", "HOOK": "abc"})

    assert loaded.config.flows[0].params.report_to[0].address == "https://h.example.jp/hooks/abc"


def test_missing_environment_variable_is_a_problem_at_its_value(config_dir: Path) -> None:
    """An unset ``${NAME}`` is a problem at the value's position naming the variable."""
    text = BASE.replace(
        "        - {channel: mail, address: bousai@example.jp}\n",
        "        - channel: teams_webhook\n          address: ${BOUSAI_HOOK}\n",
    )
    path = write(config_dir, text)

    problem = only_problem(path, environ={"OTHER": "x"})

    assert where(problem) == (17, 20, "flows[0].params.report_to[0].address")
    assert "BOUSAI_HOOK is not set" in problem.message


def test_missing_variable_and_schema_error_are_reported_together(config_dir: Path) -> None:
    """An unset variable and an unrelated typo are both reported by the same load."""
    text = BASE.replace(
        "        - {channel: mail, address: bousai@example.jp}\n",
        "        - channel: teams_webhook\n          address: ${BOUSAI_HOOK}\n",
    )
    path = write(config_dir, text + "      reprot_to: []\n")

    problems = problems_of(path)

    assert [where(p) for p in problems] == [
        (17, 20, "flows[0].params.report_to[0].address"),
        (18, 7, "flows[0].params.reprot_to"),
    ]


def test_directory_file_and_config_problems_are_reported_together(config_dir: Path) -> None:
    """A mistake in the directory file and one in the config file are both reported at once."""
    directory = write(
        config_dir,
        DIRECTORY.replace("    sheet: 県土整備部", "    shet: 県土整備部"),
        "directory.yaml",
    )
    path = write(config_dir, WITH_DIRECTORY_FILE + "      reprot_to: []\n")

    problems = problems_of(path)

    assert [(p.file, *where(p)) for p in problems] == [
        (str(directory), 7, 5, "departments[1].shet"),
        (str(path), 11, 7, "flows[0].params.reprot_to"),
    ]


def test_missing_file_is_a_problem(config_dir: Path) -> None:
    """A configuration file that does not exist is a problem, not a traceback."""
    path = config_dir / "missing.yaml"

    problem = only_problem(path)

    assert (problem.file, problem.line, problem.column) == (str(path), 1, 1)
    assert "file not found" in problem.message


@pytest.mark.parametrize("text", ["", "# only a comment\n", "- version: 1\n"])
def test_file_without_a_top_level_mapping_is_a_problem(config_dir: Path, text: str) -> None:
    """An empty file or a top-level YAML list is a problem asking for a mapping."""
    path = write(config_dir, text)

    problem = only_problem(path)

    assert (problem.line, problem.column) == (1, 1)
    assert "expected a mapping with 'version: 1'" in problem.message


# --- command line -----------------------------------------------------------------------------


def test_validate_accepts_a_valid_file(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``automation validate`` exits 0 and prints OK for a valid configuration."""
    code = main(["validate", "-c", str(config_path)])

    out = capsys.readouterr().out
    assert code == 0
    assert f"{config_path}: OK" in out
    assert "damage (damage_rollup)" in out


def test_validate_prints_every_problem_and_exits_2(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``automation validate`` on a bad file exits 2 and prints each problem as FILE:LINE:COL."""
    path = write(config_dir, with_params("reprot_to: []", "max_workbook_mb: lots"))

    code = main(["validate", "-c", str(path)])

    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines() == [
        f"{path}:17:7: flows[0].params.reprot_to: unknown key 'reprot_to'; "
        "did you mean 'report_to'? rename it (see 'automation schema')",
        f"{path}:18:24: flows[0].params.max_workbook_mb: "
        "Input should be a valid number (got 'lots'); write digits only, without units, e.g. 25",
    ]
    assert "Traceback" not in err


def test_schema_prints_the_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    """``automation schema`` prints a JSON Schema whose properties include flows and version."""
    code = main(["schema"])

    schema = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {"flows", "version"} <= set(schema["properties"])


def test_duplicate_key_is_a_problem(config_dir: Path) -> None:
    """A key written twice in one mapping is reported at the second one, not silently overridden."""
    path = write(config_dir, with_params("disaster: 二つ目"))

    problem = only_problem(path)

    assert where(problem) == (17, 7, "flows[0].params.disaster")
    assert "appears twice" in problem.message


def test_directory_file_of_the_wrong_shape_says_what_it_expects(config_dir: Path) -> None:
    """A directory file that is a list is told to start with 'departments:'."""
    write(config_dir, "- name: 危機管理課\n", "directory.yaml")
    path = write(config_dir, WITH_DIRECTORY_FILE)

    problem = only_problem(path)

    assert problem.message == (
        "the file holds a list (lines starting with '-'); "
        "expected a mapping with 'departments:' at the top"
    )


def test_environment_variable_default_is_used_when_unset(config_dir: Path) -> None:
    """${NAME:-default} falls back to the default when NAME is not set."""
    path = write(
        config_dir,
        BASE.replace("disaster: 令和8年台風第10号", "disaster: ${DISASTER:-令和8年台風第11号}"),
    )
    loaded = load_config(path, environ={})
    assert loaded.config.flows[0].params.disaster == "令和8年台風第11号"  # type: ignore[union-attr]


PROGRESS = """\
version: 1
directory:
  departments:
    - name: 総務部
flows:
  - id: progress
    kind: progress_collection
    params:
      programme: DX推進計画
      list: list.csv
      required: [実績]
      secretariat: [{channel: mail, address: dx@example.jp}]
      rounds:
"""


def test_validate_warns_of_a_period_that_misses_its_deadline(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 上期 round due 9/30 that names the 下期 before: OK (exit 0), with a warning at its line."""
    path = write(config_dir, PROGRESS + "        - {deadline: 2026-09-30, period: 2025H2}\n")

    code = main(["validate", "-c", str(path)])

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[1:] == [
        f"{path}:14:42: flows[0].params.rounds[0].period: warning: period '2025H2' "
        "(令和7年度下期, 2025-10-01 to 2026-03-31) neither contains the deadline 2026-09-30 "
        "(9月30日(水)) nor ends shortly before it; a round due then usually collects 2026H1 "
        "(令和8年度上期). Write period: 2026H1, or leave period out to collect it"
    ]


@pytest.mark.parametrize(
    "round_", ["{deadline: 2026-09-30}", "{deadline: 2026-10-15, period: 2026H1}"]
)
def test_validate_does_not_warn_of_a_period_that_meets_its_deadline(
    config_dir: Path, capsys: pytest.CaptureFixture[str], round_: str
) -> None:
    """The default period, and a half due shortly after it ends, pass without a warning."""
    path = write(config_dir, PROGRESS + f"        - {round_}\n")

    assert main(["validate", "-c", str(path)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1
