"""Digests per second sent over one SMTP connection, through the real pipeline.

    .venv/bin/python bench/smtp_throughput.py [--subscribers 1000] [--database-url URL]

Builds a config with N subscribers (each interested in one of 20 topics, so each gets a small
digest of 3 papers) and one dump of 60 papers, starts a loopback SMTP server in its own
process (bench/smtp_sink.py: aiosmtpd, counts and discards), then runs one pass with
worker.app.run_pass on a fresh database (SQLite in a temporary directory unless
--database-url is given; a PostgreSQL URL gets its own schema, dropped after).

Prints the delivery stage alone (timed around Pipeline.deliver: claim, render, send, mark
sent, for every digest) with where its time goes, and the whole pass (ingest, match, build,
deliver), each as seconds and digests/second, and the SMTP server's own count of messages
and connections.
Target: >= 200 digests/s for the delivery stage. Exits 1 if a digest was not sent, the
server saw more than one connection, or the target was missed.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TARGET = 200.0  # digests per second, delivery stage
NOW = datetime(2026, 3, 14, 20, tzinfo=UTC)
TOPICS = ["segmentation", "retrieval", "diffusion", "tokenizer", "robotics", "speech",
          "translation", "graph", "reinforcement", "quantization", "distillation", "ocr",
          "tracking", "captioning", "pruning", "federated", "protein", "weather", "music",
          "legal"]


def write_inputs(root: Path, subscribers: int, database_url: str, port: int) -> Path:
    config = root / "config"
    (config / "subscribers").mkdir(parents=True)
    (root / "dumps").mkdir()
    blocks = ["new", "Mar 14"]
    for index in range(60):  # 3 papers per topic
        topic = TOPICS[index % len(TOPICS)]
        blocks += [f"A study of {topic} number {index}",
                   f"We improve {topic} with method {index}; experiments show gains."]
    dump = root / "dumps" / "day.txt"
    dump.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    os.utime(dump, (NOW.timestamp(), NOW.timestamp()))
    (config / "worker.toml").write_text(
        f'database_url = "{database_url}"\noutput_dir = "{root / "out"}"\n'
        f'[[sources]]\nname = "local"\nkind = "dump_dir"\npath = "{root / "dumps"}"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nfrom = "Bench <bench@example.org>"\n',
        encoding="utf-8")
    for index in range(subscribers):
        (config / "subscribers" / f"s{index:05d}.toml").write_text(
            f'name = "Reader {index}"\nemail = "s{index:05d}@example.org"\n'
            f'deliver = ["email"]\nmin_score = 0.01\n'
            f'[interests]\nkeywords = ["{TOPICS[index % len(TOPICS)]}"]\n', encoding="utf-8")
    return config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def smtp_sink(root: Path) -> Iterator[tuple[int, Path]]:
    """The server in another process: the client's timings do not share its interpreter."""
    port, counts = free_port(), root / "smtp-counts.txt"
    proc = subprocess.Popen([sys.executable, str(REPO / "bench" / "smtp_sink.py"), "--port",
                             str(port), "--count-file", str(counts)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        sys.exit("the SMTP sink did not start")
    try:
        yield port, counts
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


@contextmanager
def database(url: str | None, root: Path) -> Iterator[str]:
    if url is None:
        yield f"sqlite:///{root / 'bench.db'}"
        return
    from sqlalchemy import create_engine, text

    from worker.store.db import normalize_url

    schema = f"pd_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(normalize_url(url))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{normalize_url(url)}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def stopwatch(owner: Any, name: str, spent: dict[str, float], label: str) -> Iterator[None]:
    """Add the time spent in owner.name (a function or method) to spent[label]."""
    original = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[label] = spent.get(label, 0.0) + time.perf_counter() - start

    setattr(owner, name, timed)
    try:
        yield
    finally:
        setattr(owner, name, original)


def timed_pass(config_dir: Path) -> dict[str, Any]:
    """One run_pass, timing Pipeline.deliver and, inside it, render (worker.rendering.Renderer's,
    where the digests are rendered in this process) / send / mark sent."""
    from contextlib import ExitStack

    from worker.app import Pipeline, run_pass
    from worker.delivery.smtp import SmtpChannel
    from worker.rendering import Renderer
    from worker.settings import load_config
    from worker.store import outbox
    from worker.store.opening import open_engine

    config = load_config(config_dir, {})
    engine = open_engine(config.settings.database_url)
    spent: dict[str, float] = {}
    with ExitStack() as stack:
        for owner, name, label in [(Pipeline, "deliver", "deliver"),
                                   (Renderer, "render", "render (load digest, templates, MIME)"),
                                   (SmtpChannel, "send", "send (SMTP, one connection)"),
                                   (outbox, "mark_sent", "mark sent (one commit each)"),
                                   (outbox, "claim_deliveries", "claim (leases)")]:
            stack.enter_context(stopwatch(owner, name, spent, label))
        start = time.perf_counter()
        report = run_pass(config, engine, NOW)
        whole = time.perf_counter() - start
    engine.dispose()
    sent = sum(d.status == "sent" for d in report.deliveries)
    return {"sent": sent, "not_sent": len(report.deliveries) - sent, "whole": whole,
            "deliver": spent.pop("deliver"), "parts": spent,
            "items": sum(s.items for s in report.subscribers.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--database-url", help="PostgreSQL base URL (default: SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with database(args.database_url, root) as url, smtp_sink(root) as (port, counts):
            config = write_inputs(root, args.subscribers, url, port)
            result = timed_pass(config)
        server = counts.read_text(encoding="utf-8").strip()
    backend = "postgresql" if args.database_url else "sqlite"
    n = result["sent"]
    rate, whole_rate = n / result["deliver"], n / result["whole"]
    print(f"smtp_throughput: {args.subscribers} subscribers, {backend}, one pass at {NOW:%F %R}")
    print(f"  digests sent: {n} ({result['items']} items), not sent: {result['not_sent']}")
    print(f"  delivery stage (Pipeline.deliver): {result['deliver']:.2f} s = {rate:.0f} digests/s "
          f"(target >= {TARGET:.0f})")
    for label, seconds in result["parts"].items():
        print(f"    {label}: {seconds:.2f} s, {1000 * seconds / max(n, 1):.2f} ms per digest")
    print(f"  whole pass (ingest, match, build, deliver): {result['whole']:.2f} s = "
          f"{whole_rate:.0f} digests/s")
    print(f"  SMTP server: {server}")
    problems = [why for failed, why in [
        (n != args.subscribers or result["not_sent"], "a digest was not sent"),
        ("connections=1" not in server.split(), "more than one SMTP connection"),
        (rate < TARGET, f"delivery below {TARGET:.0f} digests/s")] if failed]
    print(f"  NOT OK: {'; '.join(problems)}" if problems else "  OK")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
