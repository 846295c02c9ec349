"""Specs for matching column headers and record types to the FDMA item catalogue."""

from __future__ import annotations

import pytest

from automation.damage.catalogue import DEFAULT_ITEMS, Catalogue, Item


def test_codes_are_unique(catalogue: Catalogue) -> None:
    """Every item has its own code; codes are what run records and snapshots use."""
    codes = [item.code for item in DEFAULT_ITEMS]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (["全壊", "棟"], "house_full_bldg"),
        (["住家被害", "全壊", "世帯"], "house_full_hh"),
        (["全壊(人)"], "house_full_ppl"),
        (["一部損壊", "棟"], "house_part_bldg"),
        (["人的被害", "重傷"], "injured_serious"),
        (["死者数"], "dead"),
        (["田", "流失・埋没"], "paddy_washed"),
        (["畑", "冠水"], "field_flooded"),
        (["農産被害（千円）"], "cost_crops"),
        (["非住家", "その他"], "nonres_other"),
        (["被害額", "その他"], "cost_other"),
    ],
)
def test_header_words_select_the_item(catalogue: Catalogue, header: list[str], code: str) -> None:
    """A header matches the item whose label (or alias) and needed qualifiers it contains."""
    match = catalogue.match_header(header)
    assert match.item is not None and match.item.code == code


def test_bare_shared_label_is_ambiguous(catalogue: Catalogue) -> None:
    """全壊 without a unit could be 棟, 世帯 or 人: all three are offered as candidates."""
    match = catalogue.match_header(["全壊"])
    assert match.item is None
    assert {item.code for item in match.candidates} == {
        "house_full_bldg",
        "house_full_hh",
        "house_full_ppl",
    }


@pytest.mark.parametrize("header", [["計"], ["合計"], ["備考"], ["住家被害", "小計"]])
def test_total_and_note_columns_are_ignored(catalogue: Catalogue, header: list[str]) -> None:
    """Derived (計) and free-text (備考) columns are skipped without a problem."""
    assert catalogue.match_header(header).ignored


def test_unknown_header_has_no_item_and_no_candidates(catalogue: Catalogue) -> None:
    """A header naming nothing known is reported as unknown, not guessed."""
    match = catalogue.match_header(["ペット被害"])
    assert (match.item, match.candidates, match.ignored) == (None, (), False)


@pytest.mark.parametrize(
    ("text", "code"),
    [("道路", "roads"), ("がけ崩れ", "landslides"), ("橋梁", "bridges"), ("河 川", "rivers")],
)
def test_record_types_accept_aliases(catalogue: Catalogue, text: str, code: str) -> None:
    """Type cells of the records layout match labels and aliases, ignoring spaces."""
    found = catalogue.match_label(text)
    assert found is not None and found.code == code


def test_decimals_only_for_area_and_money() -> None:
    """Only ha and 千円 items accept fractional values."""
    assert {item.unit for item in DEFAULT_ITEMS if item.decimals} == {"ha", "千円"}


def test_extra_items_are_matched() -> None:
    """An admin's extra item is matched like the defaults."""
    extended = Catalogue([*DEFAULT_ITEMS, Item("welfare", "社会福祉施設", "箇所", "その他")])
    match = extended.match_header(["社会福祉施設"])
    assert match.item is not None and match.item.code == "welfare"


def test_catalogue_document_lists_every_item() -> None:
    """docs/catalogue.md names every default item code, so admins can look codes up."""
    from pathlib import Path  # noqa: PLC0415

    text = (Path(__file__).parent.parent / "docs" / "catalogue.md").read_text(encoding="utf-8")
    assert [item.code for item in DEFAULT_ITEMS if f"`{item.code}`" not in text] == []
