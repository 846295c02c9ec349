"""The ``automation`` command line.

Commands that do not talk to Microsoft Graph never import msgraph (it costs seconds).

Exit codes (``automation run``; the other commands use 0, 1 and 2 alike):

- 0: success (``ok``, or ``unchanged``: nothing new to report); every queued message went out;
- 1: the run failed (bad data, auth, a transient fault): nothing was recorded or sent;
- 2: configuration or usage error;
- 3: ``undelivered``: the run was recorded but none of its messages could be delivered;
- 4: ``partial``: the run was recorded and some of its messages could not be delivered.

With 3 and 4 the messages stay queued in the outbox, which retries them (``automation
outbox`` shows why each failed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from automation.errors import AutomationError, ConfigError
from automation.memory import exit_without_teardown, freeze_at_exit, start_up_collector
from automation.timeutil import JST, parse_now

if TYPE_CHECKING:
    from automation.config.loader import LoadedConfig
    from automation.state import Store

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2  # the codes of a run's statuses are in automation.outcome
EXIT_PIPE = 141  # the reader of stdout left (| head): 128 + SIGPIPE, as a shell reports it


Define = Callable[[argparse.ArgumentParser], None]


def _parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command line. Every command is listed with its help, but only the one ``argv``
    names gets its options (building all of them, the console's with its imports, took
    ~10 ms of every command's start); without a known command first, all get theirs, so
    ``--help`` and argparse's errors read as ever."""
    parser = argparse.ArgumentParser(
        prog="automation",
        description="Microsoft 365 workflow automation for disaster reports and DX progress.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    words = sys.argv[1:] if argv is None else argv
    named = words[0] if words and words[0] in _COMMANDS else None
    for name, (help_text, define) in _COMMANDS.items():
        command = sub.add_parser(name, help=help_text)
        if named in (None, name):
            define(command)
    return parser


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", type=Path, required=True, help="configuration YAML")


def _validate_options(validate: argparse.ArgumentParser) -> None:
    _config_option(validate)
    validate.add_argument(
        "--check-inputs",
        action="store_true",
        help="also open every workbook and list the flows read (Graph: doctor's read-only probes)",
    )


def _no_options(parser: argparse.ArgumentParser) -> None:
    """schema: nothing to choose."""


def _run_options(run: argparse.ArgumentParser) -> None:
    run.add_argument("flow", help="flow id from the configuration")
    _config_option(run)
    run.add_argument("--now", help="the time to run as (ISO 8601; default: the current time, JST)")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="render and show everything; record and deliver nothing",
    )
    run.add_argument("--json", action="store_true", help="print the run record as JSON")
    run.add_argument("--show", action="store_true", help="also print every rendered message")
    run.add_argument(
        "--summary", action="store_true", help="progress flows: send the HQ summary now (on demand)"
    )


def _history_options(history: argparse.ArgumentParser) -> None:
    _config_option(history)
    history.add_argument("--flow", help="only this flow")
    history.add_argument("--incident", help="only the runs of the incident of this name")
    history.add_argument("--limit", type=int, default=20, help="how many runs (default 20)")
    history.add_argument("--json", action="store_true", help="print the run records as JSON")


def _outbox_options(outbox: argparse.ArgumentParser) -> None:
    _config_option(outbox)
    outbox.add_argument("--flow", help="only this flow")
    outbox.add_argument(
        "--status",
        action="append",
        choices=["pending", "sending", "sent", "failed", "uncertain", "dead"],
        help="filter (repeatable)",
    )
    outbox.add_argument(
        "--retry", metavar="KEY", help="queue a failed or dead message again and deliver it now"
    )


