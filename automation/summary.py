"""A readable terminal summary of a run record (what ``automation run`` prints)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from automation.damage.status import STATUS_JA
from automation.damage.totals import total_notes
from automation.render import visible_text
from automation.textwidth import padded
from automation.timeutil import time_ja


def clean_terminal(text: str) -> str:
    """Remove what a terminal would act on instead of showing: escape sequences' ESC,
    bells, backspaces, carriage returns, bidi overrides, zero-width characters."""
    return visible_text(text)


def _one_line(value: Any) -> Any:
    """A record with every string on one line: a line break typed into a cell or list
    field must not start a line of its own in the summary."""
    if isinstance(value, str):
        return visible_text(value).replace("\t", " ").replace("\n", " ")
    if isinstance(value, list):
        return [_one_line(v) for v in value]
    if isinstance(value, dict):
        return {_one_line(k): _one_line(v) for k, v in value.items()}
    return value


def _num(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,}"
    return f"{int(value):,}" if isinstance(value, int | float) else str(value)


def format_summary(record: dict[str, Any], *, max_problems: int = 15) -> str:
    """The terminal summary of any run record: one line per entry, control characters removed."""
    if record["status"] == "failed":
        return clean_terminal(_format_failure(record))
    return clean_terminal(_format_summary(_one_line(record), max_problems=max_problems))


def _format_failure(record: dict[str, Any]) -> str:
    """What failed and what to do; the error's own lines are kept, each indented."""
    error = record["error"]
    lines = [f"[{record['flow']}] 失敗 ({error['kind']}: {error['action']})"]
    lines += [f"  {line}" for line in str(error["message"]).splitlines()]
    lines.append("  状態は変更していません。送信もしていません。")
    return "\n".join(lines)


def _format_summary(record: dict[str, Any], *, max_problems: int = 15) -> str:
    """Totals, changes, non-reporters, problems and where the output went."""
    lines: list[str] = []
    flow = record["flow"]
    if record.get("kind") == "progress_collection":
        return format_progress(record)
    if record.get("idle"):
        return f"[{flow}] 待機中: {record['idle']}"
    head = (
        f"[{flow}] 第{record['report_number']}報 {record['as_of_ja']}"
        if record["report_number"]
        else f"[{flow}] 報告なし"
    )
    if not record["new_report"]:
        head += "（変更なし: 新しい報は出していません）"
        state = record.get("report_state")
        if state == "stored":
            head += f"\n  以下は第{record['report_number']}報の内容です（ブックは前回から変わっていません）。"
        elif state == "none":
            head += "\n  示せる報告の内容はありません（ブックは前回から変わっていません）。"
    if record["dry_run"]:
        head += " [dry-run: 記録・送信なし]"
    lines.append(head)
    lines.append("  被害の状況:")
    for total in record["totals"].values():
        flag = total_notes(
            total["unconfirmed"],
            total.get("unconfirmed_where", ()),
            total.get("unreadable", 0),
            total.get("unreadable_where", ()),
        )
        lines.append(
            f"    {padded(total['category'], 8)} {padded(total['label'], 14)}"
            f" {_num(total['value']):>8} {total['unit']}{flag}"
        )
    if record["statuses"]:
        lines.append("  箇所の状況:")
        for code, counts in record["statuses"].items():
            label = record["totals"].get(code, {}).get("label", code)
            lines.append(f"    {label}: " + "、".join(f"{s} {n}件" for s, n in counts.items()))
    lines += _changes(record)
    opened = record.get("open_incidents") or []
    if opened:
        lines.append(f"  対応中の箇所: {len(opened)}件（変更の新しい順）")
        for i in opened[:10]:
            where = " ".join(p for p in (i["municipality"], i["place"]) if p)
            lines.append(f"    {i['type']} {where}: {i['status']}")
        if len(opened) > 10:
            lines.append(f"    ほか {len(opened) - 10}件")
    lines += _departments(record)
    problems = record["problems"]
    total = record.get("problems_total", len(problems))  # the record lists LIST_LIMIT at most
    lines.append(f"  読み取れなかったセル: {total}件")
    for problem in problems[:max_problems]:
        headline = problem.get("headline")
        lines.append(
            f"    {headline}"
            if headline
            else f"    {problem['where']} 「{problem['value']}」 {problem['message']}"
        )
    if total > min(max_problems, len(problems)):
        lines.append(f"    ほか {total - min(max_problems, len(problems))}件")
    lines += _outputs(record, "集計ブック", none_sent="")
    return "\n".join(lines)


