"""Where the fetcher's requests may go: a redirect judged by its target, then again at its socket.

A redirect that would lose what the source's URL promised is refused (`Guard.check_redirect`):
from https to plain http, or from a public host to this machine or its network, its target's
name looked up when the redirect is checked. The connection then looks the name up again, on
its own. A DNS server that answers a public address to the first look-up and 127.0.0.1 or
169.254.169.254 to the second (DNS rebinding) would have the request sent there. So every
request carries httpcore's `trace` extension, a `ConnectionCheck`, which httpcore calls with
the network stream it has just connected: the address the socket reached is judged, before TLS
starts and before a byte of the request is written.

Not covered: a request through a proxy (HTTP_PROXY and the rest, which httpx honours). The
socket then reaches the proxy, usually on the local network on purpose, and the proxy looks
the name up itself, where the worker cannot see it; such requests are not judged here.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable
from typing import Any

import httpx

DEFAULT_PORTS = {"http": 80, "https": 443}
SOURCE_URL = "paper_digest.source_url"  # request extension: the URL the source asked for


class Refused(Exception):
    """A redirect not followed (Guard.check_redirect, ConnectionCheck): why, and where it
    went."""


def internal_address(text: str) -> bool | None:
    """Is `text` an address of this machine or a private network; None: not an address."""
    try:
        address = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    return (address.is_private or address.is_loopback or address.is_link_local
            or address.is_reserved or address.is_unspecified)


def host_addresses(host: str) -> tuple[str, ...]:
    """The addresses `host` resolves to on this machine, or none where it does not."""
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return ()
    return tuple(dict.fromkeys(str(info[4][0]) for info in found))


def peer_address(stream: Any) -> str | None:
    """The address a network stream is connected to; None when it cannot tell (a socket the
    server already reset, a stream that is no socket)."""
    try:
        peer = stream.get_extra_info("server_addr")
    except OSError:
        return None
    if isinstance(peer, tuple) and peer and isinstance(peer[0], str):
        return peer[0]
    return None


class Peers:
    """The addresses the connections of one Fetcher reached, by the host and port each was
    made to. httpcore keeps a connection open for the next request to the same server, and a
    request on a kept connection connects nothing: it is judged by where the connections to
    that server went. One the worker made to a name that answered 127.0.0.1 then (a source
    of its own, or a redirect from a source on the local network) must not carry a public
    source's redirect there later, after the name's look-up said public."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, int], set[str | None]] = {}
        self._lock = threading.Lock()  # an httpx.Client may be shared by threads

    def add(self, where: tuple[str, int], peer: str | None) -> None:
        with self._lock:
            self._seen.setdefault(where, set()).add(peer)

    def of(self, where: tuple[str, int]) -> tuple[str | None, ...]:
        with self._lock:
            return tuple(self._seen.get(where, ()))


def where(url: httpx.URL) -> tuple[str, int]:
    """The host and port a direct connection for `url` is made to, as httpcore writes them."""
    return url.raw_host.decode("ascii"), url.port or DEFAULT_PORTS.get(url.scheme, 0)


