"""Specs for configured values that cannot work: refused (or warned about) at FILE:LINE:COL."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st

from automation.cli import main
from automation.config import ConfigProblem, ConfigValidationError, load_config
from automation.config.values import is_plain_address

TEAM = "00000000-0000-0000-0000-00000000a001"
CHANNEL = "19:0000000000000000000000000000a002@thread.tacv2"
TODAY = date(2026, 12, 5)

# Line 8 holds the contact, line 9 column 7 the first added parameter.
DAMAGE = """\
version: 1
directory:
  departments: [{{name: 危機管理課, sheet: 危機管理課}}]
flows:
  - id: damage
    kind: damage_rollup
    params:
      report_to: [{contact}]
      disaster: 台風
      workbook: book.xlsx
{params}"""

PROGRESS = """\
version: 1
directory:
  departments: [{{name: 総務部}}]
flows:
  - id: dx
    kind: progress_collection
    params:
      programme: DX
      list: list.csv
      required: [実績]
      secretariat: [{{channel: mail, address: dx@example.jp}}]
      rounds:
        - {{deadline: {deadline}}}
"""


def config(tmp_path: Path, text: str) -> Path:
    """Write a configuration file and return its path."""
    path = tmp_path / "automation.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def damage(tmp_path: Path, contact: str, *params: str) -> Path:
    """A damage flow reporting to ``contact`` with extra ``params`` lines."""
    lines = "".join(f"      {line}\n" for line in params)
    return config(tmp_path, DAMAGE.format(contact=contact, params=lines))


def only_problem(path: Path, today: date = TODAY) -> ConfigProblem:
    """The one problem that loading ``path`` reports."""
    with pytest.raises(ConfigValidationError) as caught:
        load_config(path, environ={}, today=today)
    problems = caught.value.problems
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def where(problem: ConfigProblem) -> tuple[int, int, str]:
    """A problem's line, column and field path."""
    return problem.line, problem.column, problem.path


def test_a_mail_address_that_is_not_one_is_refused_at_its_line(tmp_path: Path) -> None:
    """A mail contact's address must be an address (email-validator's syntax), at its column."""
    problem = only_problem(damage(tmp_path, "{channel: mail, address: bousai.example.jp}"))
    assert where(problem) == (8, 44, "flows[0].params.report_to[0].address")
    assert problem.message.startswith("'bousai.example.jp' is not a mail address: ")
    assert problem.message.endswith(
        "Write one address as name@domain, e.g. bousai@pref.gunma.lg.jp"
    )


def test_a_mail_address_carrying_a_line_break_is_refused(tmp_path: Path) -> None:
    """CR/LF in an address would add mail headers: refused with that reason."""
    contact = '{channel: mail, address: "bousai@example.jp\\r\\nBcc: all@example.jp"}'
    problem = only_problem(damage(tmp_path, contact))
    assert problem.path == "flows[0].params.report_to[0].address"
    assert problem.message == (
        "the mail address 'bousai@example.jp\\r\\nBcc: all@example.jp' contains a line break "
        "(CR/LF), which would add mail headers; write the address alone on one line"
    )


LOCAL_CHARS = "aZ09_+-.!#%'/=?`{|}~\"<> "
DOMAIN_CHARS = "az09A-._xn"


@settings(deadline=None)
@given(
    st.text(alphabet=LOCAL_CHARS, min_size=0, max_size=12),
    st.text(alphabet=DOMAIN_CHARS, min_size=0, max_size=16),
    st.sampled_from(["jp", "test", "local", "arpa", "j9", "com", "onion", "x", "JP", ""]),
)
@example("bousai", "pref.gunma.lg", "jp")
@example("ab", "xn--e1afmkfd", "test")
@example("a", "ab--cd", "jp")
@example("a" * 70, "a" * 63, "jp")
@example("a", ".".join(["a" * 63] * 4), "jp")
def test_an_address_accepted_without_the_library_is_one_the_library_accepts(
    local: str, domain: str, top: str
) -> None:
    """The quick check of plain addresses accepts nothing email-validator would refuse."""
    address = f"{local}@{domain}.{top}" if top else f"{local}@{domain}"
    if not is_plain_address(address):
        return
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as err:
        pytest.fail(f"{address!r} passed the quick check, email-validator says: {err}")