def _serve_options(serve: argparse.ArgumentParser) -> None:
    _config_option(serve)
    serve.add_argument(
        "--health-port", type=int, help="serve /healthz and /metrics on this port (off)"
    )
    serve.add_argument(
        "--health-host", default="127.0.0.1", help="address for --health-port (default 127.0.0.1)"
    )
    serve.add_argument("--ui-port", type=int, help="serve the web console on this port (off)")
    serve.add_argument(
        "--ui-host", default="127.0.0.1", help="address for --ui-port (default 127.0.0.1)"
    )
    serve.add_argument(
        "--insecure-cookies",
        action="store_true",
        help="console session cookie over plain http (drills on localhost only)",
    )


def _doctor_options(doctor: argparse.ArgumentParser) -> None:
    _config_option(doctor)
    doctor.add_argument(
        "--send-test",
        metavar="ADDRESS",
        help="also send one test mail to ADDRESS (Mail.Send cannot be checked otherwise)",
    )
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")


def _state_options(state: argparse.ArgumentParser) -> None:
    state_what = state.add_subparsers(dest="state", required=True)
    migrate = state_what.add_parser(
        "migrate", help="copy the whole state into an empty database (e.g. SQLite -> PostgreSQL)"
    )
    migrate.add_argument(
        "--from", dest="source", required=True, help="sqlite:///path, a file, or a database URL"
    )
    migrate.add_argument(
        "--to",
        dest="target",
        required=True,
        help="postgresql+psycopg://user:${PGPASSWORD}@host/db (quote it; ${VAR} is expanded)",
    )


def _console_options(console: argparse.ArgumentParser) -> None:
    from automation.console.command import add_arguments  # noqa: PLC0415  # console only

    add_arguments(console)


def _demo_options(demo: argparse.ArgumentParser) -> None:
    demo.add_argument(
        "--workspace",
        type=Path,
        default=Path("demo-workspace"),
        help="folder to (re)create (default: ./demo-workspace)",
    )


def _provision_options(provision: argparse.ArgumentParser) -> None:
    """provision: build the inputs departments fill in, from the configuration."""
    what = provision.add_subparsers(dest="provision", required=True)
    workbook = what.add_parser(
        "workbook", help="the shared damage workbook: instructions, one sheet per department"
    )
    _config_option(workbook)
    workbook.add_argument("--flow", required=True, help="id of the damage_rollup flow")
    workbook.add_argument(
        "--output", type=Path, help="write here (default: the workbook's name in this folder)"
    )
    workbook.add_argument(
        "--upload",
        action="store_true",
        help="create it where params.workbook says (local: the workbook folder; graph: the tenant)",
    )
    workbook.add_argument(
        "--replace",
        action="store_true",
        help="replace an existing workbook, keeping the old one as an archived copy",
    )
    workbook.add_argument(
        "--dry-run", action="store_true", help="print what would be created; create nothing"
    )
    listing = what.add_parser(
        "list", help="the progress flow's list: create it, or compare an existing one"
    )
    _config_option(listing)
    listing.add_argument("--flow", required=True, help="id of the progress_collection flow")
    listing.add_argument(
        "--apply", action="store_true", help="add the columns and choices an existing list lacks"
    )
    listing.add_argument(
        "--dry-run", action="store_true", help="print what would be created; create nothing"
    )


def _incident_options(incident: argparse.ArgumentParser) -> None:
    """incident: open and close a damage flow's incidents, each with its own workbook."""
    what = incident.add_subparsers(dest="incident", required=True)
    opening = what.add_parser(
        "open", help="create the incident's workbook, announce it, report from 第1報"
    )
    _config_option(opening)
    opening.add_argument("--flow", required=True, help="id of the damage_rollup flow")
    opening.add_argument("--name", required=True, help="the incident, e.g. 令和8年台風第10号")
    opening.add_argument(
        "--dry-run", action="store_true", help="print what would be created and sent; do nothing"
    )
    closing = what.add_parser(
        "close", help="issue the final report (最終報), archive the workbook, stop reminders"
    )
    _config_option(closing)
    closing.add_argument("--flow", required=True, help="id of the damage_rollup flow")
    closing.add_argument(
        "--dry-run", action="store_true", help="print what would be done; do nothing"
    )
    listing = what.add_parser("list", help="the incidents, open and closed, with their reports")
    _config_option(listing)
    listing.add_argument("--flow", help="only this flow")
    listing.add_argument("--json", action="store_true", help="print them as JSON")


