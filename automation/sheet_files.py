"""Composed 読取_ sheets kept on disk between processes (the per-user cache folder
``composed``, :func:`automation.user_cache.user_cache_dir`), so that a run started by cron or
Task Scheduler, or a daemon just started (after a restart, or as the standby that took
over), composes only the departments whose reading changed since a build on this host, as
a daemon's builds do from memory (``KeptSheets`` in :mod:`automation.merged_workbook`).

A file holds one sheet's bytes as the caller made them, behind a header and a digest of
those bytes: a file cut short or altered reads as missing (and is removed), so the worst a
damaged file costs is composing that sheet again. Files are written whole under a temporary
name and renamed, owner-only (0600). The folder is held to ``limit`` bytes: once more than a
quarter of it was written since the last look, the files used longest ago are removed
(reading a file marks it used). The caller folds everything that decides a sheet's bytes
into its name (the key), the code that composes it included.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from pathlib import Path

log = logging.getLogger(__name__)

MAGIC = b"m365-automation composed sheet 1\n"
DIGEST_BYTES = 32
SHEET_FILES_LIMIT = 256 * 1024 * 1024  # bytes of files in the folder, at most (then trimmed)


class SheetFiles:
    """Sheets' bytes by name in ``folder``, at most about ``limit`` bytes in all."""

    def __init__(self, folder: Path, limit: int = SHEET_FILES_LIMIT) -> None:
        self.folder = folder
        self.limit = limit
        self._unchecked = limit  # bytes written since the folder's size was last looked at

    def read(self, name: str) -> bytes | None:
        """The bytes kept under ``name``; None when there are none, or they are damaged
        (then the file is removed)."""
        path = self.folder / name
        try:
            data = path.read_bytes()
        except OSError:
            return None
        start = len(MAGIC) + DIGEST_BYTES
        payload = memoryview(data)[start:]
        if data[: len(MAGIC)] != MAGIC or data[len(MAGIC) : start] != _digest(payload):
            log.debug("composed sheet %s damaged: removed", name)
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # used: removed last
        return bytes(payload)

    def holds(self, name: str) -> bool:
        """Whether a file is kept under ``name`` (not read: it may still be damaged)."""
        return (self.folder / name).is_file()

    def write(self, name: str, payload: bytes) -> None:
        """Keep ``payload`` under ``name`` (a write that fails is only logged: the sheet is
        composed again when next wanted)."""
        temporary = self.folder / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as file:
                file.write(MAGIC)
                file.write(_digest(payload))
                file.write(payload)
            os.replace(temporary, self.folder / name)
        except OSError as err:
            log.debug("composed sheet %s not kept: %s", name, err)
            with contextlib.suppress(OSError):
                temporary.unlink()
            return
        self._unchecked += len(payload)
        if self._unchecked > self.limit // 4:
            self.trim()

    def trim(self) -> None:
        """Remove the files used longest ago until the folder holds at most ``limit``."""
        self._unchecked = 0
        files = []
        with contextlib.suppress(OSError), os.scandir(self.folder) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    if entry.is_file(follow_symlinks=False):
                        found = entry.stat(follow_symlinks=False)
                        files.append((found.st_mtime_ns, found.st_size, entry.path))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.limit:
                break
            with contextlib.suppress(OSError):
                os.unlink(path)
            total -= size

    def clear(self) -> None:
        """Remove every file."""
        with contextlib.suppress(OSError), os.scandir(self.folder) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _digest(payload: bytes | memoryview) -> bytes:
    return hashlib.blake2b(payload, digest_size=DIGEST_BYTES).digest()