def loaded_by_validate(tmp_path: Path, contact: str, module: str) -> str:
    """``automation validate`` of a damage configuration in a fresh interpreter: its exit
    code and whether ``module`` was imported, e.g. ``0 False``."""
    config = tmp_path / "c.yaml"
    config.write_text(DAMAGE.format(contact=contact, params=""), encoding="utf-8")
    check = (
        "import sys; from automation.cli import main; code = main(['validate', '-c', sys.argv[1]]); "
        f"print(code, {module!r} in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", check, str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=tmp_path,
    )
    return result.stdout.strip().splitlines()[-1]


def test_validating_plain_addresses_does_not_load_the_address_library(tmp_path: Path) -> None:
    """A configuration whose addresses are plain is validated without importing email-validator."""
    contact = "{channel: mail, address: bousai-soukatsu@pref.gunma.lg.jp}"

    assert loaded_by_validate(tmp_path, contact, "email_validator") == "0 False"


def test_validating_damage_flows_only_does_not_load_the_holiday_calendar(tmp_path: Path) -> None:
    """The fiscal calendar and its holidays are loaded only to check progress flows."""
    contact = "{channel: mail, address: bousai@pref.gunma.lg.jp}"

    assert loaded_by_validate(tmp_path, contact, "jpholiday") == "0 False"


def test_the_sending_mailbox_must_be_an_address(tmp_path: Path) -> None:
    """backend.mailbox is the sending mailbox's address, checked the same way."""
    text = DAMAGE.format(contact="{channel: mail, address: bousai@example.jp}", params="")
    text = text.replace(
        "version: 1\n",
        "version: 1\nbackend: {type: graph, auth: {type: access_token, "
        "token: t}, mailbox: 防災 bousai}\n",
    ).replace("workbook: book.xlsx", "workbook: {drive_id: d, item_id: i}")
    problem = only_problem(config(tmp_path, text))
    assert problem.path == "backend.mailbox"
    assert problem.message.startswith("'防災 bousai' is not a mail address: ")


def test_a_webhook_over_plain_http_is_refused(tmp_path: Path) -> None:
    """A Teams webhook is https; http elsewhere than loopback would send its signature in clear."""
    contact = "{channel: teams_webhook, address: 'http://prod.example.com/workflows/x?sig=s'}"
    problem = only_problem(damage(tmp_path, contact))
    assert problem.path == "flows[0].params.report_to[0].address"
    assert problem.message == (
        "the webhook URL uses http on prod.example.com; Teams webhooks are https only (a "
        "webhook over http would send its secret signature in clear): write the https URL"
    )


def test_a_webhook_that_is_not_a_url_is_refused(tmp_path: Path) -> None:
    """A webhook address that is no URL at all says where the URL comes from."""
    problem = only_problem(damage(tmp_path, "{channel: teams_webhook, address: 防災チャネル}"))
    assert problem.message.startswith("a teams_webhook address is the https URL the Teams")


def test_a_webhook_on_loopback_may_be_plain_http(tmp_path: Path) -> None:
    """A test server on this machine's loopback is accepted over http."""
    contact = "{channel: teams_webhook, address: 'http://127.0.0.1:8080/webhooks/a'}"
    assert load_config(damage(tmp_path, contact), environ={}, today=TODAY).warnings == ()


def test_a_channel_id_of_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    """A Teams channel id has Graph's form 19:...@thread.tacv2; a display name is refused."""
    problem = only_problem(damage(tmp_path, f"{{channel: teams_channel, address: '{TEAM}/防災'}}"))
    assert problem.path == "flows[0].params.report_to[0].address"
    assert problem.message.startswith(
        "channel id '防災' does not have the form of a Teams channel id, 19:…@thread.tacv2 "
        "(older channels: @thread.skype)"
    )


def test_a_team_id_that_is_not_a_guid_is_refused(tmp_path: Path) -> None:
    """A team is addressed by its group id, a GUID."""
    problem = only_problem(
        damage(tmp_path, f"{{channel: teams_channel, address: '防災チーム/{CHANNEL}'}}")
    )
    assert problem.message.startswith(
        "team id '防災チーム' is not a team's group id, which is a GUID"
    )


def test_older_channel_ids_on_thread_skype_are_accepted(tmp_path: Path) -> None:
    """Channels created before @thread.tacv2 keep ids ending @thread.skype."""
    address = f"{TEAM}/19:88f7e66a8dfe42be92db19505ae912a8@thread.skype"
    text = DAMAGE.format(contact=f"{{channel: teams_channel, address: '{address}'}}", params="")
    text = text.replace(
        "version: 1\n",
        "version: 1\nbackend: {type: graph, auth: {type: access_token, token: t},"
        " service_account: {type: access_token, token: u}}\n",
    ).replace("workbook: book.xlsx", "workbook: {drive_id: d, item_id: i}")
    assert load_config(config(tmp_path, text), environ={}, today=TODAY).config.flows


