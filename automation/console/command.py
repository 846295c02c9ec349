"""``automation console``: serve the console alone against a state database (read-only:
no operator actions); add or replace a local account (``user add NAME``, which ends the
account's sessions); end one account's sessions (``user signout NAME``) or everyone's
(``signout all``)."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from automation.console.accounts import ROLES, hash_password
from automation.console.text import MAX_NAME, audit_text
from automation.errors import ConfigError
from automation.timeutil import JST

if TYPE_CHECKING:  # every command builds this parser: the state store loads only when used
    from automation.config.loader import LoadedConfig
    from automation.state import Store

SECRET_KEY = "console.session_secret"
MIN_PASSWORD = 12


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``automation console``."""
    parser.add_argument(
        "action",
        nargs="*",
        help="nothing to serve; 'user add NAME' to add or replace an account; "
        "'user signout NAME' or 'signout all' to end sessions",
    )
    parser.add_argument("-c", "--config", type=Path, required=True, help="configuration YAML")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument(
        "--role",
        choices=ROLES,
        default="viewer",
        help="role of the account added or replaced (default viewer)",
    )
    parser.add_argument(
        "--insecure-cookies",
        action="store_true",
        help="send the session cookie over plain http (drills on localhost only)",
    )


def run(args: argparse.Namespace) -> int:
    """Dispatch ``automation console``."""
    from automation.configuration import load_config  # noqa: PLC0415

    loaded = load_config(args.config)
    state_path = loaded.state_target  # the file, or state.url (a pair's PostgreSQL)
    if args.action[:2] == ["user", "add"] and len(args.action) == 3:
        return _add_user(state_path, args.action[2], args.role)
    if args.action[:2] == ["user", "signout"] and len(args.action) == 3:
        return _sign_out(state_path, args.action[2])
    if args.action == ["signout", "all"]:
        return _sign_out(state_path, None)
    if args.action:
        raise ConfigError(
            f"unknown console action {' '.join(args.action)!r}; expected nothing (serve), "
            "'user add NAME', 'user signout NAME' or 'signout all'"
        )
    return _serve(state_path, args, loaded)


def _add_user(state_path: Path | str, name: str, role: str) -> int:
    import getpass  # noqa: PLC0415  # only this action asks for a password

    from automation.console import revocation  # noqa: PLC0415  # it loads the state store
    from automation.state import Store  # noqa: PLC0415

    _check_name(name)
    password = os.environ.get("AUTOMATION_CONSOLE_PASSWORD") or getpass.getpass("パスワード: ")
    if len(password) < MIN_PASSWORD:
        raise ConfigError(
            f"the password has {len(password)} characters, at least {MIN_PASSWORD} are needed; "
            "choose a longer one"
        )
    now = datetime.now(JST)
    with Store(state_path) as store:
        store.save_user(name, hash_password(password), role, now)
        revocation.revoke(store, revocation.local_account(name), now)
    print(f"console account {name} ({role}) saved; its earlier sessions are signed out")
    return 0


def _check_name(name: str) -> None:
    """A local account's name: 1 to 128 characters, none of them a control character."""
    if not 1 <= len(name) <= MAX_NAME or audit_text(name, MAX_NAME) != name:
        raise ConfigError(
            f"the account name {audit_text(name, 40)!r} has {len(name)} characters or "
            f"control characters; use 1 to {MAX_NAME} characters without control characters"
        )


def _sign_out(state_path: Path | str, name: str | None) -> int:
    """End the sessions of one local account, or (``None``) of every account."""
    from automation.console import revocation  # noqa: PLC0415  # it loads the state store
    from automation.state import Store  # noqa: PLC0415

    now = datetime.now(JST)
    with Store(state_path) as store:
        if name is None:
            revocation.revoke_all(store, now)
        else:
            revocation.revoke(store, revocation.local_account(name), now)
    print("every console session is signed out" if name is None else f"{name} is signed out")
    return 0


def session_secret(store: Store) -> bytes:
    """The key that signs session cookies, kept in the state database (created once)."""
    stored = store.lookup(SECRET_KEY)
    if stored is None:
        stored = secrets.token_hex(32)
        store.remember(SECRET_KEY, stored, datetime.now(JST))
    return bytes.fromhex(stored)


def _serve(state_path: Path | str, args: argparse.Namespace, loaded: LoadedConfig) -> int:
    import uvicorn  # noqa: PLC0415  # only this command needs the server

    from automation.console.app import ConsoleSettings, create_app  # noqa: PLC0415
    from automation.console.oidc import entra_of  # noqa: PLC0415
    from automation.console.reports import artefacts_folder, schedules  # noqa: PLC0415
    from automation.state import Store  # noqa: PLC0415

    if isinstance(state_path, Path) and not state_path.is_file():
        print(
            f"no state database at {state_path.name} yet; the console shows an error page "
            "until a flow has run",
            file=sys.stderr,
        )
        secret = secrets.token_bytes(32)
    else:
        with Store(state_path) as store:
            secret = session_secret(store)

    def clock() -> datetime:
        return datetime.now(JST)

    flows = schedules(loaded)
    settings = ConsoleSettings(
        state_path=state_path,
        secret=secret,
        clock=clock,
        secure_cookies=not args.insecure_cookies,
        artefacts=artefacts_folder(loaded),
        entra=entra_of(loaded.config.console, clock),
        flows=lambda: flows,
    )
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")
    return 0
