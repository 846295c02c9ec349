"""The damage item catalogue (FDMA 第4号様式 その2 被害状況即報) and header matching.

Each item has a stable ``code`` (used in run records, snapshots and diffs), the Japanese
``label`` and ``unit`` printed on the form, a ``category`` (the form's left-hand grouping)
and ``aliases`` departments actually write. A column header matches an item when all the
words of one of the item's keys appear among the header's words; keys get the unit or the
category added automatically when the label alone would be ambiguous (全壊 in 棟/世帯/人).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from automation.damage.text import normalize, tokens

DECIMAL_UNITS = frozenset({"ha", "千円", "km", "m", "t"})

CATEGORY_ALIASES: dict[str, tuple[str, ...]] = {
    "人的被害": ("人的被害", "人的"),
    "住家被害": ("住家被害", "住家"),
    "非住家被害": ("非住家被害", "非住家"),
    "その他": ("その他", "その他の被害", "その他被害"),
    "り災": ("り災", "罹災"),
    "火災発生": ("火災発生", "火災"),
    "避難": ("避難", "避難状況"),
    "被害額": ("被害額", "被害金額"),
}

# Headers of derived or free-text columns: never counted, never reported as unknown.
IGNORED_HEADERS = frozenset(
    normalize(word)
    for word in ("備考", "計", "合計", "小計", "総計", "被害総額", "摘要", "報告者", "連絡先")
)


@dataclass(frozen=True, slots=True)
class Item:
    """One countable line of the damage report."""

    code: str
    label: str
    unit: str
    category: str
    aliases: tuple[str, ...] = ()
    qualified: bool = False  # a generic label (その他) that needs its category in the header
    keys: tuple[frozenset[str], ...] = field(default=(), compare=False)

    @property
    def decimals(self) -> bool:
        """Whether fractional values make sense for this unit (ha, 千円)."""
        return self.unit in DECIMAL_UNITS

    @property
    def title(self) -> str:
        """Label with its unit, as printed in reports: ``全壊(棟)``."""
        return f"{self.label}({self.unit})"


def _item(
    code: str, category: str, label: str, unit: str, *aliases: str, qualified: bool = False
) -> Item:
    return Item(code, label, unit, category, tuple(aliases), qualified)


def _housing() -> list[Item]:
    kinds = [
        ("full", "全壊", ("全壊家屋",)),
        ("half", "半壊", ("半壊家屋",)),
        ("part", "一部破損", ("一部損壊",)),
        ("above", "床上浸水", ("床上",)),
        ("below", "床下浸水", ("床下",)),
    ]
    units = [("bldg", "棟"), ("hh", "世帯"), ("ppl", "人")]
    return [
        _item(f"house_{kind}_{suffix}", "住家被害", label, unit, *aliases)
        for kind, label, aliases in kinds
        for suffix, unit in units
    ]


DEFAULT_ITEMS: tuple[Item, ...] = (
    _item("dead", "人的被害", "死者", "人", "死者数", "死亡", "死亡者"),
    _item("missing", "人的被害", "行方不明者", "人", "行方不明", "行方不明者数"),
    _item("injured_serious", "人的被害", "重傷者", "人", "重傷", "負傷者重傷", "重傷者数"),
    _item("injured_minor", "人的被害", "軽傷者", "人", "軽傷", "負傷者軽傷", "軽傷者数"),
    *_housing(),
    _item("nonres_public", "非住家被害", "公共建物", "棟"),
    _item("nonres_other", "非住家被害", "その他", "棟", qualified=True),
    _item("paddy_washed", "その他", "田 流失・埋没", "ha", "田 流失埋没", "田流失埋没"),
    _item("paddy_flooded", "その他", "田 冠水", "ha", "田冠水"),
    _item("field_washed", "その他", "畑 流失・埋没", "ha", "畑 流失埋没", "畑流失埋没"),
    _item("field_flooded", "その他", "畑 冠水", "ha", "畑冠水"),
    _item("schools", "その他", "文教施設", "箇所"),
    _item("hospitals", "その他", "病院", "箇所"),
    _item("roads", "その他", "道路", "箇所", "道路損壊"),
    _item("bridges", "その他", "橋りょう", "箇所", "橋梁", "橋"),
    _item("rivers", "その他", "河川", "箇所"),
    _item("ports", "その他", "港湾", "箇所"),
    _item("sabo", "その他", "砂防", "箇所", "砂防施設"),
    _item("cleaning", "その他", "清掃施設", "箇所"),
    _item(
        "landslides", "その他", "崖くずれ", "箇所", "がけ崩れ", "がけくずれ", "崖崩れ", "土砂崩れ"
    ),
    _item("railways", "その他", "鉄道不通", "箇所", "鉄道"),
    _item("ships", "その他", "被害船舶", "隻", "船舶"),
    _item("water", "その他", "水道", "戸", "断水"),
    _item("phone", "その他", "電話", "回線", "通信"),
    _item("power", "その他", "電気", "戸", "停電"),
    _item("gas", "その他", "ガス", "戸"),
    _item("walls", "その他", "ブロック塀等", "箇所", "ブロック塀"),
    _item("affected_hh", "り災", "り災世帯数", "世帯", "り災世帯", "罹災世帯数", "罹災世帯"),
    _item("affected_ppl", "り災", "り災者数", "人", "り災者", "罹災者数", "罹災者"),
    _item("fire_bldg", "火災発生", "建物", "件", qualified=True),
    _item("fire_hazmat", "火災発生", "危険物", "件", qualified=True),
    _item("fire_other", "火災発生", "その他", "件", qualified=True),
    _item("shelters", "避難", "避難所数", "箇所", "避難所", "開設避難所数"),
    _item("evacuees", "避難", "避難者数", "人", "避難者"),
    _item("cost_schools", "被害額", "公立文教施設", "千円"),
    _item("cost_agri_facilities", "被害額", "農林水産業施設", "千円"),
    _item("cost_public_works", "被害額", "公共土木施設", "千円"),
    _item("cost_other_public", "被害額", "その他の公共施設", "千円"),
    _item("cost_crops", "被害額", "農産被害", "千円", "農産被害額"),
    _item("cost_forestry", "被害額", "林産被害", "千円", "林産被害額"),
    _item("cost_livestock", "被害額", "畜産被害", "千円", "畜産被害額"),
    _item("cost_fishery", "被害額", "水産被害", "千円", "水産被害額"),
    _item("cost_commerce", "被害額", "商工被害", "千円", "商工被害額"),
    _item("cost_other", "被害額", "その他", "千円", qualified=True),
)


@dataclass(frozen=True, slots=True)
class HeaderMatch:
    """Outcome of matching one column header against the catalogue."""

    item: Item | None
    candidates: tuple[Item, ...] = ()  # when ambiguous: the items that fit equally well
    ignored: bool = False  # a 計/備考 column: skip silently


class Catalogue:
    """An ordered set of items with header and label matching."""

    def __init__(self, items: Iterable[Item]) -> None:
        self.items: tuple[Item, ...] = tuple(_with_keys(list(items)))
        self.by_code: dict[str, Item] = {item.code: item for item in self.items}
        self._labels: dict[str, list[Item]] = {}
        for item in self.items:
            for name in (item.label, *item.aliases):
                self._labels.setdefault(normalize(name), []).append(item)
        # Units a header may count with 数 (棟数) or run onto a one-word label (全壊棟数).
        self._units = sorted({normalize(item.unit) for item in self.items}, key=len, reverse=True)
        self._heads = frozenset(
            word for name in self._labels if len(words := tokens(name)) == 1 for word in words
        )

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def match_header(self, parts: Sequence[str]) -> HeaderMatch:
        """Find the item whose key words all appear in a column's header cells."""
        words = self._with_units({word for part in parts for word in tokens(part)})
        if not words:
            return HeaderMatch(None)
        if words & IGNORED_HEADERS or normalize("".join(parts)) in IGNORED_HEADERS:
            return HeaderMatch(None, ignored=True)
        best: list[Item] = []
        best_size = 0
        for item in self.items:
            size = max((len(key) for key in item.keys if key <= words), default=0)
            if size > best_size:
                best, best_size = [item], size
            elif size and size == best_size:
                best.append(item)
        if len(best) == 1:
            return HeaderMatch(best[0])
        if not best:
            # The label is there but its unit or category is not: offer what it could be.
            best = [
                item
                for item in self.items
                if any(frozenset(tokens(name)) <= words for name in (item.label, *item.aliases))
            ]
        return HeaderMatch(None, candidates=tuple(best))

    def _with_units(self, words: set[str]) -> set[str]:
        """``words`` with the unit a word counts in: 棟数 is 棟, and 全壊棟数 or 停電戸数 (a
        one-word label with its unit run on) is 全壊 in 棟, 停電 in 戸."""
        found: set[str] = set()
        for word in words:
            for unit in self._units:
                for suffix in (f"{unit}数", unit):
                    head = word[: -len(suffix)] if word.endswith(suffix) else None
                    if head == "" and suffix != unit:
                        found.add(unit)
                    elif head and head in self._heads:
                        found.update((head, unit))
        return words | found if found else words

    def match_label(self, text: str) -> Item | None:
        """Find the item a records-layout type cell names (道路, がけ崩れ, ...)."""
        found = self._labels.get(normalize(text), [])
        return found[0] if len(found) == 1 else None


def _with_keys(items: list[Item]) -> list[Item]:
    """Attach header keys, adding unit/category words where the label is shared."""
    by_label: dict[str, list[Item]] = {}
    for item in items:
        by_label.setdefault(normalize(item.label), []).append(item)
    result = []
    for item in items:
        siblings = by_label[normalize(item.label)]
        same_category = [s for s in siblings if s.category == item.category]
        needs_unit = len({s.unit for s in same_category}) > 1
        needs_category = item.qualified or len({s.category for s in siblings}) > 1
        keys: set[frozenset[str]] = set()
        categories = CATEGORY_ALIASES.get(item.category, (item.category,))
        for name in (item.label, *item.aliases):
            base = set(tokens(name))
            if needs_unit:
                base.add(normalize(item.unit))
            if needs_category:
                keys.update(frozenset(base | {normalize(c)}) for c in categories)
            else:
                keys.add(frozenset(base))
        result.append(
            Item(
                item.code,
                item.label,
                item.unit,
                item.category,
                item.aliases,
                item.qualified,
                tuple(sorted(keys, key=sorted)),
            )
        )
    return result


DEFAULT_CATALOGUE = Catalogue(DEFAULT_ITEMS)
