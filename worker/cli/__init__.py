"""The command line: the only place that prints or exits.

This module holds the `paper-digest` group and what its commands share; the commands are in
worker.cli.passes (run, fetch, serve, health, retry), worker.cli.tuning (preview, explain,
mark) and worker.cli.admin (check, status, subscribers, init).

Exit codes: 0 all done; 1 error, nothing done (bad worker.toml, database unreachable, failed
`check`); 2 usage error; 3 partial: the pass ran but something was not done (a failed dump or
source, a broken subscriber file, a digest not sent yet). README lists them too.
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import click

from worker import __schema__, __version__
from worker.errors import ConfigError, as_database_error

EXIT_OK, EXIT_ERROR, EXIT_PARTIAL = 0, 1, 3
# True once main() runs: this process is the command itself, not a caller of `cli` (a test's
# CliRunner), so a one-shot command may set process-wide things such as the collector's.
OWN_PROCESS = False
YOUNG_OBJECTS = 5000  # the collector's first-generation threshold after start-up


class Obj:
    """What every command gets: the config directory and the environment, read once here."""

    def __init__(self, config_dir: Path, verbose: int):
        self.config_dir = config_dir
        self.env = dict(os.environ)
        self.verbose = verbose

    def load(self, subscriber: str | None = None, *, subscribers: bool = True) -> Any:
        """worker.toml and every subscriber file; only `subscriber`'s file when it is there,
        and none with `subscribers=False`: parsing all of 10,000 files took ~1.5 s of each
        command's ~2 s, also of those about one subscriber or none. A name with no file of its
        own loads them all, so the error lists the subscribers there are."""
        from worker.profiles import SUBSCRIBER_ID
        from worker.settings import load_config

        only: list[Path] | None = None if subscribers else []
        if subscriber is not None and SUBSCRIBER_ID.match(subscriber):
            path = self.config_dir / "subscribers" / f"{subscriber}.toml"
            if path.is_file():
                only = [path]
        return load_config(self.config_dir, self.env, only)

    def engine(self, settings: Any, *, migrate: bool = True, upgrade: bool = True) -> Any:
        """The database, its schema created or upgraded; `migrate=False` (commands that only
        read): as it is, and an error if it is missing or at another revision; `upgrade=False`
        (dry runs): created if new, but an older schema is an error, not upgraded."""
        from worker.config_types import command_line
        from worker.store.opening import open_engine, open_existing

        engine = (open_engine(settings.database_url, upgrade=upgrade) if migrate
                  else open_existing(settings.database_url,
                                     run=command_line(self.config_dir, "run")))
        settle_heap()  # the command's start-up ends here: config read, database open
        # Closed when the command ends, however it ends (click closes its context before
        # main exits): SQLite checkpoints its WAL on close, PostgreSQL sees the sessions end
        # instead of a dropped socket, and a command run in-process (tests) leaves no
        # connections behind. Outside a command, on the way out of the process.
        ctx = click.get_current_context(silent=True)
        if ctx is not None:
            ctx.call_on_close(engine.dispose)
        else:
            atexit.register(engine.dispose)
        return engine


def parse_now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not ISO-8601, e.g. 2026-03-14T08:00:00+01:00",
                                 param_hint="--now") from None
    if not 1970 <= moment.year <= 9000:  # a pass reaches 100 years back (backfill) and ahead
        raise click.BadParameter(f"{value!r} is not a year from 1970 to 9000",
                                 param_hint="--now")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def setup_logging(verbose: int) -> None:
    from worker.logs import add_secret, configure

    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    configure(handler, sys.stderr, os.environ.get("PAPER_DIGEST_LOG_FORMAT"))
    add_secret(os.environ.get("PAPER_DIGEST_SMTP_PASSWORD"))  # never in a log line
    root = logging.getLogger("paper_digest")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def settle_heap() -> None:
    """Start-up is over: hand the cyclic garbage collector back, minus what start-up made.

    main() turns the collector off while a command starts (imports, config, opening the
    database): what that makes lives until the exit, and the collector would scan it ~100
    times and free nothing (~15 ms of a ~0.25 s run with nothing new). Here gc.freeze() takes
    all of it out of every later scan, and a first generation of YOUNG_OBJECTS (CPython's
    default: 700) makes young collections rarer while the command works. On the five seeds
    (bench/vs_rss2email.sh) the collector had taken ~15 % of the run, its 3 full collections
    freeing nothing. Frozen objects are still freed by reference counting as ever; only
    cycles among them would wait for the exit. Commands that do not open the database
    through Obj.engine (check, init, health) are short and end with the collector still off.
    serve settles here too, once, before it starts its schedule."""
    if OWN_PROCESS:
        gc.freeze()
        gc.set_threshold(YOUNG_OBJECTS, *gc.get_threshold()[1:])
        gc.enable()


def fail(message: str, hint: str | None = None, code: int = EXIT_ERROR) -> NoReturn:
    from worker.logs import one_line, redact

    click.secho(f"error: {one_line(redact(message))}", fg="red", err=True)
    if hint:
        click.echo(f"  {hint}", err=True)
    sys.exit(code)


def settings_or_exit(config: Any) -> Any:
    from worker.settings import settings_or_raise

    try:
        return settings_or_raise(config)
    except ConfigError as exc:
        for problem in exc.problems:
            click.secho(f"error: {problem}", fg="red", err=True)
        fail("worker.toml has problems; nothing was done",
             f"fix them, then check with: paper-digest --config {config.settings.config_dir} check")


class _Commands(click.Group):
    """Every command: a database error is one line with what to do, never a traceback with
    SQL (each step is one transaction, so nothing half-done was recorded)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            clean = as_database_error(exc)
            if clean is None:
                raise
            fail(str(clean), DATABASE_HINT)


