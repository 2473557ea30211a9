"""The one exception hierarchy. Only worker.cli turns these into messages and exit codes."""

from __future__ import annotations

from dataclasses import dataclass


class PaperDigestError(Exception):
    """Base class of every error paper-digest raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One configuration problem: where it is and what is expected instead."""

    file: str
    message: str
    key: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        if self.key:
            where += f": {self.key}"
        return f"{where}: {self.message}"


class ConfigError(PaperDigestError):
    """worker.toml or a subscriber file is invalid; carries every problem found at once."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class TemplateError(PaperDigestError):
    """A digest template (templates_dir's, or one it extends) could not be compiled or
    rendered: the message names its file, its line and Jinja's reason."""


class ParseError(PaperDigestError):
    """A dump or a source response could not be parsed; names where and why."""

    def __init__(self, where: str, reason: str, line: int | None = None):
        self.where = where
        self.reason = reason
        self.line = line
        at = f"{where}:{line}" if line is not None else where
        super().__init__(f"{at}: {reason}")

    @property
    def detail(self) -> str:
        """The reason with the line, without the file (for reports that name the file)."""
        return f"line {self.line}: {self.reason}" if self.line is not None else self.reason


class SourceError(PaperDigestError):
    """A source could not be read (network, HTTP status, API error entry)."""

    def __init__(self, source: str, url: str, reason: str, status: int | None = None):
        self.source = source
        self.url = url
        self.reason = reason
        self.status = status
        detail = f"HTTP {status}: {reason}" if status else reason
        super().__init__(f"source {source!r} ({url}): {detail}")


class QuerySyntaxError(PaperDigestError):
    """A boolean interest query is malformed; `position` is a 0-based character offset."""

    def __init__(self, message: str, position: int | None = None):
        self.position = position
        self.message = message
        suffix = f" (at character {position + 1})" if position is not None else ""
        super().__init__(f"{message}{suffix}")

    def located(self, query: str) -> tuple[str, int]:
        """(the message with where it is, as a reader of the query finds it, and the line of
        the query it is on, 0 for the first): a query written over several lines in a TOML
        file is read by line and column, not by a count of characters."""
        if self.position is None or "\n" not in query:
            return str(self), 0
        line = query.count("\n", 0, self.position)
        column = self.position - (query.rfind("\n", 0, self.position) + 1) + 1
        return f"{self.message} (line {line + 1} of the query, column {column})", line


class DeliveryError(PaperDigestError):
    """A channel refused a digest. `permanent` failures are not retried; `held` ones are no
    fault of the digest (the relay cannot be reached, or refuses our session, login or
    sender; a folder that cannot be written: nothing can go out until it is put right), so
    they cost no attempt and never fail it. `cause` is what a held error shares with the
    others of its kind, when the message names this digest (a folder's: its file): the pass
    says each cause once (worker.sending), not once a digest. None: the message itself."""

    def __init__(self, message: str, *, permanent: bool = False, held: bool = False,
                 cause: str | None = None):
        self.permanent = permanent
        self.held = held
        self.cause = cause or message
        super().__init__(message)


class RenderError(PaperDigestError):
    """A digest could not be rendered (in a rendering worker process: its error as text)."""


class DatabaseError(PaperDigestError):
    """The database refused or lost a statement. The transaction it was in rolled back."""


def as_database_error(exc: BaseException) -> DatabaseError | None:
    """`exc` as one clear DatabaseError if it is a database error (already one, or one of
    SQLAlchemy's), else None. Does not import SQLAlchemy for a run that never did."""
    import sys

    if isinstance(exc, DatabaseError):
        return exc
    module = sys.modules.get("sqlalchemy.exc")
    if module is None or not isinstance(exc, module.SQLAlchemyError):
        return None
    return _database_error(exc)


def _database_error(exc: BaseException) -> DatabaseError:
    """One clear line for a database error: the driver's own first line, never the SQL
    statement or its parameters (SQLAlchemy appends both, with paper data, to str(exc))."""
    cause = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    if first.startswith("(") and ") " in first:  # "(psycopg.errors.AdminShutdown) text"
        first = first.split(") ", 1)[1]
    if first.startswith("[SQL:") or not first:
        first = type(cause).__name__
    return DatabaseError(f"database error: {first}")
