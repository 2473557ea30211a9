"""DNS rebinding: a redirect's target is judged again by the address its connection reached.

Real HTTP servers on 127.0.0.1 and the Fetcher's own transport. The test's names (*.test) have
two answers, as a rebinding DNS server gives them: the Fetcher's `resolve`, which
`Guard.check_redirect` asks, says what `LOOKED_UP` says (public for most), while the connection's
own look-up (socket.getaddrinfo, patched for these names only) lands on 127.0.0.1, where the
servers are.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.clock import FakeClock
from worker.errors import SourceError
from worker.sources import DumpFailure, SourceContext, source_class
from worker.sources.http import Fetcher, FetchSettings

from .httpfixture import TEXT, FixtureServer, Reply

NOW = datetime(2026, 9, 28, 12, tzinfo=UTC)
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
# What `resolve` answers when a redirect is checked; any other name resolves to nothing.
LOOKED_UP = {"mirror.test": ("93.184.215.14",), "hf.test": ("93.184.215.14",),
             "rebind.test": ("93.184.215.15",), "cdn.test": ("93.184.215.16",),
             "lan-mirror.test": ("10.0.0.5",), "intranet.test": ("10.0.0.9",)}
NOT_FOLLOWED = (r"redirected from {source} to {target}, whose name resolved to an internal "
                r"address when connecting \(127\.0\.0\.1: this machine or its network\): "
                r"not followed")


class Network:
    """The test's names, reached on 127.0.0.1 whatever `resolve` said of them. Counts each
    connection's look-up of a name (`connects`), and which servers' address a client asked
    for (`peers_asked`, by port); a server in `shown_as` shows that address instead of
    127.0.0.1, as a public server behind the name would."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.connects: list[str] = []
        self.peers_asked: list[int] = []
        self.shown_as: dict[int, str] = {}
        real_getaddrinfo, real_getpeername = socket.getaddrinfo, socket.socket.getpeername

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            if host in LOOKED_UP:
                self.connects.append(host)
                host = "127.0.0.1"
            return real_getaddrinfo(host, port, *args, **kwargs)

        def getpeername(sock: socket.socket) -> Any:
            peer = real_getpeername(sock)
            self.peers_asked.append(peer[1])
            return (self.shown_as.get(peer[1], peer[0]), *peer[1:])

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        monkeypatch.setattr(socket.socket, "getpeername", getpeername)


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> Network:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return Network(monkeypatch)


def fetcher(asked: list[str] | None = None) -> Fetcher:
    def resolve(host: str) -> tuple[str, ...]:
        if asked is not None:
            asked.append(host)
        return LOOKED_UP.get(host, ())

    clock = FakeClock(NOW)
    return Fetcher(settings=FetchSettings(max_attempts=1, connect_timeout=5, read_timeout=5),
                   sleep=clock.sleep, clock=clock.monotonic, wall_clock=clock.wall,
                   resolve=resolve)


def port(server: FixtureServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


@pytest.fixture
def mirror() -> Iterator[FixtureServer]:
    """The public source."""
    with FixtureServer() as server:
        yield server


@pytest.fixture
def internal() -> Iterator[FixtureServer]:
    """What only the worker's machine reaches (a metadata service, an admin page)."""
    with FixtureServer() as server:
        server.route("/secret", Reply(200, b"secrets", TEXT))
        yield server


@pytest.mark.parametrize("follow", [True, False])
def test_a_redirect_to_a_name_that_connects_to_this_machine_is_not_followed(
        network, mirror, internal, follow):
    """The look-up when the redirect is checked says public, the connection's says
    127.0.0.1: refused once connected, before the request is written; the internal server
    never sees it. Followed by httpx or one hop at a time (get_until's `redirected_from`)."""
    target = f"http://rebind.test:{port(internal)}/secret"
    mirror.route("/dump.txt", Reply(302, headers={"Location": target}))
    source = f"http://mirror.test:{port(mirror)}/dump.txt"
    refused = pytest.raises(SourceError, match=NOT_FOLLOWED.format(source="mirror.test",
                                                                   target=target))
    with fetcher() as f, refused as err:
        if follow:
            f.fetch(source, source="s")
        else:
            hop = f.fetch(source, source="s", follow_redirects=False)
            f.fetch(hop.final_url, source="s", follow_redirects=False, redirected_from=source)
    assert internal.seen == [] and network.connects.count("rebind.test") == 1
    assert err.value.source == "s" and len(mirror.seen) == 1


def test_hf_papers_redirect_followed_hop_by_hop_is_judged_from_the_source(
        network, mirror, internal):
    """hf_papers follows its redirects one at a time (get_until): the later hop is a request
    of its own, judged as a redirect from the source's URL; the day fails as any failed
    fetch does, naming the target, and the fetcher goes on with the next request."""
    target = f"http://rebind.test:{port(internal)}/secret"
    mirror.route("/papers/date/2026-09-28", Reply(302, headers={"Location": target}))
    mirror.route("/next", Reply(200, b"next source", TEXT))
    cls = source_class("hf_papers")
    options = cls.Options(base_url=f"http://hf.test:{port(mirror)}", date="2026-09-28")
    with fetcher() as f:
        ctx = SourceContext(now=NOW, is_known=lambda h: False, http=f)
        [failure] = list(cls("hf", options).collect(ctx))
        assert isinstance(failure, DumpFailure)
        assert f.fetch(f"http://hf.test:{port(mirror)}/next", source="t").body == b"next source"
    assert "whose name resolved to an internal address when connecting" in failure.reason
    assert target in failure.reason and internal.seen == []


@contextmanager
def silent_listener() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP server that answers nothing and records the first bytes of each connection
    (b"": the client closed without writing any)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    received: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                received.append(conn.recv(65536))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], received
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_an_https_target_is_refused_before_tls_begins(network, mirror):
    """The check is on the TCP connection, before TLS: not even a ClientHello (with its
    server name) is written to the internal address."""
    with silent_listener() as (listening, received):
        target = f"https://rebind.test:{listening}/secret"
        mirror.route("/dump.txt", Reply(302, headers={"Location": target}))
        with fetcher() as f, pytest.raises(SourceError, match=NOT_FOLLOWED.format(
                source="mirror.test", target=target)):
            f.fetch(f"http://mirror.test:{port(mirror)}/dump.txt", source="s")
        deadline = time.monotonic() + 5
        while not received and time.monotonic() < deadline:
            time.sleep(0.01)
    assert received == [b""]  # connected, then closed without a byte


