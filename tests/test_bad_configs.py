"""Specs for the bad-configuration corpus in tests/bad_configs/.

Each case is one broken file an admin could plausibly write (a header comment names the
mistake). ``automation validate -c FILE`` must exit 2 and print only ``FILE:LINE:COL: ``
lines, one of them at the culprit's position and field path saying how to fix it; never a
traceback. Most cases call the CLI in-process; a few run it as a real subprocess.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from automation.cli import main
from automation.configuration import load_config

CORPUS = Path(__file__).parent / "bad_configs"
CONFIG = Path(__file__).parent.parent / "config"
PACKAGED_TEMPLATES = Path(__file__).parent.parent / "automation" / "templates"
ENV_PREFIX = "BAD_CONFIG_"  # the only variables the corpus refers to; none is set by default
# A message says how to fix the problem: an instruction, a likely intended value, an example.
FIX = re.compile(
    r"\b(add|remove|write|use|set|quote|check|export|rename|create|merge|indent|put|save|"
    r"give|fix|define)\b|did you mean|e\.g\."
)


@dataclass(frozen=True)
class Case:
    """A corpus file and the problem validate must report for it."""

    name: str
    line: int
    column: int
    path: str  # field path; "" for problems with the file itself (YAML syntax, encoding)
    fix: str  # a fragment of the message: the fix, or what names the allowed values
    file: str = ""  # the file holding the problem when it is not the case's own
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def config(self) -> Path:
        """The case's configuration file."""
        return CORPUS / f"{self.name}.yaml"

    @property
    def problem_file(self) -> Path:
        """The file the expected problem is reported in."""
        return CORPUS / self.file if self.file else self.config

    def __str__(self) -> str:
        return self.name


DIRECTORY_OF = {
    "key_directory_file_contact": "key_directory_file_contact.directory.yaml",
    "dup_department_in_directory": "dup_department_in_directory.directory.yaml",
    "dir_file_yaml_error": "dir_file_yaml_error.directory.yaml",
}

