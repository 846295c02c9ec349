"""Specs for the default damage catalogue (FDMA 第4号様式 その2) and header matching."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from automation.damage.catalogue import DEFAULT_ITEMS, Catalogue, HeaderMatch, Item


def match(catalogue: Catalogue, *parts: str) -> HeaderMatch:
    """Match the header cells ``parts`` (top to bottom) against ``catalogue``."""
    return catalogue.match_header(parts)


def code(found: HeaderMatch) -> str | None:
    """The code of the matched item, or None."""
    return None if found.item is None else found.item.code


def codes(items: Sequence[Item]) -> set[str]:
    """The codes of ``items``."""
    return {item.code for item in items}


@pytest.fixture
def extended() -> Catalogue:
    """The default catalogue plus a bus-service item an admin added."""
    bus = Item("bus_stopped", "バス運休", "路線", "その他", ("バス",))
    return Catalogue([*DEFAULT_ITEMS, bus])


# --- the items -------------------------------------------------------------------------


def test_item_codes_are_unique(catalogue: Catalogue) -> None:
    """Every item has its own code (codes key run records, snapshots and diffs)."""
    all_codes = [item.code for item in catalogue]
    assert len(all_codes) == len(set(all_codes))
    assert set(catalogue.by_code) == set(all_codes)


def test_every_item_has_a_label_a_unit_and_a_category(catalogue: Catalogue) -> None:
    """No item lacks the label, unit or category printed on the form."""
    assert list(catalogue)
    for item in catalogue:
        assert item.label.strip(), item
        assert item.unit.strip(), item
        assert item.category.strip(), item


def test_every_item_can_be_matched_by_a_header(catalogue: Catalogue) -> None:
    """Each item carries at least one header key."""
    assert all(item.keys for item in catalogue)


def test_the_catalogue_follows_the_fdma_form() -> None:
    """The form's groups are all present, housing in 棟/世帯/人."""
    categories = {item.category for item in DEFAULT_ITEMS}
    assert {"人的被害", "住家被害", "非住家被害", "その他", "り災", "避難", "被害額"} <= categories
    housing = [item for item in DEFAULT_ITEMS if item.category == "住家被害"]
    assert {item.unit for item in housing} == {"棟", "世帯", "人"}
    assert len(housing) == 15


@pytest.mark.parametrize("unit", ["ha", "千円"])
def test_decimals_are_allowed_for_hectares_and_thousand_yen(
    catalogue: Catalogue, unit: str
) -> None:
    """Items counted in ha or 千円 accept decimals."""
    items = [item for item in catalogue if item.unit == unit]
    assert items
    assert all(item.decimals for item in items)


def test_decimals_are_not_allowed_for_counted_things(catalogue: Catalogue) -> None:
    """Only ha and 千円 items accept decimals; people, buildings and places do not."""
    assert {item.unit for item in catalogue if item.decimals} == {"ha", "千円"}


def test_title_is_the_label_with_its_unit(catalogue: Catalogue) -> None:
    """Reports print an item as 全壊(棟)."""
    assert catalogue.by_code["house_full_bldg"].title == "全壊(棟)"


# --- header matching -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("全壊", "棟"), "house_full_bldg"),
        (("全壊", "世帯"), "house_full_hh"),
        (("全壊", "人"), "house_full_ppl"),
        (("全壊(棟)",), "house_full_bldg"),
        (("全壊（世帯）",), "house_full_hh"),
        (("住家被害", "全壊", "人"), "house_full_ppl"),
    ],
)
def test_a_housing_header_with_its_unit_names_one_item(
    catalogue: Catalogue, parts: tuple[str, ...], expected: str
) -> None:
    """全壊 with 棟, 世帯 or 人 (in any header row or in brackets) is that item."""
    assert code(match(catalogue, *parts)) == expected


def test_a_bare_housing_header_is_ambiguous(catalogue: Catalogue) -> None:
    """全壊 alone could be 棟, 世帯 or 人: no item, the three listed as candidates."""
    found = match(catalogue, "全壊")
    assert found.item is None
    assert not found.ignored
    assert codes(found.candidates) == {"house_full_bldg", "house_full_hh", "house_full_ppl"}


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("一部損壊", "棟"), "house_part_bldg"),
        (("一部損壊", "世帯"), "house_part_hh"),
        (("一部損壊", "人"), "house_part_ppl"),
        (("がけ崩れ",), "landslides"),
        (("死亡者",), "dead"),
        (("罹災世帯数",), "affected_hh"),
        (("橋梁",), "bridges"),
        (("重傷者数",), "injured_serious"),
        (("軽傷者数",), "injured_minor"),
    ],
)
def test_an_alias_in_a_header_names_the_item(
    catalogue: Catalogue, parts: tuple[str, ...], expected: str
) -> None:
    """Aliases departments write (一部損壊 for 一部破損, 罹災 for り災) match the item."""
    assert code(match(catalogue, *parts)) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("全壊（棟数）", "house_full_bldg"),
        ("全壊(世帯数)", "house_full_hh"),
        ("半壊（人数）", "house_half_ppl"),
        ("全壊棟数", "house_full_bldg"),
        ("一部損壊棟数", "house_part_bldg"),
        ("床下浸水世帯数", "house_below_hh"),
        ("停電戸数", "power"),
    ],
)
def test_a_unit_counted_with_su_or_written_onto_the_label_names_the_item(
    catalogue: Catalogue, header: str, expected: str
) -> None:
    """棟数/世帯数 is the unit 棟/世帯, also run onto the label (全壊棟数, 停電戸数)."""
    assert code(match(catalogue, header)) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("田冠水(ha)", "paddy_flooded"),
        ("畑流失・埋没（ha）", "field_washed"),
        ("農産被害額(千円)", "cost_crops"),
        ("商工被害額", "cost_commerce"),
    ],
)
def test_a_two_word_label_written_as_one_names_the_item(
    catalogue: Catalogue, header: str, expected: str
) -> None:
    """田冠水 is 田 冠水, and 農産被害額 the 被害額 item 農産被害."""
    assert code(match(catalogue, header)) == expected


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("非住家", "その他"), "nonres_other"),
        (("非住家被害", "その他"), "nonres_other"),
        (("被害額", "その他"), "cost_other"),
        (("被害額（千円）", "その他"), "cost_other"),
        (("火災", "その他"), "fire_other"),
        (("火災発生", "建物"), "fire_bldg"),
    ],
)
def test_a_generic_label_is_qualified_by_its_category(
    catalogue: Catalogue, parts: tuple[str, ...], expected: str
) -> None:
    """その他 under 非住家 or 被害額 (or 火災) is that category's その他."""
    assert code(match(catalogue, *parts)) == expected


