"""The local backend: a folder standing in for the tenant.

Workbooks are read from ``root``; the version tag is a digest of the content, so an
unchanged workbook is recognised without parsing it. Artefacts are written to a folder,
and each delivery becomes files: an envelope JSON plus one file per rendered body.
Writes are atomic (temporary file, then rename), so a crash leaves whole files only and a
repeated delivery of the same outbox entry rewrites identical files.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from automation.column_names import spelt_otherwise
from automation.config.loader import LoadedConfig
from automation.config.models import FileRef, ListRef, LocalBackend
from automation.errors import ConfigError, DataError
from automation.ports import (
    Arriving,
    Backend,
    CreatedFile,
    ExistingColumn,
    FetchedWorkbook,
    ListColumn,
    ListItem,
    Near,
)
from automation.state import OutboxEntry

UNSAFE = re.compile(r'[\\/:*?"<>|\s]+')


def local_path(ref: FileRef | ListRef) -> str:
    """The path of a local input; a Graph reference here is a configuration mistake."""
    if not isinstance(ref, str):
        raise ConfigError(
            f"the local backend reads files by path, but got a Microsoft Graph reference {ref!r}; "
            "write a path under backend.root, or set backend.type: graph"
        )
    return ref


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def replace_keeping_copy(path: Path, data: bytes, archive: Path) -> None:
    """Copy ``path`` to ``archive`` (never over an existing file), then write ``data`` over
    ``path`` atomically: the old workbook stays at its place until the new one replaces it,
    and a copy that fails leaves both untouched."""
    old = path.read_bytes()
    try:
        with open(archive, "xb") as handle:
            handle.write(old)
            handle.flush()
            os.fsync(handle.fileno())
    except FileExistsError:
        raise ConfigError(
            f"{archive} already exists; nothing was changed. Rename or move that file, or "
            "wait a second (archived copies are named by the second), then replace again"
        ) from None
    atomic_write(path, data)


@dataclass
class LocalWorkbookSource:
    """Workbooks as files under ``root``."""

    root: Path

    async def fetch(
        self, ref: FileRef, known_version: str | None, *, arriving: Arriving = None
    ) -> FetchedWorkbook:
        """Read the file and compare its digest with the known version (read at once:
        ``arriving`` is not called)."""
        path = self.root / local_path(ref)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise DataError(
                f"{ref}: 報告用ブックが見つかりません（{path}）。ファイルが移動・改名されていないか確認し、"
                "設定の params.workbook を正しいパスにしてください。"
            ) from None
        except OSError as err:
            raise DataError(f"{ref}: 報告用ブックを読めません（{err}）。") from err
        version = "sha256:" + hashlib.sha256(data).hexdigest()
        return FetchedWorkbook(path.name, version, None if version == known_version else data)


@dataclass
class LocalArtefactStore:
    """Artefacts as files in a folder."""

    folder: Path

    async def put(self, name: str, data: bytes, near: Near = None) -> str:
        """Write the artefact; the same name is overwritten (reruns are idempotent)."""
        path = self.folder / name
        atomic_write(path, data)
        return str(path)

    async def get(self, name: str, near: Near = None) -> bytes:
        """Read an artefact back."""
        return (self.folder / name).read_bytes()


@dataclass
class LocalDeliverer:
    """Deliveries as files: ``NAME.envelope.json`` plus ``NAME.txt``/``.html``/``.card.json``."""

    folder: Path

    def stem(self, entry: OutboxEntry) -> str:
        """File name stem of a delivery: readable and unique per idempotency key."""
        digest = hashlib.sha256(entry.key.encode()).hexdigest()[:10]
        parts = (entry.flow, entry.kind, entry.audience, entry.channel, digest)
        return "__".join(UNSAFE.sub("_", part) for part in parts)

    async def confirm(self, entry: OutboxEntry) -> bool:
        """Whether the envelope (written last) exists: then the delivery completed."""
        return (self.folder / f"{self.stem(entry)}.envelope.json").exists()

    async def deliver(self, entry: OutboxEntry, attachments: Mapping[str, bytes]) -> str:
        """Write the bodies, the attachments and finally the envelope."""
        stem = self.stem(entry)
        files = {}
        for suffix, body in entry.bodies.items():
            path = self.folder / f"{stem}.{suffix}"
            atomic_write(path, body.encode("utf-8"))
            files[suffix] = path.name
        attached = []
        for name, data in attachments.items():
            path = self.folder / f"{stem}.attachments" / name
            atomic_write(path, data)
            attached.append(str(path.relative_to(self.folder)))
        envelope = {
            "key": entry.key,
            "flow": entry.flow,
            "kind": entry.kind,
            "audience": entry.audience,
            "channel": entry.channel,
            "recipient": entry.recipient_label,
            "subject": entry.subject,
            "bodies": files,
            "attachments": attached,
            "digest": entry.digest,
        }
        path = self.folder / f"{stem}.envelope.json"
        atomic_write(path, json.dumps(envelope, ensure_ascii=False, indent=2).encode("utf-8"))
        return str(path)


@dataclass
class LocalListSource:
    """A list stood in for by a CSV file (UTF-8 with or without BOM, or Shift_JIS as older
    Excel writes it) or by the first sheet of an .xlsx file, header row first."""

    root: Path

    async def items(
        self,
        ref: ListRef,
        columns: Sequence[str],
        *,
        id_column: str,
        link_column: str | None,
        modified_column: str | None,
        only: tuple[str, str] | None = None,
    ) -> list[ListItem]:
        """Read every row as an item; a missing column is named with the columns that exist.
        A file is read whole: ``only`` filters nothing here (the flow checks each item)."""
        ref = local_path(ref)
        path = self.root / ref
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise DataError(
                f"{ref}: 一覧ファイルが見つかりません（{path}）。設定の params.list を確認してください。"
            ) from None
        header, rows = (
            _xlsx_rows(data, ref)
            if path.suffix.lower() in (".xlsx", ".xlsm")
            else _csv_rows(data, ref)
        )
        wanted = [id_column, *columns]
        missing = [c for c in wanted if c not in header]
        if missing:
            raise DataError(
                f"{ref}: 列 {'、'.join(f'「{c}」' for c in missing)} がありません。"
                f"ある列: {'、'.join(h for h in header if h)}。"
                f"{spelt_otherwise(missing, header)}"
                "設定の列名（fields / required など）を一覧の見出しに合わせてください。"
            )
        index = {name: i for i, name in enumerate(header)}
        items = []
        for row in rows:
            if not any(str(v).strip() for v in row if v is not None):
                continue

            def get(name: str | None, row: list[object] = row) -> object:
                if name is None or name not in index or index[name] >= len(row):
                    return None
                value = row[index[name]]
                return None if value == "" else value

            raw_id = get(id_column)
            item_id = (
                str(int(raw_id))
                if isinstance(raw_id, float) and raw_id.is_integer()
                else str(raw_id or "")
            )
            link = get(link_column)
            items.append(
                ListItem(
                    id=item_id,
                    link=str(link) if link else None,
                    modified=_when(get(modified_column)),
                    fields={name: get(name) for name in columns},
                )
            )
        return items


def _csv_rows(data: bytes, ref: str) -> tuple[list[str], list[list[object]]]:
    for encoding in ("utf-8-sig", "cp932"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise DataError(
            f"{ref}: 文字コードを判別できません。Excel で「CSV UTF-8」形式で保存し直してください。"
        )
    rows: list[list[object]] = [list(r) for r in csv.reader(io.StringIO(text))]
    if not rows:
        raise DataError(f"{ref}: 空のファイルです。見出し行と項目を入れてください。")
    return [str(h).strip() for h in rows[0]], rows[1:]


def _xlsx_rows(data: bytes, ref: str) -> tuple[list[str], list[list[object]]]:
    from automation.damage.workbook import parse_workbook  # noqa: PLC0415  # xlsx reader

    book = parse_workbook(data, ref, max_bytes=100 * 1024 * 1024)
    if not book.sheets:
        raise DataError(f"{ref}: シートがありません。")
    sheet = next(iter(book.sheets.values()))
    rows = [list(r) for r in sheet.rows]
    while rows and not any(v is not None for v in rows[0]):
        rows.pop(0)
    if not rows:
        raise DataError(f"{ref}: 最初のシートが空です。見出し行と項目を入れてください。")
    return ["" if h is None else str(h).strip() for h in rows[0]], rows[1:]


def _when(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):  # a date-only cell: the start of that day
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str) and value.strip():
        try:
            return datetime.fromisoformat(value.strip().replace("/", "-"))
        except ValueError:
            return None
    return None


@dataclass
class LocalProvisioner:
    """Provisioned inputs as files under ``root`` (the workbook folder)."""

    root: Path

    async def create_workbook(
        self, ref: FileRef, name: str, data: bytes, *, replace: bool, archive_name: str
    ) -> CreatedFile:
        """Write the workbook at its configured path; an existing one only with ``replace``,
        after copying it to ``archive_name`` beside it."""
        path = self.root / local_path(ref)
        if path.exists():
            if not replace:
                raise ConfigError(
                    f"{path} already exists; nothing was changed. Departments may have typed "
                    "into it: pass --replace to keep it as an archived copy and write the new "
                    "workbook, or set params.workbook to a new file name"
                )
            archive = path.with_name(archive_name)
            replace_keeping_copy(path, data, archive)
            return CreatedFile(str(path), str(archive))
        atomic_write(path, data)
        return CreatedFile(str(path))

    async def existing(self, ref: FileRef) -> str | None:
        """The path of the file ``ref`` names, or None when there is none."""
        path = self.root / local_path(ref)
        return str(path) if path.exists() else None

    async def archive_workbook(self, ref: FileRef, folder: str) -> str:
        """Move the workbook into ``folder`` beside it (created when missing); an existing
        file of the same name there is never overwritten. Returns the new path."""
        path = self.root / local_path(ref)
        target = path.parent / folder / path.name
        if not path.is_file():
            raise ConfigError(
                f"the workbook {path} is not there (moved or deleted by hand?); nothing was "
                f"changed. Put it back, or move it into {target.parent} yourself and run "
                "incident close again"
            )
        if target.exists():
            raise ConfigError(
                f"{target} already exists; nothing was changed. Rename or move that file, "
                "then run incident close again"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        return str(target)


@dataclass
class LocalListProvisioner:
    """Provisioned lists as files under ``root``: a CSV template (with an .xlsx beside it
    carrying the checks) or an .xlsx with the checks; ``id_column`` comes first."""

    root: Path
    id_column: str

    async def list_columns(self, ref: ListRef) -> list[ExistingColumn] | None:
        """The header of the list file (types unknown), or None when there is no file."""
        path = self.root / local_path(ref)
        if not path.exists():
            return None
        read = _xlsx_rows if path.suffix.lower() in (".xlsx", ".xlsm") else _csv_rows
        header, _ = read(path.read_bytes(), str(ref))
        return [ExistingColumn(name, "") for name in header if name and name != self.id_column]

    async def create_list(self, ref: ListRef, columns: Sequence[ListColumn]) -> str:
        """Write the template (and, for a CSV, its checked .xlsx twin); return the paths."""
        from automation.progress.list_template import build_list_template  # noqa: PLC0415

        path = self.root / local_path(ref)
        workbook = build_list_template(self.id_column, columns)
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            atomic_write(path, workbook)
            return str(path)
        header = io.StringIO()
        csv.writer(header).writerow([self.id_column, *(c.name for c in columns)])
        atomic_write(path, header.getvalue().encode("utf-8-sig"))
        twin = path.with_name(f"{path.stem}_入力用.xlsx")
        if not twin.exists():
            atomic_write(twin, workbook)
        return f"{path} (and {twin.name} with the checks)"

    async def add_columns(self, ref: ListRef, columns: Sequence[ListColumn]) -> None:
        """Append ``columns`` to the header; rows keep their values (new cells blank)."""
        path = self.root / local_path(ref)
        names = [c.name for c in columns]
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            import openpyxl  # noqa: PLC0415  # edits a workbook in place

            book = openpyxl.load_workbook(path)
            sheet = book.worksheets[0]
            for offset, name in enumerate(names, start=sheet.max_column + 1):
                sheet.cell(row=1, column=offset, value=name)
            buffer = io.BytesIO()
            book.save(buffer)
            atomic_write(path, buffer.getvalue())
            return
        data = path.read_bytes()
        encoding = "utf-8-sig" if _decodes(data, "utf-8-sig") else "cp932"
        rows = list(csv.reader(io.StringIO(data.decode(encoding))))
        rows[0] = [*rows[0], *names]
        out = io.StringIO()
        csv.writer(out).writerows(rows)
        atomic_write(path, out.getvalue().encode(encoding))

    async def set_choices(
        self, ref: ListRef, column: ExistingColumn, choices: Sequence[str]
    ) -> None:
        """A local list's header carries no choices: nothing to change."""


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def local_backend(loaded: LoadedConfig, config: LocalBackend) -> Backend:
    """The ports of a local backend: inputs under ``root``, outputs in two folders."""
    root = loaded.resolve(config.root)
    return Backend(
        LocalWorkbookSource(root),
        LocalArtefactStore(loaded.resolve(config.artefacts)),
        LocalDeliverer(loaded.resolve(config.deliveries)),
        LocalListSource(root),
    )