CASES = [
    # YAML syntax and encoding
    Case("yaml_tab_indent", 14, 1, "", "indent with spaces"),
    Case("yaml_unclosed_single_quote", 12, 18, "", "add the closing quote"),
    Case("yaml_key_indented_too_far", 14, 16, "", "check indentation"),
    Case("yaml_fullwidth_colon", 13, 15, "", "write a half-width ':'"),
    Case("yaml_no_space_after_colon", 13, 15, "", "put a space after ':'"),
    Case("yaml_fullwidth_space_indent", 14, 1, "", "indent with half-width spaces"),
    Case("yaml_unclosed_flow_mapping", 16, 11, "", "add the '}'"),
    Case("yaml_env_in_flow_mapping", 16, 46, "", "quote values that contain ${VAR}"),
    Case("yaml_two_documents", 17, 1, "", "remove the '---' line"),
    Case("yaml_alias_bomb", 7, 45, "", "write the repeated values out"),
    Case("yaml_undefined_alias", 17, 23, "", "quote the value if the '*' is text"),
    Case("yaml_invalid_date", 11, 22, "", "write a valid date as YYYY-MM-DD"),
    Case("yaml_duplicate_flows_key", 17, 1, "flows", "merge the two into one"),
    Case("yaml_shift_jis", 5, 13, "", "save it as UTF-8"),
    # wrong types and values
    Case("type_version_quoted", 2, 10, "version", "write it without quotes: 1"),
    Case("type_feedback_not_boolean", 17, 17, "flows[0].params.feedback", "write true or false"),
    Case("type_report_to_not_a_list", 16, 9, "flows[0].params.report_to", "one '- ' line"),
    Case(
        "type_statuses_comma_string",
        20,
        21,
        "flows[0].params.layouts.危機管理課.statuses",
        "write [通行止め, 片側交互通行, 規制解除]",
    ),
    Case("type_size_with_unit", 17, 24, "flows[0].params.max_workbook_mb", "without units"),
    Case(
        "type_every_hours_too_large",
        18,
        22,
        "flows[0].params.deadlines.every_hours",
        "set 24 or less",
    ),
    Case(
        "type_deadline_time_unquoted",
        18,
        26,
        "flows[0].params.deadlines.times[1]",
        "quote it: '15:00'",
    ),
    Case(
        "type_round_deadline_slashes",
        11,
        22,
        "flows[0].params.rounds[0].deadline",
        "write YYYY-MM-DD",
    ),
    Case("type_sheet_number", 6, 14, "directory.departments[0].sheet", "quote it: '2'"),
    Case("type_flow_id_japanese", 10, 9, "flows[0].id", "use only ASCII letters"),
    Case("type_flows_empty", 9, 8, "flows", "add one"),
    Case("type_directory_list", 3, 12, "directory", "write its 'key: value' lines"),
    Case("type_alerts_not_a_list", 18, 11, "service.alerts", "one '- ' line per entry"),
    Case("type_address_empty", 16, 36, "flows[0].params.report_to[0].address", "write a value"),
    Case(
        "type_backoff_negative",
        19,
        31,
        "service.outbox.backoff_seconds[2]",
        "cannot be negative (got -120); write 120",
    ),
    Case(
        "type_reminder_days_negative",
        12,
        40,
        "flows[0].params.remind_business_days_before[1]",
        "write 3 instead",
    ),
    Case(
        "type_progress_artefact_no_period",
        15,
        22,
        "flows[0].params.artefact_name",
        "write e.g. 進捗一覧_{period}.xlsx",
    ),
    Case("type_grace_negative", 12, 60, "flows[0].schedule.misfire_grace_minutes", "set 0 or more"),
    # unknown keys
    Case("key_top_level_flow", 9, 1, "flow", "did you mean 'flows'? rename it"),
    Case("key_params_singular", 12, 5, "flows[0].param", "did you mean 'params'?"),
    Case("key_param_outside_params", 15, 5, "flows[0].report_to", "belongs under 'params'"),
    Case(
        "key_contact_adress",
        16,
        27,
        "flows[0].params.report_to[0].adress",
        "did you mean 'address'",
    ),
    Case(
        "key_service_outbox_typo",
        19,
        5,
        "service.outbox.max_attempt",
        "did you mean 'max_attempts'",
    ),
    Case("key_schedule_crons", 13, 7, "flows[0].schedule.crons", "did you mean 'cron'"),
    Case(
        "key_directory_file_contact",
        5,
        5,
        "departments[0].contact",
        "did you mean 'contacts'",
        file=DIRECTORY_OF["key_directory_file_contact"],
    ),
    Case("key_graph_auth_secret", 16, 5, "backend.auth.secret", "did you mean 'client_secret'"),
    Case("key_unknown_section", 17, 1, "logging", "keys here: version, timezone"),
    # unknown kinds and types of sections
    Case("kind_unknown_flow", 11, 11, "flows[0].kind", "did you mean 'damage_rollup'"),
    Case("kind_missing", 10, 5, "flows[0]", "add kind: damage_rollup or kind: progress_collection"),
    Case("kind_backend_unknown", 10, 9, "backend.type", "expected one of 'local', 'graph'"),
    Case("kind_backend_without_type", 10, 3, "backend", "add type: local or type: graph"),
    Case("kind_auth_unknown", 12, 11, "backend.auth.type", "'certificate', 'client_secret'"),
    Case(
        "kind_layout_typo",
        18,
        23,
        "flows[0].params.layouts.危機管理課.type",
        "did you mean 'records'",
    ),
    # schedules
    Case("cron_six_fields", 13, 13, "flows[0].schedule.cron", "has 6 fields; expected 5"),
    Case("cron_second_entry_hour", 15, 11, "flows[0].schedule.cron[1]", "hour 25 is outside 0-23"),
    Case("cron_weekday_typo", 7, 22, "flows[0].schedule.cron", "weekday 'fry'"),
    Case("schedule_cron_and_interval", 13, 7, "flows[0].schedule", "not both; remove one"),
    Case("schedule_empty", 7, 15, "flows[0].schedule", "add one, e.g. cron:"),
    Case("schedule_interval_zero", 12, 31, "flows[0].schedule.every_seconds", "set 1 or more"),
    # timezone
    Case("timezone_utc", 3, 11, "timezone", "write 'Asia/Tokyo'"),
    Case("timezone_typo", 3, 11, "timezone", "did you mean 'Asia/Tokyo'"),
    # environment variables
    Case(
        "env_webhook_unset",
        18,
        20,
        "flows[0].params.report_to[0].address",
        "BAD_CONFIG_WEBHOOK_URL is not set; export it",
    ),
    Case(
        "env_graph_secret_unset",
        16,
        20,
        "backend.auth.client_secret",
        "BAD_CONFIG_CLIENT_SECRET is not set; export it",
    ),
    Case(
        "env_reference_unclosed",
        17,
        20,
        "flows[0].params.report_to[0].address",
        "write ${NAME} with a closing '}'",
    ),
    Case(
        "env_variable_empty",
        17,
        20,
        "flows[0].params.report_to[0].address",
        "BAD_CONFIG_EMPTY is set but empty; export its value",
        env={"BAD_CONFIG_EMPTY": ""},
    ),
    # duplicates
    Case("dup_flow_id_across_kinds", 12, 9, "flows[1].id", "give each flow its own id"),
    Case(
        "dup_department_in_directory",
        19,
        11,
        "departments[2].name",
        "listed twice; remove one of the entries",
        file=DIRECTORY_OF["dup_department_in_directory"],
    ),
    # departments and the directory
    Case(
        "dir_progress_department_unknown",
        15,
        28,
        "flows[0].params.departments[1]",
        "add it there or fix the name (known: 危機管理課, 県土整備部)",
    ),
    Case(
        "municipalities_empty",
        12,
        23,
        "flows[0].params.municipalities",
        "list them (e.g. [前橋市, 高崎市]) or remove the key",
    ),
    Case(
        "sheet_name_excel_refuses",
        8,
        14,
        "directory.departments[1].sheet",
        "contains /; Excel names a sheet with at most 31 characters",
    ),
    Case(
        "dir_layout_department_unknown",
        13,
        16,
        "flows[0].params.layouts.道路管理課",
        "add it there or fix the name",
    ),
    Case(
        "dir_damage_department_unknown",
        12,
        28,
        "flows[0].params.departments[1]",
        "'県土整備局' is not in the directory; add it there or fix the name",
    ),
    Case("dir_file_missing", 3, 12, "directory", "did you mean '_shared.directory.yaml'?"),
    Case(
        "dir_file_yaml_error",
        11,
        9,
        "",
        "put a space after ':'",
        file=DIRECTORY_OF["dir_file_yaml_error"],
    ),
    # other cross-checks
    Case(
        "progress_delayed_status_unknown",
        16,
        26,
        "flows[0].params.delayed_statuses[0]",
        "add it there or fix it",
    ),
    Case(
        "progress_period_not_a_half",
        11,
        42,
        "flows[0].params.rounds[0].period",
        "write e.g. 2026H1",
    ),
    Case(
        "progress_status_field_numeric",
        15,
        24,
        "flows[0].params.numeric[1]",
        "remove it from numeric",
    ),
    Case(
        "catalogue_code_typo",
        18,
        31,
        "flows[0].params.catalogue.only[2]",
        "did you mean 'dead'? use a code listed in docs/catalogue.md",
    ),
    # template overrides
    Case(
        "templates_folder_missing",
        17,
        18,
        "flows[0].params.templates",
        "does not exist; create it",
    ),
    Case(
        "templates_file_typo",
        17,
        18,
        "flows[0].params.templates",
        "damage_reprot.txt.j2 matches no template name, so it is never used; "
        "rename it to damage_report.txt.j2",
    ),
    Case(
        "templates_undefined_variable",
        17,
        18,
        "flows[0].params.templates",
        "damage_report.txt.j2:3: 'automation.flows.damage_rollup.DamageReport object' has no "
        "attribute 'numbr' when rendering a sample report message for mail; fix the template "
        "(did you mean 'number'?)",
    ),
    Case(
        "templates_incident_undefined",
        17,
        18,
        "flows[0].params.templates",
        "incident_open.txt.j2:3: 'automation.flows.incident.OpenedIncident object' has no "
        "attribute 'nmae' when rendering a sample incident_open message for mail; fix the "
        "template (did you mean 'name'?)",
    ),
    Case(
        "templates_hint_undefined",
        22,
        18,
        "flows[0].params.templates",
        "damage_reminder.txt.j2:2: 'automation.flows.damage_rollup.DepartmentStatus object' has "
        "no attribute 'sheet_hnit_ja' when rendering a sample reminder message for mail; fix "
        "the template (did you mean 'sheet_hint_ja'?)",
    ),
    Case(
        "templates_syntax_error",
        15,
        18,
        "flows[0].params.templates",
        "progress_reminder.html.j2:4: syntax error: the {% for %} that opens here is never "
        "closed; add {% endfor %} where it ends",
    ),
    Case(
        "templates_card_not_json",
        12,
        18,
        "flows[0].params.templates",
        "damage_feedback.card.json.j2: renders a sample feedback message for teams_webhook "
        "that is not valid JSON (output line 6",
    ),
    Case(
        "templates_partial_undefined",
        15,
        18,
        "flows[0].params.templates",
        "_progress.txt.j2:3: 'automation.flows.progress_collection.ItemCheck object' has no "
        "attribute 'projct'",
    ),
    # the daemon's settings
    Case("service_alert_channel", 19, 17, "service.alerts[0].channel", "did you mean 'mail'"),
    Case(
        "service_webhook_policy",
        19,
        24,
        "service.outbox.webhook_uncertain",
        "Input should be 'resend' or 'give_up' (got 'retry')",
    ),
    Case("service_reload_zero", 18, 25, "service.reload_check_seconds", "set a value above 0"),
    Case(
        "cpu_processes_zero",
        18,
        14,
        "cpu.processes",
        "(got 0); write auto (the CPUs this host gives the run) or a number from 1 to 64",
    ),
    Case(
        "state_url_password_written",
        18,
        8,
        "state.url",
        "write postgresql+psycopg://user:${PGPASSWORD}",
    ),
    Case("state_url_unknown_scheme", 18, 8, "state.url", "write sqlite:///path"),
    Case(
        "state_url_password_in_query",
        18,
        8,
        "state.url",
        "write postgresql+psycopg://user:${PGPASSWORD}",
    ),
]

