"""Log output: one line per event, JSON when stderr is not a terminal, never a secret.

Messages are kept to one line: control and bidi characters in them (a hostile file name)
are escaped, so nothing can forge a log line or move the terminal's cursor.

JSON lines carry `ts`, `level`, `logger`, `msg`, and any `extra={...}` fields a call adds
(`event`, `subscriber`, `slot`, ...), so a log shipper can filter on them. Tracebacks go into
`exc` of the same line. Every message passes `Redactor`: passwords in URLs
(`postgresql://user:***@host/db`) and registered secrets (the SMTP password) become `***`.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import IO, Any

PLAIN = "%(levelname)s %(message)s"
_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][\w+.-]*://[^:/@\s]+:)([^@\s]+)(@)")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_SECRETS: set[str] = set()
# Control characters, line/paragraph separators and bidi controls: a file name or an error
# text carrying them could forge a log line or rewrite the terminal. Shown escaped instead.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069"
                      r"\u2028\u2029]")


def add_secret(value: str | None) -> None:
    """Never let `value` reach a log line (short values would mask too much; skip them)."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


def redact(text: str) -> str:
    text = _URL_PASSWORD.sub(r"\1***\3", text)
    for secret in _SECRETS:
        text = text.replace(secret, "***")
    return text


def one_line(text: str) -> str:
    """`text` with control and bidi characters escaped (\\n, \\x1b, \\u202e): one line."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class Redactor(logging.Filter):
    """Freezes each record's message (and traceback) in redacted form before it is formatted."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = one_line(redact(record.getMessage())), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, one_line(redact(value)))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["exc"] = record.exc_text
        return json.dumps(data, ensure_ascii=False, default=str)


def use_json(stream: IO[str], choice: str | None = None) -> bool:
    """JSON unless the stream is a terminal; $PAPER_DIGEST_LOG_FORMAT=json|text decides."""
    if choice in ("json", "text"):
        return choice == "json"
    isatty = getattr(stream, "isatty", None)
    return not (isatty and isatty())


def configure(handler: logging.Handler, stream: IO[str], choice: str | None = None) -> None:
    handler.setFormatter(JsonFormatter() if use_json(stream, choice) else logging.Formatter(PLAIN))
    handler.addFilter(Redactor())
