"""Run `paper-digest` with a fault injected at one precise step (the fault-matrix tests).

    python tests/integration/crashpoint.py [--wait-for FILE] \
        [--action kill|pgterm|term|int] STEP[:N] -- <paper-digest args>

STEP (N: at its Nth occurrence, default 1):
  none     no fault (with --wait-for: start several runs at the same moment; each touches
           FILE.ready.<pid> once it has imported everything and waits)
  ingest   inside the Nth dump's ingest transaction, its rows written, before the commit
  matched  as the Nth subscriber's match comes back, before its digest is written
  built    after the digests were built and committed, before anything is sent
  send     mid-DATA of the Nth message: half of it written to the SMTP server, the rest not
  sent     after the channel accepted the Nth digest, before it is marked sent
  sql:RE   just before the Nth SQL statement matching the regular expression RE executes
  rows:T   just before the Nth bulk write into table T (worker.store.db.insert_rows: COPY on
           PostgreSQL, which SQLAlchemy's statement events do not see)

ACTION:
  kill     SIGKILL this process (kill -9: no cleanup, no atexit, no rollback sent)
  pgterm   pg_terminate_backend() every PostgreSQL connection this process opened, from a
           second connection, then carry on: the next statement on them fails
  term     SIGTERM this process (`docker stop`), then carry on
  int      SIGINT this process (Ctrl-C), then carry on

The hooks are monkeypatches installed here, so worker/ carries no test-only code. On a
pgterm the launcher prints `crashpoint: <step> terminated <n> backend(s)` to stderr.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere

_backends: list[Any] = []  # psycopg connection info of every backend this process opened


def _parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    if "--" not in argv:
        raise SystemExit("usage: crashpoint.py [options] STEP[:N] -- <paper-digest args>")
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="crashpoint.py")
    parser.add_argument("--wait-for", type=Path, help="start only once this file exists")
    parser.add_argument("--action", choices=("kill", "pgterm", "term", "int"), default="kill")
    parser.add_argument("step")
    return parser.parse_args(argv[:split]), argv[split + 1:]


def _step(text: str) -> tuple[str, int, str | None]:
    """'sent:2' -> ('sent', 2, None); 'sql:INSERT INTO x:3' -> ('sql', 3, 'INSERT INTO x')."""
    for kind in ("sql", "rows"):
        if text.startswith(f"{kind}:"):
            pattern, _, count = text[len(kind) + 1:].rpartition(":")
            if pattern and count.isdigit():
                return kind, int(count), pattern
            return kind, 1, text[len(kind) + 1:]
    name, _, count = text.partition(":")
    return name, int(count or 1), None


def _track_backends() -> None:
    from sqlalchemy import Engine, event

    @event.listens_for(Engine, "connect")
    def _remember(dbapi_conn: Any, _record: Any) -> None:
        info = getattr(dbapi_conn, "info", None)
        if info is not None and hasattr(info, "backend_pid"):
            _backends.append(info)


def _terminate_backends(label: str) -> None:
    """From a second connection, end every backend of ours and wait until each is gone."""
    import psycopg

    if not _backends:
        raise SystemExit(f"crashpoint: {label}: no PostgreSQL connection to terminate")
    first = _backends[0]
    pids = sorted({info.backend_pid for info in _backends})
    with psycopg.connect(host=first.host, port=first.port, dbname=first.dbname,
                         user=first.user, autocommit=True) as admin:
        ended = sum(bool(admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
                         .fetchone()[0]) for pid in pids)  # type: ignore[index]
    print(f"crashpoint: {label} terminated {ended} backend(s)", file=sys.stderr, flush=True)


def _fault(action: str, label: str) -> None:
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(10)  # never reached: SIGKILL is not deliverable late
    if action == "term":  # `docker stop`: SIGTERM, then carry on as the process's handler says
        os.kill(os.getpid(), signal.SIGTERM)
        return
    if action == "int":  # Ctrl-C on the terminal
        os.kill(os.getpid(), signal.SIGINT)
        return
    _terminate_backends(label)


def _counter(nth: int) -> Callable[[], bool]:
    """True on the nth call only."""
    calls = 0

    def hit() -> bool:
        nonlocal calls
        calls += 1
        return calls == nth

    return hit


def _install(step: str, nth: int, pattern: str | None, action: str) -> None:
    hit = _counter(nth)
    label = f"{step}:{nth}"
    if step == "ingest":
        from worker.store import papers

        write = papers._Plan.write

        def write_then_fault(self: Any, conn: Any, dump_id: int) -> None:
            write(self, conn, dump_id)
            if hit():
                _fault(action, label)

        papers._Plan.write = write_then_fault  # type: ignore[method-assign]
    elif step == "matched":
        from worker import building

        match_each = building.match_each

        def match_then_fault(*args: Any, **kwargs: Any) -> Any:
            for match in match_each(*args, **kwargs):
                if hit():
                    _fault(action, label)
                yield match

        building.match_each = match_then_fault
    elif step == "built":
        from worker.app import Pipeline

        build = Pipeline.build_digests

        def build_then_fault(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = build(self, *args, **kwargs)
            if hit():
                _fault(action, label)
            return result

        Pipeline.build_digests = build_then_fault  # type: ignore[method-assign]
    elif step == "send":
        if action != "kill":  # half a message cannot be followed by anything sensible
            raise SystemExit("crashpoint: step `send` supports --action kill only")
        _install_mid_data(hit, action, label)
    elif step == "sent":
        from worker.store import outbox

        mark_sent = outbox.mark_sent

        def fault_then_mark(*args: Any, **kwargs: Any) -> bool:
            if hit():
                _fault(action, label)
            return mark_sent(*args, **kwargs)

        outbox.mark_sent = fault_then_mark
    elif step == "sql":
        _install_sql(re.compile(pattern or "", re.IGNORECASE | re.DOTALL), hit, action, label)
    elif step == "rows":
        from worker.store import outbox

        insert_rows = outbox.insert_rows

        def fault_then_insert(conn: Any, table: Any, columns: Any, rows: Any) -> None:
            if table.name == pattern and hit():
                _fault(action, label)
            insert_rows(conn, table, columns, rows)

        outbox.insert_rows = fault_then_insert
    elif step != "none":
        raise SystemExit(f"crashpoint: unknown step {step!r}")


def _install_mid_data(hit: Callable[[], bool], action: str, label: str) -> None:
    import smtplib

    send = smtplib.SMTP.send

    def send_half(self: smtplib.SMTP, s: Any) -> None:
        # smtplib sends commands as str and the message body (after DATA's 354) as bytes.
        if isinstance(s, bytes) and hit():
            assert self.sock is not None
            self.sock.sendall(s[: len(s) // 2])
            _fault(action, label)
        send(self, s)

    smtplib.SMTP.send = send_half  # type: ignore[method-assign]


def _install_sql(pattern: re.Pattern[str], hit: Callable[[], bool], action: str,
                 label: str) -> None:
    from sqlalchemy import Engine, event

    @event.listens_for(Engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if pattern.search(statement) and hit():
            _fault(action, label)


def _preload() -> None:
    """Import what a run imports lazily, before the barrier: runs then start within ms."""
    import worker.app
    import worker.delivery.smtp
    import worker.digest_mail
    import worker.render
    import worker.report
    import worker.sources.dump_dir
    import worker.store.opening
    import worker.store.outbox  # noqa: F401


def main(argv: list[str]) -> None:
    options, args = _parse(argv)
    step, nth, pattern = _step(options.step)
    import worker.cli

    _preload()

    if options.action == "pgterm":
        _track_backends()
    _install(step, nth, pattern, options.action)
    if options.wait_for is not None:
        # Say "ready" (a file beside the barrier), then wait for the barrier itself.
        options.wait_for.with_name(f"{options.wait_for.name}.ready.{os.getpid()}").touch()
        deadline = time.monotonic() + 60
        while not options.wait_for.exists():
            if time.monotonic() > deadline:
                raise SystemExit(f"crashpoint: {options.wait_for} never appeared")
            time.sleep(0.001)
    sys.argv = ["paper-digest", *args]
    worker.cli.main()


if __name__ == "__main__":
    main(sys.argv[1:])
