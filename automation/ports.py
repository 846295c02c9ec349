"""Ports: what flows need from the outside world, implemented by each backend.

The local backend (a folder) and the Graph backend implement the same protocols and are
run through the same contract tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from automation.config.models import FileRef, ListRef
from automation.state import OutboxEntry

Near = FileRef | ListRef | None  # what an artefact belongs next to


@dataclass(frozen=True)
class FetchedWorkbook:
    """A workbook as fetched: ``data`` is None when ``version`` equals the known version."""

    name: str
    version: str
    data: bytes | None = field(repr=False)  # megabytes: a repr would copy them
    web_url: str | None = None  # where people open it (SharePoint/Teams), when known


Arriving = Callable[[], None] | None  # see WorkbookSource.fetch


class WorkbookSource(Protocol):
    """Reads a workbook's bytes with a version tag (an eTag, or a content digest)."""

    async def fetch(
        self, ref: FileRef, known_version: str | None, *, arriving: Arriving = None
    ) -> FetchedWorkbook:
        """Fetch ``ref``; skip the download when its version equals ``known_version``.

        ``arriving()`` is called once the source knows a new version is coming and before
        its bytes are transferred (a source with no transfer to wait for need not call
        it): the caller may get ready meanwhile."""
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
        only: tuple[str, str] | None = None,
    ) -> list[ListItem]:
        """All items of ``ref``; ``columns`` are display names; unknown names are an error.

        ``only``: (column, value): the items whose column holds exactly that value, where
        the list can be filtered on it server-side (Graph, ``params.list.period_indexed``);
        a source that cannot filter returns every item, which the flow checks anyway."""
        ...


ColumnKind = Literal["text", "choice", "number"]


@dataclass(frozen=True, slots=True)
class ListColumn:
    """One column of the list, by the display name the flow reads it by."""

    name: str
    kind: ColumnKind
    required: bool = False
    indexed: bool = False
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    extra_choices_ok: bool = False  # the period: a list keeps the choices of past rounds

    def describe(self) -> str:
        """``進捗状況: choice (順調、遅れ), required``."""
        kind = f"choice ({'、'.join(self.choices)})" if self.kind == "choice" else self.kind
        if self.minimum is not None:
            kind += f" >= {self.minimum:g}"
        flags = [f for f, on in (("required", self.required), ("indexed", self.indexed)) if on]
        return ", ".join([f"{self.name}: {kind}", *flags])


@dataclass(frozen=True, slots=True)
class ExistingColumn:
    """A column of an existing list as read back: what the comparison needs."""

    name: str
    kind: str  # choice, number, text, dateTime, ... (the facet present); "" when unknown
    choices: tuple[str, ...] = ()
    required: bool = False
    id: str = ""  # the column's id, where the list has one (SharePoint)


@dataclass(frozen=True)
class CreatedFile:
    """Where a provisioned file went, and where the one it replaced was kept."""

    location: str  # a path, or the web URL
    archived: str | None = None


class WorkbookProvisioner(Protocol):
    """Creates the inputs departments fill in (``automation provision``), never overwriting
    one by accident."""

    async def create_workbook(
        self, ref: FileRef, name: str, data: bytes, *, replace: bool, archive_name: str
    ) -> CreatedFile:
        """Create ``name`` where ``ref`` says. An existing file is an error unless
        ``replace``; then it is kept as ``archive_name`` next to it first."""
        ...

    async def existing(self, ref: FileRef) -> str | None:
        """Where the file ``ref`` names is (path or web URL), or None when there is none."""
        ...

    async def archive_workbook(self, ref: FileRef, folder: str) -> str:
        """Move the workbook ``ref`` names into ``folder`` beside it, never over an existing
        file; return where it went."""
        ...


class ListProvisioner(Protocol):
    """Creates the list a progress flow reads, or adds what an existing one lacks."""

    async def list_columns(self, ref: ListRef) -> list[ExistingColumn] | None:
        """The columns of the list ``ref`` names, or None when there is no such list."""
        ...

    async def create_list(self, ref: ListRef, columns: Sequence[ListColumn]) -> str:
        """Create the list with ``columns``; return where it is (a path, or its id and URL)."""
        ...

    async def add_columns(self, ref: ListRef, columns: Sequence[ListColumn]) -> None:
        """Add ``columns`` to the existing list ``ref``."""
        ...

    async def set_choices(
        self, ref: ListRef, column: ExistingColumn, choices: Sequence[str]
    ) -> None:
        """Make ``choices`` the choices of ``column`` of the existing list ``ref``."""
        ...


@dataclass
class Backend:
    """The ports a run uses."""

    workbooks: WorkbookSource
    artefacts: ArtefactStore
    deliverer: Deliverer
    lists: ListSource
