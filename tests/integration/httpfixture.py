"""A real HTTP server on 127.0.0.1 for fetch tests, scripted per path (no conftest needed).

    with FixtureServer() as server:
        server.route("/api/daily_papers", Reply(500), Reply(200, body, json_type))
        url = server.url  # http://127.0.0.1:<port>

Each request to a path takes the next scripted Reply; the last one repeats. A route may be
keyed by path or by path and query (`/list/cs.CV/new?skip=0&show=2000`); the full key wins.
Replies can be slow (`delay`; `trickle`: the body a byte at a time), cut short (`truncate`:
the connection closes mid-body), or conditional (`etag`: a matching If-None-Match gets 304).
Every request is recorded.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
JSON = "application/json; charset=utf-8"
HTML = "text/html; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"
TEXT = "text/plain; charset=utf-8"


def shared_fixture(*parts: str) -> bytes:
    path = SHARED.joinpath("fixtures", *parts)
    if not path.exists():
        pytest.skip(f"fixture {path} absent")
    return path.read_bytes()


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (timeouts)
    truncate: int | None = None  # send only this many body bytes, then close
    etag: str | None = None  # answer 304 when the request's If-None-Match matches
    length: bool = True  # send Content-Length (False: the body ends when the socket closes)
    trickle: float = 0.0  # seconds between the body's bytes, sent one at a time


@dataclass(frozen=True)
class Seen:
    path: str  # with the query string
    headers: dict[str, str]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self.server.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}))
        reply = self.server.next_reply(self.path)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.etag and self.headers.get("If-None-Match") == reply.etag:
            self.send_response(304)
            self.send_header("ETag", reply.etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        if reply.etag:
            self.send_header("ETag", reply.etag)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.length:
            self.send_header("Content-Length", str(len(reply.body)))
        else:
            self.send_header("Connection", "close")
        self.end_headers()
        body = reply.body if reply.truncate is None else reply.body[: reply.truncate]
        for chunk in ([body[i:i + 1] for i in range(len(body))] if reply.trickle else [body]):
            try:
                self.wfile.write(chunk)
                self.wfile.flush()
            except OSError:  # the client gave up
                return
            time.sleep(reply.trickle)
        if reply.truncate is not None or not reply.length:
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, list[Reply]] = {}
        self.seen: list[Seen] = []
        self.lock = threading.Lock()

    def next_reply(self, path: str) -> Reply:
        with self.lock:
            key = path if path in self.routes else path.partition("?")[0]
            replies = self.routes.get(key)
            if not replies:
                return Reply(404, b"no route for " + path.encode(), TEXT)
            return replies.pop(0) if len(replies) > 1 else replies[0]


class FixtureServer:
    def __init__(self) -> None:
        self._server = _Server()
        # A short poll interval: shutdown() waits for it, once per test.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def seen(self) -> list[Seen]:
        return self._server.seen

    def route(self, path: str, *replies: Reply) -> None:
        with self._server.lock:
            self._server.routes[path] = list(replies)

    def __enter__(self) -> FixtureServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

