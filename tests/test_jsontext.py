"""Specs for writing JSON a piece at a time (``automation.jsontext.line_pieces``)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from automation.jsontext import line_pieces

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=4) | st.integers(), inner, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_the_pieces_make_what_json_dumps_makes(value: object) -> None:
    """The pieces joined are json.dumps(value, ensure_ascii=False), whatever the nesting."""
    assert "".join(line_pieces(value)) == json.dumps(value, ensure_ascii=False)


def test_a_long_list_is_given_out_an_item_at_a_time() -> None:
    """A long list in a record comes out in pieces of one item each, never whole."""
    record = {"changes": [{"text": "前橋市 " + str(i)} for i in range(1_000)]}
    pieces = list(line_pieces(record))
    assert len(pieces) > 1_000
    assert max(map(len, pieces)) < 40
