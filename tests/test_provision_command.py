"""Specs for ``automation provision workbook``: where the workbook goes, never over one that
exists unless asked, and configuration that cannot build one refused at its line."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from automation.backends.graph.gateway import Download, GraphGateway, StaticToken
from automation.backends.graph.provision import GraphProvisioner
from automation.backends.local import LocalProvisioner
from automation.cli import main
from automation.config.models import ChannelFile, DriveFile, SiteFile
from automation.damage.workbook import parse_workbook
from automation.errors import AuthError, ConfigError, TransientError
from automation.ports import CreatedFile
from automation.provision import archive_name
from automation.timeutil import JST
from tests.fake_graph import FakeGraph
from tests.fake_graph.wire import GRAPH_BASE_URL

CONFIG = """\
version: 1
state: {path: state/db.sqlite}
backend: {type: local, root: inputs, artefacts: out, deliveries: sent}
directory:
  departments:
    - name: 危機管理課
      sheet: 危機管理課
    - name: 県土整備部
      sheet: 県土整備部
flows:
  - id: damage
    kind: damage_rollup
    params:
      disaster: 令和8年台風第10号
      workbook: 報告/被害状況報告.xlsx
      report_to: [{channel: mail, address: bousai@example.jp}]
      municipalities: [前橋市, 高崎市]
      layouts: {県土整備部: {type: records, statuses: [通行止め, 解除]}}
"""
NOW = datetime(2026, 9, 1, 9, 30, tzinfo=JST)


def config(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "automation.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_upload_on_the_local_backend_writes_into_the_workbook_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--upload creates params.workbook under backend.root, and a run reads it."""
    code = main(
        ["provision", "workbook", "-c", str(config(tmp_path)), "--flow", "damage", "--upload"]
    )

    created = tmp_path / "inputs" / "報告" / "被害状況報告.xlsx"
    assert code == 0
    assert capsys.readouterr().out.startswith(f"created {created} (")
    book = parse_workbook(created.read_bytes(), created.name, max_bytes=10**7)
    assert {"記入方法", "危機管理課", "県土整備部"} <= set(book.sheets)
    assert main(["validate", "-c", str(tmp_path / "automation.yaml"), "--check-inputs"]) == 0


def test_an_existing_workbook_is_never_overwritten_without_replace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second --upload changes nothing, exits 2 and says how to replace it."""
    path = config(tmp_path)
    target = tmp_path / "inputs" / "報告" / "被害状況報告.xlsx"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"typed by departments")
    capsys.readouterr()

    code = main(["provision", "workbook", "-c", str(path), "--flow", "damage", "--upload"])

    assert code == 2
    assert target.read_bytes() == b"typed by departments"
    assert capsys.readouterr().err == (
        f"{target} already exists; nothing was changed. "
        "Departments may have typed into it: pass --replace to keep it as an archived copy "
        "and write the new workbook, or set params.workbook to a new file name\n"
    )


def test_replace_keeps_the_old_workbook_as_an_archived_copy(tmp_path: Path) -> None:
    """--replace copies the existing workbook to a dated name beside it, then writes the new one."""
    path = config(tmp_path)
    target = tmp_path / "inputs" / "報告" / "被害状況報告.xlsx"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"typed by departments")

    code = main(
        ["provision", "workbook", "-c", str(path), "--flow", "damage", "--upload", "--replace"]
    )

    archived = [p for p in target.parent.iterdir() if "_旧_" in p.name]
    assert code == 0
    assert [p.read_bytes() for p in archived] == [b"typed by departments"]
    assert target.read_bytes().startswith(b"PK")


def test_without_upload_it_writes_the_output_file_only(tmp_path: Path) -> None:
    """--output writes that file; the workbook folder is not touched; an existing file stays."""
    path = config(tmp_path)
    output = tmp_path / "draft.xlsx"

    first = main(
        ["provision", "workbook", "-c", str(path), "--flow", "damage", "--output", str(output)]
    )
    again = main(
        ["provision", "workbook", "-c", str(path), "--flow", "damage", "--output", str(output)]
    )

    assert (first, again) == (0, 2)
    assert output.read_bytes().startswith(b"PK")
    assert not (tmp_path / "inputs").exists()


def test_replace_over_an_output_file_keeps_the_old_one_as_an_archived_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--output with --replace first copies the old file to a dated name beside it, and says so."""
    # then writes the new workbook
    path = config(tmp_path)
    output = tmp_path / "draft.xlsx"
    output.write_bytes(b"typed by departments")
    capsys.readouterr()

    args = ["provision", "workbook", "-c", str(path), "--flow", "damage", "--output"]
    code = main([*args, str(output), "--replace"])

    archived = [p for p in tmp_path.iterdir() if p.name.startswith("draft_旧_")]
    assert code == 0
    assert [p.read_bytes() for p in archived] == [b"typed by departments"]
    assert output.read_bytes().startswith(b"PK")
    assert f"the previous workbook was kept as {archived[0]}\n" in capsys.readouterr().out


