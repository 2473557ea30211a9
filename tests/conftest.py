"""Shared fixtures: the ../shared data, databases (SQLite file; PostgreSQL when configured)."""

from __future__ import annotations

import ipaddress
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SEEDS = SHARED / "seeds"
PG_ENV = "PAPER_DIGEST_TEST_DATABASE_URL"


def _loopback(host: object) -> bool:
    if host in (None, "localhost", "") or not isinstance(host, str | bytes):
        return True
    name = host.decode() if isinstance(host, bytes) else host
    try:
        return ipaddress.ip_address(name.split("%")[0]).is_loopback
    except ValueError:
        return name.endswith(".localhost")


class NetworkGuard:
    """Tests talk to loopback only (their SMTP, HTTP and PostgreSQL servers): a name lookup or
    connection anywhere else fails at once, naming where it went, instead of reaching out (a
    default URL such as arXiv's left in a test's configuration). Covers this process's Python
    sockets; libpq (PostgreSQL) and child processes are not Python sockets."""

    def __init__(self) -> None:
        self.getaddrinfo = socket.getaddrinfo
        self.connect = socket.socket.connect
        self.connect_ex = socket.socket.connect_ex

    def install(self) -> None:
        guard = self

        def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
            if not _loopback(host):
                raise OSError(f"tests reach loopback only, not {host!r}")
            return guard.getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

        def checked(method: object) -> object:
            def call(sock: socket.socket, address: object) -> object:
                if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(
                        address, tuple) and not _loopback(address[0]):
                    raise OSError(f"tests reach loopback only, not {address!r}")
                return method(sock, address)  # type: ignore[operator]
            return call

        socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
        socket.socket.connect = checked(self.connect)  # type: ignore[method-assign]
        socket.socket.connect_ex = checked(self.connect_ex)  # type: ignore[method-assign]


def pytest_configure(config: pytest.Config) -> None:
    NetworkGuard().install()


@pytest.fixture
def seeds_dir() -> Path:
    if not SEEDS.is_dir():
        pytest.skip(f"{SEEDS} is absent (the shared seed dumps live beside the repo)")
    return SEEDS


def _pg_base_url() -> str | None:
    import os

    return os.environ.get(PG_ENV) or None


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: an SQLite file, or a private PostgreSQL schema, dropped after."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'paper-digest.db'}"
        return
    base = _pg_base_url()
    if base is None:
        pytest.skip(f"{PG_ENV} is not set (PostgreSQL tests need it)")
    yield from _pg_schema(base)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A private PostgreSQL schema, for what only PostgreSQL shows (a server that goes away
    behind a forwarder); skipped where PostgreSQL is not configured."""
    base = _pg_base_url()
    if base is None:
        pytest.skip(f"{PG_ENV} is not set (PostgreSQL tests need it)")
    yield from _pg_schema(base)


def _pg_schema(base: str) -> Iterator[str]:
    from sqlalchemy import create_engine, text

    from worker.store.db import normalize_url

    schema = f"pd_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalize_url(base))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{normalize_url(base)}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'paper-digest.db'}"
