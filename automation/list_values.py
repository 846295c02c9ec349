"""List values as the progress flow reads them, whatever the column type.

SharePoint returns each column type in its own shape (fieldValueSet): text and choices as
strings, a multi-line column with rich text as HTML (``<div class="ExternalClass..."><p>
実施</p></div>``), a multi-choice column as an array of strings, a multi-value lookup as
an array of ``{LookupId, LookupValue}``, a hyperlink as ``{Description, Url}``, numbers
as JSON numbers, yes/no as booleans. ``plain`` turns each into what a person sees in the
list, so checks, messages and the export all read the same text; numbers, booleans and
dates stay as they are.

``match_choice`` finds the configured choice a value means the way a person would: full-width
and half-width forms alike, spaces ignored (「やや 遅れ」 is やや遅れ). ``amount_in_thousands``
reads a budget amount in 千円, converting one written with 円, 万円 or 億円.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Collection, Mapping
from decimal import Decimal

from automation.cells import Reading, read_cell
from automation.column_names import same_name

_TAG = re.compile(r"<[^>]*>")
_BREAK = re.compile(r"<\s*(br|/p|/div|/li|/h[1-6]|/tr)\b[^>]*>", re.IGNORECASE)
# SharePoint keeps rich text inside one <div> (class="ExternalClass..."); other text that
# merely contains markup is text as typed.
_RICH = re.compile(r"^\s*<div\b[^>]*>.*</div>\s*$", re.IGNORECASE | re.DOTALL)
_YEN = re.compile(r"^(?P<number>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?(?P<unit>円|万円|億円)$")
_THOUSANDS_PER = {"円": Decimal("0.001"), "万円": Decimal(10), "億円": Decimal(100000)}
# What may follow a figure in a numeric field: a percent sign or a counter word.
_COUNTER = re.compile(
    r"^(?P<figure>.*?\d)(%|件|人|名|回|校|台|社|者|団体|事業|箇所|か所|カ所|ヶ所|市町村|"
    r"時間|日|本|枚|冊|戸|世帯|施設|部署|課|所|店舗|品目|種類|種|システム|手続|手続き)$"
)
_TEXT_KEYS = ("LookupValue", "Description", "Label", "Url", "Email", "DisplayName")


def plain(value: object) -> object:
    """``value`` as the list shows it: rich text as its text, several values joined with
    「、」, a lookup by its value, a hyperlink by its description (else its address)."""
    if isinstance(value, str):
        return rich_text(value) if _RICH.match(value) else value
    if isinstance(value, Mapping):
        return _mapping_text(value)
    if isinstance(value, list | tuple):
        return "、".join(text for text in (_piece(v) for v in value) if text)
    return value


def plain_fields(fields: Mapping[str, object]) -> dict[str, object]:
    """Every field of an item through ``plain``."""
    return {name: plain(value) for name, value in fields.items()}


def rich_text(markup: str) -> str:
    """The text of a rich-text (HTML) value: tags dropped, entities decoded, line breaks
    where paragraphs end; an editor's leftover ``<div><br></div>`` is empty."""
    text = _TAG.sub("", _BREAK.sub("\n", markup))
    text = html.unescape(text).replace("\u200b", "").replace("\xa0", " ")
    lines = (line.strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def number_reading(value: object) -> Reading:
    """A numeric field: a number, also typed with a percent sign or a counter word after
    it (「80%」, 「120件」, 「3校」); approximate figures (約80%) stay unreadable."""
    if isinstance(value, str):
        text = "".join(unicodedata.normalize("NFKC", value).split())
        match = _COUNTER.match(text)
        if match is not None:
            return read_cell(match["figure"], "", True)
    return read_cell(value, "", True)


def amount_in_thousands(value: object) -> Reading:
    """A budget amount in 千円: a number as it is (「1,200」, 1200.0, 「1,200千円」), or an
    amount written with 円, 万円 or 億円 converted (「120万円」 is 1,200)."""
    if isinstance(value, str):
        match = _YEN.match("".join(unicodedata.normalize("NFKC", value).split()))
        if match is not None:
            digits = match["number"].replace(",", "") + (
                f".{match['frac']}" if match["frac"] else ""
            )
            thousands = Decimal(digits) * _THOUSANDS_PER[match["unit"]]
            return read_cell(thousands.normalize(), "千円", True)
    return read_cell(value, "千円", True)


def match_choice(value: str, choices: Collection[str]) -> str | None:
    """The configured choice ``value`` means (up to spaces and full-width forms), or None."""
    if value in choices:  # as configured: most values, without normalising every choice
        return value
    return same_name(value, choices)


def _piece(value: object) -> str:
    text = plain(value)
    return "" if text is None else str(text).strip()


def _mapping_text(value: Mapping[str, object]) -> str:
    for key in _TEXT_KEYS:
        text = value.get(key)
        if isinstance(text, str) and text.strip():
            return text.strip()
    # another type (a location...): its values, so a filled-in field is not blank
    parts = (str(v).strip() for k, v in value.items() if not k.startswith("@") and v is not None)
    return " ".join(p for p in parts if p)
