"""Specs for message rendering: golden files for every template, escaping, card JSON."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest

from automation.config.loader import LoadedConfig, load_config
from automation.config.models import Contact
from automation.damage.reading import CellProblem
from automation.damage.workbook import parse_workbook
from automation.demo import ROUND_1, ROUND_2, build_workbook, edit_workbook, write_workspace
from automation.flows.damage_rollup import DamageInputs, DamagePlan, DamageState, plan
from automation.plan import Message
from automation.render import Rendered, environment, render, template_cache_dir
from automation.timeutil import parse_now

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
CHANNEL_ADDRESS = (
    "00000000-0000-0000-0000-00000000a001/19:0000000000000000000000000000a002@thread.tacv2"
)


@pytest.fixture(scope="module")
def demo_config(tmp_path_factory: pytest.TempPathFactory) -> LoadedConfig:
    """The demo workspace's configuration."""
    path = write_workspace(tmp_path_factory.mktemp("demo") / "ws")
    return load_config(path, environ={"DEMO_TEAMS_WEBHOOK_URL": "https://example.invalid/hook"})


@pytest.fixture(scope="module")
def second_round(demo_config: LoadedConfig) -> DamagePlan:
    """The demo's second round, planned in memory."""
    flow = demo_config.config.flows[0]
    book_path = demo_config.base_dir / "inputs" / flow.params.workbook
    build_workbook(book_path)
    first_book = parse_workbook(book_path.read_bytes(), "b.xlsx", max_bytes=10**8)
    first = plan(
        flow.params,
        demo_config.config.directory,
        DamageInputs("1", first_book),
        DamageState(),
        parse_now(ROUND_1),
    )
    edit_workbook(book_path)
    second_book = parse_workbook(book_path.read_bytes(), "b.xlsx", max_bytes=10**8)
    return plan(
        flow.params,
        demo_config.config.directory,
        DamageInputs("2", second_book),
        first.state,
        parse_now(ROUND_2),
    )


def _pick(result: DamagePlan, kind: str, channel: str, audience: str | None = None) -> Message:
    return next(
        m
        for m in result.messages
        if m.kind == kind
        and m.contact.channel == channel
        and (audience is None or m.audience == audience)
    )


def _check(name: str, content: str) -> None:
    path = GOLDEN / name
    if UPDATE or not path.exists():
        path.write_text(content, encoding="utf-8")
    assert content == path.read_text(encoding="utf-8"), f"{name} differs; UPDATE_GOLDEN=1 to accept"


def _render(message: Message) -> Rendered:
    return render(environment(), message)


@pytest.mark.parametrize(
    ("kind", "channel", "audience", "stem"),
    [
        ("report", "mail", None, "report_mail"),
        ("report", "teams_webhook", None, "report_webhook"),
        ("feedback", "mail", "危機管理課", "feedback_mail"),
        ("reminder", "mail", "産業経済部", "reminder_mail"),
    ],
)
def test_rendered_message_matches_golden(
    second_round: DamagePlan, kind: str, channel: str, audience: str | None, stem: str
) -> None:
    """Every template renders exactly as its golden file (review diffs like code)."""
    rendered = _render(_pick(second_round, kind, channel, audience))
    _check(f"{stem}.subject.txt", rendered.subject + "\n")
    for suffix, body in rendered.bodies().items():
        _check(f"{stem}.{suffix}", body)


def test_teams_channel_posts_use_the_html_body(second_round: DamagePlan) -> None:
    """A Teams channel post renders the subject and HTML, not the plain text or card."""
    message = _pick(second_round, "report", "mail")
    teams = Message(
        **{**message.__dict__, "contact": Contact(channel="teams_channel", address=CHANNEL_ADDRESS)}
    )
    rendered = _render(teams)
    assert (rendered.html is not None, rendered.text, rendered.card) == (True, None, None)