def test_an_archive_name_already_taken_stops_the_replace_before_any_change(
    tmp_path: Path,
) -> None:
    """The archived copy never overwrites a file: a taken name leaves both files as they were."""
    target = tmp_path / "被害状況報告.xlsx"
    target.write_bytes(b"typed by departments")
    taken = tmp_path / archive_name(target.name, NOW)
    taken.write_bytes(b"an earlier archive")

    with pytest.raises(ConfigError, match=r"already exists; nothing was changed"):
        asyncio.run(
            LocalProvisioner(tmp_path).create_workbook(
                "被害状況報告.xlsx", target.name, b"PK new", replace=True, archive_name=taken.name
            )
        )

    assert target.read_bytes() == b"typed by departments"
    assert taken.read_bytes() == b"an earlier archive"


def test_dry_run_prints_the_plan_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--dry-run lists the sheets and each column's rule; no file appears."""
    code = main(
        [
            "provision",
            "workbook",
            "-c",
            str(config(tmp_path)),
            "--flow",
            "damage",
            "--upload",
            "--dry-run",
        ]
    )

    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("would create 報告/被害状況報告.xlsx (local backend):\n")
    assert "  県土整備部 (県土整備部, records, 300 incident rows)\n" in out
    assert "    状況: one of 2: 通行止め、解除\n" in out
    assert "    人的被害 / 死者（人）: number >= 0 (whole) or 未確認/調査中/-\n" in out
    assert not (tmp_path / "inputs").exists()


