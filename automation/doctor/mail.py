"""The mailbox probes: Sent Items is readable, and (only when asked) one test mail is sent."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from automation.backends.graph.gateway import GraphGateway
from automation.doctor.hints import SEE_MAIL
from automation.doctor.probe import PROBED, Probe
from automation.doctor.rows import Row, error_row, refused
from automation.errors import AutomationError
from automation.timeutil import JST


async def sent_items_row(probe: Probe, app: GraphGateway, mailbox: str) -> Row:
    """Sent Items is readable, so a send interrupted by a crash can be checked."""
    try:
        response = await probe.get(
            app,
            f"/users/{quote(mailbox)}/mailFolders/SentItems/messages",
            f"read Sent Items of {mailbox}",
            {"$top": "1", "$select": "id"},
        )
    except AutomationError as err:
        return error_row("mailbox", mailbox, err)
    if response.status_code == 200:
        return Row(
            "mailbox",
            mailbox,
            "OK",
            "Sent Items readable (Mail.Read): a send interrupted by a crash can be checked",
        )
    return refused("mailbox", mailbox, response, probe.grants().sent_items(mailbox))


async def mail_send_row(
    probe: Probe, app: GraphGateway, mailbox: str, send_test: str | None
) -> Row:
    """One test mail to ``send_test`` when asked; otherwise why Mail.Send is not checked."""
    if send_test is None:
        return Row(
            "mail send",
            mailbox,
            "SKIP",
            "Mail.Send cannot be checked without sending a mail",
            "run again with --send-test YOUR-ADDRESS to send one test mail; "
            "Test-ServicePrincipalAuthorization in Exchange Online PowerShell shows the grant",
            SEE_MAIL,
        )
    sent = datetime.now(JST).strftime("%Y-%m-%d %H:%M")
    message = {
        "subject": "automation doctor: 送信テスト (test mail)",
        "body": {
            "contentType": "Text",
            "content": f"automation doctor の送信テストです（{sent} JST、{mailbox} から）。"
            "返信は不要です。\nA test mail from `automation doctor`; no reply needed.",
        },
        "toRecipients": [{"emailAddress": {"address": send_test}}],
    }
    try:
        response = await app.request(
            "POST",
            f"/users/{quote(mailbox)}/sendMail",
            what=f"send a test mail as {mailbox}",
            permission=f"Mail.Send (application) for the mailbox {mailbox}",
            ok=PROBED,
            retry=False,  # a send is never repeated blindly
            json={"message": message},
        )
    except AutomationError as err:
        return error_row("mail send", send_test, err)
    finally:
        probe.saw(app)
    if response.status_code in (200, 202):
        return Row(
            "mail send",
            send_test,
            "OK",
            f"one test mail sent from {mailbox} (Graph accepted it); check that it arrives",
        )
    return refused("mail send", send_test, response, probe.grants().mail_send(mailbox))
