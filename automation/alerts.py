"""Alerts for admins: a flow that starts failing, its recovery, a message given up.

Alerts go through the outbox like every other message (their own flow ``_alerts``, so a
failing flow's backlog does not hold them up), with keys naming the failure streak or the
message, so each is sent once however often the same state is seen.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from automation.config.loader import LoadedConfig
from automation.plan import Alert, Message
from automation.queueing import outbox_entry
from automation.render import environment, render
from automation.state import Health, Lease, OutboxEntry, Store

ALERT_FLOW = "_alerts"
__all__ = ["ALERT_FLOW", "Alert", "Alerts"]


class Alerts:
    """Queues admin alerts for the contacts in ``service.alerts``."""

    def __init__(self, loaded: LoadedConfig) -> None:
        self.contacts = loaded.config.service.alerts
        self.after_failures = loaded.config.service.alert_after_failures

    def dead(self, store: Store, entry: OutboxEntry, now: datetime) -> None:
        """A message was given up: say which, to whom, why, and how to send it again."""
        current = store.get_entry(entry.key) or entry
        self._queue(
            store,
            entry.run_id,
            f"dead:{entry.key}",
            Alert(
                f"メッセージを送信できませんでした（{current.attempts}回試行）",
                (
                    f"フロー: {entry.flow}",
                    f"宛先: {entry.recipient_label}（{entry.channel}）",
                    f"件名: {entry.subject}",
                    f"最後のエラー: {(current.last_error or '').splitlines()[0][:300]}"
                    if current.last_error
                    else "最後のエラー: （記録なし）",
                ),
                f"原因を取り除いてから `automation outbox -c 設定ファイル --retry {entry.key}` で再送してください。",
            ),
            now,
        )

    def leadership_moved(self, store: Store, previous: str, lease: Lease, now: datetime) -> None:
        """The standby took over the pair: say from whom, to whom, and what to look at."""
        run_id = store.start_run(ALERT_FLOW, now, now)
        self._queue(
            store,
            run_id,
            f"leader:{lease.token}",
            Alert(
                "待機系が処理を引き継ぎました",
                (
                    f"以前の担当: {previous}",
                    f"現在の担当: {lease.holder}（フェンシングトークン {lease.token}）",
                ),
                "以前の担当のホストとプロセスを確認してください（停止・再起動・ネットワーク）。"
                "対処後はそのまま待機系として動作します。",
            ),
            now,
        )
        store.finish_run(run_id, "ok", now, {"event": "leadership_moved", "token": lease.token})

    def run_finished(
        self, store: Store, flow_id: str, run_id: int, record: dict[str, Any], now: datetime
    ) -> tuple[Health, str | None]:
        """Track the flow's failure streak; returns it and the transition (failed, recovered)."""
        health = store.health(flow_id)
        if record["status"] in ("failed", "interrupted"):
            error = record.get("error") or {}
            message = str(error.get("message", ""))
            since = health.failing_since or now
            failures = health.failures + 1
            alerted = health.alerted
            transition = "failed" if health.failing_since is None else None
            if not alerted and failures >= self.after_failures:
                alerted = True
                self._queue(
                    store,
                    run_id,
                    f"failing:{flow_id}:{since.isoformat()}",
                    Alert(
                        f"フロー {flow_id} が失敗しています",
                        (
                            f"失敗が続いています: {failures}回（{since.isoformat(timespec='minutes')} から）",
                            f"種類: {error.get('kind', 'error')}（{error.get('action', '')}）",
                            f"内容: {message[:500]}",
                        ),
                        _action(str(error.get("kind", ""))),
                    ),
                    now,
                )
            health = Health(flow_id, since, failures, message, alerted)
        else:
            transition = "recovered" if health.failing_since is not None else None
            if health.alerted and health.failing_since is not None:
                self._queue(
                    store,
                    run_id,
                    f"recovered:{flow_id}:{health.failing_since.isoformat()}",
                    Alert(
                        f"フロー {flow_id} が回復しました",
                        (
                            f"失敗していた期間: {health.failing_since.isoformat(timespec='minutes')}"
                            f" から {now.isoformat(timespec='minutes')} まで（{health.failures}回）",
                        ),
                        "対処は不要です。",
                    ),
                    now,
                )
            health = Health(flow_id)
        store.save_health(health, now)
        return health, transition

    def _queue(self, store: Store, run_id: int, occasion: str, alert: Alert, now: datetime) -> None:
        for contact in self.contacts:
            message = Message("alert", occasion, "admins", contact, "admin_alert", {"alert": alert})
            body = render(environment(), message)  # built once per process, on first use
            store.enqueue(
                outbox_entry(ALERT_FLOW, run_id, message, body),
                now,
            )


def _action(kind: str) -> str:
    return {
        "config": "設定ファイルを修正してください（`automation validate -c 設定ファイル` で確認できます）。",
        "auth": "資格情報・権限を確認してください（README「Permissions in Entra ID」、`automation doctor`）。",
        "transient": "一時的な障害の可能性があります。"
        "続く場合は Microsoft 365 の状態とネットワークを確認してください。",
        "data": "入力データ（ブック・一覧）の担当部局に修正を依頼してください。",
    }.get(kind, "ログと `automation history` を確認してください。")