def test_department_text_is_escaped_in_html(second_round: DamagePlan) -> None:
    """Cell text from departments is data: markup in it is escaped in HTML bodies."""
    message = _pick(second_round, "feedback", "mail", "危機管理課")
    reading = message.context["reading"]
    hostile = CellProblem("危機管理課", "危機管理課!B7", "<script>alert(1)</script>", "x")
    reading_copy = type(reading)(**{**reading.__dict__, "problems": [hostile]})
    rendered = _render(
        Message(**{**message.__dict__, "context": {**message.context, "reading": reading_copy}})
    )
    assert "<script>" not in (rendered.html or "")
    assert "&lt;script&gt;" in (rendered.html or "")


def test_card_is_valid_adaptive_card_json(second_round: DamagePlan) -> None:
    """The webhook body parses as JSON and is an Adaptive Card 1.4 under the 28 KB limit."""
    rendered = _render(_pick(second_round, "report", "teams_webhook"))
    assert rendered.card is not None
    assert (rendered.card["type"], rendered.card["version"]) == ("AdaptiveCard", "1.4")
    assert len(json.dumps(rendered.card, ensure_ascii=False).encode()) < 28_000


@pytest.fixture(scope="module")
def progress_plans(demo_config: LoadedConfig) -> dict[str, object]:
    """The demo's progress flow on a reminder day, the deadline and the closing day, each run
    remembering the one before."""
    from automation.backends.local import LocalListSource  # noqa: PLC0415
    from automation.flows import progress_collection  # noqa: PLC0415
    from automation.jobs.progress import list_columns  # noqa: PLC0415

    flow = next(f for f in demo_config.config.flows if f.kind == "progress_collection")
    params = flow.params
    source = LocalListSource(demo_config.base_dir / "inputs")
    items = asyncio.run(
        source.items(
            params.list,
            list_columns(params),
            id_column=params.fields.id,  # type: ignore[union-attr]
            link_column=params.fields.link,
            modified_column=params.fields.modified,  # type: ignore[union-attr]
        )
    )
    plans: dict[str, object] = {}
    memory = None
    for day in ("14", "15", "16"):  # HQ asks for a summary on 10/14; the round closes 10/16
        planned = progress_collection.plan(
            params,
            demo_config.config.directory,
            items,  # type: ignore[arg-type]
            parse_now(f"2026-10-{day}T09:00"),
            summary_requested=day == "14",
            previous=memory,
        )
        memory = planned.memory
        plans[day] = planned
    return plans


@pytest.mark.parametrize(
    ("day", "kind", "stem"),
    [
        ("14", "reminder", "progress_reminder"),
        ("14", "input_problems", "progress_problems"),
        ("16", "summary", "progress_summary"),
        ("16", "escalation", "progress_escalation"),
        ("16", "non_submitters", "progress_non_submitters"),
    ],
)
def test_progress_message_matches_golden(
    progress_plans: dict[str, object], day: str, kind: str, stem: str
) -> None:
    """Every progress template renders exactly as its golden file, in every channel."""
    planned = progress_plans[day]
    message = next(m for m in planned.messages if m.kind == kind)  # type: ignore[attr-defined]
    addresses = {"mail": message.contact.address, "teams_webhook": "https://example.invalid/hook"}
    for channel, address in addresses.items():
        contact = Contact(channel=channel, address=address, name="宛先")  # type: ignore[arg-type]
        rendered = _render(Message(**{**message.__dict__, "contact": contact}))
        _check(f"{stem}.{channel}.subject.txt", rendered.subject + "\n")
        for suffix, body in rendered.bodies().items():
            _check(f"{stem}.{channel}.{suffix}", body)


@pytest.mark.parametrize(
    ("name", "greeting"),
    [("危機管理課 山田 太郎", "危機管理課 山田 太郎 様"), (None, "危機管理課 DX推進リーダー 様")],
)
def test_progress_reminder_greets_by_the_contacts_name_alone(
    progress_plans: dict[str, object], name: str | None, greeting: str
) -> None:
    """A contact's name is the whole greeting (it often names the department already)."""
    planned = progress_plans["14"]
    message = next(m for m in planned.messages if m.kind == "reminder")  # type: ignore[attr-defined]
    contact = Contact(channel="mail", address=message.contact.address, name=name)
    rendered = _render(Message(**{**message.__dict__, "contact": contact}))
    assert (rendered.text or "").splitlines()[0] == greeting


