"""Specs for scrubbing a long text a piece at a time (``Redactor.scrub_pieces``): the
output is the text scrubbed whole, wherever the pieces cut a secret."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automation import cli
from automation.redaction import PLACEHOLDER, REDACTOR, Redactor
from automation.state import EncodedItems, record_json, record_json_with

# Secrets over alphabets of their own, so no two occurrences overlap: scrubbing whole and
# in pieces then have one answer.
URL = "https://hooks.example/abc"
TOKEN = "0123456789"
texts = st.lists(
    st.one_of(st.sampled_from([URL, TOKEN, URL[:9], TOKEN[3:]]), st.text("xyz 前橋\n", max_size=6))
).map("".join)


def _cut(text: str, cuts: list[int]) -> list[str]:
    points = sorted({min(c, len(text)) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


@settings(max_examples=300, deadline=None)
@given(texts, st.lists(st.integers(0, 200), max_size=12), st.integers(1, 40))
def test_a_text_scrubbed_in_pieces_is_the_text_scrubbed_whole(
    text: str, cuts: list[int], size: int
) -> None:
    """A text scrubbed in pieces is the text scrubbed whole, however the pieces cut it."""
    # no secret is left, whatever the pieces and the output's size
    redactor = Redactor([URL, TOKEN])
    out = "".join(redactor.scrub_pieces(_cut(text, cuts), size))
    assert out == redactor.scrub(text)
    assert URL not in out
    assert TOKEN not in out


def test_the_output_comes_in_pieces_of_about_the_size_asked() -> None:
    """A long text is given out in several pieces, none much over the size asked."""
    pieces = list(Redactor([URL]).scrub_pieces(["x" * 10] * 1000, 100))
    assert len(pieces) > 50
    assert max(map(len, pieces)) < 200


def test_the_json_record_is_printed_as_one_line_of_json_scrubbed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`automation run --json` prints the record as json.dumps does, on one line, secrets replaced."""
    # even where they straddle the pieces it is written in
    monkeypatch.setattr(REDACTOR, "secrets", [URL])
    record = {"deliveries": [{"to": URL, "n": i, "名": "前橋市"} for i in range(30_000)]}
    cli._print_json(record)
    expected = json.dumps(record, ensure_ascii=False).replace(URL, PLACEHOLDER)
    assert capsys.readouterr().out == expected + "\n"


def test_a_record_printed_from_the_run_s_stored_text_is_the_line_made_in_pieces(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The line a run stored (``record_json``) and printed as it is equals the line the
    record makes in pieces: one encoding, the same bytes, secrets replaced either way."""
    monkeypatch.setattr(REDACTOR, "secrets", [URL])
    record = {"deliveries": [{"to": URL, "n": i, "名": "前橋市"} for i in range(3_000)]}
    cli._print_json(record)
    in_pieces = capsys.readouterr().out
    cli._print_json(record, record_json(record))
    assert capsys.readouterr().out == in_pieces
    assert URL not in in_pieces


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text('ab前\n"' + URL, max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text("xy", max_size=3), inner),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.text("ab", max_size=3), json_values, min_size=1),
    st.text("kz名", min_size=1, max_size=4),
    json_values,
)
def test_a_key_added_to_a_record_s_text_is_the_text_of_the_record_with_it(
    record: dict[str, object], key: str, value: object
) -> None:
    """record_json_with(record_json(r), k, v) == record_json(r | {k: v}) for a key not in r,
    secrets in the value replaced too."""
    if key in record:
        return
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(REDACTOR, "secrets", [URL])
        added = record_json_with(record_json(record), key, value)
        assert added == record_json({**record, key: value})


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.text("abc名", max_size=3), json_values, min_size=1),
    st.sets(st.text("abc名", max_size=3)),
    json_values,
)
def test_a_record_with_items_encoded_ahead_is_the_record_s_text(
    record: dict[str, object], ahead: set[str], replacement: object
) -> None:
    """record_json(r, ahead) == record_json(r), whichever items were encoded ahead, a value
    replaced since (not the same object) encoded anew, secrets replaced either way."""
    encoded = EncodedItems({key: record[key] for key in ahead if key in record})
    replaced = {key: [replacement] for key in list(record)[:1]}  # a new object: encoded again
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(REDACTOR, "secrets", [URL])
        assert record_json(record, encoded) == record_json(record)
        changed = {**record, **replaced}
        assert record_json(changed, encoded) == record_json(changed)
