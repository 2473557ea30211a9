"""serve's optional HTTP port: GET /healthz and GET /metrics, and with `[feedback]` the
feedback links (GET and POST .../mark and .../unsubscribe, worker.feedback); stdlib only, in
a thread."""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from worker.feedback import UNSUBSCRIBE
from worker.outage import DatabaseWatch

if TYPE_CHECKING:
    from worker.feedback import Desk

log = logging.getLogger("paper_digest.http")
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# A feedback page holds a signed link and a button that marks: not cached, not framed by
# another site (a button under someone else's page), no link or script of its own.
FEEDBACK_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
# The port may be public (feedback links): a connection that sends nothing is closed after
# REQUEST_TIMEOUT seconds without a byte, and at most MAX_CONNECTIONS are answered at once (a
# thread each; more are closed unanswered). Without both, every idle connection held a thread
# for good: 1,000 connections that never finished a request, 1,000 threads.
REQUEST_TIMEOUT = 10.0
MAX_CONNECTIONS = 64
# ...and a connection is cut off REQUEST_DEADLINE seconds after it was accepted, whatever it
# is doing: the timeout bounds each read, so a client sending a byte every 9 seconds (or
# reading the answer as slowly) held its slot for ever, and 64 of them shut the port to
# everyone else. A request of ours and its answer take milliseconds.
REQUEST_DEADLINE = 30.0
FEEDBACK_PATHS = ("/mark", "/unsubscribe")  # under any prefix a proxy gives them
# A link's signature, as a request line (logged at debug) or an error about one holds it: an
# unsubscribe link's never expires, and whoever reads the log could use it.
_TOKEN = re.compile(r"([?&;]t=)[^&;\s\"]*")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 limit: int, deadline: float):
        self.slots = threading.BoundedSemaphore(limit)
        self.deadline = deadline
        self.open: dict[Any, float] = {}  # connection -> when it is cut off
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):  # all busy: close this one at once
            self.shutdown_request(request)
            return
        with self.lock:
            self.open[request] = time.monotonic() + self.deadline
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread started: the slot is free again
            self._done(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._done(request)

    def _done(self, request: Any) -> None:
        with self.lock:
            self.open.pop(request, None)
        self.slots.release()

    def cut_off_late(self) -> None:
        """One thread for all connections (not a timer each): every so often, shut down
        those past their deadline. That ends any read or write on them at once; the
        handler's thread takes it as the client gone, and frees the slot."""
        while not self.stopped.wait(min(0.25, self.deadline / 4)):
            now = time.monotonic()
            with self.lock:
                late = [conn for conn, until in self.open.items() if until <= now]
            for conn in late:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client gone (or cut off) mid-answer is no error worth a traceback on stderr."""
        log.debug("http: connection from %s ended early", client_address[0], exc_info=True)


class StatusServer:
    """`health()` -> (ok, reason); `metrics()` -> exposition text. Both run per request."""

    def __init__(self, host: str, port: int, health: Callable[[], tuple[bool, str]],
                 metrics: Callable[[], str], feedback: Desk | None = None, *,
                 timeout: float = REQUEST_TIMEOUT, limit: int = MAX_CONNECTIONS,
                 deadline: float = REQUEST_DEADLINE):
        handler = _handler(health, metrics, feedback)
        handler.timeout = timeout  # each read of the socket (StreamRequestHandler)
        self.httpd = _Server((host, port), handler, limit, deadline)
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="http",
                                        daemon=True)
        self._reaper = threading.Thread(target=self.httpd.cut_off_late, name="http-deadline",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._reaper.start()

    def stop(self) -> None:
        self.httpd.stopped.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(health: Callable[[], tuple[bool, str]], metrics: Callable[[], str],
             feedback: Desk | None) -> type[BaseHTTPRequestHandler]:
    database = DatabaseWatch(log, "feedback")

    class Handler(BaseHTTPRequestHandler):
        server_version = "paper-digest"

        def do_POST(self) -> None:
            path, _, query = self.path.partition("?")
            if feedback is None or not path.endswith(FEEDBACK_PATHS):
                self._reply(404, "text/plain; charset=utf-8", "nothing to post here\n")
                return
            self._feedback("POST", path, query)

        def _feedback(self, method: str, path: str, query: str) -> None:
            assert feedback is not None
            params = dict(parse_qsl(query))
            leaving = path.endswith("/unsubscribe")
            try:
                page = (feedback.unsubscribe if leaving else feedback.answer)(method, params)
            except Exception as exc:  # the database is down: say so once, keep serving
                database.failed(exc)
                self._reply(503, "text/plain; charset=utf-8",
                            "paper-digest cannot record this now; try the link again later\n")
                return
            if page.status in (200, 404):  # the answers that read the database
                database.answered()
            said = urlencode([(k, params[k]) for k in ("s", "p", "v") if k in params])  # no token
            if method == "POST" and page.status == 200 and leaving:
                log.info("unsubscribe: %s", said, extra={
                    "event": "subscriber." + ("unsubscribed" if params.get("v", UNSUBSCRIBE)
                                              == UNSUBSCRIBE else "resubscribed"),
                    "subscriber": params["s"]})
            elif method == "POST" and page.status == 200:
                log.info("feedback: %s", said)
            elif method == "POST" and page.status == 410 and not leaving:  # no longer subscribed
                log.info("feedback refused, no longer subscribed: %s", said,
                         extra={"event": "feedback.unsubscribed", "subscriber": params["s"]})
            self._reply(page.status, "text/html; charset=utf-8", page.body, FEEDBACK_HEADERS)

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            if feedback is not None and path.endswith(FEEDBACK_PATHS):
                self._feedback("GET", path, query)
            elif path == "/healthz":
                ok, reason = health()
                self._reply(200 if ok else 503, "text/plain; charset=utf-8", reason + "\n")
            elif path == "/metrics":
                self._reply(200, METRICS_TYPE, metrics())
            else:
                self._reply(404, "text/plain; charset=utf-8", "try /healthz or /metrics\n")

        def do_HEAD(self) -> None:  # a load balancer's check: GET's answer without its body
            self.head = True
            self.do_GET()

        head = False

        def _reply(self, status: int, content_type: str, body: str,
                   headers: dict[str, str] | None = None) -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if not self.head:
                self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # scrapes are not events
            log.debug("http %s", _TOKEN.sub(r"\1***", format % args))  # (-vv: request lines)

    return Handler
