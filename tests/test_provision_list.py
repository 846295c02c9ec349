"""Specs for ``automation provision list``: the progress list built from the configuration,
created once, compared afterwards, its missing columns added only with --apply."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest

from automation.backends.graph.gateway import GraphGateway, StaticToken
from automation.backends.graph.provision import GraphListProvisioner
from automation.backends.local import LocalListSource
from automation.cli import main
from automation.config.models import Directory, ProgressCollectionParams, SiteList
from automation.configuration import load_config
from automation.errors import AuthError
from automation.flows.provision_list import differences, list_plan
from automation.jobs.progress import list_columns
from automation.ports import ExistingColumn, ListColumn
from automation.provision import ListRequest, provision_list
from tests.fake_graph import FakeGraph
from tests.fake_graph.wire import GRAPH_BASE_URL

CONFIG = """\
version: 1
state: {path: state/db.sqlite}
backend: {type: local, root: inputs, artefacts: out, deliveries: sent}
directory:
  departments:
    - name: 総務部
    - name: 県土整備部
flows:
  - id: dx
    kind: progress_collection
    params:
      programme: 群馬県DX推進計画
      list: 進捗管理.csv
      rounds: [{deadline: 2026-10-15, period: 2026H1}]
      required: [目標, 実績, 進捗状況]
      numeric: [KPI実績]
      budget: {amount: 予算要求額}
      secretariat: [{channel: mail, address: dx@example.jp}]
"""
SITE = "contoso.sharepoint.com,00000000-0000-0000-0000-00000000b001,b002"


def config(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "automation.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def params(tmp_path: Path) -> tuple[ProgressCollectionParams, Directory]:
    loaded = load_config(config(tmp_path))
    flow = loaded.config.flows[0]
    assert isinstance(flow.params, ProgressCollectionParams)
    return flow.params, loaded.config.directory


def test_the_plan_types_every_column_the_flow_reads(tmp_path: Path) -> None:
    """Period, department and status are choices; numbers are numbers; required is required."""
    p, d = params(tmp_path)

    plan = list_plan(p, d, "進捗管理")

    assert [c.name for c in plan.columns] == list_columns(p)
    assert [c.describe() for c in plan.columns] == [
        "対象期間: choice (令和8年度上期), required, indexed",
        "部局: choice (総務部、県土整備部), required",
        "事業名: text, required",
        "目標: text, required",
        "実績: text, required",
        "進捗状況: choice (順調、やや遅れ、遅れ、完了、未着手), required",
        "KPI実績: number",
        "予算要求額: number >= 0",
    ]


def test_differences_name_what_was_found_expected_and_the_fix(tmp_path: Path) -> None:
    """Each difference from the plan is said with its fix; past periods' choices are not extra."""
    # a missing column, a missing and an extra choice, a wrong type
    p, d = params(tmp_path)
    plan = list_plan(p, d, "進捗管理")
    existing = [
        ExistingColumn("対象期間", "choice", ("令和7年度下期", "令和8年度上期")),
        ExistingColumn("部局", "choice", ("総務部",)),
        ExistingColumn("事業名", "text"),
        ExistingColumn("目標", "text"),
        ExistingColumn("実績", "text"),
        ExistingColumn(
            "進捗状況", "choice", ("順調", "やや遅れ", "遅れ", "完了", "未着手", "中止")
        ),
        ExistingColumn("KPI実績", "text"),
    ]

    found = [str(x) for x in differences(plan, existing)]

    assert found == [
        "部局: found choices 総務部; expected also 県土整備部; run again with --apply to add "
        "them (or add them in the list settings)",
        "進捗状況: found extra choices 中止; expected only 順調、やや遅れ、遅れ、完了、未着手; "
        "entries with them are reported as problems: remove them from the column, or add "
        "them to the configuration",
        "KPI実績: found a text column; expected a number column; change its type in the list "
        "settings (existing values may need retyping)",
        "予算要求額: found no such column; expected 予算要求額: number >= 0; run again with "
        "--apply to add it",
    ]


def test_local_list_is_created_as_a_csv_the_flow_reads_and_a_checked_xlsx(
    tmp_path: Path,
) -> None:
    """Locally the list is a CSV with the ID and every column, and an .xlsx with a dropdown."""
    # the .xlsx twin's dropdown holds the statuses
    assert main(["provision", "list", "-c", str(config(tmp_path)), "--flow", "dx"]) == 0
    p, _ = params(tmp_path)

    items = asyncio.run(
        LocalListSource(tmp_path / "inputs").items(
            "進捗管理.csv", list_columns(p), id_column="ID", link_column=None, modified_column=None
        )
    )
    twin = openpyxl.load_workbook(tmp_path / "inputs" / "進捗管理_入力用.xlsx")
    rules = {str(v.sqref).split(":")[0]: v for v in twin["一覧"].data_validations.dataValidation}

    assert items == []
    assert [c.value for c in twin["一覧"][1]][:4] == ["ID", "対象期間", "部局", "事業名"]
    assert rules["G2"].type == "list" and rules["I2"].type == "decimal"
    assert [c.value for c in twin["選択肢"]["C"]] == ["順調", "やや遅れ", "遅れ", "完了", "未着手"]


