"""Server-side revocation of console sessions.

Session cookies are signed, so the server keeps no list of them; instead each account has a
session generation in the state database (lookups), and all accounts share an epoch. A
cookie carries both as they were when it was issued and is honoured only while they are
unchanged. Signing out, replacing a local account's password or role, or
``automation console user signout NAME`` bumps the account's generation (its sessions end
on every browser); ``automation console signout all`` or 全員をサインアウト on 運用 bumps
the epoch (everyone's sessions end).
"""

from __future__ import annotations

from datetime import datetime

from automation.state import Store

EPOCH = "console.sessions.epoch"
ACCOUNT = "console.sessions.generation:"


def local_account(name: str) -> str:
    """The account key of a local account."""
    return f"local:{name}"


def entra_account(object_id: str) -> str:
    """The account key of an Entra ID user (their object id, which never changes)."""
    return f"entra:{object_id.lower()}"


def generation(store: Store, account: str) -> str:
    """The current session generation of ``account``: ``EPOCH.ACCOUNT-GENERATION``."""
    return f"{_count(store, EPOCH)}.{_count(store, ACCOUNT + account)}"


def revoke(store: Store, account: str, now: datetime) -> None:
    """End every session of ``account``."""
    _bump(store, ACCOUNT + account, now)


def revoke_all(store: Store, now: datetime) -> None:
    """End every session of every account."""
    _bump(store, EPOCH, now)


def _count(store: Store, key: str) -> int:
    stored = store.lookup(key)
    return int(stored) if stored is not None and stored.isdigit() else 0


def _bump(store: Store, key: str, now: datetime) -> None:
    store.remember(key, str(_count(store, key) + 1), now)
