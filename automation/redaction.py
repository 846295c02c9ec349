"""One redaction layer for everything the service writes: logs, run records, the outbox,
files, terminal output and the state database.

Every configuration that loads registers its secrets (client secrets, certificate
passwords, bearer tokens, webhook URLs) here; every writer passes its text through
:func:`scrub`. A secret can reach a message only by accident (an exception that quotes a
URL, a template that prints a contact's address), and this is where such an accident stops.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

PLACEHOLDER = "[REDACTED]"


class Redactor(logging.Filter):
    """Replaces every configured secret (tokens, webhook URLs) by a placeholder."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: list[str] = []
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        """Use a new set of secrets (after a reload); longest first, short ones ignored."""
        self.secrets = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        """``text`` with every secret replaced."""
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, PLACEHOLDER)
        return text

    def scrub_pieces(self, pieces: Iterable[str], size: int = 1 << 20) -> Iterator[str]:
        """The text ``pieces`` make, scrubbed, in pieces of about ``size`` characters: a
        secret cut across pieces is still found, as each piece is scrubbed only up to a
        point no secret crosses, at least as many characters before the end of what came
        as the longest secret has, less one; the rest waits for the next, unscrubbed."""
        keep = max(map(len, self.secrets), default=1) - 1
        gathered: list[str] = []
        length = 0
        for piece in pieces:
            gathered.append(piece)
            length += len(piece)
            if length >= size + keep:
                text = "".join(gathered)
                cut = self._uncrossed(text, len(text) - keep)
                yield self.scrub(text[:cut])
                gathered, length = [text[cut:]], len(text) - cut
        yield self.scrub("".join(gathered))

    def _uncrossed(self, text: str, cut: int) -> int:
        """The last point at or before ``cut`` that no secret in ``text`` crosses."""
        moved = True
        while moved:
            moved = False
            for secret in self.secrets:
                found = text.find(secret, max(0, cut - len(secret) + 1), cut + len(secret) - 1)
                if found != -1 and found < cut:
                    cut, moved = found, True
        return cut

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the rendered message (and the exception) of ``record``."""
        record.msg = self.scrub(record.getMessage())
        record.args = None
        if record.exc_info:
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.scrub(formatted)
            record.exc_info = None
        return True


REDACTOR = Redactor()


def register(secrets: Iterable[str]) -> None:
    """Add secrets of a configuration just loaded (kept for the life of the process)."""
    REDACTOR.update([*REDACTOR.secrets, *secrets])


def scrub(text: str) -> str:
    """``text`` with every registered secret replaced."""
    return REDACTOR.scrub(text)


def scrub_pieces(pieces: Iterable[str]) -> Iterator[str]:
    """The text ``pieces`` make, with every registered secret replaced, a piece at a time
    (a large run's JSON record is tens of MB: never held whole)."""
    return REDACTOR.scrub_pieces(pieces)
