"""``automation doctor``: check a Graph set-up with read-only probes, one row per check.

In order: the configuration is valid; the app's credential obtains a token; every
configured workbook, list, mailbox, Teams channel and webhook is reachable with the
permissions granted; the Teams service account's cached sign-in works, and until when;
the local clock agrees with Graph's. Nothing is sent unless ``--send-test ADDRESS`` asks
for one test mail to that address. A failing row says what was found, which permission or
grant is missing, the fix, and the README point to read.

Access tokens are opaque to clients in principle; when one is a readable JWT its
``roles`` / ``scp`` claims only sharpen the hints (consented or not), never a verdict.

The checks and their order are in :mod:`.runner` and :mod:`.checks`, the Graph probes by
what they probe in :mod:`.credential`, :mod:`.files`, :mod:`.mail` and :mod:`.teams`, rows
that need no request in :mod:`.verdicts`, what a refusal means and its fix in :mod:`.hints`,
and the terminal table in :mod:`.table`.
"""

from automation.doctor.checks import GatewayFactory, TokenFactory
from automation.doctor.credential import token_claims
from automation.doctor.hints import Hint
from automation.doctor.rows import Result, Row
from automation.doctor.runner import check, default_gateway, default_tokens, run_doctor
from automation.doctor.table import format_table

__all__ = [
    "GatewayFactory",
    "Hint",
    "Result",
    "Row",
    "TokenFactory",
    "check",
    "default_gateway",
    "default_tokens",
    "format_table",
    "run_doctor",
    "token_claims",
]
