"""Render messages from Jinja2 templates (Japanese; autoescaped HTML; strict undefined).

Each message template exists in up to four parts, chosen by the channel:
``NAME.subject.j2`` (mail subject), ``NAME.txt.j2`` (plain text), ``NAME.html.j2``
(mail HTML and Teams channel posts) and ``NAME.card.json.j2`` (Teams Workflows
webhook Adaptive Card). A flow may name a folder of overrides; a file there wins over
the packaged one of the same name.

Text that came from departments (or from the configuration) is data and is shown as text
in every part: every ``{{ value }}`` loses its invisible characters (control characters,
terminal escapes, bidi overrides, zero-width characters), HTML parts escape it, card
parts escape its Markdown with ``md`` and emit it through ``tojson``, subjects are one
line, and item links are used only when they are plain web addresses (``weblink``).

Compiling a template costs far more than rendering it (about 5 ms a part), so each
environment is built once per process and folder of overrides (:func:`environment`), and
the compiled code is kept between processes in a per-user cache (:func:`template_cache_dir`:
``$XDG_CACHE_HOME/m365-automation/templates``, by default ``~/.cache/...``): Jinja2's
bytecode cache, each entry checked against the template's own source, so an edited override
or an upgraded package compiles afresh. A cache folder that cannot be made private to the
user, or written, is not used; rendering is the same either way. jinja2 itself is imported
only when a message is rendered.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from markupsafe import Markup

from automation.errors import ConfigError
from automation.plan import LIST_LIMIT, Message
from automation.timeutil import clock_ja, time_ja
from automation.user_cache import user_cache_dir

if TYPE_CHECKING:
    import jinja2
    from jinja2.bccache import Bucket
    from jinja2.nodes import EvalContext

log = logging.getLogger(__name__)
PACKAGE_TEMPLATES = Path(__file__).parent / "templates"
PARTS_BY_CHANNEL: dict[str, tuple[str, ...]] = {
    "mail": ("subject", "txt", "html"),
    "teams_channel": ("subject", "html"),
    "teams_webhook": ("subject", "card.json"),
}
MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+-.!<>|~&"})
# A card value longer than this is cut (with "…"), so a card of 20 rows of pasted text
# stays well under the 28 KB a Teams webhook accepts.
CARD_TEXT_LIMIT = 200
LINK_LIMIT = 500  # longer "links" are not item addresses; they are shown as no link
LINK_SAFE = "/:?#&=%+,;@!$*~"  # kept as is; anything else (quotes, brackets, spaces) encoded
LINE_BREAKS = re.compile(r"\r\n?|[\u2028\u2029]")
INVISIBLE = frozenset({"Cc", "Cf", "Cs"})  # control, format (bidi, zero-width), surrogates


@dataclass(frozen=True)
class Rendered:
    """A message's bodies for its channel."""

    subject: str
    text: str | None = None
    html: str | None = None
    card: dict[str, Any] | None = None

    def bodies(self) -> dict[str, str]:
        """File suffix -> content, for writing or sending."""
        out: dict[str, str] = {}
        if self.text is not None:
            out["txt"] = self.text
        if self.html is not None:
            out["html"] = self.html
        if self.card is not None:
            out["card.json"] = json.dumps(self.card, ensure_ascii=False, indent=2)
        return out


