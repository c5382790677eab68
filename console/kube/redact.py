"""Keep credentials out of anything written down: the log file first of all.

Two nets. Every secret the credential loaders hand over (bearer tokens, passwords, the Basic header made of
them) is remembered here and replaced wherever it appears, whatever the text around it (a URL that carries a
token, an exception that quotes a header). And whatever looks like a credential by its shape is replaced too:
`Authorization:` headers, `Bearer …`, `token: …` / `password: …` / `client-key-data: …` pairs, PEM private
keys, the simulator's `/sim/auth/<token>` paths. A pure module (no I/O) so the credential loaders can feed it.
"""

from __future__ import annotations

import logging
import re
import threading

MASK = "***"
_MIN_SECRET = 6  # shorter strings would mask ordinary words; nothing issues credentials that short

_lock = threading.Lock()
_secrets: set[str] = set()
_secret_re: re.Pattern[str] | None = None

_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S),
     "[private key " + MASK + "]"),
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(?:(bearer|basic)\s+)?[^\s'\",}\]]+"),
     r"\1\2 " + MASK),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 " + MASK),
    (re.compile(r"(?i)(['\"]?\b(?:token|id-token|refresh-token|access[-_]token|password|passwd|secret|"
                r"client-key-data|client-certificate-data|token-data)['\"]?\s*[:=]\s*['\"]?)[^\s'\",}\]]+"),
     r"\1" + MASK),
    (re.compile(r"/sim/auth/[^/\s'\"]+"), "/sim/auth/" + MASK),
)


def remember(*secrets: str | None) -> None:
    """Mask these strings from now on, wherever they appear (the session's tokens, passwords)."""
    global _secret_re
    fresh = {s for s in secrets if isinstance(s, str) and len(s) >= _MIN_SECRET}
    with _lock:
        if fresh <= _secrets:
            return
        _secrets.update(fresh)
        ordered = sorted(_secrets, key=len, reverse=True)  # the longest first: one may contain another
        _secret_re = re.compile("|".join(re.escape(s) for s in ordered))


def redact(text: str) -> str:
    """`text` with every remembered secret and every credential-shaped value replaced by `***`."""
    pattern = _secret_re
    if pattern is not None:
        text = pattern.sub(MASK, text)
    for shape, repl in _SHAPES:
        text = shape.sub(repl, text)
    return text


class RedactingFormatter(logging.Formatter):
    """Formats a record as usual, then masks credentials in the whole line: message, arguments and the
    traceback alike (a filter on the message alone would miss what an exception's text quotes)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
