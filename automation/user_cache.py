"""The per-user cache folders (``$XDG_CACHE_HOME/m365-automation/KIND``, by default
``~/.cache/m365-automation/KIND``): what one process made that a later one may take instead
of making it again (compiled templates, composed 読取_ sheets). Code or pickles are loaded
from them, so a folder is used only when it is private to the user; without one, every
process makes what it needs itself, with the same result."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)


def user_cache_dir(kind: str, environ: Mapping[str, str] | None = None) -> Path | None:
    """The per-user folder of ``kind``, created owner-only (0700) when missing; None when it
    cannot be (no home, a read-only file system) or is not private to the user (another
    owner, or writable by others: what is loaded from it runs as this user)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or ""
    if not os.path.isabs(base):  # the XDG spec: a relative value is ignored
        home = env.get("HOME") or os.path.expanduser("~")
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    folder = Path(base) / "m365-automation" / kind
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        found = os.lstat(folder)
    except OSError as err:
        log.debug("no %s cache at %s: %s", kind, folder, err)
        return None
    private = stat.S_ISDIR(found.st_mode) and not found.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if found.st_uid != os.getuid() or not private:
        log.debug("no %s cache at %s: not private to this user", kind, folder)
        return None
    return folder