def number(value: object) -> str:
    """Format a figure: ``1,234``, ``12.5``; None (no number reported) as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, Decimal | int | float):
        dec = Decimal(str(value))
        if dec == dec.to_integral_value():
            return f"{int(dec):,}"
        return f"{dec.normalize():,f}"
    return str(value)


def signed(value: object) -> str:
    """Format a change: ``+3``, ``−2``, ``±0``."""
    if value is None:
        return ""
    dec = Decimal(str(value))
    if dec > 0:
        return "+" + number(dec)
    if dec < 0:
        return "−" + number(-dec)
    return "±0"


def visible_text(text: str) -> str:
    """``text`` without what a reader cannot see but a terminal, mail client or renderer
    would act on: control characters and escape sequences' ESC, bells, NULs, bidi
    overrides, zero-width characters. Line breaks become LF; LF and tab stay."""
    if text.isprintable():
        return text
    text = LINE_BREAKS.sub("\n", text)
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in INVISIBLE)


def markdown_text(value: object, limit: int = CARD_TEXT_LIMIT) -> str:
    """Escape text for an Adaptive Card TextBlock so it shows literally, cut to ``limit``."""
    text = visible_text(str(value))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.translate(MD_SPECIAL)


def web_link(value: object) -> str | None:
    """``value`` as an http(s) address safe inside an HTML attribute and a Markdown link
    (quotes, brackets and spaces percent-encoded), or None for anything else: ``javascript:``,
    ``data:``, relative paths, text, over-long values."""
    if not isinstance(value, str):
        return None
    url = visible_text(value).strip()
    if len(url) > LINK_LIMIT:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return quote(url, safe=LINK_SAFE)


def _visible(value: object) -> object:
    """Finalize every ``{{ }}`` output: strings lose invisible characters; markup already
    built from such strings (macros, ``tojson``) is cleaned the same way."""
    if isinstance(value, Markup):
        return Markup(visible_text(str(value)))
    if isinstance(value, str):
        return visible_text(value)
    return value


def _visible_data(value: object) -> object:
    if isinstance(value, str):
        return visible_text(value)
    if isinstance(value, list | tuple):
        return [_visible_data(v) for v in value]
    if isinstance(value, dict):
        return {_visible_data(k): _visible_data(v) for k, v in value.items()}
    return value


def json_value(eval_ctx: EvalContext, value: object, indent: int | None = None) -> Markup:
    """``tojson`` of the value without invisible characters (JSON would keep them as
    ``\\u001b`` escapes, which the card would show)."""
    from jinja2.filters import do_tojson  # noqa: PLC0415  # jinja2 loads with the first render

    return do_tojson(eval_ctx, _visible_data(value), indent)


def _autoescape(name: str | None) -> bool:
    return bool(name) and ".html" in (name or "")


# The environment's options, one place: the compiled code depends on them, so they are part
# of the bytecode cache's key (with jinja2's version) beside each template's name and file.
OPTIONS: dict[str, bool] = {
    "trim_blocks": True,
    "lstrip_blocks": True,
    "keep_trailing_newline": True,
}


def template_cache_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    """The per-user folder of compiled templates (:func:`user_cache_dir`); None when there
    is none private to the user."""
    return user_cache_dir("templates", environ)


def _bytecode_cache(folder: Path) -> jinja2.BytecodeCache:
    """Jinja2's file-system bytecode cache, keyed also by our options and jinja2's version;
    an entry that cannot be read or written is compiled again, never an error."""
    import jinja2  # noqa: PLC0415

    tag = f"automation|jinja2 {jinja2.__version__}|{sorted(OPTIONS.items())}|finalize=_visible"

    class TemplateCache(jinja2.FileSystemBytecodeCache):
        def get_cache_key(self, name: str, filename: str | None = None) -> str:
            return super().get_cache_key(f"{tag}|{name}", filename)

        def load_bytecode(self, bucket: Bucket) -> None:
            try:
                super().load_bytecode(bucket)
            except Exception as err:  # a damaged entry: compile instead
                log.debug("template cache entry for %s unreadable: %s", bucket.key, err)
                bucket.reset()

        def dump_bytecode(self, bucket: Bucket) -> None:
            try:
                super().dump_bytecode(bucket)
            except OSError as err:
                log.debug("template cache entry for %s not written: %s", bucket.key, err)

    return TemplateCache(str(folder), "%s.j2c")


@functools.lru_cache(maxsize=16)
def environment(override_dir: Path | None = None) -> jinja2.Environment:
    """The Jinja2 environment over the packaged templates and optional overrides, built once
    per process and folder (it keeps its compiled templates, reloading an edited file)."""
    import jinja2  # noqa: PLC0415  # only a run that renders a message pays for it

    loaders: list[jinja2.BaseLoader] = []
    if override_dir is not None:
        loaders.append(jinja2.FileSystemLoader(str(override_dir)))
    loaders.append(jinja2.FileSystemLoader(str(PACKAGE_TEMPLATES)))
    folder = template_cache_dir()
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        finalize=_visible,
        bytecode_cache=None if folder is None else _bytecode_cache(folder),
        trim_blocks=OPTIONS["trim_blocks"],
        lstrip_blocks=OPTIONS["lstrip_blocks"],
        keep_trailing_newline=OPTIONS["keep_trailing_newline"],
    )
    env.filters["num"] = number
    env.filters["signed"] = signed
    env.filters["md"] = markdown_text
    env.filters["weblink"] = web_link
    env.filters["tojson"] = jinja2.pass_eval_context(json_value)
    env.filters["jtime"] = time_ja
    env.filters["jclock"] = clock_ja
    env.globals["list_limit"] = LIST_LIMIT
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": False}
    return env


def render(env: jinja2.Environment, message: Message) -> Rendered:
    """Render the parts of ``message`` its channel needs."""
    import jinja2  # noqa: PLC0415  # loaded already by environment()

    parts = PARTS_BY_CHANNEL[message.contact.channel]
    context = {**message.context, "contact": message.contact, "message": message}
    out: dict[str, str] = {}
    for part in parts:
        name = f"{message.template}.{part}.j2"
        try:
            out[part] = env.get_template(name).render(context)
        except jinja2.TemplateNotFound as err:
            raise ConfigError(
                f"template {err.name} not found; add it to the template folder"
            ) from err
        except jinja2.TemplateError as err:
            lineno = getattr(err, "lineno", None)
            where = f"{name}:{lineno}" if lineno else name
            raise ConfigError(f"template {where} failed to render: {err}") from err
    card = None
    if "card.json" in out:
        try:
            card = json.loads(out["card.json"])
        except json.JSONDecodeError as err:
            raise ConfigError(
                f"template {message.template}.card.json.j2 produced invalid JSON at line "
                f"{err.lineno}: {err.msg}; emit values with |tojson"
            ) from err
    return Rendered(
        subject=" ".join(visible_text(out["subject"]).split()),
        text=out.get("txt"),
        html=out.get("html"),
        card=card,
    )
