"""What every source kind produces, and the interface a source kind implements.

A source yields `Dump`s (one file or one response: the unit of ingest, recorded in one
transaction), `DumpFailure`s (reported with where and why; nothing from it is recorded
as seen), `Unchanged`s and `SourceWarning`s (reported; nothing fails). Sources never touch
the database or the clock themselves: `SourceContext` hands them `now`, a way to ask whether
a content hash was already ingested, and (for HTTP kinds) the shared fetcher with its stored
validators.
"""

from __future__ import annotations

import hashlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar

from worker.errors import PaperDigestError, ParseError
from worker.records import PaperRecord, as_characters

log = logging.getLogger("paper_digest")


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Dump:
    """One parsed unit of input (a dump file, an API response for one day)."""

    source: str
    locator: str  # file path or URL: what an operator needs to find it again
    content_hash: str
    fetched_at: datetime
    records: tuple[PaperRecord, ...]
    listing_date: date | None = None


@dataclass(frozen=True)
class DumpFailure:
    """A unit of input that could not be read or parsed. Nothing of it is recorded as seen."""

    source: str
    locator: str
    reason: str
    content_hash: str | None = None
    raw: bytes | None = field(default=None, repr=False)  # kept for inspection

    def __post_init__(self) -> None:
        # A reason may quote the body ("API error: ..."): what is no character in it (a lone
        # surrogate from JSON) would fail the database and the report that record it.
        object.__setattr__(self, "reason", as_characters(self.reason))

    def __str__(self) -> str:
        return f"{self.locator}: {self.reason}"


@dataclass(frozen=True)
class Unchanged:
    """A unit of input with nothing new: already ingested (same content hash) or HTTP 304."""

    source: str
    locator: str
    reason: str


@dataclass(frozen=True)
class SourceWarning:
    """Something an operator should hear of although the unit was read: e.g. a listing that
    `max_pages` cut short, whose remaining papers were not read."""

    source: str
    locator: str
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", as_characters(self.message))

    def __str__(self) -> str:
        return f"{self.locator}: {self.message}"


@dataclass
class SourceContext:
    """What a source may use while collecting. Built by the pipeline for each pass."""

    now: datetime
    is_known: Callable[[str], bool] = lambda _hash: False
    http: Any = None  # worker.sources.http.Fetcher for HTTP kinds; None for local ones
    base_dir: str = "."  # relative paths in config resolve against the config directory
    # When this source was last read without a failure (None: never): sources of relative
    # dates read the days since then too (worker.sources.dates.days_to_read).
    last_read: datetime | None = None
    # Those of the given arXiv ids this source listed before (an arXiv API search pages back
    # to them); the store's answer in a pass, none in tests that do not say.
    listed_before: Callable[[Sequence[str]], set[str]] = lambda _ids: set()


class Source(ABC):
    """A configured `[[sources]]` entry. Subclasses set `kind` and an `Options` dataclass."""

    kind: ClassVar[str]
    Options: ClassVar[type]

    def __init__(self, name: str, options: Any):
        self.name = name
        self.options = options

    @classmethod
    def check_options(cls, options: Any) -> list[tuple[str, str]]:
        """Extra checks beyond types: (key, message) pairs; empty when all is well."""
        return []

    @abstractmethod
    def collect(self, ctx: SourceContext
                ) -> Iterator[Dump | DumpFailure | Unchanged | SourceWarning]:
        """Yield every unit of input this source has now, parsed or failed."""

    def describe(self) -> str:
        return f"{self.name} ({self.kind})"


@contextmanager
def untrusted(where: str) -> Iterator[None]:
    """Parse a unit of a source's input: whatever its bytes make the parser raise is a
    ParseError of that unit (which fails alone, its body kept, the source reading on), not
    the end of the source. What valid but extreme input makes Python raise (nesting deeper
    than the stack, a number beyond a float) says so; any other exception is a parser's bug
    on input it did not foresee, logged with its traceback for a report."""
    try:
        yield
    except PaperDigestError:
        raise
    except (RecursionError, OverflowError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else "number too large"
        raise ParseError(where, f"cannot be read: {reason} ({exc})") from None
    except Exception as exc:
        log.exception("parsing %s failed unexpectedly", where)
        raise ParseError(where, f"cannot be read: the parser failed on it ({type(exc).__name__}"
                         f": {exc}); this is a bug of paper-digest, please report it with "
                         "the body kept") from None
