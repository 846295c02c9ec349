"""Terminal widths of Japanese text: tables of names line up by columns, not characters."""

from __future__ import annotations

from automation.textwidth import display_width, padded


def test_a_full_width_character_takes_two_columns() -> None:
    """Kanji, kana and full-width digits take two terminal columns; ASCII one."""
    assert display_width("前橋市") == 6
    assert display_width("ｶﾅ１2") == 5  # half-width kana 1 each, a full-width digit 2
    assert display_width("abc") == 3


def test_padded_fills_to_the_width_and_never_cuts() -> None:
    """padded adds spaces up to the width in columns and leaves wider text whole."""
    assert padded("前橋市", 8) == "前橋市  "
    assert padded("令和8年台風", 4) == "令和8年台風"