def test_an_existing_list_is_compared_and_changed_only_with_apply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Missing columns exit 1 named; --apply appends them, keeping the rows; then it matches."""
    path = config(tmp_path)
    (tmp_path / "inputs").mkdir()
    csv = tmp_path / "inputs" / "進捗管理.csv"
    csv.write_text(
        "ID,対象期間,部局,事業名,目標,実績,進捗状況\n1,2026上期,総務部,電子申請,a,b,順調\n",
        encoding="utf-8-sig",
    )

    before = main(["provision", "list", "-c", str(path), "--flow", "dx"])
    told = capsys.readouterr().out
    applied = main(["provision", "list", "-c", str(path), "--flow", "dx", "--apply"])
    after = main(["provision", "list", "-c", str(path), "--flow", "dx"])

    assert (before, applied, after) == (1, 0, 0)
    assert "進捗管理.csv: KPI実績: found no such column;" in told
    assert told.endswith("add with --apply: KPI実績, 予算要求額\n")
    assert csv.read_text(encoding="utf-8-sig").splitlines() == [
        "ID,対象期間,部局,事業名,目標,実績,進捗状況,KPI実績,予算要求額",
        "1,2026上期,総務部,電子申請,a,b,順調",
    ]


# --- SharePoint (fake Graph, as list-create.md and list-post-columns.md describe) -------


def graph(fake: FakeGraph) -> GraphListProvisioner:
    transport = httpx.ASGITransport(app=fake.app)
    return GraphListProvisioner(GraphGateway(GRAPH_BASE_URL, StaticToken("t"), transport=transport))


def graph_run(tmp_path: Path, fake: FakeGraph, *, apply: bool = False) -> tuple[int, str]:
    text = CONFIG.replace("list: 進捗管理.csv", f"list: {{site_id: '{SITE}', list_id: 進捗管理}}")
    text = text.replace(
        "backend: {type: local, root: inputs, artefacts: out, deliveries: sent}",
        "backend: {type: graph, mailbox: bousai@example.jp, auth: {type: access_token, token: t}}",
    )
    path = config(tmp_path, text)
    out = io.StringIO()
    code = provision_list(load_config(path), ListRequest("dx", apply=apply), out, graph(fake))
    return code, out.getvalue()


def test_a_new_list_is_created_with_typed_columns_in_one_request(tmp_path: Path) -> None:
    """POST /sites/{id}/lists: the title, genericList, and each column with its facet."""
    fake = FakeGraph(token="t")

    code, out = graph_run(tmp_path, fake)

    posts = [c for c in fake.calls if c.method == "POST"]
    body: dict[str, Any] = posts[0].json()
    status = next(c for c in body["columns"] if c["displayName"] == "進捗状況")
    assert code == 0 and len(posts) == 1
    assert posts[0].path == f"/v1.0/sites/{SITE}/lists"
    assert body["displayName"] == "進捗管理" and body["list"] == {"template": "genericList"}
    assert status["required"] is True and status["name"].isascii()
    assert status["choice"]["choices"] == ["順調", "やや遅れ", "遅れ", "完了", "未着手"]
    assert next(c for c in body["columns"] if c["displayName"] == "対象期間")["indexed"] is True
    assert out.startswith("created list id ")
    assert "set params.list.period_indexed: true" in out


def test_the_created_list_matches_on_the_next_run_and_reads_by_display_name(
    tmp_path: Path,
) -> None:
    """Run again: nothing differs; the flow's reader finds every column by display name."""
    fake = FakeGraph(token="t")
    graph_run(tmp_path, fake)

    code, out = graph_run(tmp_path, fake)
    p, _ = params(tmp_path)
    gateway = graph(fake).gateway
    shown = {display for _, display in asyncio.run(gateway.list_columns(SITE, "進捗管理"))}

    assert (code, out.split(": ", 1)[1]) == (0, "matches what provision would build (8 columns)\n")
    assert set(list_columns(p)) <= shown


def test_apply_adds_only_the_missing_column_to_an_existing_list(tmp_path: Path) -> None:
    """An existing list lacking 予算要求額: reported; with --apply one column POST, nothing else."""
    fake = FakeGraph(token="t")
    graph_run(tmp_path, fake)
    sp_list = next(iter(fake.lists.values()))
    sp_list.columns = [c for c in sp_list.columns if c["displayName"] != "予算要求額"]
    fake.calls.clear()

    code, out = graph_run(tmp_path, fake, apply=True)

    posts = [c for c in fake.calls if c.method == "POST"]
    assert code == 0 and "added 1 columns: 予算要求額" in out
    assert [(c.path.rsplit("/", 1)[1], c.json()["number"]["minimum"]) for c in posts] == [
        ("columns", 0)
    ]


