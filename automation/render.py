"""Render messages from Jinja2 templates (Japanese; autoescaped HTML; strict undefined).

Each message template exists in up to four parts, chosen by the channel:
``NAME.subject.j2`` (mail subject), ``NAME.txt.j2`` (plain text), ``NAME.html.j2``
(mail HTML and Teams channel posts) and ``NAME.card.json.j2`` (Teams Workflows
webhook Adaptive Card). A flow may name a folder of overrides; a file there wins over
the packaged one of the same name. Text that came from departments is data: HTML
templates escape it, card templates emit every value through ``tojson``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2

from automation.errors import ConfigError
from automation.plan import Message
from automation.timeutil import time_ja

PACKAGE_TEMPLATES = Path(__file__).parent / "templates"
PARTS_BY_CHANNEL: dict[str, tuple[str, ...]] = {
    "mail": ("subject", "txt", "html"),
    "teams_channel": ("subject", "html"),
    "teams_webhook": ("subject", "card.json"),
}
MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+-.!<>|~"})


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


def markdown_text(value: object) -> str:
    """Escape text for an Adaptive Card TextBlock so it shows literally."""
    return str(value).translate(MD_SPECIAL)


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
    )
    env.filters["num"] = number
    env.filters["signed"] = signed
    env.filters["md"] = markdown_text
    env.filters["jtime"] = time_ja
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
        subject=" ".join(out["subject"].split()),
        text=out.get("txt"),
        html=out.get("html"),
        card=card,
    )