class ConnectionCheck:
    """httpcore's `trace` callback for one request: one hop of a redirect chain.

    The policy is `Guard.check_redirect`'s: a request to another host than the source's, from a
    source that is not itself on this machine or its network, must not reach an address that
    is. httpcore calls it at `connection.connect_tcp.complete` with the new stream (raising
    there aborts the request before TLS and before it is written; the socket is closed here,
    as httpcore does not), and at `*.send_request_headers.started` for every request, a kept
    connection's too, which is judged by what `peers` saw. A connection to another host or
    port than the request's is to a proxy: not judged (the module's docstring says why)."""

    def __init__(self, source: httpx.URL, url: httpx.URL, peers: Peers,
                 internal_host: Callable[[str], bool]):
        self.source, self.url, self.peers = source, url, peers
        self.internal_host = internal_host  # Guard.internal: a name looked up, or not
        self.where = where(url)
        self._connecting: tuple[str, int] | None = None
        self._away_from_public: bool | None = None  # known once an address asks

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.started":
            self._connecting = (str(info["host"]), int(info["port"]))
        elif event == "connection.connect_tcp.complete" and self._connecting is not None:
            self._connected(self._connecting, info["return_value"])
        elif event.endswith(".send_request_headers.started") and "request" in info:
            self._sending(info["request"])

    def _connected(self, to: tuple[str, int], stream: Any) -> None:
        peer = peer_address(stream)
        self.peers.add(to, peer)
        if to == self.where and self._refused(peer):
            stream.close()
            raise Refused(self._why(peer))

    def _sending(self, request: Any) -> None:
        origin = request.url.origin  # an httpcore.URL's
        if (origin.host.decode("ascii"), origin.port) != self.where:
            return  # written to a forward proxy, which connects to the server itself
        for peer in self.peers.of(self.where):
            if self._refused(peer):
                raise Refused(self._why(peer))

    def _refused(self, peer: str | None) -> bool:
        """An address that is not plainly public (internal, or unknown) is refused when the
        request is a redirect away from a public source. The source's host is looked up
        only then, once a request, so an ordinary request costs no look-up."""
        if peer is not None and internal_address(peer) is False:
            return False
        if self._away_from_public is None:
            self._away_from_public = (self.url.host != self.source.host
                                      and not self.internal_host(self.source.host))
        return self._away_from_public

    def _why(self, peer: str | None) -> str:
        if peer is None:
            return (f"redirected from {self.source.host} to {self.url}, whose address could "
                    "not be told when connecting")
        return (f"redirected from {self.source.host} to {self.url}, whose name resolved to an "
                f"internal address when connecting ({peer}: this machine or its network)")


class Guard:
    """Where one Fetcher's requests may go: its httpx.Client's event hooks, called for each
    request and response of a redirect chain, whoever follows it."""

    def __init__(self, resolve: Callable[[str], tuple[str, ...]] = host_addresses):
        self.resolve = resolve
        self.peers = Peers()  # where this client's connections went (ConnectionCheck)

    def check_redirect(self, response: httpx.Response) -> None:
        """Refuse a redirect, however redirects are followed, that would lose what the
        source's URL promised. From https to plain http: that the server is who it says and
        that nobody on the way changed the papers, and a spoofed answer could send the
        fetcher anywhere. From a public host to this machine or its network (loopback,
        private or link-local, written as an address or a name that resolves to one): a
        compromised mirror could make the worker ask the machines only it can reach (a
        cloud's metadata service at 169.254.169.254, or `metadata.google.internal`). A host
        on the local network may redirect within it. The fetch fails, naming where it was
        sent; the source's URL is the fix. The name is looked up here, before anything is
        asked of it; `check_connection` judges again the address the connection reached."""
        if not response.has_redirect_location:
            return
        source = response.request.url
        target = source.join(response.headers["location"])
        if source.scheme == "https" and target.scheme == "http":
            raise Refused(f"redirected from https to plain http ({target})")
        if (target.host != source.host and self.internal(target.host)
                and not self.internal(source.host)):
            raise Refused(f"redirected from {source.host} to an address of this machine or "
                          f"its network ({target})")

    def check_connection(self, request: httpx.Request) -> None:
        """Give each request, a redirect's included, httpcore's `trace` extension: a
        ConnectionCheck that refuses, before the request is written, a connection that reached
        what `check_redirect` refuses, whatever the name answered when that looked it up (DNS
        rebinding). httpx copies a request's extensions to the redirect it follows, so the
        URL the source asked for (SOURCE_URL), set on the first, stays with the chain."""
        source = request.extensions.setdefault(SOURCE_URL, request.url)
        request.extensions["trace"] = ConnectionCheck(source, request.url, self.peers,
                                                      self.internal)

    def internal(self, host: str) -> bool:
        """Is `host` this machine or its network: an address, `localhost`, or a name any of
        whose addresses is one (a name that does not resolve is not: nothing is reached)."""
        if host == "localhost" or host.endswith(".localhost"):
            return True
        written = internal_address(host)
        if written is not None:
            return written
        return any(internal_address(address) for address in self.resolve(host))