DATABASE_HINT = ("nothing half-done was recorded; check that the database is reachable "
                 "(database_url in worker.toml), then run again: the next run finishes the work")


@click.group(cls=_Commands,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "config_dir", type=click.Path(path_type=Path),
              envvar="PAPER_DIGEST_CONFIG", default=Path("config"), show_default=True,
              help="Directory with worker.toml and subscribers/ ($PAPER_DIGEST_CONFIG).")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(f"{__version__} (database schema {__schema__})", prog_name="paper-digest")
@click.pass_context
def cli(ctx: click.Context, config_dir: Path, verbose: int) -> None:
    """Turn pages that list new research papers into personal, explained digests.

    \b
    Example:
      paper-digest --config config run       # one pass: read, match, deliver
      paper-digest check                     # validate worker.toml and subscribers
    """
    setup_logging(verbose)
    ctx.obj = Obj(config_dir, verbose)


def http_factory(settings: Any) -> Any:
    def make(memory: Any) -> Any:
        from worker.sources.http import Fetcher

        return Fetcher.for_settings(settings, memory)

    return make


def example_lookup(settings: Any) -> Any:
    """What looks up example arXiv ids no source has listed, as a pass does (worker.examples),
    but each request tried once: someone waits at the terminal (offline, a pass's second try
    costs ~3 s), and what fails is asked again by the next run. Its HTTP client is made when
    first needed and closed as the command ends."""
    from worker.examples import lookup_for

    made: list[Any] = []

    def fetcher() -> Any:
        if not made:
            made.append(http_factory(settings)(None))
            click.get_current_context().call_on_close(made[0].close)
        return made[0]

    return lookup_for(settings, fetcher, attempts=1)


def complete_subscribers(ctx: click.Context, param: Any, incomplete: str) -> list[str]:
    """Shell completion of NAME: the subscriber files of the config the command line names
    (`--config`, $PAPER_DIGEST_CONFIG, ./config), by file name alone: completing must be quick
    and never fail, so nothing is read or checked."""
    folder = Path(ctx.find_root().params.get("config_dir") or "config") / "subscribers"
    try:
        names = sorted(p.stem for p in folder.glob("*.toml") if not p.name.startswith("."))
    except OSError:
        return []
    return [name for name in names if name.startswith(incomplete)]


def complete_sources(ctx: click.Context, param: Any, incomplete: str) -> list[str]:
    """Shell completion of --source: the `[[sources]]` names in the config's worker.toml, or
    none when it cannot be read as TOML (check says why)."""
    import tomllib

    path = Path(ctx.find_root().params.get("config_dir") or "config") / "worker.toml"
    try:
        sources = tomllib.loads(path.read_text(encoding="utf-8-sig")).get("sources", [])
    except (OSError, ValueError):
        return []
    names = [s.get("name") for s in sources if isinstance(s, dict)] \
        if isinstance(sources, list) else []
    return [n for n in names if isinstance(n, str) and n.startswith(incomplete)]


def profile_or_exit(config: Any, name: str) -> Any:
    for profile in config.profiles:
        if profile.id == name:
            return profile
    if name in config.broken:
        for problem in config.broken[name]:
            click.secho(f"error: {problem}", fg="red", err=True)
        fail(f"subscriber {name!r} has problems in its file")
    if name in config.disabled:  # paused, not gone: it may still be tuned and marked
        profile = config.disabled[name]
        click.secho(f"note: {name} is disabled (enabled = false in {profile.file}): it gets "
                    "no digests until it is enabled", fg="yellow", err=True)
        return profile
    known = ", ".join(p.id for p in config.profiles) or "none"
    fail(f"no subscriber {name!r}", f"subscribers: {known} (files in "
         f"{config.settings.config_dir / 'subscribers'})", 2)


def main() -> None:
    global OWN_PROCESS
    OWN_PROCESS = True
    gc.disable()  # until the command's start-up is over: see settle_heap
    try:
        cli(prog_name="paper-digest")
    except SystemExit as exc:
        if not isinstance(exc.code, int | None):
            raise
        exit_now(exc.code or 0)


def exit_now(code: int) -> NoReturn:
    """Exit with `code` as sys.exit would, without tearing the interpreter down.

    Tearing down (freeing every module and object SQLAlchemy and the rest created) is about
    a sixth of a `run` with nothing new (~50 ms of ~320, bench/nothing_new.py) and does
    nothing the process needs. Everything it does need happens first: the atexit handlers
    (logging's flush and close; engines are disposed as their command ends), then stdout and
    stderr are flushed. With other threads alive (serve), Python's own exit joins them as it
    should; under a profiler or debugger (python -m cProfile, pdb), which report after main
    returns, too."""
    if threading.active_count() > 1 or sys.getprofile() or sys.gettrace():
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said on it
            code = code or EXIT_ERROR
    os._exit(code)


# The commands register themselves on `cli` as their modules are read.
from worker.cli import admin, passes, tuning  # noqa: E402, F401