def test_a_kept_connection_to_a_name_that_connected_here_carries_no_redirect_there(
        network, mirror, internal):
    """A connection made for the name when it was asked for itself (a source of its own) is
    kept open; a public source's redirect there later makes no new connection, so nothing is
    connected to check: the request is judged by where that name's connections went."""
    internal.route("/own", Reply(200, b"own", TEXT))
    target = f"http://rebind.test:{port(internal)}/secret"
    mirror.route("/dump.txt", Reply(302, headers={"Location": target}))
    with fetcher() as f:
        assert f.fetch(f"http://rebind.test:{port(internal)}/own", source="own").body == b"own"
        with pytest.raises(SourceError, match=NOT_FOLLOWED.format(source="mirror.test",
                                                                  target=target)):
            f.fetch(f"http://mirror.test:{port(mirror)}/dump.txt", source="s")
    assert [seen.path for seen in internal.seen] == ["/own"]
    assert network.connects.count("rebind.test") == 1  # the redirect went on the kept one


def test_a_public_source_may_redirect_to_a_public_server(network, mirror):
    """Through the check: the target's connection is judged, and shows a public address."""
    with FixtureServer() as cdn:
        cdn.route("/d.txt", Reply(200, b"papers", TEXT))
        network.shown_as[port(cdn)] = "93.184.215.16"
        target = f"http://cdn.test:{port(cdn)}/d.txt"
        mirror.route("/dump.txt", Reply(302, headers={"Location": target}))
        with fetcher() as f:
            result = f.fetch(f"http://mirror.test:{port(mirror)}/dump.txt", source="s")
        assert result.body == b"papers" and result.final_url == target
        assert port(cdn) in network.peers_asked


@pytest.mark.parametrize("source_host", ["127.0.0.1", "lan-mirror.test"])
def test_a_source_on_the_local_network_may_redirect_within_it(network, internal,
                                                              source_host):
    """Written as an address or named, a source on this machine or its network may send the
    fetcher to a name that connects here, whatever that name's look-up said when checked."""
    asked: list[str] = []
    with FixtureServer() as lan:
        target = f"http://rebind.test:{port(internal)}/secret"
        lan.route("/dump.txt", Reply(302, headers={"Location": target}))
        with fetcher(asked) as f:
            result = f.fetch(f"http://{source_host}:{port(lan)}/dump.txt", source="s")
    assert result.body == b"secrets" and [s.path for s in internal.seen] == ["/secret"]
    assert port(internal) in network.peers_asked  # judged, and let through
    if source_host == "lan-mirror.test":
        assert asked == ["rebind.test", "lan-mirror.test"]  # the check asked about the source


def test_through_a_proxy_the_connection_is_the_proxys_and_is_not_judged(
        network, monkeypatch):
    """The proxy, on this machine here, is where every connection goes and it looks the
    names up itself: a public source's redirect through it is followed (not covered)."""
    with FixtureServer() as proxy:
        proxy.route("http://mirror.test/dump.txt",
                    Reply(302, headers={"Location": "http://cdn.test/d.txt"}))
        proxy.route("http://cdn.test/d.txt", Reply(200, b"via proxy", TEXT))
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        with fetcher() as f:
            assert f.fetch("http://mirror.test/dump.txt", source="s").body == b"via proxy"
    assert [seen.path for seen in proxy.seen] == ["http://mirror.test/dump.txt",
                                                  "http://cdn.test/d.txt"]
    assert port(proxy) in network.peers_asked and network.connects == []
