"""Whether each configured damage workbook is what ``automation provision workbook`` would
build: one row per workbook, from one download of it (the comparison is
:func:`automation.flows.provision_check.check_workbook`).

FAIL when the run cannot read it (a department's sheet missing, a table not found), with the
fix; WARN when the run reads it but it lacks what provision builds (data validation,
protection, a column, a choice): a workbook made by hand is read as it is, so it is never
failed for lacking the typing-time checks.
"""

from __future__ import annotations

from automation.backends.graph.gateway import GraphGateway
from automation.config.loader import LoadedConfig
from automation.config.models import DamageRollupFlow, FileRef
from automation.doctor.rows import Row, one_line
from automation.errors import AutomationError
from automation.flows.provision import UnbuildableError, workbook_plan
from automation.flows.provision_check import check_workbook

CHECK = "workbook design"
MB = 1024 * 1024
SHOWN = 6  # findings listed in a row; the rest are counted


def damage_flows(loaded: LoadedConfig) -> dict[FileRef, list[DamageRollupFlow]]:
    """The damage flows by the workbook they read (a workbook shared by flows: one row)."""
    found: dict[FileRef, list[DamageRollupFlow]] = {}
    for flow in loaded.config.flows:
        if isinstance(flow, DamageRollupFlow):
            found.setdefault(flow.params.workbook, []).append(flow)
    return found


def design_row(
    loaded: LoadedConfig, flows: list[DamageRollupFlow], target: str, data: bytes
) -> Row:
    """The row of one workbook's bytes against the plan of the first flow reading it."""
    flow = flows[0]
    try:
        plan = workbook_plan(
            flow.params,
            loaded.config.directory,
            at=("flows", loaded.config.flows.index(flow), "params"),
        )
    except UnbuildableError as problem:
        return Row(
            CHECK,
            target,
            "FAIL",
            one_line(str(loaded.problem(problem.loc, problem.message))),
            f"fix the configuration, then run `automation validate -c {_config(loaded)}`",
        )
    name = plan.name
    found = check_workbook(
        plan,
        flow.params,
        data,
        name,
        max_bytes=int(flow.params.max_workbook_mb * MB),
        sheets=loaded.config.directory.sheets(),
    )
    command = (
        f"automation provision workbook -c {_config(loaded)} --flow {flow.id} --upload --replace"
    )
    if not found:
        return Row(
            CHECK,
            target,
            "OK",
            f"matches what `automation provision workbook` would build ({len(plan.sheets)} "
            "department sheets, validation on every input column, protected)",
        )
    lines = [f.text for f in found[:SHOWN]]
    if len(found) > SHOWN:
        lines.append(f"and {len(found) - SHOWN} more")
    if found[0].level == "fail":
        return Row(
            CHECK,
            target,
            "FAIL",
            "the run cannot read it as configured:\n" + "\n".join(lines),
            f"run `{command}` (the old workbook is kept as an archived copy), or fix the "
            "sheet by hand or the department's sheet name in the directory",
        )
    return Row(
        CHECK,
        target,
        "WARN",
        "readable, but not what `automation provision workbook` would build:\n" + "\n".join(lines),
        f"a hand-made workbook is read as it is; for the checks at typing time run `{command}` "
        "(the old workbook is kept as an archived copy; departments get the new link)",
    )


def error_design_row(target: str, err: AutomationError) -> Row:
    """The row of a workbook that could not be downloaded."""
    return Row(CHECK, target, "FAIL", one_line(err.message), err.action)


async def local_design_rows(loaded: LoadedConfig) -> list[Row]:
    """The local backend's rows: each workbook read once from the workbook folder."""
    from automation.backends import configured_backend  # noqa: PLC0415  # only for local runs

    backend = configured_backend(loaded)
    rows = []
    for ref, flows in damage_flows(loaded).items():
        target = f"{', '.join(f.id for f in flows)}: {ref}"
        try:
            fetched = await backend.workbooks.fetch(ref, None)
        except AutomationError as err:
            rows.append(error_design_row(target, err))
            continue
        rows.append(design_row(loaded, flows, target, fetched.data or b""))
    return rows


async def graph_design_row(
    loaded: LoadedConfig, flows: list[DamageRollupFlow], target: str, gateway: GraphGateway
) -> Row:
    """The Graph backend's row: the workbook downloaded once (read-only)."""
    try:
        download = await gateway.download_if_changed(flows[0].params.workbook, None)
    except AutomationError as err:
        return error_design_row(target, err)
    return design_row(loaded, flows, target, download.data or b"")


def _config(loaded: LoadedConfig) -> str:
    return str(loaded.path)
