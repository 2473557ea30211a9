"""serve's optional HTTP port: GET /healthz and GET /metrics, stdlib only, in a thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("paper_digest.http")
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class StatusServer:
    """`health()` -> (ok, reason); `metrics()` -> exposition text. Both run per request."""

    def __init__(self, host: str, port: int, health: Callable[[], tuple[bool, str]],
                 metrics: Callable[[], str]):
        handler = _handler(health, metrics)
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="http",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(health: Callable[[], tuple[bool, str]],
             metrics: Callable[[], str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "paper-digest"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                ok, reason = health()
                self._reply(200 if ok else 503, "text/plain; charset=utf-8", reason + "\n")
            elif path == "/metrics":
                self._reply(200, METRICS_TYPE, metrics())
            else:
                self._reply(404, "text/plain; charset=utf-8", "try /healthz or /metrics\n")

        def _reply(self, status: int, content_type: str, body: str) -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # scrapes are not events
            log.debug("http %s", format % args)

    return Handler
