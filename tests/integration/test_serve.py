"""`paper-digest serve` as a real process, started as the image starts it, against a real SMTP
server on loopback: schedules fire within seconds, files added, edited, deleted and broken
while it runs take effect, and SIGTERM during a send exits 0 with nothing half-sent."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.integration.dockerfile import REPO, read_image
from tests.integration.helpers import add_seed_day, make_config, wait_for
from tests.integration.smtpserver import Handler, free_port, smtp_server
from worker.store.opening import open_engine
from worker.store.schema import deliveries, digests, heartbeats

BIN = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin"
SERVE = """
[serve]
check_every = "1s"
heartbeat = "1s"
reload = "1s"
fetch_every = "1s"
default_schedule = "every 2s"
http_port = {port}
[feedback]
url = "http://127.0.0.1:{port}/digest"
"""
SECRET = "serve-test-feedback-secret"
PROFILE = """
email = "{email}"
min_score = 0.0
max_items = 500
[interests]
keywords = ["model", "language", "vision", "learning", "data", "image", "video"]
"""

pytestmark = pytest.mark.slow


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    log: Path
    http: int
    handler: Handler

    def events(self) -> list[dict[str, object]]:
        out = []
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                out.append({"msg": line, "event": "not-json"})
        return out

    def saw(self, event: str, subject: str) -> bool:
        return any(e.get("event") == event and e.get("subject") == subject
                   for e in self.events())

    def to(self, address: str) -> list[object]:
        return [m for m in self.handler.messages if parseaddr(str(m["To"]))[1] == address]

    def image_command(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / args[0]), *args[1:]], env=self.env,
                              capture_output=True, text=True, timeout=60)


@pytest.fixture
def served(tmp_path: Path, seeds_dir: Path, sqlite_url: str) -> Iterator[Served]:
    image, http = read_image(), free_port()
    with smtp_server(Handler()) as (handler, port):
        config = make_config(tmp_path, sqlite_url,
                             {name: PROFILE.format(email=f"{name}@example.org")
                              for name in ("alice", "bob", "dave")},
                             smtp_port=port, extra=SERVE.format(port=http))
        add_seed_day(tmp_path, seeds_dir, "2026-03-12")
        # The image's environment, with the mounts (/config, /data) at test paths.
        env = {**os.environ, **image.env, "PAPER_DIGEST_CONFIG": str(config),
               "PAPER_DIGEST_DATABASE_URL": sqlite_url, "PAPER_DIGEST_FEEDBACK_SECRET": SECRET}
        env.pop("PAPER_DIGEST_LOG_FORMAT", None)
        log = tmp_path / "serve.log"
        with log.open("wb") as stderr:
            process = subprocess.Popen(  # ENTRYPOINT + CMD, as `docker run` starts it
                [str(BIN / image.entrypoint[0]), *image.entrypoint[1:], *image.cmd],
                env=env, stdout=subprocess.DEVNULL, stderr=stderr, cwd=tmp_path)
        try:
            yield Served(process, env, log, http, handler)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_serve_end_to_end(served: Served, tmp_path: Path, seeds_dir: Path,
                          sqlite_url: str) -> None:
    config = tmp_path / "config" / "subscribers"
    # 1. The first slots after start: everyone gets the papers of the 12th.
    assert wait_for(lambda: all(served.to(f"{n}@example.org") for n in ("alice", "bob",
                                                                           "dave")), 30), \
        served.log.read_text()
    health = served.image_command(read_image().healthcheck)  # Docker's HEALTHCHECK
    assert health.returncode == 0, health.stdout + health.stderr
    assert get(served.http, "/healthz") == (200, "ok\n")
    status, metrics = get(served.http, "/metrics")
    assert status == 200 and "paper_digest_papers_new_total 166" in metrics
    assert 'paper_digest_digests_total{channel="email",status="sent"} 3' in metrics
    _a_feedback_link_marks(served, sqlite_url)

    # 2. While it runs: bob edited, carol added, alice deleted, dave's file broken.
    (config / "bob.toml").write_text(PROFILE.format(email="robert@example.org"), "utf-8")
    (config / "carol.toml").write_text(PROFILE.format(email="carol@example.org")
                                       + 'like = ["A Paper Nobody Wrote"]\n', "utf-8")
    (config / "alice.toml").unlink()
    (config / "dave.toml").write_text("[interests\nkeywords = 1\n", "utf-8")
    assert wait_for(lambda: all(served.saw(event, who) for event, who in (
        ("config.updated", "bob"), ("config.added", "carol"), ("config.removed", "alice"),
        ("config.kept", "dave"))), 15), served.log.read_text()
    _a_removed_subscriber_s_link_marks_nothing(served, sqlite_url)
    alice_before, bob_before, dave_before = (len(served.to(f"{n}@example.org"))
                                             for n in ("alice", "bob", "dave"))
    add_seed_day(tmp_path, seeds_dir, "2026-03-13")
    assert wait_for(lambda: served.to("robert@example.org") and served.to("carol@example.org")
                    and len(served.to("dave@example.org")) > dave_before, 30), \
        served.log.read_text()
    assert len(served.to("alice@example.org")) == alice_before  # deleted: no more
    assert len(served.to("bob@example.org")) == bob_before  # edited: goes to robert now
    assert wait_for(lambda: served.saw("examples.unused", "carol"), 5)  # told, not dropped
    assert any('examples not used (not listed by any source): "A Paper Nobody Wrote"'
               in str(e.get("msg")) for e in served.events()), served.log.read_text()

    # 3. SIGTERM while a send is in progress.
    served.handler.delay = 2.0
    connections = served.handler.connections
    add_seed_day(tmp_path, seeds_dir, "2026-03-14")
    assert wait_for(lambda: served.handler.connections > connections, 30)
    time.sleep(0.5)  # inside DATA now
    stopped_at = time.monotonic()
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=10) == 0
    assert time.monotonic() - stopped_at < 10
    events = [e.get("event") for e in served.events()]
    assert "serve.stop" in events and "not-json" not in events
    assert all(e.get("clean") for e in served.events() if e.get("event") == "serve.stop")
    _nothing_half_sent(served, sqlite_url)
    after = served.image_command(read_image().healthcheck)
    assert after.returncode == 1  # stopped cleanly: its heartbeat is gone


def _a_feedback_link_marks(served: Served, url: str) -> None:
    """The "Fewer like this" link of alice's first paper, as her email's text part gives it,
    answered by serve's own port: a page with a button, then the mark."""
    from worker.store.marks import marks_for

    [first, *_] = served.to("alice@example.org")
    text = first.get_body(("plain",)).get_content()  # type: ignore[attr-defined]
    fewer = re.search(r"Fewer like this: (http://\S+)", text)
    assert fewer, text
    path = fewer.group(1).split(str(served.http), 1)[1]
    status, page = get(served.http, path)
    assert status == 200 and "Yes, fewer like this" in page
    request = urllib.request.Request(fewer.group(1), data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=5) as reply:
        assert reply.status == 200 and "as unliked" in reply.read().decode()
    engine = open_engine(url)
    try:
        [mark] = marks_for(engine, ["alice"])["alice"]
    finally:
        engine.dispose()
    assert mark.verdict == "unlike"
    assert any(str(e.get("msg", "")).startswith("feedback: s=alice&p=") for e in served.events())


