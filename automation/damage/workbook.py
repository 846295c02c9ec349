"""Parse workbook bytes into plain grids of cell values (pure; no file or network I/O).

python-calamine does the parsing: it reads cached cell values (formulas are never
evaluated), is an order of magnitude faster than openpyxl for reading, and reports merged
ranges, which header detection needs.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from functools import cached_property

from automation.errors import DataError

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ENCRYPTED_MARK = "EncryptionInfo".encode("utf-16-le")
UNZIP_RATIO_LIMIT = 100  # uncompressed/compressed above this is treated as a zip bomb


@dataclass(frozen=True, slots=True)
class Merge:
    """A merged range, 0-based inclusive coordinates."""

    top: int
    left: int
    bottom: int
    right: int


@dataclass(frozen=True)
class Sheet:
    """One worksheet as a grid of values; ``rows[0][0]`` is cell (``top``, ``left``)."""

    name: str
    rows: tuple[tuple[object, ...], ...]
    top: int = 0
    left: int = 0
    merges: tuple[Merge, ...] = ()
    _merge_index: dict[tuple[int, int], Merge] = field(
        default_factory=dict, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        for merge in self.merges:
            for r in range(merge.top, merge.bottom + 1):
                for c in range(merge.left, merge.right + 1):
                    self._merge_index[(r, c)] = merge

    @property
    def bottom(self) -> int:
        """One past the last row index."""
        return self.top + len(self.rows)

    @property
    def right(self) -> int:
        """One past the last column index."""
        return self.left + max((len(row) for row in self.rows), default=0)

    def value(self, row: int, col: int) -> object:
        """The value at absolute 0-based (row, col), or None."""
        r, c = row - self.top, col - self.left
        if 0 <= r < len(self.rows) and 0 <= c < len(self.rows[r]):
            return self.rows[r][c]
        return None

    def row(self, row: int) -> tuple[object, ...]:
        """The values of a row indexed by absolute column (padded on the left), or ()."""
        r = row - self.top
        if not 0 <= r < len(self.rows):
            return ()
        return (None,) * self.left + self.rows[r] if self.left else self.rows[r]

    def merged_value(self, row: int, col: int) -> object:
        """The value shown at (row, col): a merged range shows its top-left value."""
        merge = self._merge_index.get((row, col))
        if merge is None:
            return self.value(row, col)
        return self.value(merge.top, merge.left)

    def merge_at(self, row: int, col: int) -> Merge | None:
        """The merged range covering (row, col), if any."""
        return self._merge_index.get((row, col))

    @cached_property
    def fingerprint(self) -> str:
        """A digest of every value in the sheet: equal digests mean equal content."""
        digest = hashlib.blake2b(digest_size=16)
        digest.update(repr((self.top, self.left, self.rows)).encode())
        return digest.hexdigest()

    @property
    def has_values(self) -> bool:
        """Whether any cell holds a value."""
        return any(v is not None for row in self.rows for v in row)


@dataclass(frozen=True)
class Workbook:
    """All worksheets of one workbook, by name."""

    name: str
    sheets: dict[str, Sheet]


def address(row: int, col: int) -> str:
    """Excel address of a 0-based (row, col): ``address(2, 1) == "B3"``."""
    letters = ""
    n = col + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return f"{letters}{row + 1}"


def parse_workbook(data: bytes, name: str, *, max_bytes: int) -> Workbook:
    """Parse .xlsx bytes; raise DataError naming the file and the fix when it cannot."""
    if len(data) > max_bytes:
        raise DataError(
            f"{name}: ファイルサイズ {len(data) / 1e6:.1f} MB が上限 {max_bytes / 1e6:.1f} MB を"
            "超えています。不要なシートや画像を削除して保存し直すか、管理者に上限"
            "（max_workbook_mb）の変更を依頼してください。"
        )
    if data.startswith(OLE_MAGIC) and ENCRYPTED_MARK in data:
        raise DataError(
            f"{name}: パスワードで保護（暗号化）されているため読めません。"
            "Excel の［ファイル］→［情報］→［ブックの保護］でパスワードを解除して保存してください。"
        )
    if data.startswith(b"PK"):
        _check_zip(data, name)
    from python_calamine import CalamineError, CalamineWorkbook, PasswordError  # noqa: PLC0415

    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheets = {sheet_name: _sheet(book, sheet_name) for sheet_name in book.sheet_names}
    except PasswordError as err:
        raise DataError(
            f"{name}: パスワードで保護されているため読めません。パスワードを解除して保存してください。"
        ) from err
    except (CalamineError, ValueError, OSError) as err:
        raise DataError(
            f"{name}: Excel ファイルとして読めません（壊れているか、.xlsx ではありません: {err}）。"
            "Excel で開けるか確認し、［名前を付けて保存］で .xlsx 形式にしてください。"
        ) from err
    return Workbook(name, sheets)


def _check_zip(data: bytes, name: str) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile as err:
        raise DataError(
            f"{name}: ファイルが壊れています（{err}）。Excel で開けるか確認し、保存し直してください。"
        ) from err
    if unpacked > len(data) * UNZIP_RATIO_LIMIT and unpacked > 50_000_000:
        raise DataError(
            f"{name}: 展開後のサイズ（{unpacked / 1e6:.0f} MB）が異常に大きいため読み込みを中止しました。"
            "ファイルの内容を確認してください。"
        )


def _sheet(book: object, sheet_name: str) -> Sheet:
    raw = book.get_sheet_by_name(sheet_name)  # type: ignore[attr-defined]  # untyped library
    start = raw.start or (0, 0)
    rows = tuple(tuple(None if v == "" else v for v in row) for row in raw.to_python())
    merges = tuple(
        Merge(top, left, bottom, right)
        for (top, left), (bottom, right) in (raw.merged_cell_ranges or ())
    )
    return Sheet(sheet_name, rows, start[0], start[1], merges)