# compiled once: per process, and between processes ------------------------------------------

GOLDEN_DAMAGE = (
    ("report", "mail", None, "report_mail"),
    ("report", "teams_webhook", None, "report_webhook"),
    ("feedback", "mail", "危機管理課", "feedback_mail"),
    ("reminder", "mail", "産業経済部", "reminder_mail"),
)


@pytest.fixture
def template_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty per-user cache folder, and no environment left over from other specs."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    environment.cache_clear()
    yield tmp_path / "cache" / "m365-automation" / "templates"
    environment.cache_clear()


def _compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the templates Jinja2 compiles from source from now on."""
    compiled: list[str] = []
    original = jinja2.Environment.compile

    def counting(self: jinja2.Environment, source: Any, name: str | None = None, *a: Any) -> Any:
        compiled.append(name or "")
        return original(self, source, name, *a)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    return compiled


def _render_golden(second_round: DamagePlan) -> None:
    for kind, channel, audience, stem in GOLDEN_DAMAGE:
        rendered = _render(_pick(second_round, kind, channel, audience))
        _check(f"{stem}.subject.txt", rendered.subject + "\n")
        for suffix, body in rendered.bodies().items():
            _check(f"{stem}.{suffix}", body)


def test_environment_is_built_once_per_process_and_folder(template_cache: Path) -> None:
    """The same folder of overrides gets the same environment, which keeps what it compiled."""
    assert environment() is environment()
    assert environment(template_cache.parent) is not environment()


def test_cold_and_warm_template_cache_render_the_golden_files(
    second_round: DamagePlan, template_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rendering is byte for byte the same with a cold and a warm cache; warm compiles nothing."""
    compiled = _compiles(monkeypatch)
    _render_golden(second_round)  # cold: every part compiled, and kept
    assert compiled
    assert sorted(p.stat().st_mode & 0o777 for p in [template_cache]) == [0o700]
    assert len(list(template_cache.glob("*.j2c"))) == len(set(compiled))
    environment.cache_clear()  # as a new process finds it
    compiled.clear()
    _render_golden(second_round)
    assert compiled == []


def test_damaged_cache_entries_are_compiled_again(
    second_round: DamagePlan, template_cache: Path
) -> None:
    """A truncated or foreign cache file is no error: the template compiles from its source."""
    _render_golden(second_round)
    entries = list(template_cache.glob("*.j2c"))
    assert entries
    for entry in entries:
        entry.write_bytes(entry.read_bytes()[:20])
    environment.cache_clear()
    _render_golden(second_round)


def test_cache_folder_writable_by_others_is_not_used(
    template_cache: Path, second_round: DamagePlan
) -> None:
    """Compiled code is loaded from the cache, so a folder others may write is left alone."""
    template_cache.mkdir(parents=True)
    template_cache.chmod(0o777)
    assert template_cache_dir() is None
    _render_golden(second_round)
    assert list(template_cache.iterdir()) == []


def test_unwritable_cache_folder_renders_all_the_same(
    template_cache: Path, second_round: DamagePlan
) -> None:
    """A cache that cannot be written (a read-only home) costs compiling, never a message."""
    template_cache.mkdir(parents=True)
    template_cache.chmod(0o500)
    try:
        _render_golden(second_round)
    finally:
        template_cache.chmod(0o700)


def test_edited_override_is_not_served_from_the_cache(
    second_round: DamagePlan, template_cache: Path, tmp_path: Path
) -> None:
    """An override changed between processes renders its new text (entries go by source)."""
    overrides = tmp_path / "overrides"
    overrides.mkdir()
    subject = overrides / "damage_report.subject.j2"
    message = _pick(second_round, "report", "mail")
    subject.write_text("第{{ report.number }}報 旧", encoding="utf-8")
    assert "旧" in render(environment(overrides), message).subject
    stat_before = subject.stat()
    subject.write_text("第{{ report.number }}報 新", encoding="utf-8")
    os.utime(subject, ns=(stat_before.st_atime_ns, stat_before.st_mtime_ns))  # same mtime
    environment.cache_clear()
    assert "新" in render(environment(overrides), message).subject