def _a_removed_subscriber_s_link_marks_nothing(served: Served, url: str) -> None:
    """alice's file is gone (hot reload saw it): her links still verify, but serve's port
    answers 410 to opening and to pressing, and her mark stays as it was."""
    from worker.store.marks import marks_for

    [first, *_] = served.to("alice@example.org")
    text = first.get_body(("plain",)).get_content()  # type: ignore[attr-defined]
    more = re.search(r"More like this:\s+(http://\S+)", text)  # the paper she marked
    assert more, text
    path = more.group(1).split(str(served.http), 1)[1]
    status, page = get(served.http, path)
    assert status == 410 and "You are no longer subscribed" in page
    request = urllib.request.Request(more.group(1), data=b"", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 410 and "Nothing was marked" in refused.value.read().decode()
    engine = open_engine(url)
    try:
        [mark] = marks_for(engine, ["alice"])["alice"]
    finally:
        engine.dispose()
    assert mark.verdict == "unlike"  # as _a_feedback_link_marks left it
    assert any(e.get("event") == "feedback.unsubscribed" and e.get("subscriber") == "alice"
               for e in served.events()), served.log.read_text()


def _nothing_half_sent(served: Served, url: str) -> None:
    """Marked sent <=> accepted by the SMTP server; what is left is pending and unleased."""
    engine = open_engine(url)
    with engine.connect() as conn:
        rows = list(conn.execute(select(deliveries.c.status, deliveries.c.lease_owner,
                                        deliveries.c.attempts, digests.c.message_id)
                                 .join(digests, digests.c.id == deliveries.c.digest_id)))
        beats = list(conn.execute(select(heartbeats)))
    engine.dispose()
    received = [m["Message-ID"] for m in served.handler.messages]
    assert len(received) == len(set(received))  # nothing sent twice
    sent = {r.message_id for r in rows if r.status == "sent"}
    assert sent == set(received)
    pending = [r for r in rows if r.status == "pending"]
    assert all(r.lease_owner is None and r.attempts == 0 for r in pending), pending
    assert not [r for r in rows if r.status == "failed"]
    assert beats == []