# Run end to end as `python -m automation`: one per family of mistake.
SUBPROCESS_CASES = [
    "yaml_shift_jis",
    "yaml_invalid_date",
    "type_deadline_time_unquoted",
    "env_webhook_unset",
    "dup_department_in_directory",
    "templates_undefined_variable",
]
BY_NAME = {case.name: case for case in CASES}


def expected_line_start(case: Case) -> str:
    """How the expected problem's line begins: FILE:LINE:COL: and the field path."""
    where = f"{case.problem_file}:{case.line}:{case.column}: "
    return where + (f"{case.path}: " if case.path else "")


def check_report(case: Case, code: int, err: str) -> None:
    """The shared assertions on what validate printed for ``case``."""
    assert code == 2
    assert "Traceback" not in err
    files = "|".join(re.escape(str(f)) for f in {case.config, case.problem_file})
    lines = err.splitlines()
    assert lines, "validate printed nothing"
    assert all(re.match(rf"^({files}):\d+:\d+: ", line) for line in lines), lines
    matching = [line for line in lines if line.startswith(expected_line_start(case))]
    assert matching, f"expected a line starting {expected_line_start(case)!r}, got {lines}"
    assert any(case.fix in line and FIX.search(line) for line in matching), matching


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The process environment without any of the corpus's variables."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    return monkeypatch


