"""Regenerate ``automation/data/local_governments.tsv``, the national local-government code
list (全国地方公共団体コード) the service ships: every prefecture, city, special ward, town
and village, and the wards of designated cities, each with its six-digit code (five digits
and the check digit), prefecture and name.

The source is the list the 総務省 publishes (「全国地方公共団体コード」, 都道府県コード及び
市区町村コード), as packaged in the ``japancode`` wheel on PyPI (MIT licence; its
``japancode/data/municipalities.json`` and ``prefectures.json``). Changes the 総務省 made
after that wheel's data are applied from ``CORRECTIONS`` below; add to it when the list
changes (a merger, a new ward), then run:

    pip download --no-deps japancode==0.1.0 -d /tmp/japancode
    python tools/local_governments.py /tmp/japancode/japancode-0.1.0-py3-none-any.whl

Every code's check digit is verified, and so are the counts the 総務省 list has (47
prefectures, 792 cities, 23 special wards, 743 towns, 183 villages); the script refuses
to write a file that fails either.
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "automation" / "data" / "local_governments.tsv"
EXPECTED = {"prefecture": 47, "city": 792, "special_ward": 23, "town": 743, "village": 183}

# (code without check digit, name or None to drop) for changes after the source's data:
# 浜松市 reorganised its seven wards into three on 2024-01-01 (中央区, 浜名区, 天竜区).
CORRECTIONS: tuple[tuple[str, str | None], ...] = (
    ("22131", None),
    ("22132", None),
    ("22133", None),
    ("22134", None),
    ("22135", None),
    ("22136", None),
    ("22138", "浜松市中央区"),
    ("22139", "浜松市浜名区"),
)


def check_digit(code5: str) -> int:
    """The check digit of a five-digit local-government code (総務省's modulus-11 rule)."""
    total = sum(int(digit) * weight for digit, weight in zip(code5, (6, 5, 4, 3, 2), strict=True))
    return (11 - total % 11) % 10


def kind_of(code5: str, name: str) -> str:
    """prefecture, city, special_ward (東京都の特別区), ward (of a designated city), town, village."""
    if code5.endswith("000"):
        return "prefecture"
    if code5.startswith("131") and name.endswith("区"):
        return "special_ward"
    if name.endswith("区"):
        return "ward"
    return {"市": "city", "町": "town", "村": "village"}[name[-1]]


def read_source(wheel: Path) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The prefectures and municipalities of the japancode wheel (or an unpacked folder)."""
    if wheel.is_dir():
        data = wheel / "japancode" / "data"
        return (
            json.loads((data / "prefectures.json").read_text(encoding="utf-8")),
            json.loads((data / "municipalities.json").read_text(encoding="utf-8")),
        )
    with zipfile.ZipFile(wheel) as archive:
        return (
            json.loads(archive.read("japancode/data/prefectures.json")),
            json.loads(archive.read("japancode/data/municipalities.json")),
        )


def rows(prefectures: list[dict[str, str]], municipalities: list[dict[str, str]]) -> list[str]:
    """The file's lines: code, prefecture, name, kind (sorted by code)."""
    by_code: dict[str, tuple[str, str]] = {}
    for pref in prefectures:
        by_code[pref["lgcode"].zfill(6)[:5]] = (pref["pref"], pref["pref"])
    for city in municipalities:
        by_code[city["lgcode"].zfill(6)[:5]] = (city["pref"], city["city"].replace(" ", ""))
    for code5, name in CORRECTIONS:
        if name is None:
            by_code.pop(code5, None)
        else:
            by_code[code5] = (by_code[code5[:2] + "000"][0], name)
    lines = []
    for code5, (prefecture, name) in sorted(by_code.items()):
        lines.append(f"{code5}{check_digit(code5)}\t{prefecture}\t{name}\t{kind_of(code5, name)}")
    return lines


def verify(lines: list[str], source: list[dict[str, str]]) -> list[str]:
    """Problems: a source code whose check digit is wrong, counts unlike the 総務省 list."""
    problems = [
        f"{c['lgcode']} {c['city']}: check digit should be {check_digit(c['lgcode'].zfill(6)[:5])}"
        for c in source
        if int(c["lgcode"].zfill(6)[5]) != check_digit(c["lgcode"].zfill(6)[:5])
    ]
    counts: dict[str, int] = {}
    for line in lines:
        kind = line.rsplit("\t", 1)[1]
        counts[kind] = counts.get(kind, 0) + 1
    problems += [
        f"{kind}: {counts.get(kind, 0)} in the list, {n} expected"
        for kind, n in EXPECTED.items()
        if counts.get(kind, 0) != n
    ]
    return problems


def main() -> int:
    """Read the source, verify, write the data file."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("source", type=Path, help="japancode wheel, or its unpacked folder")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    prefectures, municipalities = read_source(args.source)
    lines = rows(prefectures, municipalities)
    problems = verify(lines, municipalities)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    header = (
        "# 全国地方公共団体コード (総務省): code with check digit, prefecture, name, kind\n"
        "# regenerate with tools/local_governments.py\n"
    )
    args.out.write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
    print(f"{args.out}: {len(lines)} local governments")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
