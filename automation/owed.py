"""Artefacts owed by a run: built and stored after its report went out.

A run that issues a report goes in this order (see :mod:`automation.runner`):

1. one transaction records the state, queues every message that does not carry an artefact
   (the report's channel post and card, the feedback, the reminders) and keeps each artefact
   as owed: its recipe (what builds it) and the messages waiting for it (a mail that
   attaches it);
2. the queued messages are delivered, the report first: it does not wait for the build;
3. each owed artefact is built and stored, then one transaction queues its waiting
   messages (linking it where it landed) and marks it stored; then they are delivered.

The recipe of 1 is kept in the database for that crash only: the run that made it builds
from the recipe it holds in memory, not from the database's copy.

A crash before 1 sends nothing and owes nothing. A crash after 1 leaves the artefact owed:
the next run (or the daemon when it starts) builds and stores it before anything else,
and queues its waiting messages then; what was sent stays sent in the outbox and is not
sent again, and the waiting messages were never queued, so each goes out once. A crash
between the store and the transaction of 3 stores the same name again (the same file,
overwritten: artefact names are fixed by the report number) before queueing.

The recipe is kept with :mod:`pickle`: it holds only what this program planned (its own
dataclasses and a module-level builder) and lives in the state database, which already
decides what is sent to whom. It is read back by a restricted unpickler (``_Loader``) that
resolves only this program's classes, its two workbook builders and a few value types of
the standard library, so a row written into the database by anyone else cannot make the
daemon call an arbitrary function (``os.system`` and the like): it is refused as unreadable.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import io
import logging
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from automation.errors import AutomationError
from automation.jobs import Artefact
from automation.plan import Message
from automation.ports import Backend, Near
from automation.queueing import outbox_entry
from automation.render import Rendered
from automation.state import HeldArtefact, Store

LOG = logging.getLogger("automation.runs")

Rendition = tuple[Message, Rendered]


@dataclass(frozen=True)
class Recipe:
    """What an owed artefact needs: how to build it (or its bytes, once built and not yet
    stored), where it goes, who waits for it."""

    artefact: Artefact
    near: Near
    waiting: tuple[Rendition, ...]
    built: bytes | None = None


# The recipes this process kept, by (run, artefact name): built from as they are.
Made = dict[tuple[int, str], Recipe]


def waits_for(message: Message, artefacts: Sequence[Artefact]) -> str | None:
    """The artefact ``message`` carries (and so waits for), if any of ``artefacts``."""
    names = {a.name for a in artefacts}
    return next((name for name in message.attachments if name in names), None)


def owe(
    store: Store,
    flow_id: str,
    run_id: int,
    artefacts: Sequence[Artefact],
    near: Near,
    waiting: Sequence[Rendition],
    now: datetime,
) -> Made:
    """Keep each of ``artefacts`` as owed by ``run_id``, with the messages that carry it;
    the recipes as made, for :func:`settle` in this process (the database's copy is for a
    later run, after a crash)."""
    made: Made = {}
    for artefact in artefacts:
        # Rendered already: the context a template was rendered from (the whole report
        # with every reading) is not kept.
        mine = tuple(
            (replace(m, context={}), body)
            for m, body in waiting
            if waits_for(m, [artefact]) == artefact.name
        )
        recipe = made[run_id, artefact.name] = Recipe(artefact, near, mine)
        store.hold_artefact(flow_id, run_id, artefact.name, _dumps(recipe), now)
    return made


# What a recipe may name besides this program's own classes: the artefacts' builders and
# the standard library's value types its data holds (module, name).
BUILDERS = frozenset(
    {
        ("automation.merged_workbook", "build_merged_workbook"),
        ("automation.progress.export", "build_progress_workbook"),
    }
)
VALUE_TYPES = frozenset(
    {
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("collections", "Counter"),
        ("collections", "OrderedDict"),
        ("decimal", "Decimal"),
        ("datetime", "date"),
        ("datetime", "datetime"),
        ("datetime", "time"),
        ("datetime", "timedelta"),
        ("datetime", "timezone"),
        ("zoneinfo", "ZoneInfo"),
        ("zoneinfo._zoneinfo", "ZoneInfo"),
    }
)


class UnsafeRecipeError(pickle.UnpicklingError):
    """A kept recipe names something this program never writes into one."""


class StaleRecipeError(pickle.UnpicklingError):
    """A kept recipe's objects lack fields their classes have now (another version kept it)."""