def test_an_existing_list_s_columns_are_read_past_an_empty_page(tmp_path: Path) -> None:
    """Provision follows the columns' @odata.nextLink (paging.md): no column is added twice."""
    fake = FakeGraph(token="t")
    graph_run(tmp_path, fake)
    fake.calls.clear()
    fake.empty_page("/columns$")

    code, out = graph_run(tmp_path, fake, apply=True)

    assert code == 0, out
    assert [c.method for c in fake.calls] == ["GET", "GET"]


def test_a_site_without_the_manage_grant_names_it(tmp_path: Path) -> None:
    """403 creating the list: an AuthError naming Sites.Selected (manage)."""
    fake = FakeGraph(token="t")
    fake.fail("POST", "/lists$", 403)

    with pytest.raises(AuthError, match=r"Sites\.Selected \(manage\) on the site"):
        graph_run(tmp_path, fake)


def test_column_definitions_follow_the_documented_facets() -> None:
    """A choice is a dropdown without free text; a number says its minimum; text is one line."""
    from automation.backends.graph.provision import column_definition  # noqa: PLC0415

    choice = column_definition(ListColumn("部局", "choice", True, False, ("総務部",)))
    number = column_definition(ListColumn("予算要求額", "number", minimum=0))

    assert choice["choice"] == {
        "allowTextEntry": False,
        "choices": ["総務部"],
        "displayAs": "dropDownMenu",
    }
    assert number["number"] == {"decimalPlaces": "automatic", "displayAs": "number", "minimum": 0}
    assert SiteList(site_id=SITE, list_id="x").period_indexed is False


def test_a_new_rounds_period_is_added_to_the_choices_with_apply(tmp_path: Path) -> None:
    """A missing next period is reported, then added by --apply with the old ones kept."""
    # PATCHed into the period column; then the list matches
    fake = FakeGraph(token="t")
    graph_run(tmp_path, fake)
    sp_list = next(iter(fake.lists.values()))
    period = next(c for c in sp_list.columns if c["displayName"] == "対象期間")
    period["facet"]["choices"] = ["令和7年度下期"]
    fake.calls.clear()

    told = graph_run(tmp_path, fake)
    applied = graph_run(tmp_path, fake, apply=True)
    after = graph_run(tmp_path, fake)

    patches = [c.json() for c in fake.calls if c.method == "PATCH"]
    assert told[0] == 1 and told[1].endswith("add with --apply: 対象期間 (令和8年度上期)\n")
    assert applied == (0, f"{applied[1].splitlines()[0]}\nadded to 対象期間: 令和8年度上期\n")
    assert [p["choice"]["choices"] for p in patches] == [["令和7年度下期", "令和8年度上期"]]
    assert after[0] == 0


def _doctor_row(tmp_path: Path, fake: FakeGraph) -> Callable[[], Any]:
    """The doctor's list row for the provisioned list of ``graph_run``'s configuration, read
    from ``fake`` each time it is called."""
    from automation.config.models import GraphBackend  # noqa: PLC0415
    from automation.doctor.files import list_row  # noqa: PLC0415
    from automation.doctor.probe import Probe  # noqa: PLC0415

    graph_run(tmp_path, fake)
    loaded = load_config(tmp_path / "automation.yaml")
    backend = loaded.config.backend
    assert isinstance(backend, GraphBackend)
    p, d = params_of(loaded)
    ref = SiteList(site_id=SITE, list_id="進捗管理")
    plan = list_plan(p, d, "進捗管理")
    gateway = graph(fake).gateway
    return lambda: asyncio.run(list_row(Probe(loaded, backend), gateway, "dx", ref, plan))


def test_doctor_says_whether_the_list_is_what_provision_builds(tmp_path: Path) -> None:
    """The doctor's list row stays OK and says whether the columns match the plan."""
    # a hand-made list is still read; the first difference is named when they do not
    fake = FakeGraph(token="t")
    row = _doctor_row(tmp_path, fake)
    matching = row()
    sp_list = next(iter(fake.lists.values()))
    sp_list.columns = [c for c in sp_list.columns if c["displayName"] != "KPI実績"]
    differing = row()

    assert (matching.result, differing.result) == ("OK", "OK")
    assert matching.detail.endswith("; matches what `automation provision list` would build")
    assert differing.detail.endswith(
        "; differs from what `automation provision list` would build: KPI実績: found no such "
        "column; expected KPI実績: number; run again with --apply to add it; run it to see "
        "all, with --apply to add what is missing"
    )


def test_doctor_reads_the_list_s_columns_past_an_empty_page(tmp_path: Path) -> None:
    """The doctor's list row follows the columns' @odata.nextLink (paging.md) before comparing."""
    fake = FakeGraph(token="t")
    row = _doctor_row(tmp_path, fake)
    fake.empty_page("/columns$")
    found = row()

    assert found.result == "OK"
    assert found.detail.endswith("; matches what `automation provision list` would build")


def params_of(loaded: Any) -> tuple[ProgressCollectionParams, Directory]:
    flow = loaded.config.flows[0]
    assert isinstance(flow.params, ProgressCollectionParams)
    return flow.params, loaded.config.directory
