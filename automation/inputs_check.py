"""``automation validate --check-inputs``: what the flows will read exists and opens.

On the local backend each flow's workbook or list is opened and read as a run would
(every department's sheet found and its table recognised); on Graph the doctor's
read-only probes run (nothing is sent). The answer is the doctor's table of rows.
"""

from __future__ import annotations

import asyncio

from automation.backends import configured_backend
from automation.config.loader import LoadedConfig
from automation.config.models import (
    DamageRollupFlow,
    GraphBackend,
    ProgressCollectionFlow,
    RecordsLayout,
)
from automation.damage.reading import municipality_index, read_matrix, read_records
from automation.damage.sheet_hints import hint_en, hinted_sheet
from automation.damage.workbook import Workbook, parse_workbook
from automation.doctor.checks import GatewayFactory
from automation.doctor.rows import Row, one_line
from automation.errors import AutomationError
from automation.flows.damage_rollup import build_catalogue, reporting_departments
from automation.jobs.damage import workbook_in_use
from automation.jobs.progress import list_columns
from automation.ports import Backend

MB = 1024 * 1024


def check_inputs(loaded: LoadedConfig, gateway_factory: GatewayFactory | None = None) -> list[Row]:
    """One row per input (and per department sheet); FAIL rows carry the fix.
    ``gateway_factory`` (Graph only) defaults to the real network."""
    if isinstance(loaded.config.backend, GraphBackend):
        from automation.doctor.runner import check, default_gateway  # noqa: PLC0415

        rows = check(loaded, send_test=None, gateway_factory=gateway_factory or default_gateway)
        return rows[1:]  # the config row is validate's own first line
    return asyncio.run(_local_rows(loaded, configured_backend(loaded)))


async def _local_rows(loaded: LoadedConfig, backend: Backend) -> list[Row]:
    rows: list[Row] = []
    for flow in loaded.config.flows:
        if isinstance(flow, DamageRollupFlow):
            rows += await _damage_rows(loaded, flow, backend)
        elif isinstance(flow, ProgressCollectionFlow):
            rows.append(await _list_row(flow, backend))
    return rows


async def _damage_rows(loaded: LoadedConfig, flow: DamageRollupFlow, backend: Backend) -> list[Row]:
    params = flow.params
    workbook = workbook_in_use(loaded, flow)  # the open incident's, if there is one
    target = f"{flow.id}: {workbook}"
    try:
        fetched = await backend.workbooks.fetch(workbook, None)
        # Without a known version the data always comes back; b"" would fail as a data error.
        book = parse_workbook(
            fetched.data or b"", fetched.name, max_bytes=int(params.max_workbook_mb * MB)
        )
    except AutomationError as err:
        return [Row("workbook", target, "FAIL", one_line(err.message), "fix the file or the path")]
    rows = [Row("workbook", target, "OK", f"opens; {len(book.sheets)} sheets")]
    rows += _sheet_rows(loaded, flow, book)
    return rows


def _sheet_rows(loaded: LoadedConfig, flow: DamageRollupFlow, book: Workbook) -> list[Row]:
    """Each department's sheet is there and its table is recognised with its layout."""
    params = flow.params
    catalogue = build_catalogue(params)
    towns = municipality_index(params.municipalities)
    rows = []
    for dept in reporting_departments(params, loaded.config.directory):
        target = f"シート「{dept.sheet}」" + ("" if dept.sheet == dept.name else f"（{dept.name}）")
        name = book.sheet_named(dept.sheet or "")
        sheet = book.sheets[name] if name is not None else None
        if sheet is None:
            found = f"no sheet named {dept.sheet!r}; sheets: {', '.join(book.sheets)}"
            rows.append(
                Row(
                    "sheet",
                    target,
                    "FAIL",
                    found + _hint(loaded, dept.name, dept.sheet or "", book),
                    "rename the sheet, or set the department's sheet in the directory",
                )
            )
            continue
        layout = params.layouts.get(dept.name, params.default_layout)
        if isinstance(layout, RecordsLayout):
            reading = read_records(sheet, dept.name, layout, catalogue, towns)
        else:
            reading = read_matrix(sheet, dept.name, layout, catalogue, towns)
        if reading.table_found:
            named = "" if name == dept.sheet else f" (the sheet is named {name!r})"
            rows.append(Row("sheet", target, "OK", f"{reading.layout} table found{named}"))
        else:
            found = reading.problems[0].message if reading.problems else "no table"
            fix = "restore the sheet's header row, or set params.layouts for this department"
            rows.append(Row("sheet", target, "FAIL", found, fix))
    return rows


def _hint(loaded: LoadedConfig, department: str, wanted: str, book: Workbook) -> str:
    """「; '危機管理課 (2)' looks like a copy of it: rename it to '危機管理課'」 when one sheet
    looks like the missing one (never a sheet another department is configured with)."""
    found = hinted_sheet(department, wanted, book.sheets, loaded.config.directory.sheets())
    return f"; {hint_en(wanted, found)}" if found is not None else ""


async def _list_row(flow: ProgressCollectionFlow, backend: Backend) -> Row:
    params = flow.params
    fields = params.fields
    target = f"{flow.id}: {params.list}"
    try:
        items = await backend.lists.items(
            params.list,
            list_columns(params),
            id_column=fields.id,
            link_column=fields.link,
            modified_column=fields.modified,
        )
    except AutomationError as err:
        return Row("list", target, "FAIL", one_line(err.message), "fix the list or the columns")
    return Row("list", target, "OK", f"opens; {len(items)} items with every column the flow reads")
