"""Specs for the pure side of incidents: names SharePoint accepts, where the incident's
workbook goes, its announcement, and the damage flow's final report and scoped occasions."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from automation.config.models import (
    ChannelFile,
    Contact,
    DamageRollupParams,
    Deadlines,
    Department,
    Directory,
    DriveFile,
    SiteFile,
)
from automation.damage.workbook import parse_workbook
from automation.flows import incident
from automation.flows.damage_rollup import DamageInputs, DamageState, plan
from automation.timeutil import JST
from tests.builders import xlsx_bytes

NAME = "令和8年台風第10号"
CHANNEL = "19:0123456789abcdef0123456789abcdef@thread.tacv2"
TEAM = "0b7e5a8c-1f2d-4e3a-9b6c-7d8e9f0a1b2c"


def at(hour: int, minute: int = 0) -> datetime:
    """A time on 2026-09-01 in JST."""
    return datetime(2026, 9, 1, hour, minute, tzinfo=JST)


DIRECTORY = Directory(
    departments=(
        Department(
            name="危機管理課",
            sheet="危機管理課",
            contacts=(Contact(channel="mail", address="kiki@example.jp"),),
        ),
        Department(
            name="企業局",
            sheet="企業局",
            contacts=(Contact(channel="mail", address="kigyou@example.jp"),),
        ),
        Department(name="総務部"),  # no sheet: reports nothing, hears nothing
    )
)
PARAMS = DamageRollupParams(
    disaster="台風",
    workbook="報告/被害状況報告.xlsx",
    report_to=(Contact(channel="mail", address="bousai@example.jp"),),
    municipalities=("前橋市", "高崎市"),
    deadlines=Deadlines(every_hours=3, remind_minutes_before=30),
)


def book(dead: int) -> DamageInputs:
    """危機管理課's sheet with ``dead`` 死者 in 前橋市."""
    data = xlsx_bytes({"危機管理課": [["市町村", "死者"], ["前橋市", dead]]})
    return DamageInputs(f"v{dead}", parse_workbook(data, "b.xlsx", max_bytes=10**7))


@pytest.mark.parametrize(("char", "fix"), sorted(incident.FORBIDDEN.items()))
def test_each_character_sharepoint_refuses_is_named_with_its_full_width_fix(
    char: str, fix: str
) -> None:
    """A name with a character SharePoint refuses in file names names it and the fix."""
    assert incident.name_problem(f"台風{char}10号") == (
        f"the incident name {f'台風{char}10号'!r} contains {char!r}, which SharePoint does not "
        f"allow in file names; write the full-width {fix!r} instead, or leave it out"
    )


def test_a_japanese_name_with_full_width_marks_is_accepted() -> None:
    """Full-width punctuation, digits and spaces inside the name are fine."""
    assert incident.name_problem("令和8年台風第10号（前線） 第２波") is None


def test_the_workbook_goes_beside_the_configured_one_in_every_place_kind() -> None:
    """Local path, channel folder and site path keep their folder and gain the name."""
    channel = ChannelFile(team_id=TEAM, channel_id=CHANNEL, path="被害/被害状況報告.xlsx")
    site = SiteFile(site_id="s", path="被害状況報告.xlsx")

    assert incident.incident_ref(PARAMS, NAME) == f"報告/{NAME}_被害状況報告.xlsx"
    assert incident.incident_ref(replace_workbook(channel), NAME) == channel.model_copy(
        update={"path": f"被害/{NAME}_被害状況報告.xlsx"}
    )
    assert incident.incident_ref(replace_workbook(site), NAME) == site.model_copy(
        update={"path": f"{NAME}_被害状況報告.xlsx"}
    )


def replace_workbook(ref: ChannelFile | SiteFile | DriveFile) -> DamageRollupParams:
    return PARAMS.model_copy(update={"workbook": ref})


def test_a_workbook_given_by_item_id_cannot_place_an_incident_workbook() -> None:
    """A drive item id names no folder: the refusal says which forms to write."""
    with pytest.raises(incident.IncidentRefusedError, match=r"write \{team_id, channel_id"):
        incident.incident_ref(replace_workbook(DriveFile(drive_id="d", item_id="i")), NAME)


def test_the_announcement_goes_to_the_team_and_departments_with_contacts() -> None:
    """One announcement per response-team contact and per reporting department contact."""
    notice = incident.opened(PARAMS, NAME, "https://x.example/b.xlsx", at(9))

    messages = incident.open_messages(PARAMS, DIRECTORY, notice)

    assert [(m.audience, m.contact.address) for m in messages] == [
        ("response_team", "bousai@example.jp"),
        ("危機管理課", "kiki@example.jp"),
        ("企業局", "kigyou@example.jp"),
    ]
    assert {m.occasion for m in messages} == {f"incident:{NAME}:open"}


def test_a_flow_in_an_incident_scopes_every_occasion_by_its_name() -> None:
    """第1報 of an incident has an occasion of its own, not the plain report:1."""
    state = DamageState(incident=NAME)

    result = plan(PARAMS, DIRECTORY, book(1), state, at(9, 10))

    assert {m.occasion for m in result.messages if m.kind == "report"} == {
        f"incident:{NAME}:report:1"
    }


def test_the_final_report_is_issued_even_when_nothing_changed() -> None:
    """Closing issues the next number marked final, from the unchanged workbook."""
    first = plan(PARAMS, DIRECTORY, book(1), DamageState(incident=NAME), at(9, 10))

    final = plan(PARAMS, DIRECTORY, DamageInputs("v1", None, final=True), first.state, at(10, 0))

    assert (final.report.number, final.report.new, final.report.final) == (2, True, True)
    assert final.state.snapshot is not None and final.state.snapshot["final"] is True


def test_the_final_report_is_not_issued_twice() -> None:
    """A second closing run after the final report issues nothing new."""
    first = plan(PARAMS, DIRECTORY, book(1), DamageState(), at(9, 10))
    final = plan(PARAMS, DIRECTORY, DamageInputs("v1", None, final=True), first.state, at(10))

    again = plan(PARAMS, DIRECTORY, DamageInputs("v1", None, final=True), final.state, at(11))

    assert (again.report.number, again.report.new) == (2, False)


def test_the_final_report_sends_no_reminders_in_a_reminder_window() -> None:
    """The final report ends the incident: no deadline reminder goes with it."""
    first = plan(PARAMS, DIRECTORY, book(1), DamageState(), at(9, 10))
    window = at(11, 45)  # 15 minutes before the 12:00 deadline
    reminded = plan(PARAMS, DIRECTORY, DamageInputs("v1", None), first.state, window)
    assert any(m.kind == "reminder" for m in reminded.messages)

    final = plan(PARAMS, DIRECTORY, DamageInputs("v1", None, final=True), first.state, window)

    assert [m.kind for m in final.messages] == ["report"]


def test_incident_params_name_the_reports_and_merged_workbooks_after_it() -> None:
    """While an incident is open the disaster is its name and artefacts carry it."""
    ref = incident.incident_ref(PARAMS, NAME)

    scoped = incident.incident_params(PARAMS, NAME, ref)

    assert (scoped.disaster, scoped.workbook) == (NAME, ref)
    assert scoped.artefact_name.format(number=1) == f"{NAME}_被害状況集計_第1報.xlsx"
    assert replace(DamageState(incident=NAME)).occasion("report:1") == f"incident:{NAME}:report:1"
