"""Specs for YAML aliases in configuration files: small repeats work, bombs are refused.

A nested alias expansion ("billion laughs") is refused at the alias that goes past the
budget, with FILE:LINE:COL and the fix, before anything walks the data; how long that takes
is measured in bench/alias_bomb.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from automation.config.loader import ConfigValidationError, load_config
from automation.config.yaml_aliases import ALIAS_BUDGET

CONFIG = """\
version: 1
directory:
  departments:
    - name: 危機管理課
      sheet: 危機管理課
      contacts: &team [{channel: mail, address: bousai@example.jp}]
flows:
  - id: damage
    kind: damage_rollup
    params:
      disaster: 台風
      workbook: book.xlsx
      report_to: *team
"""


def bomb(levels: int, width: int = 10) -> str:
    """A configuration whose last line expands to width**levels values."""
    lines = ["version: 1", "l0: &l0 [" + ", ".join(['"lol"'] * width) + "]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    lines.append(f"flows: *l{levels - 1}")
    return "\n".join(lines) + "\n"


def problems(path: Path) -> list[str]:
    """What loading ``path`` reports."""
    with pytest.raises(ConfigValidationError) as raised:
        load_config(path, environ={})
    return [str(p) for p in raised.value.problems]


def test_a_small_alias_is_an_ordinary_repeat(tmp_path: Path) -> None:
    """An anchor reused once (the same contacts twice) loads as if written out."""
    path = tmp_path / "automation.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    loaded = load_config(path, environ={})
    (flow,) = loaded.config.flows
    assert [c.address for c in flow.params.report_to] == ["bousai@example.jp"]


def test_a_nested_alias_bomb_is_refused_where_it_goes_past_the_budget(tmp_path: Path) -> None:
    """Ten levels of ten aliases: refused at the first alias past the budget, with the fix."""
    path = tmp_path / "automation.yaml"
    path.write_text(bomb(10), encoding="utf-8")
    assert problems(path) == [
        f"{path}:5:45: the alias *l2 stands for 1,111 values, and with the aliases before it "
        f"the file expands to more than {ALIAS_BUDGET:,} values through aliases (nested "
        "anchors, a 'billion laughs'); a configuration needs far fewer: write the repeated "
        "values out, or use aliases only for small repeated parts"
    ]


def test_a_bomb_of_a_trillion_trillion_values_is_refused_all_the_same(tmp_path: Path) -> None:
    """Thirty levels (10**30 values) are refused as fast: nothing is ever expanded."""
    path = tmp_path / "automation.yaml"
    path.write_text(bomb(30), encoding="utf-8")
    assert "expands to more than" in problems(path)[0]


def test_a_bomb_in_the_directory_file_is_refused_too(tmp_path: Path) -> None:
    """The directory file is read the same way, with its own file name in the problem."""
    (tmp_path / "directory.yaml").write_text(
        bomb(10).replace("version: 1", "departments: []"), encoding="utf-8"
    )
    path = tmp_path / "automation.yaml"
    path.write_text(CONFIG.replace("directory:\n", "directory: directory.yaml\nx:\n"), "utf-8")
    assert any(p.startswith(f"{tmp_path / 'directory.yaml'}:5:45:") for p in problems(path))


def test_an_alias_inside_the_value_it_repeats_is_refused(tmp_path: Path) -> None:
    """A value that contains itself is a loop: refused at the alias, never walked."""
    path = tmp_path / "automation.yaml"
    path.write_text("version: 1\nflows: &loop [1, *loop]\n", encoding="utf-8")
    assert problems(path) == [
        f"{path}:2:18: the alias *loop is inside the value &loop it repeats, so the value "
        "would contain itself without end; repeat a value only after it is complete"
    ]
