"""The fetcher's TLS half is made at the first https request, and it is still httpx's own:
it verifies servers, honours SSL_CERT_FILE, and environment proxies still apply (real
servers on 127.0.0.1; a self-signed certificate made with the openssl command)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.clock import FakeClock
from worker.errors import SourceError
from worker.sources.http import Fetcher, FetchSettings

from .httpfixture import TEXT, FixtureServer, Reply

NOW = datetime(2026, 9, 28, 12, tzinfo=UTC)
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "SSL_CERT_FILE",
                   "SSL_CERT_DIR")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def fetcher() -> Fetcher:
    clock = FakeClock(NOW)
    return Fetcher(settings=FetchSettings(max_attempts=1), sleep=clock.sleep,
                   clock=clock.monotonic, wall_clock=clock.wall)


class _Hello(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", TEXT)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")


@pytest.fixture
def certificate(tmp_path: Path) -> Path:
    """A self-signed certificate (and its key, in the same file) for 127.0.0.1."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    pem = tmp_path / "loopback.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(pem), "-out", str(pem)], check=True, capture_output=True)
    return pem


class _ToPlain(_Hello):
    """Redirects every request to the plain-http address in the server's `target`."""

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.server.target)  # type: ignore[attr-defined]
        self.send_header("Content-Length", "0")
        self.end_headers()


@contextmanager
def _serve_tls(certificate: Path, handler: type[BaseHTTPRequestHandler],
               target: str = "") -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.target = target  # type: ignore[attr-defined]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def tls_server(certificate: Path) -> Iterator[str]:
    with _serve_tls(certificate, _Hello) as url:
        yield url


def test_plain_http_loads_no_tls():
    with FixtureServer() as server, fetcher() as f:
        server.route("/dump.txt", Reply(200, b"hello", TEXT))
        assert f.fetch(f"{server.url}/dump.txt", source="s").body == b"hello"
        assert f.client._transport.tls_ready is False  # the CA bundle was never loaded


def test_https_verifies_the_server(tls_server):
    with fetcher() as f, pytest.raises(SourceError, match="CERTIFICATE_VERIFY_FAILED"):
        f.fetch(f"{tls_server}/x", source="s")
    assert f.client._transport.tls_ready


def test_https_trusts_what_ssl_cert_file_names(tls_server, certificate, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))  # httpx's own trust_env setting
    with fetcher() as f:
        assert f.fetch(f"{tls_server}/x", source="s").body == b"hello"


def test_a_redirect_to_https_is_verified(tls_server):
    with FixtureServer() as server, fetcher() as f:
        server.route("/moved", Reply(301, headers={"Location": f"{tls_server}/x"}))
        with pytest.raises(SourceError, match="CERTIFICATE_VERIFY_FAILED"):
            f.fetch(f"{server.url}/moved", source="s")


def test_environment_proxies_still_apply(monkeypatch):
    with FixtureServer() as proxy:
        proxy.route("http://papers.invalid/dump.txt", Reply(200, b"via proxy", TEXT))
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        with fetcher() as f:
            result = f.fetch("http://papers.invalid/dump.txt", source="s")
        assert result.body == b"via proxy"
        assert [seen.path for seen in proxy.seen] == ["http://papers.invalid/dump.txt"]


@pytest.mark.parametrize("follow", [True, False])
def test_a_redirect_from_https_to_plain_http_is_refused(certificate, monkeypatch, follow):
    """Followed by httpx or one by one (get_until's kinds), an https source sent to plain http
    is not: the plain server is never asked, and the error names where it was sent."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))
    with FixtureServer() as plain, fetcher() as f:
        plain.route("/dump.txt", Reply(200, b"swapped papers", TEXT))
        refused = pytest.raises(SourceError, match=rf"redirected from https to plain http "
                                                   rf"\({plain.url}/dump.txt\): not followed")
        with _serve_tls(certificate, _ToPlain, f"{plain.url}/dump.txt") as tls, refused:
            f.fetch(f"{tls}/dump.txt", source="s", follow_redirects=follow)
        assert plain.seen == []
