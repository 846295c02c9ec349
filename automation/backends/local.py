"""The local backend: a folder standing in for the tenant.

Workbooks are read from ``root``; the version tag is a digest of the content, so an
unchanged workbook is recognised without parsing it. Artefacts are written to a folder,
and each delivery becomes files: an envelope JSON plus one file per rendered body.
Writes are atomic (temporary file, then rename), so a crash leaves whole files only and a
repeated delivery of the same outbox entry rewrites identical files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from automation.errors import DataError
from automation.ports import FetchedWorkbook
from automation.state import OutboxEntry

UNSAFE = re.compile(r'[\\/:*?"<>|\s]+')


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


@dataclass
class LocalWorkbookSource:
    """Workbooks as files under ``root``."""

    root: Path

    async def fetch(self, ref: str, known_version: str | None) -> FetchedWorkbook:
        """Read the file and compare its digest with the known version."""
        path = self.root / ref
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

    async def put(self, name: str, data: bytes, near: str | None = None) -> str:
        """Write the artefact; the same name is overwritten (reruns are idempotent)."""
        path = self.folder / name
        atomic_write(path, data)
        return str(path)

    async def get(self, name: str, near: str | None = None) -> bytes:
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