def test_the_corpus_has_a_row_for_every_case_file() -> None:
    """Every configuration file in the corpus has exactly one row, and there are at least 40."""
    files = {p.stem for p in CORPUS.glob("*.yaml") if not p.name.endswith(".directory.yaml")}

    assert files == set(BY_NAME)
    assert len(CASES) == len(BY_NAME) >= 40


def test_every_case_file_names_its_mistake() -> None:
    """Each case file (and each directory file of a case) opens with a comment naming the mistake."""
    paths = sorted(CORPUS.glob("*.yaml"))
    assert len(paths) >= len(CASES)
    for path in paths:
        first = path.read_bytes().split(b"\n", 1)[0].decode("ascii", errors="replace")
        assert first.startswith(("# Mistake: ", "# Directory for ", "# A valid")), path.name


@pytest.mark.parametrize("case", CASES, ids=str)
def test_validate_reports_the_mistake_at_its_position_with_the_fix(
    case: Case, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """validate exits 2, prints only FILE:LINE:COL lines, one at the culprit with its fix."""
    for name, value in case.env.items():
        clean_env.setenv(name, value)

    code = main(["validate", "-c", str(case.config)])

    out, err = capsys.readouterr()
    assert out == ""
    check_report(case, code, err)


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_validate_as_a_process_exits_2_without_a_traceback(name: str) -> None:
    """`python -m automation validate` on a broken file exits 2 and prints the same report."""
    case = BY_NAME[name]
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}

    result = subprocess.run(
        [sys.executable, "-m", "automation", "validate", "-c", str(case.config)],
        capture_output=True,
        text=True,
        env={**env, **case.env},
        timeout=60,
        check=False,
    )

    check_report(case, result.returncode, result.stderr)


