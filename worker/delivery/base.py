"""What a channel receives and the interface it implements."""

from __future__ import annotations

import os
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from worker.errors import DeliveryError

if TYPE_CHECKING:
    from worker.mime import Mail


@dataclass(frozen=True)
class Rendered:
    """One digest, ready for any channel. Each form is rendered when a channel first asks for
    it: most digests go to one channel, which needs only one of them."""

    digest_id: int
    subscriber_id: str
    file_stem: str  # e.g. "2026-11-20-digest-12": stable, so a re-send overwrites
    make_markdown: Callable[[], str] = field(repr=False, compare=False)
    make_email: Callable[[], Mail] = field(repr=False, compare=False)

    @cached_property
    def markdown(self) -> str:
        return self.make_markdown()

    @cached_property
    def email(self) -> Mail:
        """The message as sent and kept (multipart/alternative, CRLF line ends) and its
        envelope: made once, however many channels or attempts use it."""
        return self.make_email()


def _never() -> bool:
    return False


class Channel(ABC):
    """Opened once per pass, sends many digests, closed at the end."""

    name: str
    # Whether the pass was told to stop (SIGTERM, Ctrl-C, serve's shutdown): a channel that
    # would try a send again (a new connection after one dropped) does not, once it was.
    stop: Callable[[], bool] = staticmethod(_never)

    def open(self) -> None:  # noqa: B027 - most channels need no set-up
        """Prepare (connect lazily where possible)."""

    @abstractmethod
    def send(self, rendered: Rendered) -> str:
        """Deliver; return where it went. Raise DeliveryError (permanent or not) on refusal."""

    @abstractmethod
    def would(self, rendered: Rendered) -> str:
        """What `send` would do, in words, without doing it (`run --dry-run`)."""

    def close(self) -> None:  # noqa: B027
        """Release what `open` or `send` took."""


def deliver_file(path: Path, data: bytes) -> str:
    """A file channel's delivery: `data` written at `path`, which is returned. A folder that
    cannot be written (read-only, full, another user's) is no fault of the digest: it is held,
    its attempt not counted, until the folder is put right (not failed after max_attempts)."""
    try:
        write_atomically(path, data)
    except OSError as exc:
        # One cause for every digest it holds, whichever its file (a full disk, a read-only
        # output_dir): said once a pass, not once a digest.
        raise DeliveryError(f"cannot write {path}: {exc.strerror or exc}", held=True,
                            cause=f"cannot write a digest's file: {exc.strerror or exc}",
                            ) from None
    return str(path)


def write_atomically(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so readers never see half a digest.

    The file gets the permissions any other file the process writes gets (0666 less the
    umask: 0644 by default), as its folders do: tempfile.mkstemp made every digest 0600, so
    on a container's volume only the image's user could read the Markdown and .eml files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o666)
        except FileExistsError:  # pragma: no cover - 48 random bits taken
            continue
        break
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