def test_a_matrix_without_municipalities_fails_at_the_flows_params(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No municipalities: exit 2 with FILE:LINE:COL and the fix; nothing is written."""
    path = config(tmp_path, CONFIG.replace("      municipalities: [前橋市, 高崎市]\n", ""))

    code = main(["provision", "workbook", "-c", str(path), "--flow", "damage", "--upload"])

    assert code == 2
    assert capsys.readouterr().err == (
        f"{path}:14:7: flows[0].params.municipalities: department '危機管理課' reports on a matrix sheet, whose "
        "rows are the municipalities, but params.municipalities is not given; list them in "
        "params.municipalities (e.g. [前橋市, 高崎市]) or give the department a records layout\n"
    )
    assert not (tmp_path / "inputs").exists()


def test_a_flow_that_is_not_a_damage_flow_is_named_with_the_choices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--flow of no damage flow says which flows can have a workbook."""
    path = config(tmp_path)

    code = main(["provision", "workbook", "-c", str(path), "--flow", "dmage"])

    assert code == 2
    assert capsys.readouterr().err == (
        f"{path}: flow 'dmage' is not in the configuration; a workbook is built for a "
        "damage_rollup flow: use --flow with one of damage\n"
    )


def test_archive_names_keep_the_suffix_and_carry_the_time() -> None:
    """The archived copy is named after the workbook and the time it was replaced."""
    assert archive_name("被害状況報告.xlsx", NOW) == "被害状況報告_旧_20260901-093000.xlsx"


# --- into the tenant (fake Graph, as driveitem-put-content.md describes) -----------------

DRIVE, FOLDER = "b!drive-0001", "01CHANNELFOLDER"
TEAM = "00000000-0000-0000-0000-00000000a001"
CHANNEL = "19:0000000000000000000000000000a002@thread.tacv2"
SITE = "contoso.sharepoint.com,00000000-0000-0000-0000-00000000b001,b002"


def tenant() -> tuple[FakeGraph, GraphProvisioner]:
    fake = FakeGraph(token="t")
    fake.add_team_channel(TEAM, CHANNEL, "General", DRIVE, FOLDER)
    fake.set_site_drive(SITE, DRIVE)
    transport = httpx.ASGITransport(app=fake.app)
    return fake, GraphProvisioner(
        GraphGateway(GRAPH_BASE_URL, StaticToken("t"), transport=transport)
    )


def create(provisioner: GraphProvisioner, ref: object, *, replace: bool = False) -> CreatedFile:
    return asyncio.run(
        provisioner.create_workbook(
            ref,  # type: ignore[arg-type]  # each FileRef form is tried
            "被害状況報告.xlsx",
            b"PK new workbook",
            replace=replace,
            archive_name="被害状況報告_旧_20260901-093000.xlsx",
        )
    )


def test_upload_into_a_channel_creates_the_file_and_returns_its_web_url() -> None:
    """The workbook lands in the channel's folder with conflictBehavior=fail; its URL comes back."""
    fake, provisioner = tenant()

    created = create(
        provisioner, ChannelFile(team_id=TEAM, channel_id=CHANNEL, path="被害状況報告.xlsx")
    )

    stored = fake.file_at(DRIVE, "/General/被害状況報告.xlsx")
    assert stored is not None and stored.content == b"PK new workbook"
    assert created == CreatedFile(stored_url(fake, "/General/被害状況報告.xlsx"), None)
    puts = [c for c in fake.calls if c.method == "PUT"]
    assert [c.query.get("@microsoft.graph.conflictBehavior") for c in puts] == ["fail"]


def stored_url(fake: FakeGraph, path: str) -> str:
    item = fake.file_at(DRIVE, path)
    assert item is not None
    return item.web_url


def test_an_existing_workbook_in_the_tenant_is_left_as_it_is() -> None:
    """An existing file: a ConfigError naming it and --replace; no PUT is sent."""
    fake, provisioner = tenant()
    fake.add_drive_item(DRIVE, "01OLD", "被害状況報告.xlsx", b"typed", parent_path="/")

    with pytest.raises(ConfigError, match=r"already exists at .*nothing was changed.*--replace"):
        create(provisioner, SiteFile(site_id=SITE, path="被害状況報告.xlsx"))

    assert [c for c in fake.calls if c.method == "PUT"] == []
    assert fake.file_at(DRIVE, "/被害状況報告.xlsx").content == b"typed"  # type: ignore[union-attr]


def test_replace_in_the_tenant_archives_the_old_content_first() -> None:
    """--replace uploads the old bytes under the archive name, then replaces the workbook."""
    fake, provisioner = tenant()
    fake.add_drive_item(DRIVE, "01OLD", "被害状況報告.xlsx", b"typed", parent_path="/")

    created = create(provisioner, DriveFile(drive_id=DRIVE, item_id="01OLD"), replace=True)

    archive = fake.file_at(DRIVE, "/被害状況報告_旧_20260901-093000.xlsx")
    assert archive is not None and archive.content == b"typed"
    assert fake.file_at(DRIVE, "/被害状況報告.xlsx").content == b"PK new workbook"  # type: ignore[union-attr]
    assert created.archived == archive.web_url


def test_replace_where_no_workbook_was_found_still_never_overwrites() -> None:
    """--replace with nothing to archive uploads with conflictBehavior=fail."""
    # a file that appears meanwhile is never overwritten without its archived copy
    fake, provisioner = tenant()

    create(provisioner, SiteFile(site_id=SITE, path="被害状況報告.xlsx"), replace=True)

    puts = [c for c in fake.calls if c.method == "PUT"]
    assert [c.query.get("@microsoft.graph.conflictBehavior") for c in puts] == ["fail"]


def test_an_archive_name_taken_in_the_tenant_stops_the_replace_before_any_change() -> None:
    """--replace whose archive name is taken names that file and changes nothing."""
    # the workbook and the file stay as they were
    fake, provisioner = tenant()
    fake.add_drive_item(DRIVE, "01OLD", "被害状況報告.xlsx", b"typed", parent_path="/")
    fake.add_drive_item(
        DRIVE, "01ARC", "被害状況報告_旧_20260901-093000.xlsx", b"earlier", parent_path="/"
    )
    taken = stored_url(fake, "/被害状況報告_旧_20260901-093000.xlsx")

    with pytest.raises(ConfigError) as refused:
        create(provisioner, SiteFile(site_id=SITE, path="被害状況報告.xlsx"), replace=True)

    assert str(refused.value) == (
        f"被害状況報告_旧_20260901-093000.xlsx ({taken}, last changed by Fake User at "
        f"{fake.file_at(DRIVE, '/被害状況報告_旧_20260901-093000.xlsx').modified:%Y-%m-%dT%H:%M:%SZ}) "  # type: ignore[union-attr]
        "already exists, so the old workbook cannot be archived under that name; nothing was "
        "changed. Rename or move that file, or run the command again a second later "
        "(archived copies are named by the second)"
    )
    assert fake.file_at(DRIVE, "/被害状況報告.xlsx").content == b"typed"  # type: ignore[union-attr]
    assert fake.file_at(DRIVE, "/被害状況報告_旧_20260901-093000.xlsx").content == b"earlier"  # type: ignore[union-attr]


def test_an_archive_upload_that_fails_leaves_the_workbook_as_it_was() -> None:
    """Graph failing the archived copy's upload stops the replace: the old workbook stays."""
    fake, provisioner = tenant()
    fake.add_drive_item(DRIVE, "01OLD", "被害状況報告.xlsx", b"typed", parent_path="/")
    fake.fail("PUT", "_旧_", 403)

    with pytest.raises(AuthError, match=r"upload 被害状況報告_旧_20260901-093000\.xlsx"):
        create(provisioner, SiteFile(site_id=SITE, path="被害状況報告.xlsx"), replace=True)

    assert fake.file_at(DRIVE, "/被害状況報告.xlsx").content == b"typed"  # type: ignore[union-attr]
    assert fake.file_at(DRIVE, "/被害状況報告_旧_20260901-093000.xlsx") is None


class EmptyDownloads(GraphGateway):
    """A gateway whose downloads come back empty, as a cut-off transfer would."""

    async def download_if_changed(
        self, ref: object, etag: str | None, arriving: object = None
    ) -> Download:
        return Download("", b"")


def test_an_empty_download_of_a_workbook_is_never_archived() -> None:
    """An empty download of a non-empty workbook stops the replace; nothing is uploaded."""
    # the archived copy is the old workbook's content
    fake, _ = tenant()
    fake.add_drive_item(DRIVE, "01OLD", "被害状況報告.xlsx", b"typed", parent_path="/")
    gateway = EmptyDownloads(
        GRAPH_BASE_URL, StaticToken("t"), transport=httpx.ASGITransport(app=fake.app)
    )

    with pytest.raises(TransientError) as refused:
        create(
            GraphProvisioner(gateway),
            SiteFile(site_id=SITE, path="被害状況報告.xlsx"),
            replace=True,
        )

    assert str(refused.value) == (
        "download 被害状況報告.xlsx: Graph lists it at 5 bytes but the download was empty, so "
        "no archived copy could be made; nothing was changed. Run the command again"
    )
    assert [c for c in fake.calls if c.method == "PUT"] == []


def test_a_file_created_between_the_check_and_the_upload_is_named_and_kept() -> None:
    """A 409 nameAlreadyExists names the file that appeared, who changed it and the fix."""
    # that file is left as it is
    fake, provisioner = tenant()
    fake.add_drive_item(DRIVE, "01NEW", "被害状況報告.xlsx", b"typed meanwhile", parent_path="/")
    fake.fail("GET", "/drive/root:", 404)  # the look-up still found nothing
    url = stored_url(fake, "/被害状況報告.xlsx")
    when = fake.file_at(DRIVE, "/被害状況報告.xlsx").modified  # type: ignore[union-attr]

    with pytest.raises(ConfigError) as refused:
        create(provisioner, SiteFile(site_id=SITE, path="被害状況報告.xlsx"))

    assert str(refused.value) == (
        f"被害状況報告.xlsx ({url}, last changed by Fake User at {when:%Y-%m-%dT%H:%M:%SZ}) "
        "appeared after this command looked for it and before the upload; nothing was "
        "changed. Departments may be typing into it: open it and check, then run the command "
        "again with --replace to keep it as an archived copy and upload the new one, or give "
        "params.workbook a new path"
    )
    assert fake.file_at(DRIVE, "/被害状況報告.xlsx").content == b"typed meanwhile"  # type: ignore[union-attr]


def test_a_lost_answer_to_our_own_upload_is_not_taken_for_a_conflict() -> None:
    """A retried upload's 409 over our own bytes is no conflict: the workbook's URL comes back."""
    # the upload landed but its answer was lost
    fake, provisioner = tenant()
    fake.lose_reply("PUT", r"被害状況報告\.xlsx:/content")

    created = create(provisioner, SiteFile(site_id=SITE, path="被害状況報告.xlsx"))

    assert created == CreatedFile(stored_url(fake, "/被害状況報告.xlsx"), None)
    assert fake.file_at(DRIVE, "/被害状況報告.xlsx").content == b"PK new workbook"  # type: ignore[union-attr]


def test_a_site_not_granted_names_the_missing_permission() -> None:
    """403 on the site: an AuthError naming Sites.Selected (write); nothing is created."""
    fake, provisioner = tenant()
    fake.fail("GET", "/drive/root:", 403)

    with pytest.raises(AuthError, match=r"Sites\.Selected \(write\) on the site"):
        create(provisioner, SiteFile(site_id=SITE, path="被害状況報告.xlsx"))

    assert fake.file_at(DRIVE, "/被害状況報告.xlsx") is None


def test_a_run_over_the_provisioned_workbook_reports_what_was_typed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run over a provisioned workbook, typed into, reports it and finds no problem."""
    # provision, type into the sheets as a department would, run
    import json  # noqa: PLC0415

    import openpyxl  # noqa: PLC0415

    path = config(tmp_path)
    assert main(["provision", "workbook", "-c", str(path), "--flow", "damage", "--upload"]) == 0
    created = tmp_path / "inputs" / "報告" / "被害状況報告.xlsx"
    book = openpyxl.load_workbook(created)
    book["危機管理課"]["B7"] = 1  # 高崎市 (row 7, under the two header rows), 死者
    book["危機管理課"]["C6"] = "未確認"  # 前橋市, 行方不明者
    for col, value in zip("ABCE", [1, "道路", "前橋市", "通行止め"], strict=True):
        book["県土整備部"][f"{col}5"] = value
    book.save(created)
    capsys.readouterr()

    code = main(["run", "damage", "-c", str(path), "--json", "--dry-run", "--now", NOW.isoformat()])
    record = json.loads(capsys.readouterr().out)

    assert code == 0
    assert record["problems"] == []
    assert record["totals"]["dead"]["value"] == 1
    assert record["totals"]["missing"]["unconfirmed"] == 1
    assert record["totals"]["roads"]["value"] == 1


def test_upload_on_the_graph_backend_creates_the_workbook_in_the_channel(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On Graph --upload creates the workbook in the channel's folder; a second exits 2."""
    # it prints the web URL; the second --upload changes nothing
    fake, _ = tenant()
    with fake.serve() as base_url:
        text = CONFIG.replace(
            "backend: {type: local, root: inputs, artefacts: out, deliveries: sent}",
            f"backend: {{type: graph, base_url: '{base_url}', auth: {{type: access_token, token: t}}, "
            "mailbox: bousai@example.jp}",
        ).replace(
            "workbook: 報告/被害状況報告.xlsx",
            f"workbook: {{team_id: '{TEAM}', channel_id: '{CHANNEL}', path: 台風10号/被害状況報告.xlsx}}",
        )
        path = config(tmp_path, text)
        first = main(["provision", "workbook", "-c", str(path), "--flow", "damage", "--upload"])
        out = capsys.readouterr().out
        again = main(["provision", "workbook", "-c", str(path), "--flow", "damage", "--upload"])

    stored = fake.file_at(DRIVE, "/General/台風10号/被害状況報告.xlsx")
    assert (first, again) == (0, 2)
    assert stored is not None and stored.content.startswith(b"PK")
    assert out.startswith(f"created {stored.web_url} (")
    assert "a workbook already exists at" in capsys.readouterr().err
