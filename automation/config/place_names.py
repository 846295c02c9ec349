"""Warnings for municipality names that are not in the national local-government code list.

A name missing from the list is most often a typo (前僑市 for 前橋市): every row of that
municipality would then be reported as unknown in each run. It is a warning, not an error,
because a site may list places that are not local governments (an area, 県全域).
"""

from __future__ import annotations

from automation import local_governments as lg
from automation.config.models import AppConfig, DamageRollupFlow
from automation.config.positions import ConfigProblem, Positions


def place_name_warnings(config: AppConfig, positions: Positions) -> list[ConfigProblem]:
    """One warning per configured municipality that the national list does not know."""
    warnings = []
    for index, flow in enumerate(config.flows):
        if not isinstance(flow, DamageRollupFlow) or not flow.params.municipalities:
            continue
        names = list(flow.params.municipalities)
        prefecture = lg.likely_prefecture(names)
        for i, name in enumerate(names):
            if lg.find(name):
                continue
            loc = ("flows", index, "params", "municipalities", i)
            warnings.append(positions.problem(loc, _message(name, prefecture)))
    return warnings


def _message(name: str, prefecture: str | None) -> str:
    close = lg.similar(name, prefecture)
    close = [e for e in close if e.prefecture == prefecture] or close[:1]
    hint = (
        "did you mean "
        + " or ".join(f"{e.name} ({e.prefecture}, {e.code})" for e in close)
        + "? Fix the name, or keep it if the workbooks use it for a place that is not a "
        "municipality"
        if close
        else "check the spelling against the workbooks; keep it only if it is a place that "
        "is not a municipality"
    )
    return (
        f"warning: {name!r} is not a municipality in the national local-government code list "
        f"(全国地方公共団体コード); {hint}"
    )