@pytest.fixture
def overridden_examples(tmp_path: Path) -> list[Path]:
    """The example configurations, each pointing at a folder with a copy of every template."""
    shutil.copytree(PACKAGED_TEMPLATES, tmp_path / "overrides")
    shutil.copy(CONFIG / "directory.yaml", tmp_path / "directory.yaml")
    paths = []
    for name in ("damage_rollup.yaml", "progress_halfyear.yaml", "progress_city_wg.yaml"):
        text = (CONFIG / name).read_text(encoding="utf-8")
        text = re.sub(r"(?m)^    params:\n", "    params:\n      templates: overrides\n", text)
        (tmp_path / name).write_text(text, encoding="utf-8")
        paths.append(tmp_path / name)
    return paths


def test_copies_of_the_packaged_templates_pass_the_template_check(
    overridden_examples: list[Path],
) -> None:
    """The sample plans render every packaged template cleanly: the check has no false alarms."""
    environ = {"BOUSAI_TEAMS_WEBHOOK_URL": "https://example.invalid/workflows/hook"}

    assert overridden_examples
    for path in overridden_examples:
        assert load_config(path, environ=environ).config.flows


def test_validate_without_template_overrides_does_not_load_jinja2() -> None:
    """Only flows that set params.templates pay for the template check (validate stays fast)."""
    check = (
        "import sys; from automation.cli import main; main(['validate', '-c', sys.argv[1]]); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'jinja2'))"
    )
    env = {**os.environ, "BOUSAI_TEAMS_WEBHOOK_URL": "https://example.invalid/workflows/hook"}

    result = subprocess.run(
        [sys.executable, "-c", check, str(CONFIG / "damage_rollup.yaml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )

    assert result.stdout.strip().endswith("[]"), result.stdout
