"""The transport under the Fetcher's httpx.Client: TLS set up only when a request needs it."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from typing import Any

import httpx


class LazyTlsTransport(httpx.BaseTransport):
    """Two of httpx's transports behind one: the https one made at the first https request.

    Making it loads the CA bundle (~20 ms); a pass that reads only plain-http sources (a
    mirror on the LAN, the loopback benchmarks) never needs it. A redirect to https comes
    back here as an https request, so it gets the verifying transport too."""

    def __init__(self, https: Callable[[], httpx.BaseTransport],
                 plain: Callable[[], httpx.BaseTransport]):
        self._make = {True: https, False: plain}
        self._made: dict[bool, httpx.BaseTransport] = {}
        self._lock = threading.Lock()  # an httpx.Client may be shared by threads

    @property
    def tls_ready(self) -> bool:
        return True in self._made

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        tls = request.url.scheme == "https"
        if tls not in self._made:
            with self._lock:
                if tls not in self._made:
                    self._made[tls] = self._make[tls]()
        return self._made[tls].handle_request(request)

    def close(self) -> None:
        for transport in self._made.values():
            transport.close()


class Client(httpx.Client):
    """An httpx.Client whose default transport is a LazyTlsTransport of the two transports
    the Client would make itself, with its own options (limits, trust_env and the rest).

    Overriding the default rather than passing `transport=` keeps the environment's proxies
    (HTTPS_PROXY, NO_PROXY...): httpx ignores them when given a transport. Should a later
    httpx stop calling `_init_transport`, the Client simply makes its usual transport."""

    def _init_transport(self, *args: Any, **kwargs: Any) -> httpx.BaseTransport:
        make = super()._init_transport
        if args or kwargs.get("transport") is not None:
            return make(*args, **kwargs)
        # The plain one never does TLS (https goes to the other). Should it ever, it trusts
        # no CA at all, so it refuses every server rather than accepting any.
        return LazyTlsTransport(
            https=lambda: make(**kwargs),
            plain=lambda: make(**{**kwargs, "verify": ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)}))
