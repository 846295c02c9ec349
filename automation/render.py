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
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from jinja2.filters import do_tojson
from jinja2.nodes import EvalContext
from markupsafe import Markup

from automation.errors import ConfigError
from automation.plan import LIST_LIMIT, Message
from automation.timeutil import clock_ja, time_ja

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


@jinja2.pass_eval_context
def json_value(eval_ctx: EvalContext, value: object, indent: int | None = None) -> Markup:
    """``tojson`` of the value without invisible characters (JSON would keep them as
    ``\\u001b`` escapes, which the card would show)."""
    return do_tojson(eval_ctx, _visible_data(value), indent)


def _autoescape(name: str | None) -> bool:
    return bool(name) and ".html" in (name or "")


def environment(override_dir: Path | None = None) -> jinja2.Environment:
    """A Jinja2 environment over the packaged templates and optional overrides."""
    loaders: list[jinja2.BaseLoader] = []
    if override_dir is not None:
        loaders.append(jinja2.FileSystemLoader(str(override_dir)))
    loaders.append(jinja2.FileSystemLoader(str(PACKAGE_TEMPLATES)))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_visible,
    )
    env.filters["num"] = number
    env.filters["signed"] = signed
    env.filters["md"] = markdown_text
    env.filters["weblink"] = web_link
    env.filters["tojson"] = json_value
    env.filters["jtime"] = time_ja
    env.filters["jclock"] = clock_ja
    env.globals["list_limit"] = LIST_LIMIT
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": False}
    return env


def render(env: jinja2.Environment, message: Message) -> Rendered:
    """Render the parts of ``message`` its channel needs."""
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
