"""The `[smtp]` table of worker.toml: the relay digests are sent through (worker.delivery.smtp),
its security and login, and the From address of every email.

The password is read from the environment only (PAPER_DIGEST_SMTP_PASSWORD), never from the
file. Checked as strictly as the rest of worker.toml (worker.settings), every problem at its
line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from worker.config_types import header_line, line_of, load_table, section_start
from worker.errors import Problem


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    sender: str  # the `from` key
    port: int = 25
    security: str = "auto"  # auto | none | starttls | tls
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # env only, never from the file
    timeout: float = 30.0

    @property
    def mode(self) -> str:
        if self.security != "auto":
            return self.security
        return {465: "tls", 587: "starttls"}.get(self.port, "none")


def load_smtp(table: Any, file: str, text: str, env: Mapping[str, str]
              ) -> tuple[SmtpSettings | None, list[Problem]]:
    """[smtp] from worker.toml, its password from the environment; None with any problem."""
    if not isinstance(table, dict):
        return None, [Problem(file, "expected a table: [smtp]", "smtp")]
    raw = dict(table)
    if "password" in raw:
        return None, [Problem(file, "passwords do not belong in config files; set "
                              "PAPER_DIGEST_SMTP_PASSWORD instead", "smtp.password",
                              line_of(text, "password"))]
    at = section_start(text, "smtp")
    if "from" not in raw and "host" in raw:
        return None, [Problem(file, 'missing; add `from = "Paper Digest <digest@example.org>"`',
                              "smtp.from", header_line(text, at, "smtp."))]
    smtp, problems = load_table(SmtpSettings, raw, file=file, text=text, prefix="smtp.",
                                after=at, written={"sender": "from", "password": None})
    if smtp and smtp.security not in ("auto", "none", "starttls", "tls"):
        problems.append(Problem(file, "expected one of auto, none, starttls, tls",
                                "smtp.security", line_of(text, "security", at)))
    if smtp and (message := _sender_problem(smtp.sender)):
        problems.append(Problem(file, message, "smtp.from", line_of(text, "from", at)))
    if smtp and not 0 < smtp.port < 65536:
        problems.append(Problem(file, "expected a port number from 1 to 65535", "smtp.port",
                                line_of(text, "port", at)))
    if smtp and smtp.timeout <= 0:
        problems.append(Problem(file, "expected a number of seconds above 0", "smtp.timeout",
                                line_of(text, "timeout", at)))
    if smtp and env.get("PAPER_DIGEST_SMTP_PASSWORD"):
        smtp = SmtpSettings(**{**smtp.__dict__, "password": env["PAPER_DIGEST_SMTP_PASSWORD"]})
    return (None if problems else smtp), problems


def _sender_problem(sender: str) -> str | None:
    """What is wrong with `[smtp] from`, or None. It is every email's From header and the
    envelope's sender: one that is no address (`not an address` went out as MAIL FROM:<not>),
    names two, or holds a line break (every digest of every subscriber failed to render, each
    run, until max_attempts made them failed) passed `check`."""
    from email.utils import getaddresses

    from worker.profiles import SENDER_SPEC

    example = 'expected one address, as in "Paper Digest <digest@example.org>"'
    if any(ord(c) < 32 or ord(c) == 127 for c in sender):
        return f"{example}, on one line without control characters"
    found = getaddresses([sender])
    if len(found) != 1 or not SENDER_SPEC.match(found[0][1]):
        return f"{example}; got {sender!r}"
    return None
