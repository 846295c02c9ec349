"""A changed cell as a recipe keeps it (pickled for the owed workbook and its helper)."""

from __future__ import annotations

import copyreg
import io
import pickle
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from automation.damage.totals import CellChange

changes = st.builds(
    CellChange,
    st.text(max_size=5),
    st.none() | st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.none() | st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.sampled_from(["", "未確認", "読めず"]),
    st.sampled_from(["", "未確認", "読めず"]),
    st.lists(st.text(max_size=4), max_size=3).map(tuple),
)


@settings(deadline=None)
@given(changes)
def test_a_pickled_cell_change_comes_back_equal_field_for_field(change: CellChange) -> None:
    """Pickled and loaded, a CellChange equals the original in every field."""
    assert pickle.loads(pickle.dumps(change, pickle.HIGHEST_PROTOCOL)) == change


class _AsBefore(pickle.Pickler):
    """Pickles a CellChange as the dataclass's own state, as recipes stored before were."""

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is CellChange:
            return copyreg.__newobj__, (CellChange,), obj.__getstate__()  # type: ignore[attr-defined]  # the dataclass's
        return NotImplemented


def test_a_cell_change_pickled_as_before_still_loads() -> None:
    """A recipe stored before CellChange pickled as its fields loads to the same change."""
    change = CellChange("前橋市", Decimal("1"), Decimal("3"), "", "", ("危機管理課",))
    buffer = io.BytesIO()
    _AsBefore(buffer, pickle.HIGHEST_PROTOCOL).dump([change])
    assert buffer.getvalue() != pickle.dumps([change], pickle.HIGHEST_PROTOCOL)  # the old form
    assert pickle.loads(buffer.getvalue()) == [change]