def _changes(record: dict[str, Any]) -> list[str]:
    """Each changed item with the municipalities that moved, then the incidents."""
    lines: list[str] = []
    incidents = record.get("incident_changes") or []
    if record["changes"] or incidents:
        lines.append("  前報からの変更:")
    for change in record["changes"]:
        status = f"［{change['status']}］" if change["status"] else ""
        lines.append(
            f"    {change['label']}{status}: {_num(change['before'])} → "
            f"{_num(change['after'])}{change['unit']}"
        )
        parts = change.get("parts") or []
        lines += [f"      {p['text']}" for p in parts[:5]]
        moved = change.get("parts_total", len(parts))
        if moved > 5:
            lines.append(f"      ほか {moved - 5}市町村")
    lines += [f"    {i['text']}" for i in incidents]
    return lines


def _departments(record: dict[str, Any]) -> list[str]:
    """Who is behind (未報告・未更新), then every department's status and last change."""
    departments = record["departments"]
    behind = [f"{name}({_why(departments[name])})" for name in record["not_reported"]]
    lines = ["  未報告・未更新: " + ("、".join(behind) or "なし")]
    if departments:
        lines.append("  部局の状況（最終更新）:")
    for name, dept in departments.items():
        changed = dept.get("changed_at")
        when = time_ja(datetime.fromisoformat(changed)) if changed else "更新なし"
        lines.append(f"    {padded(name, 16)} {padded(STATUS_JA[dept['status']], 10)} {when}")
    return lines


def _why(dept: dict[str, Any]) -> str:
    """Why a department is behind: 未報告, 未更新 or シートなし, with the sheet that looks like
    the missing one as the report named it (シートなし、コピー「企業局 (2)」あり)."""
    why = dept.get("behind_ja") or STATUS_JA[dept["status"]]
    hint = dept.get("likely_sheet_ja")
    return f"{why}、{hint}" if hint else str(why)


PHASE_JA = {
    "reminder": "督促日",
    "deadline": "締切日",
    "escalation": "エスカレーション日",
    "before": "受付期間中（督促なし）",
    "after": "締切後",
    "idle": "休日（送信なし）",
}


def format_progress(record: dict[str, Any]) -> str:
    """Completion, incomplete items, input problems and who was told what."""
    lines = [
        f"[{record['flow']}] {record['period_ja']} 締切 {record['deadline']} / {record['today']} は"
        f"{PHASE_JA.get(record['phase'], record['phase'])}"
        + (" [dry-run: 記録・送信なし]" if record["dry_run"] else ""),
        f"  記入済み: {record['complete']}/{record['items']}件",
    ]
    for name, c in record["completion"].items():
        bar = "█" * (c["percent"] // 10) + "·" * (10 - c["percent"] // 10)
        lines.append(
            f"    {padded(name, 14)} {bar} {c['percent']:>3}% ({c['complete']}/{c['total']})"
        )
    if record["incomplete"]:
        lines.append("  未完了の項目:")
        for item in record["incomplete"]:
            issues = "、".join(f"{i['field']}({i['reason']})" for i in item["issues"])
            lines.append(f"    ID {item['id']} {item['department']}「{item['project']}」: {issues}")
    if record["problems"]:
        lines.append(f"  事務局への要確認事項: {len(record['problems'])}件")
        for problem in record["problems"]:
            lines.append(f"    ID {problem['id']}: {problem['message']}")
    lines += _outputs(record, "進捗一覧", none_sent="  送信: なし")
    return "\n".join(lines)


def _outputs(record: dict[str, Any], artefact_label: str, *, none_sent: str) -> list[str]:
    """Where artefacts were stored and each delivery with its status."""
    lines = [
        f"  {artefact_label}: {a['location'] or a['name'] + '（未作成）'}"
        for a in record["artefacts"]
    ]
    if record["deliveries"]:
        lines.append(f"  送信: {len(record['deliveries'])}件")
        for d in record["deliveries"]:
            where = f" → {d['location']}" if d.get("location") else ""
            lines.append(f"    [{d['status']}] {d['kind']} {d['channel']} {d['recipient']}{where}")
    elif none_sent:
        lines.append(none_sent)
    undelivered = record.get("undelivered")
    if undelivered:
        lines.append(
            f"  未送信: {undelivered['not_delivered']}件"
            f"（送信済み {undelivered['delivered']}件）。送信待ちに残り、時間をおいて再送します。"
            "理由は automation outbox で確認できます。"
        )
    return lines
