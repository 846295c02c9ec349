"""Render a flow's template overrides with its sample plan, so ``validate`` finds broken ones.

A flow with ``params.templates: FOLDER`` uses the files there instead of the packaged
templates of the same name. A mistake in one (an undefined variable, a syntax error, a card
that is not JSON) would otherwise surface only when the flow first sends that message, in
the middle of a disaster. Here the pure flow plans a few rounds on small built-in sample
inputs, shaped by the flow's own parameters and directory (its departments, sheets,
layouts, contacts and deadlines; :mod:`automation.flows.samples`), and every override part
its messages use is rendered for the channels those contacts use. Files in the folder whose
names match no template are reported too: they are never used, which usually means a typo.

Only a flow with ``templates`` set pays for this (jinja2, the flows): the configuration
loader calls it through :func:`automation.configuration.load_config`, so ``config/`` itself
imports nothing above it.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2

from automation.config.models import DamageRollupFlow, Directory, ProgressCollectionFlow
from automation.flows.samples import sample_messages
from automation.plan import Message
from automation.render import PACKAGE_TEMPLATES, PARTS_BY_CHANNEL, environment

KNOWN = frozenset(p.name for p in PACKAGE_TEMPLATES.glob("*.j2"))
MESSAGES = sorted({name.split(".")[0] for name in KNOWN if not name.startswith("_")})
PARTS = "subject, txt, html, card.json"


def check_templates(
    flow: DamageRollupFlow | ProgressCollectionFlow, directory: Directory, folder: Path
) -> list[str]:
    """What is wrong with the overrides in ``folder`` for ``flow``: one message per problem."""
    files = sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    problems = [m for m in (_stray(name) for name in files) if m is not None]
    overrides = {name for name in files if name in KNOWN}
    if not overrides:
        return problems
    partial_overridden = any(name.startswith("_") for name in overrides)
    env = environment(folder)
    rendered: set[str] = set()
    reported: set[str] = set()
    for message in sample_messages(flow, directory):
        for part in PARTS_BY_CHANNEL[message.contact.channel]:
            name = f"{message.template}.{part}.j2"
            if name in rendered or not (name in overrides or partial_overridden):
                continue
            rendered.add(name)
            problem = _render(env, name, message, folder)
            if problem is not None and problem[0] not in reported:
                reported.add(problem[0])  # a broken partial shows in every part using it
                problems.append(problem[1])
    return problems


def _stray(name: str) -> str | None:
    """A file named like a template but matching none: it would silently never be used."""
    if name in KNOWN:
        return None
    if f"{name}.j2" in KNOWN:
        return f"template file {name} is never used; rename it to {name}.j2"
    if not name.endswith(".j2"):
        return None
    close = difflib.get_close_matches(name, sorted(KNOWN), n=1, cutoff=0.8)
    if close:
        return f"template file {name} matches no template name, so it is never used; rename it to {close[0]}"
    return (
        f"template file {name} matches no template name, so it is never used; rename it to "
        f"NAME.PART.j2 with NAME one of {', '.join(MESSAGES)} and PART one of {PARTS}"
    )


def _render(
    env: jinja2.Environment, name: str, message: Message, folder: Path
) -> tuple[str, str] | None:
    """Render one part as ``render`` would: (where and what, message) of its first error."""
    context = {**message.context, "contact": message.contact, "message": message}
    sample = f"a sample {message.kind} message for {message.contact.channel}"
    try:
        output = env.get_template(name).render(context)
    except jinja2.TemplateSyntaxError as err:
        what = str(err.message or err).rstrip(".")
        fix = "fix the template"
        unclosed = _unclosed_block(env, err) if "Unexpected end" in what else None
        if unclosed is not None:
            block, err.lineno = unclosed
            what = f"the {{% {block} %}} that opens here is never closed"
            fix = f"add {{% end{block} %}} where it ends"
        where = _where(err.filename, err.lineno, folder, name)
        return where + what, _one_line(f"{where}: syntax error: {what}; {fix}")
    except jinja2.TemplateNotFound as err:
        return str(err.name), _one_line(
            f"{folder / name}: includes {err.name}, which is neither in {folder} nor among "
            "the packaged templates; add it or fix the name"
        )
    except Exception as err:  # a template can raise anything; report it, never a traceback
        filename, line = _template_frame(err.__traceback__, folder)
        where = _where(filename, line, folder, name)
        hint = _suggestion(err, context) or f"variables here: {', '.join(sorted(context))}"
        return f"{where}{err}", _one_line(
            f"{where}: {err} when rendering {sample}; fix the template ({hint})"
        )
    if name.endswith(".card.json.j2"):
        try:
            json.loads(output)
        except json.JSONDecodeError as err:
            return name, _one_line(
                f"{folder / name}: renders {sample} that is not valid JSON (output line "
                f"{err.lineno}: {err.msg}); use |tojson for every value"
            )
    return None


BLOCKS = frozenset({"for", "if", "macro", "block", "call", "filter", "with", "raw"})


def _unclosed_block(
    env: jinja2.Environment, err: jinja2.TemplateSyntaxError
) -> tuple[str, int] | None:
    """The innermost block tag still open at the end (jinja2 names only the last line)."""
    if not err.source:
        return None
    opened: list[tuple[str, int]] = []
    after_begin = False
    try:
        for line, token, value in env.lex(err.source):
            if token == "whitespace":
                continue
            if after_begin and token == "name":
                if value in BLOCKS:
                    opened.append((value, line))
                elif value.startswith("end") and opened:
                    opened.pop()
            after_begin = token == "block_begin"
    except jinja2.TemplateSyntaxError:
        return None
    return opened[-1] if opened else None


def _where(filename: str | None, line: int | None, folder: Path, name: str) -> str:
    """``FILE:LINE`` as jinja2 names the file (the folder joined with the template name)."""
    path = filename or str(folder / name)
    return f"{path}:{line}" if line else path


def _template_frame(tb: TracebackType | None, folder: Path) -> tuple[str | None, int | None]:
    """The deepest traceback frame inside a template file (jinja2 rewrites them so)."""
    found: tuple[str | None, int | None] = (None, None)
    roots = (str(folder.resolve()), str(PACKAGE_TEMPLATES.resolve()))
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2") and str(Path(filename).resolve()).startswith(roots):
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def _suggestion(err: Exception, context: Mapping[str, Any]) -> str | None:
    """'did you mean ...?' for a misspelt variable or attribute."""
    text = str(err)
    if match := re.fullmatch(r"'(\w+)' is undefined", text):
        close = difflib.get_close_matches(match[1], list(context), n=1, cutoff=0.6)
        return f"did you mean {close[0]!r}?" if close else None
    if match := re.fullmatch(r"'(.+) object' has no attribute '(\w+)'", text):
        for value in _reachable(context):
            kind = type(value)
            if match[1] in (f"{kind.__module__}.{kind.__qualname__}", kind.__qualname__):
                names = [n for n in dir(value) if not n.startswith("_")]
                close = difflib.get_close_matches(match[2], names, n=1, cutoff=0.6)
                if close:
                    return f"did you mean {close[0]!r}?"
    return None


def _reachable(context: Mapping[str, Any], depth: int = 3) -> list[object]:
    """Objects in the context and their public attributes, a few levels deep."""
    found: list[object] = []
    layer: list[object] = list(context.values())
    for _ in range(depth):
        found += layer
        below: list[object] = []
        for value in layer:
            if isinstance(value, list | tuple) and value:
                below.append(value[0])
            elif hasattr(value, "__dataclass_fields__"):
                below += [getattr(value, n, None) for n in value.__dataclass_fields__]
        layer = below
    return found


def _one_line(text: str) -> str:
    return " ".join(text.split())