def test_a_bare_generic_label_is_ambiguous(catalogue: Catalogue) -> None:
    """その他 with no category is no item; every その他 is a candidate."""
    found = match(catalogue, "その他")
    assert found.item is None
    assert codes(found.candidates) == {"nonres_other", "fire_other", "cost_other"}


@pytest.mark.parametrize(
    "parts", [("計",), ("合計",), ("小計",), ("備考",), ("合　計",), ("全壊", "計"), ("摘要",)]
)
def test_total_and_remark_headers_are_ignored(catalogue: Catalogue, parts: tuple[str, ...]) -> None:
    """計 and 備考 columns are skipped silently: no item, no problem."""
    found = match(catalogue, *parts)
    assert found.ignored
    assert found.item is None


def test_an_unknown_header_matches_nothing(catalogue: Catalogue) -> None:
    """A header naming no item has no item, no candidates and is not ignored."""
    assert match(catalogue, "天気") == HeaderMatch(None, candidates=(), ignored=False)


@pytest.mark.parametrize("parts", [(), ("",), ("　",)])
def test_an_empty_header_matches_nothing(catalogue: Catalogue, parts: tuple[str, ...]) -> None:
    """A column with no header text matches nothing."""
    assert match(catalogue, *parts) == HeaderMatch(None)


@pytest.mark.parametrize(
    ("parts", "expected"), [(("死　者",), "dead"), (("全　壊", "棟"), "house_full_bldg")]
)
def test_a_label_spaced_out_to_fit_the_cell_still_matches(
    catalogue: Catalogue, parts: tuple[str, ...], expected: str
) -> None:
    """Forms space short labels evenly (死　者, 全　壊); they match like 死者, 全壊."""
    assert code(match(catalogue, *parts)) == expected


# --- record labels ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("がけ崩れ", "landslides"),
        ("土砂崩れ", "landslides"),
        ("崖くずれ", "landslides"),
        ("道路", "roads"),
        ("橋梁", "bridges"),
        ("停電", "power"),
    ],
)
def test_a_record_type_names_the_item_by_label_or_alias(
    catalogue: Catalogue, label: str, expected: str
) -> None:
    """A records-layout type cell (がけ崩れ, 道路, ...) names one item."""
    found = catalogue.match_label(label)
    assert found is not None
    assert found.code == expected


@pytest.mark.parametrize("label", ["全壊", "一部損壊", "その他", "天気"])
def test_an_ambiguous_or_unknown_record_type_names_nothing(
    catalogue: Catalogue, label: str
) -> None:
    """A type shared by several items (全壊, その他) or by none is not counted."""
    assert catalogue.match_label(label) is None


# --- extending -------------------------------------------------------------------------


def test_an_extra_item_is_matched_by_header(extended: Catalogue) -> None:
    """An item an admin added is found by its label in a header."""
    assert code(match(extended, "バス運休")) == "bus_stopped"


def test_an_extra_item_is_matched_by_alias_in_records(extended: Catalogue) -> None:
    """An item an admin added is found by its alias in a records type cell."""
    found = extended.match_label("バス")
    assert found is not None
    assert found.code == "bus_stopped"


def test_an_extra_item_leaves_the_default_items_alone(extended: Catalogue) -> None:
    """Adding an item keeps the default matches and the catalogue order."""
    assert len(extended) == len(DEFAULT_ITEMS) + 1
    assert extended.items[-1].code == "bus_stopped"
    assert code(match(extended, "全壊", "棟")) == "house_full_bldg"


def test_the_catalogue_document_lists_every_item() -> None:
    """docs/catalogue.md names every default item code, so admins can look codes up."""
    text = (Path(__file__).parent.parent / "docs" / "catalogue.md").read_text(encoding="utf-8")
    assert [item.code for item in DEFAULT_ITEMS if f"`{item.code}`" not in text] == []
