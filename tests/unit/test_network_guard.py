"""The test suite's own guard (tests/conftest.py: NetworkGuard): tests reach loopback only."""

from __future__ import annotations

import socket

import httpx
import pytest


def test_names_and_addresses_beyond_loopback_are_refused() -> None:
    with pytest.raises(OSError, match=r"loopback only, not 'export\.arxiv\.org'"):
        socket.getaddrinfo("export.arxiv.org", 443)
    with pytest.raises(OSError, match="loopback only"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)  # TEST-NET-1
    with pytest.raises(httpx.ConnectError, match="loopback only"):
        httpx.get("https://export.arxiv.org/api/query")


def test_loopback_is_reachable() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        for host in ("127.0.0.1", "localhost"):
            with socket.create_connection((host, server.getsockname()[1]), timeout=2):
                pass
