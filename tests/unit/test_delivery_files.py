"""Digest files (Markdown, .eml, kept raw bodies) are written like any other file of the
process: their mode is 0666 less the umask, as their folders' is 0777 less it."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from worker.delivery.base import write_atomically


@pytest.fixture
def umask() -> Iterator[None]:
    """The process's umask, put back after the test."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_a_written_digest_has_the_umasks_mode(tmp_path: Path, umask: None, mask: int,
                                              mode: int) -> None:
    os.umask(mask)
    path = tmp_path / "out" / "ada" / "2026-12-07-digest-1.md"
    write_atomically(path, b"# digest\n")
    assert path.read_bytes() == b"# digest\n"
    # mkstemp made every file 0600: a container's volume showed the host digests it could
    # not read, beside folders it could
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o777 & ~mask
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_a_rewrite_replaces_the_file_whole(tmp_path: Path, umask: None) -> None:
    path = tmp_path / "digest.eml"
    write_atomically(path, b"first")
    write_atomically(path, b"second")
    assert path.read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["digest.eml"]


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path, umask: None,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="No space"):
        write_atomically(tmp_path / "digest.md", b"x")
    assert list(tmp_path.iterdir()) == []
