"""Shared fixtures: the ../shared data, databases (SQLite file; PostgreSQL when configured)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SEEDS = SHARED / "seeds"
PG_ENV = "PAPER_DIGEST_TEST_DATABASE_URL"


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
