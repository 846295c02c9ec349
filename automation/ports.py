"""Ports: what flows need from the outside world, implemented by each backend.

The local backend (a folder) and the Graph backend implement the same protocols and are
run through the same contract tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from automation.config.models import FileRef, ListRef
from automation.state import OutboxEntry

Near = FileRef | ListRef | None  # what an artefact belongs next to


@dataclass(frozen=True)
class FetchedWorkbook:
    """A workbook as fetched: ``data`` is None when ``version`` equals the known version."""

    name: str
    version: str
    data: bytes | None = field(repr=False)  # megabytes: a repr would copy them


class WorkbookSource(Protocol):
    """Reads a workbook's bytes with a version tag (an eTag, or a content digest)."""

    async def fetch(self, ref: FileRef, known_version: str | None) -> FetchedWorkbook:
        """Fetch ``ref``; skip the download when its version equals ``known_version``."""
        ...


class ArtefactStore(Protocol):
    """Stores files the service produces (the merged workbook)."""

    async def put(self, name: str, data: bytes, near: Near = None) -> str:
        """Store ``data`` as ``name`` (next to ``near`` where that means something); return where."""
        ...

    async def get(self, name: str, near: Near = None) -> bytes:
        """Read back a stored artefact (for mail attachments)."""
        ...


class Deliverer(Protocol):
    """Delivers rendered messages on one or more channels."""

    async def deliver(self, entry: OutboxEntry, attachments: Mapping[str, bytes]) -> str:
        """Deliver one message; return where it went (a path, a message id)."""
        ...


@dataclass(frozen=True)
class ListItem:
    """One list item: id, a link people can open, last change, and fields by display name."""

    id: str
    link: str | None
    modified: datetime | None
    fields: Mapping[str, object]


class ListSource(Protocol):
    """Reads every item of a list (paging hidden), with just the wanted columns."""

    async def items(
        self,
        ref: ListRef,
        columns: Sequence[str],
        *,
        id_column: str,
        link_column: str | None,
        modified_column: str | None,
    ) -> list[ListItem]:
        """All items of ``ref``; ``columns`` are display names; unknown names are an error."""
        ...


@dataclass(frozen=True)
class CreatedFile:
    """Where a provisioned file went, and where the one it replaced was kept."""

    location: str  # a path, or the web URL
    archived: str | None = None


class InputProvisioner(Protocol):
    """Creates the inputs departments fill in (``automation provision``), never overwriting
    one by accident."""

    async def create_workbook(
        self, ref: FileRef, name: str, data: bytes, *, replace: bool, archive_name: str
    ) -> CreatedFile:
        """Create ``name`` where ``ref`` says. An existing file is an error unless
        ``replace``; then it is kept as ``archive_name`` next to it first."""
        ...


@dataclass
class Backend:
    """The ports a run uses."""

    workbooks: WorkbookSource
    artefacts: ArtefactStore
    deliverer: Deliverer
    lists: ListSource