class _Loader(pickle.Unpickler):
    """Unpickles a recipe, resolving only what ``owe`` can have written (see module doc)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("builtins", "getattr"):  # how an Enum member is pickled
            return _member
        if (module, name) in VALUE_TYPES or (module, name) in BUILDERS:
            return super().find_class(module, name)
        if module == "automation" or module.startswith("automation."):
            found = getattr(importlib.import_module(module), name, None)
            if isinstance(found, type):  # a class of ours: built with its own checks
                return found
        raise UnsafeRecipeError(f"a recipe may not name {module}.{name}")


def _member(owner: object, name: str) -> object:
    """``getattr`` as pickle uses it for an Enum member or ZoneInfo's own constructor, and
    for nothing else: the owner is a class the loader let through and the attribute one of
    its own instances (or ``ZoneInfo._unpickle``, which only looks up a time zone)."""
    found = getattr(owner, name, None)
    if isinstance(owner, type) and isinstance(found, owner):
        return found
    if owner is ZoneInfo and name == "_unpickle":
        return found
    raise UnsafeRecipeError(f"a recipe may not read {name!r} of {owner!r}")


def _loads(data: bytes) -> object:
    return _Loader(io.BytesIO(data)).load()


def _check_fields(recipe: Recipe) -> None:
    """Refuse a recipe whose inputs lack a field their class has now: pickle restores an
    object's attributes as kept, so one kept by a version whose dataclass has since gained
    or renamed a field would load and fail only while building (every run again)."""
    for value in (recipe.artefact, *recipe.artefact.inputs):
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = dataclasses.fields(value)
            missing = [f.name for f in fields if f.init and f.name not in vars(value)]
            if missing:
                kind = type(value).__name__
                raise StaleRecipeError(f"its {kind} was kept without {', '.join(missing)}")


def _dumps(recipe: Recipe) -> bytes:
    return pickle.dumps(recipe, protocol=pickle.HIGHEST_PROTOCOL)


async def settle(
    store: Store,
    backend: Backend,
    flow_id: str,
    clock: Callable[[], datetime],
    made: Made | None = None,
) -> tuple[list[dict[str, Any]], list[AutomationError]]:
    """Build and store every artefact the flow owes, oldest first, and queue the messages
    waiting for each: (name, location, run) of each stored, and why any was not (those stay
    owed; one that failed does not hold back the others). A recipe this process ``made``
    is used as it is, not read back from the database."""
    stored, failures = [], []
    for held in store.held_artefacts(flow_id):
        recipe = (made or {}).get((held.run_id, held.name)) or _recipe(store, held, clock)
        if recipe is None:
            continue
        try:
            stored.append(await _settle_one(store, backend, held, recipe, clock))
        except AutomationError as err:
            failures.append(err)
    return stored, failures


async def _settle_one(
    store: Store,
    backend: Backend,
    held: HeldArtefact,
    recipe: Recipe,
    clock: Callable[[], datetime],
) -> dict[str, Any]:
    # Building is pure CPU work (seconds for a large workbook): a worker thread keeps the
    # event loop (a daemon's lease renewal, /healthz, the console) answering meanwhile.
    data = (
        recipe.built if recipe.built is not None else await asyncio.to_thread(recipe.artefact.data)
    )
    try:
        location = await backend.artefacts.put(held.name, data, near=recipe.near)
    except AutomationError:
        if recipe.built is None:  # the next try uploads these bytes instead of building again
            kept = replace(recipe, artefact=replace(recipe.artefact, inputs=()), built=data)
            store.keep_recipe(held.flow, held.run_id, held.name, _dumps(kept), clock())
        else:
            store.artefact_tried(held.flow, held.run_id, held.name, clock())
        raise
    web = location.startswith(("https://", "http://"))
    messages = fitted(held.flow, list(recipe.waiting), location)
    links = {held.name: location} if web else {}
    now = clock()
    with store.transaction():
        for message, body in messages:
            store.enqueue(outbox_entry(held.flow, held.run_id, message, body, links), now)
        store.artefact_done(held.flow, held.run_id, held.name, "stored", location, now)
    LOG.info(
        "flow %s: stored %s of run %d",
        held.flow,
        held.name,
        held.run_id,
        extra={"flow": held.flow, "event": "artefact_stored"},
    )
    return {"name": held.name, "location": location, "run_id": held.run_id}


def _recipe(store: Store, held: HeldArtefact, clock: Callable[[], datetime]) -> Recipe | None:
    """The owed artefact's recipe; one this program cannot read any more (kept by a version
    whose classes have since changed) is dropped once, with an error saying what was lost."""
    try:
        recipe = _loads(held.recipe)  # written by owe(); anything else is refused
        if isinstance(recipe, Recipe):
            _check_fields(recipe)
    except Exception as err:  # any unpickling failure means the same: unreadable
        recipe = err
    if isinstance(recipe, Recipe):
        return recipe
    store.artefact_done(held.flow, held.run_id, held.name, "dropped", None, clock())
    LOG.error(
        "flow %s: %s of run %d was not stored: its recipe, kept by another version of this "
        "program, cannot be read (%s); the messages that attach it were not sent. Run the "
        "flow with --dry-run to see the current report, and send it by hand if needed",
        held.flow,
        held.name,
        held.run_id,
        f"{type(recipe).__name__}: {recipe}",
        extra={"flow": held.flow, "event": "artefact_dropped"},
    )
    return None


def fitted(flow_id: str, rendered: list[Rendition], link: str | None) -> list[Rendition]:
    """Each message within its channel's size limit (mail 4 MB, channel post and webhook
    28 KB), cut where needed with a note linking the merged workbook; fixed before queueing."""
    if not rendered:
        return []
    from automation.fit import fit_message  # noqa: PLC0415  # only runs with messages need it

    return [(message, fit_message(flow_id, message, body, link)) for message, body in rendered]