# Every command, in the order --help lists them: its help and what defines its options.
_COMMANDS: dict[str, tuple[str, Define]] = {
    "validate": ("check a configuration file and exit", _validate_options),
    "schema": ("print the JSON Schema of the configuration (for editors)", _no_options),
    "run": ("run one flow once", _run_options),
    "history": ("recent runs with status, report number and deliveries", _history_options),
    "outbox": ("list queued messages; retry a failed or dead one", _outbox_options),
    "serve": ("run the scheduled flows as a daemon (headless)", _serve_options),
    "login": (
        "sign the Teams service account in once (device code) for channel posts",
        _config_option,
    ),
    "doctor": (
        "check a Graph set-up (token, permissions, sign-in, clock) and each damage "
        "workbook against what provision builds; read-only unless --send-test",
        _doctor_options,
    ),
    "state": ("state database tools: migrate to another database", _state_options),
    "console": (
        "serve the web console read-only; 'user add NAME', 'user signout NAME' or "
        "'signout all' to manage local accounts and sessions",
        _console_options,
    ),
    "demo": ("generate a demo workspace and run two report rounds", _demo_options),
    "provision": (
        "build the departments' damage workbook or the progress list from the configuration",
        _provision_options,
    ),
    "incident": (
        "open, close or list the incidents of a damage flow (each its own workbook, from 第1報)",
        _incident_options,
    ),
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``automation`` console script."""
    # pydantic looks for plugins by scanning every installed package's entry points when the
    # first model is built (~30 ms of each command's start); the service uses none. Set
    # PYDANTIC_DISABLE_PLUGINS yourself (e.g. to "") to have them loaded.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    freeze_at_exit()  # the exit does not walk what the command built
    with start_up_collector():  # nor does the start-up: all of it lives until the exit
        args = _parser(argv).parse_args(argv)
    try:
        code = _command(args)
        sys.stdout.flush()  # a reader that left (| head) is met here, not at the exit
        return code
    except BrokenPipeError:
        # Nobody reads any more: end as a filter does, quietly, with what SIGPIPE would give,
        # and point stdout at /dev/null so the exit's own flush does not complain.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PIPE
    except ConfigError as err:
        print(_scrub(err.message), file=sys.stderr)
        return EXIT_CONFIG
    except AutomationError as err:
        print(f"error ({err.action}): {_scrub(err.message)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


def run_command() -> NoReturn:
    """The ``automation`` program: :func:`main` on ``sys.argv``, then an exit that leaves
    freeing the command's objects to the system (:func:`exit_without_teardown`)."""
    exit_without_teardown(main())


def _command(args: argparse.Namespace) -> int:
    """Run the command ``args`` name and return its exit code."""
    if args.command == "validate":
        return _validate(args.config, check_inputs=args.check_inputs)
    if args.command == "schema":
        return _schema()
    if args.command == "run":
        return _run(args)
    if args.command == "history":
        return _history(args)
    if args.command == "outbox":
        return _outbox(args)
    if args.command == "login":
        return _login(args.config)
    if args.command == "serve":
        return _serve(args)
    if args.command == "doctor":
        return _doctor(args)
    if args.command == "provision":
        return _provision(args)
    if args.command == "state":
        return _state_migrate(args)
    if args.command == "incident":
        return _incident(args)
    if args.command == "console":
        from automation.console.command import run as run_console  # noqa: PLC0415

        return run_console(args)
    if args.command == "demo":
        from automation.demo import run_demo  # noqa: PLC0415  # keeps other commands light

        return run_demo(args.workspace)
    return EXIT_CONFIG  # pragma: no cover - argparse requires a command


def _print_json(record: dict[str, Any], text: str | None = None) -> None:
    """``record`` as one line of JSON on stdout, scrubbed: ``text`` when the run gave it (the
    same line, as the run history stored it), else made a piece at a time. A cron job
    appending every run's record to one file gets one line per run (JSON Lines), and the
    record of a changed 60 x 2,000 run (33 MB of text) is never encoded twice or, made
    here, held whole."""
    if text is not None:
        sys.stdout.write(text)
        sys.stdout.write("\n")
        return
    from automation.jsontext import line_pieces  # noqa: PLC0415
    from automation.redaction import scrub_pieces  # noqa: PLC0415

    for piece in scrub_pieces(line_pieces(record)):
        sys.stdout.write(piece)
    sys.stdout.write("\n")


def _scrub(text: str) -> str:
    from automation.redaction import scrub  # noqa: PLC0415

    return scrub(text)


def _validate(path: Path, *, check_inputs: bool = False) -> int:
    with start_up_collector():  # modules and the configuration: nothing to collect yet
        from automation.configuration import load_config  # noqa: PLC0415

        loaded = load_config(path)
    flows = ", ".join(f"{f.id} ({f.kind})" for f in loaded.config.flows)
    print(f"{path}: OK; flows: {flows}; departments: {len(loaded.config.directory.departments)}")
    for warning in loaded.warnings:
        print(warning)
    if not check_inputs:
        return EXIT_OK
    from automation.doctor.table import format_table  # noqa: PLC0415
    from automation.inputs_check import check_inputs as inputs  # noqa: PLC0415

    rows = inputs(loaded)
    print(format_table(rows, again="automation validate --check-inputs"), end="")
    return EXIT_FAILED if any(r.result == "FAIL" for r in rows) else EXIT_OK


def _state_migrate(args: argparse.Namespace) -> int:
    from automation.state_db import safe_url  # noqa: PLC0415
    from automation.state_migrate import expand, migrate_state, target_of  # noqa: PLC0415

    source, target = target_of(expand(args.source)), target_of(expand(args.target))
    moved = migrate_state(source, target)
    rows = ", ".join(f"{n} {table}" for table, n in moved.items())
    print(f"moved {rows}")
    print(
        f"from {safe_url(str(source))} to {safe_url(str(target))}; point state.url at the new one"
    )
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    import asyncio  # noqa: PLC0415
    import signal  # noqa: PLC0415

    def stop_while_starting(signum: int, frame: object) -> None:
        raise SystemExit(EXIT_OK)  # nothing has started yet: stopping now loses nothing

    signal.signal(signal.SIGTERM, stop_while_starting)

    from automation.memory import reexec_with_system_allocator  # noqa: PLC0415

    reexec_with_system_allocator()  # a large run's memory can then be handed back
    from automation import logs  # noqa: PLC0415
    from automation.daemon import Daemon  # noqa: PLC0415  # the scheduler loads only here

    logs.setup()
    daemon = Daemon(
        args.config,
        health_port=args.health_port,
        health_host=args.health_host,
        ui_port=args.ui_port,
        ui_host=args.ui_host,
        ui_secure_cookies=not args.insecure_cookies,
    )
    return asyncio.run(daemon.serve())


def _login(path: Path) -> int:
    from automation.config.models import DeviceCodeAccount, GraphBackend  # noqa: PLC0415
    from automation.configuration import load_config  # noqa: PLC0415

    loaded = load_config(path)
    backend = loaded.config.backend
    if not isinstance(backend, GraphBackend) or not isinstance(
        backend.service_account, DeviceCodeAccount
    ):
        raise ConfigError(
            f"{path}: login signs in backend.service_account of type device_code; add "
            "service_account: {type: device_code, tenant_id: ..., client_id: ...} under a "
            "graph backend first"
        )
    from automation.backends.graph import service_account  # noqa: PLC0415

    account = backend.service_account
    state_dir = loaded.resolve(loaded.config.state.path).parent
    username = service_account.login(
        account, backend.base_url, state_dir, lambda text: print(text, flush=True)
    )
    print(
        f"Signed in as {username}. The service refreshes the sign-in silently from now on; "
        f"token cache: ~/.IdentityService/{account.cache_name}.cae (owner-only), account "
        f"record: {service_account.record_path(state_dir)}. Run login again if a run reports "
        "that the sign-in expired."
    )
    return EXIT_OK


def _doctor(args: argparse.Namespace) -> int:
    from automation.doctor import run_doctor  # noqa: PLC0415  # talks to Graph: loads it only here

    return run_doctor(args.config, send_test=args.send_test, out=sys.stdout, as_json=args.json)


def _provision(args: argparse.Namespace) -> int:
    from automation.configuration import load_config  # noqa: PLC0415
    from automation.provision import WorkbookRequest, provision_workbook  # noqa: PLC0415

    loaded = load_config(args.config)
    if args.provision == "list":
        from automation.provision import ListRequest, provision_list  # noqa: PLC0415

        return provision_list(loaded, ListRequest(args.flow, args.apply, args.dry_run))
    request = WorkbookRequest(args.flow, args.output, args.upload, args.replace, args.dry_run)
    return provision_workbook(loaded, request, datetime.now(JST))


def _incident(args: argparse.Namespace) -> int:
    from automation.configuration import load_config  # noqa: PLC0415
    from automation.incident import (  # noqa: PLC0415
        OpenRequest,
        close_incident,
        list_incidents,
        open_incident,
    )

    loaded = load_config(args.config)
    now = datetime.now(JST)
    if args.incident == "open":
        return open_incident(loaded, OpenRequest(args.flow, args.name, args.dry_run), now)
    if args.incident == "close":
        return close_incident(loaded, args.flow, now, dry_run=args.dry_run)
    return list_incidents(loaded, args.flow, as_json=args.json)


def _schema() -> int:
    from automation.config.models import AppConfig  # noqa: PLC0415

    print(json.dumps(AppConfig.model_json_schema(), ensure_ascii=False, indent=2))
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    try:
        now = parse_now(args.now) if args.now else datetime.now(JST)
    except ValueError:
        print(
            f"--now {args.now!r} is not an ISO 8601 time; use e.g. 2026-09-01T09:30+09:00",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    with start_up_collector():  # modules and the configuration: nothing to collect yet
        import asyncio  # noqa: PLC0415  # only commands that run flows pay for it

        from automation import runner, summary  # noqa: F401, PLC0415  # used by _run_and_print
        from automation.configuration import load_config  # noqa: PLC0415

        loaded = load_config(args.config)
    # Only the exit code comes back through asyncio.run: it builds the repr of whatever the
    # coroutine returns, and a run's result can be megabytes.
    return asyncio.run(_run_and_print(args, loaded, now))


async def _run_and_print(args: argparse.Namespace, loaded: LoadedConfig, now: datetime) -> int:
    from automation.runner import run_flow  # noqa: PLC0415
    from automation.summary import format_summary  # noqa: PLC0415

    result = await run_flow(loaded, args.flow, now, dry_run=args.dry_run, summary=args.summary)
    if args.json:
        _print_json(result.record, result.text)
    else:
        print(format_summary(result.record))
    if args.show:
        for message, rendered in result.rendered:
            print(
                f"\n===== {message.kind} → {message.contact.label} ({message.contact.channel}) ====="
            )
            print(f"件名: {rendered.subject}")
            print(
                rendered.text
                or rendered.html
                or json.dumps(rendered.card, ensure_ascii=False, indent=2)
            )
    return result.exit_code


def clean_terminal(text: str) -> str:
    """Text from the state database (department text in errors) made safe for a terminal."""
    from automation.summary import clean_terminal as clean  # noqa: PLC0415

    return clean(text)


def _open_store(config_path: Path) -> tuple[LoadedConfig, Store]:
    with start_up_collector():  # modules and the configuration: nothing to collect yet
        from automation.configuration import load_config  # noqa: PLC0415
        from automation.state import Store  # noqa: PLC0415

        loaded = load_config(config_path)
    target = loaded.state_target
    if isinstance(target, Path) and not target.exists():
        raise ConfigError(f"no state database at {target} yet; run a flow first")
    return loaded, Store(target)


def _to_the_second(when: str) -> str:
    """An ISO time as the history table shows it: to the second (a daemon's runs carry
    microseconds, a scheduled ``--now`` none; the column lines up either way)."""
    try:
        return datetime.fromisoformat(when).replace(microsecond=0).isoformat()
    except ValueError:
        return when


def _history(args: argparse.Namespace) -> int:
    from automation.textwidth import padded  # noqa: PLC0415

    _, store = _open_store(args.config)
    with store:
        runs = store.runs(args.flow, limit=args.limit, incident=args.incident)
    if args.json:
        print(
            json.dumps(
                [
                    {**json.loads(r["record"]), "incident": r["incident_name"]}
                    if r["record"]
                    else r
                    for r in runs
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return EXIT_OK
    print(  # 報 takes two terminal columns: " 報" fills the report number's three
        f"{'run':>5}  {'flow':<18} {'as of (now)':<25} {'status':<10}  報  {'sent':>4}  "
        f"{'secs':>5}  {'incident':<16} error"
    )
    for run in runs:
        record = json.loads(run["record"]) if run["record"] else {}
        sent = sum(1 for d in record.get("deliveries", []) if d.get("status") == "sent")
        seconds = ""
        if run["finished_at"]:
            started = datetime.fromisoformat(run["started_at"])
            seconds = (
                f"{(datetime.fromisoformat(run['finished_at']) - started).total_seconds():.1f}"
            )
        number = run["report_number"] or ""
        error = (run["error"] or "").splitlines()[0][:60] if run["error"] else ""
        incident = padded(clean_terminal(run["incident_name"] or "-"), 16)
        print(
            clean_terminal(
                f"{run['id']:>5}  {run['flow']:<18} {_to_the_second(run['now']):<25} "
                f"{run['status']:<10} {number:>3}  {sent:>4}  {seconds:>5}  {incident} {error}"
            )
        )
    return EXIT_OK


def _outbox(args: argparse.Namespace) -> int:
    import asyncio as aio  # noqa: PLC0415

    from automation.backends import configured_backend  # noqa: PLC0415
    from automation.runner import deliver_pending, flow_lock  # noqa: PLC0415

    loaded, store = _open_store(args.config)
    with store:
        if args.retry:
            entry = store.get_entry(args.retry)
            if entry is None:
                print(f"no outbox entry with key {args.retry!r}", file=sys.stderr)
                return EXIT_CONFIG
            if entry.status not in ("failed", "dead"):
                print(
                    f"outbox entry {args.retry!r} is {entry.status}; only a failed or dead "
                    "message can be retried (a sent one went out, an uncertain or sending one "
                    "is reconciled by the next delivery pass): nothing was changed",
                    file=sys.stderr,
                )
                return EXIT_CONFIG
            with flow_lock(store.path, entry.flow):
                store.mark(entry.key, "pending", datetime.now(JST))
                aio.run(
                    deliver_pending(
                        store,
                        configured_backend(loaded),
                        entry.flow,
                        lambda: datetime.now(JST),
                        policy=loaded.config.service.outbox,
                    )
                )
            entry = store.get_entry(args.retry)
            print(f"{args.retry}: {entry.status if entry else 'unknown'}")
            return EXIT_OK if entry is not None and entry.status == "sent" else EXIT_FAILED
        entries = store.outbox(args.flow, tuple(args.status) if args.status else None)
    for entry in entries:
        error = f"  ({entry.last_error.splitlines()[0][:80]})" if entry.last_error else ""
        print(
            clean_terminal(
                f"[{entry.status:<9}] {entry.kind:<14} {entry.channel:<13} "
                f"{entry.recipient_label:<40} attempts={entry.attempts} {entry.key}{error}"
            )
        )
    if not entries:
        print("(empty)")
    return EXIT_OK