def test_a_channel_file_reference_is_checked_too(tmp_path: Path) -> None:
    """The workbook's {team_id, channel_id, path} is checked like a channel contact."""
    text = DAMAGE.format(contact="{channel: mail, address: bousai@example.jp}", params="")
    text = text.replace(
        "version: 1\n",
        "version: 1\nbackend: {type: graph, auth: {type: access_token, "
        "token: t}, mailbox: bousai@example.jp}\n",
    ).replace(
        "workbook: book.xlsx", f"workbook: {{team_id: {TEAM}, channel_id: 防災, path: a.xlsx}}"
    )
    problem = only_problem(config(tmp_path, text))
    assert problem.path == "flows[0].params.workbook.channel_id"


def test_a_state_path_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    """state.path names the database file; a folder there would fail the run inside sqlite."""
    (tmp_path / "state").mkdir()
    path = damage(tmp_path, "{channel: mail, address: bousai@example.jp}")
    path.write_text("state: {path: state}\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    problem = only_problem(path)
    assert where(problem) == (1, 15, "state.path")
    assert problem.message == (
        f"{tmp_path / 'state'} is a folder; state.path names the database file itself, e.g. "
        "state/automation.sqlite"
    )


def test_a_round_deadline_years_in_the_past_is_refused(tmp_path: Path) -> None:
    """A deadline years before today (2016 for 2026) would never run: refused at its line."""
    problem = only_problem(config(tmp_path, PROGRESS.format(deadline="2016-10-15")))
    assert where(problem) == (13, 22, "flows[0].params.rounds[0].deadline")
    assert problem.message == (
        "deadline 2016-10-15 is 10 years before today (2026-12-05), so this round would never "
        "run; fix the year, or remove rounds that are over"
    )


def test_a_round_deadline_of_this_or_last_year_is_accepted(tmp_path: Path) -> None:
    """A round that just closed is still a round: only years-old deadlines are refused."""
    path = config(tmp_path, PROGRESS.format(deadline="2025-10-15"))
    assert load_config(path, environ={}, today=TODAY).config.flows[0].id == "dx"


def test_a_misspelt_municipality_is_a_warning_with_the_likely_name(tmp_path: Path) -> None:
    """前僑市 is not in the national code list: a warning naming 前橋市 and its code."""
    path = damage(
        tmp_path,
        "{channel: mail, address: bousai@example.jp}",
        "municipalities: [前橋市, 高崎市, 前僑市]",
    )
    (warning,) = load_config(path, environ={}, today=TODAY).warnings
    assert str(warning) == (
        f"{path}:11:34: flows[0].params.municipalities[2]: warning: '前僑市' is not a "
        "municipality in the national local-government code list (全国地方公共団体コード); did "
        "you mean 前橋市 (群馬県, 102016)? Fix the name, or keep it if the workbooks use it for "
        "a place that is not a municipality"
    )


def test_validate_prints_warnings_and_still_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A warning does not fail validate: it is printed and the exit code is 0."""
    path = damage(
        tmp_path, "{channel: mail, address: bousai@example.jp}", "municipalities: [前僑市]"
    )
    assert main(["validate", "-c", str(path)]) == 0
    assert "flows[0].params.municipalities[0]: warning: '前僑市'" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "version: 1\n".encode("utf-16"),
            "the file is UTF-16 LE (Notepad's 'Unicode'), not UTF-8; save it as UTF-8 "
            "(in Notepad: Save As, Encoding: UTF-8)",
        ),
        (
            b"",
            "the file is empty (or holds only comments); expected a mapping with 'version: 1' "
            "at the top",
        ),
        (
            b"- version: 1\n- flows: []\n",
            "the file holds a list (lines starting with '-'); expected a mapping with "
            "'version: 1' at the top",
        ),
        (
            b"version 1\n",
            "the file holds only a string ('version 1'); expected a mapping with 'version: 1' "
            "at the top",
        ),
    ],
    ids=["utf-16", "empty", "list", "string"],
)
def test_a_configuration_file_of_the_wrong_kind_says_which(
    tmp_path: Path, content: bytes, message: str
) -> None:
    """UTF-16, an empty file, a list and a string are each named, not one generic message."""
    path = tmp_path / "automation.yaml"
    path.write_bytes(content)
    problem = only_problem(path)
    assert (problem.line, problem.column, problem.message) == (1, 1, message)
