"""`dump_dir`: a directory of text dumps in the seed format, one file per listing page."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePath

from worker.errors import ParseError
from worker.records import PaperRecord
from worker.sources.base import (
    Dump,
    DumpFailure,
    Source,
    SourceContext,
    Unchanged,
    content_hash,
    untrusted,
)
from worker.sources.dumps import parse_dump, written_time

# Larger files are not listing pages; refuse them before reading them into memory.
MAX_DUMP_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class DumpDirOptions:
    path: str
    pattern: str = "*.txt"
    recursive: bool = False


class DumpDirSource(Source):
    kind = "dump_dir"
    Options = DumpDirOptions
    options: DumpDirOptions

    @classmethod
    def check_options(cls, options: DumpDirOptions) -> list[tuple[str, str]]:
        problem = pattern_problem(options.pattern)
        return [("pattern", problem)] if problem else []

    def directory(self, ctx: SourceContext) -> Path:
        path = Path(self.options.path).expanduser()
        return path if path.is_absolute() else Path(ctx.base_dir) / path

    def collect(self, ctx: SourceContext) -> Iterator[Dump | DumpFailure | Unchanged]:
        folder = self.directory(ctx)
        if not folder.is_dir():
            yield DumpFailure(self.name, str(folder), "not a directory (check `path`)")
            return
        glob = folder.rglob if self.options.recursive else folder.glob
        for path in sorted(p for p in glob(self.options.pattern) if p.is_file()):
            yield self._read(path, ctx)

    def _read(self, file: Path, ctx: SourceContext) -> Dump | DumpFailure | Unchanged:
        path = shown(file)
        try:
            size = file.stat().st_size
            if size > MAX_DUMP_BYTES:
                return DumpFailure(self.name, path, f"{size} bytes: too large for a dump")
            data = file.read_bytes()
            # The file's mtime says when the dump was written: the year of `Mar 13` comes
            # from it, but never a time after this pass.
            written = written_time(datetime.fromtimestamp(file.stat().st_mtime, UTC), ctx.now)
        except OSError as exc:
            return DumpFailure(self.name, path, f"cannot read: {exc.strerror or exc}")
        digest = content_hash(data)
        if ctx.is_known(digest):
            return Unchanged(self.name, path, "already read (same content)")
        try:
            with untrusted(path):
                parsed = parse_dump(data, path, written)
        except ParseError as exc:
            return DumpFailure(self.name, path, exc.detail, content_hash=digest)
        records = tuple(
            PaperRecord(title=e.title, abstract=e.abstract, listing_date=parsed.listing_date)
            for e in parsed.entries
        )
        return Dump(self.name, path, digest, written, records, parsed.listing_date)


# A folder that is not there: where a pattern is tried, to be refused as Path.glob refuses it.
_NOWHERE = Path("/nonexistent-paper-digest-pattern-check")


def pattern_problem(pattern: str) -> str | None:
    """What is wrong with a `pattern`, or None. One Path.glob refuses (empty, absolute, `a**`)
    passed `check` and then ended the source at every run with a traceback."""
    if not PurePath(pattern).parts:  # "" or "."
        return 'expected a pattern of file names, such as "*.txt"'
    if PurePath(pattern).is_absolute() or pattern.startswith("~"):
        return ('expected a pattern of file names inside `path`, such as "*.txt" (the folder '
                "goes in `path`)")
    try:
        for _ in _NOWHERE.glob(pattern):
            break
    except (ValueError, NotImplementedError, IndexError) as exc:
        return f'not a pattern of file names ({exc}); expected one such as "*.txt"'
    return None


def shown(path: Path) -> str:
    """A file's path as text to record and report: a name that is not UTF-8 (`caf\\xe9.txt`,
    from a Latin-1 system) keeps its odd bytes as `\\xe9`. As Python gives it (with lone
    surrogates) the database refused it, which failed every dump of the folder, every run."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
