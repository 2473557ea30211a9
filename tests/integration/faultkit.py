"""Shared by the fault-matrix tests: synthetic dumps, configs, `paper-digest` subprocesses
(through crashpoint.py), and a tally of what the SMTP server received.

Every paper carries a unique token (`zq01x004`) in its title and abstract, so what reached a
subscriber can be counted from the received mail itself, independently of the database.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.integration.helpers import make_config
from worker.store.db import normalize_url

REPO = Path(__file__).resolve().parents[2]
CRASHPOINT = Path(__file__).with_name("crashpoint.py")
NOW = "2026-03-14T20:00:00+00:00"
WRITTEN = datetime(2026, 3, 14, 18, tzinfo=UTC)  # the dumps' mtime: "Mar 14" is 2026-03-14
TOKEN = re.compile(r"\bzq\d{2}x\d{3}\b")
SUBPROCESS_TIMEOUT = 120  # seconds; a run that takes longer is hung (a deadlock)


def token(dump: int, index: int) -> str:
    return f"zq{dump:02d}x{index:03d}"


def paper(tok: str) -> tuple[str, str]:
    """A paper every `segmentation` subscriber wants, identified by `tok`."""
    return (f"Segmentation of {tok} scenes with sparse labels",
            f"We study segmentation for {tok} with a new method. It is fast and it works.")


def dump_text(papers: Iterable[tuple[str, str]], header: str = "new\n\nMar 14") -> str:
    blocks = [header] + [block for title, abstract in papers for block in (title, abstract)]
    return "\n\n".join(blocks) + "\n"


def write_dumps(root: Path, counts: Sequence[int]) -> dict[str, list[str]]:
    """One dump per entry of `counts` with that many papers; returns file name -> tokens."""
    folder = root / "dumps"
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for number, count in enumerate(counts, start=1):
        tokens = [token(number, i) for i in range(1, count + 1)]
        path = folder / f"dump_{number:02d}.txt"
        path.write_text(dump_text(paper(t) for t in tokens), encoding="utf-8")
        os.utime(path, (WRITTEN.timestamp(), WRITTEN.timestamp()))
        written[path.name] = tokens
    return written


def subscriber(name: str, *, keywords: Sequence[str] = ("segmentation",),
               deliver: Sequence[str] = ("email",), max_items: int = 200) -> str:
    words = ", ".join(f'"{k}"' for k in keywords)
    channels = ", ".join(f'"{c}"' for c in deliver)
    return (f'name = "{name.title()}"\nemail = "{name}@example.org"\ndeliver = [{channels}]\n'
            f"max_items = {max_items}\nmin_score = 0.01\n[interests]\nkeywords = [{words}]\n")


def config_dir(root: Path, database_url: str, names: Sequence[str], *,
               smtp_port: int | None = None, smtp_timeout: float = 5, extra: str = "") -> Path:
    config = make_config(root, database_url, {n: subscriber(n) for n in names},
                         smtp_port=smtp_port, extra=extra)
    worker_toml = config / "worker.toml"
    worker_toml.write_text(worker_toml.read_text(encoding="utf-8").replace(
        "timeout = 5\n", f"timeout = {smtp_timeout}\n"), encoding="utf-8")
    return config


# -- subprocesses ----------------------------------------------------------------------------

@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


def child_env() -> dict[str, str]:
    # The config file names the database: a PAPER_DIGEST_* variable of the caller must not win.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPER_DIGEST_")}
    env["PYTHONPATH"] = str(REPO)
    env["PAPER_DIGEST_LOG_FORMAT"] = "text"
    return env


def launch(config: Path, *args: str, step: str = "none", action: str = "kill",
           wait_for: Path | None = None) -> subprocess.Popen[str]:
    """`paper-digest --config CONFIG ARGS` in a subprocess, with a fault at `step`."""
    barrier = ["--wait-for", str(wait_for)] if wait_for else []
    command = [sys.executable, str(CRASHPOINT), *barrier, "--action", action, step, "--",
               "--config", str(config), *args]
    return subprocess.Popen(command, cwd=REPO, env=child_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], timeout: float = SUBPROCESS_TIMEOUT) -> Outcome:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"run still going after {timeout}s (hung?)\n{out}\n{err}") from None
    return Outcome(proc.returncode, out, err)


def run(config: Path, *args: str, step: str = "none", action: str = "kill") -> Outcome:
    return finish(launch(config, *args, step=step, action=action))


def stopped_when_connected(config: Path, args: Sequence[str], accepted: Sequence[object],
                           action: int) -> tuple[Outcome, float]:
    """A real `paper-digest` process told to stop (`action`: SIGTERM or SIGINT) once a server
    that never answers has `accepted` its connection: its outcome, and how long it took to end
    after the signal."""
    proc = subprocess.Popen([sys.executable, "-m", "worker", "--config", str(config), *args],
                            env=child_env(), cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + SUBPROCESS_TIMEOUT
        while not accepted and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert accepted, proc.communicate()
        told = time.monotonic()
        proc.send_signal(action)
        outcome = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    return outcome, time.monotonic() - told


# -- what arrived ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Mail:
    message_id: str
    to: str  # the address
    tokens: frozenset[str]


def mails(messages: Iterable[EmailMessage]) -> list[Mail]:
    found = []
    for message in messages:
        plain = message.get_body(("plain",))
        body = plain.get_content() if plain is not None else ""  # type: ignore[attr-defined]
        found.append(Mail(str(message["Message-ID"]), parseaddr(str(message["To"]))[1],
                          frozenset(TOKEN.findall(body))))
    return found


@dataclass
class Tally:
    """Items per subscriber as received, and what arrived more than once."""

    items: dict[str, Counter[str]] = field(default_factory=dict)  # address -> token -> times
    per_message_id: Counter[str] = field(default_factory=Counter)
    ids_per_item: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    @property
    def duplicates(self) -> int:
        """Deliveries of an item to a subscriber beyond the first."""
        return sum(n - 1 for counter in self.items.values() for n in counter.values())

    @property
    def repeated_message_ids(self) -> dict[str, int]:
        return {mid: n for mid, n in self.per_message_id.items() if n > 1}

    def delivered(self, address: str) -> set[str]:
        return set(self.items.get(address, Counter()))


def tally(received: Iterable[Mail]) -> Tally:
    result = Tally()
    ids: dict[tuple[str, str], set[str]] = defaultdict(set)
    for mail in received:
        result.per_message_id[mail.message_id] += 1
        counter = result.items.setdefault(mail.to, Counter())
        for tok in mail.tokens:
            counter[tok] += 1
            ids[(mail.to, tok)].add(mail.message_id)
    result.ids_per_item = dict(ids)
    return result


# -- the database, read directly --------------------------------------------------------------

def query(database_url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    engine = create_engine(normalize_url(database_url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def scalar(database_url: str, sql: str, **params: Any) -> Any:
    rows = query(database_url, sql, **params)
    return rows[0][0] if rows else None


def delivery_statuses(database_url: str) -> Counter[str]:
    return Counter(s for (s,) in query(database_url, "SELECT status FROM deliveries"))


def stored_items(database_url: str) -> dict[str, list[str]]:
    """Subscriber id -> the token of every paper put in one of its digests."""
    result: dict[str, list[str]] = defaultdict(list)
    for sid, title in query(database_url, "SELECT i.subscriber_id, p.title FROM digest_items i "
                                          "JOIN papers p ON p.id = i.paper_id"):
        result[sid] += TOKEN.findall(title)
    return dict(result)


def sent_message_ids(database_url: str) -> list[str]:
    return [m for (m,) in query(database_url, "SELECT d.message_id FROM deliveries v JOIN "
                                              "digests d ON d.id = v.digest_id "
                                              "WHERE v.status = 'sent'")]
