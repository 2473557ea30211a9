"""The command line: the only place that prints or exits.

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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import click

from worker import __version__
from worker.errors import ConfigError, DatabaseError, PaperDigestError, as_database_error

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

    def load(self) -> Any:
        from worker.settings import load_config

        return load_config(self.config_dir, self.env)

    def engine(self, settings: Any) -> Any:
        from worker.store.db import open_engine

        engine = open_engine(settings.database_url)
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


def fail(message: str, hint: str | None = None, code: int = EXIT_ERROR) -> None:
    from worker.logs import one_line

    click.secho(f"error: {one_line(message)}", fg="red", err=True)
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
@click.version_option(__version__, prog_name="paper-digest")
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


@cli.command()
@click.option("--dry-run", is_flag=True, help="Do everything but send or record anything.")
@click.option("--now", "now_text", metavar="ISO-8601", help="Run as if it were this moment.")
@click.option("--source", "sources", multiple=True, help="Only read this source (repeatable).")
@click.option("--due", is_flag=True,
              help="Build digests only for subscribers whose schedule is due (for cron).")
@click.pass_obj
def run(obj: Obj, dry_run: bool, now_text: str | None, sources: tuple[str, ...],
        due: bool) -> None:
    """One pass: read sources, find what is new, build and send digests.

    \b
    Example:
      paper-digest run --dry-run    # show what would be sent
      paper-digest run              # send it
      paper-digest run --due        # hourly from cron: digests only at scheduled times
    """
    from worker.app import run_pass
    from worker.progress import terminal_progress
    from worker.report import pass_lines

    now = parse_now(now_text)
    config = obj.load()
    settings = settings_or_exit(config)
    _check_sources(settings, sources)
    try:
        engine = obj.engine(settings)
        with terminal_progress(sys.stderr) as progress:
            report = run_pass(config, engine, now, dry_run=dry_run,
                              only_sources=sources or None, http_factory=_http_factory(settings),
                              due=due, ignore_backoff=not due,  # cron: retries keep back-off
                              progress=progress)
    except DatabaseError as exc:
        fail(str(exc), DATABASE_HINT)
    except PaperDigestError as exc:
        fail(str(exc))
    for line in pass_lines(report, settings):
        click.echo(line)
    sys.exit(EXIT_OK if report.ok else EXIT_PARTIAL)


@cli.command()
@click.option("--source", "sources", multiple=True, help="Only this source (repeatable).")
@click.option("--dry-run", is_flag=True, help="Fetch and parse, but record nothing.")
@click.option("--now", "now_text", metavar="ISO-8601", help="Fetch as if it were this moment.")
@click.pass_obj
def fetch(obj: Obj, sources: tuple[str, ...], dry_run: bool, now_text: str | None) -> None:
    """Fetch and parse sources and record the papers, without building digests.

    Prints per source what it found: new papers, papers already known, failures.

    \b
    Example:
      paper-digest fetch --source hf-daily --dry-run
    """
    from worker.app import fetch_pass
    from worker.progress import terminal_progress
    from worker.report import source_lines

    config = obj.load()
    settings = settings_or_exit(config)
    _check_sources(settings, sources)
    try:
        with terminal_progress(sys.stderr) as progress:
            reports = fetch_pass(config, obj.engine(settings), parse_now(now_text),
                                 dry_run=dry_run, only_sources=sources or None,
                                 http_factory=_http_factory(settings), progress=progress)
    except PaperDigestError as exc:
        fail(str(exc))
    click.echo("paper-digest fetch" + (" (dry run: nothing recorded)" if dry_run else ""))
    for line in source_lines(reports):
        click.echo(line)
    sys.exit(EXIT_PARTIAL if any(r.failures for r in reports) else EXIT_OK)


def _check_sources(settings: Any, names: tuple[str, ...]) -> None:
    unknown = set(names) - {s.name for s in settings.sources}
    if unknown:
        fail(f"no source named {', '.join(sorted(unknown))}",
             f"sources in worker.toml: {', '.join(s.name for s in settings.sources)}", 2)


def _http_factory(settings: Any) -> Any:
    def make(validators: Any) -> Any:
        from worker.sources.http import Fetcher

        return Fetcher.for_settings(settings, validators)

    return make


def _example_lookup(settings: Any) -> Any:
    """What looks up example arXiv ids no source has listed, as a pass does (worker.examples),
    but each request tried once: someone waits at the terminal (offline, a pass's second try
    costs ~3 s), and what fails is asked again by the next run. Its HTTP client is made when
    first needed and closed as the command ends."""
    from worker.examples import lookup_for

    made: list[Any] = []

    def fetcher() -> Any:
        if not made:
            made.append(_http_factory(settings)(None))
            click.get_current_context().call_on_close(made[0].close)
        return made[0]

    return lookup_for(settings, fetcher, attempts=1)


@cli.command()
@click.pass_obj
def check(obj: Obj) -> None:
    """Validate worker.toml and every subscriber file; report all problems at once.

    Then, from the database if there is one already, note the `like`/`unlike` entries that
    match no paper a source has listed (a run looks arXiv ids up on arXiv).

    \b
    Example:
      paper-digest --config config check
    """
    from worker.semantic import semantic_problems

    config = obj.load()
    problems = [*config.problems, *semantic_problems(config.settings)]
    for problem in problems:
        click.secho(f"error: {problem}", fg="red", err=True)
    if problems:
        click.echo(f"{len(problems)} problem(s) found.", err=True)
        sys.exit(EXIT_ERROR)
    s = config.settings
    email = f"SMTP {s.smtp.host}:{s.smtp.port}" if s.smtp else f".eml files in {s.output_dir}"
    disabled = f", {len(config.disabled)} disabled" if config.disabled else ""
    click.echo(f"OK: {len(s.sources)} source(s), {len(config.profiles)} subscriber(s)"
               f"{disabled}; email via {email}.")
    from worker.examples import check_notes

    for note in check_notes(s, config.profiles, datetime.now(UTC)):
        click.secho(f"note: {note}", fg="yellow", err=True)


@cli.command()
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["md", "txt", "html"]), default="md",
              show_default=True, help="Which rendering to show.")
@click.option("--since", metavar="DURATION",
              help="Replay papers first seen in this window (e.g. 7d), ignoring what was sent.")
@click.option("--now", "now_text", metavar="ISO-8601", help="Preview as if it were this moment.")
@click.pass_obj
def preview(obj: Obj, name: str, fmt: str, since: str | None, now_text: str | None) -> None:
    """Render NAME's next digest to the terminal; send and record nothing.

    With --since, replay the papers first seen in that window, each ranked with the papers
    its digest ranked it with: what NAME's digests would have held with the profile as it is.

    \b
    Example:
      paper-digest preview ada
      paper-digest preview ada --since 7d --format txt
    """
    from worker.config_types import parse_duration
    from worker.preview import preview_digest

    config = obj.load()
    settings = settings_or_exit(config)
    profile = _profile_or_exit(config, name)
    try:
        window = parse_duration(since) if since is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    if window is not None and window <= timedelta(0):
        raise click.BadParameter(f"{since!r} is an empty window: give one like 12h or 7d",
                                 param_hint="--since")
    try:
        text, note = preview_digest(config, obj.engine(settings), profile, parse_now(now_text),
                                    fmt=fmt, since=window, lookup=_example_lookup(settings))
    except PaperDigestError as exc:
        fail(str(exc))
    click.echo(text, nl=False)
    click.secho(note, fg="cyan", err=True)


def _profile_or_exit(config: Any, name: str) -> Any:
    for profile in config.profiles:
        if profile.id == name:
            return profile
    if name in config.broken:
        for problem in config.broken[name]:
            click.secho(f"error: {problem}", fg="red", err=True)
        fail(f"subscriber {name!r} has problems in its file")
    known = ", ".join(p.id for p in config.profiles) or "none"
    fail(f"no subscriber {name!r}", f"subscribers: {known} (files in "
         f"{config.settings.config_dir / 'subscribers'})", 2)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def status(obj: Obj, as_json: bool) -> None:
    """Recent runs, sources, and per subscriber: last digest, pending and failed.

    \b
    Example:
      paper-digest status
      paper-digest status --json | jq '.subscribers[] | select(.failed != [])'
    """
    from worker.report import status_data, status_lines

    config = obj.load()
    settings = settings_or_exit(config)
    try:
        data = status_data(config, obj.engine(settings))
    except PaperDigestError as exc:
        fail(str(exc))
    _emit(data, as_json, status_lines)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def subscribers(obj: Obj, as_json: bool) -> None:
    """List subscribers: channels, schedule, last digest sent, pending and failed counts.

    \b
    Example:
      paper-digest subscribers
      paper-digest subscribers --json
    """
    from worker.report import subscribers_data, subscribers_lines

    config = obj.load()
    settings = settings_or_exit(config)
    try:
        rows = subscribers_data(config, obj.engine(settings))
    except PaperDigestError as exc:
        fail(str(exc))
    _emit(rows, as_json, subscribers_lines)


def _emit(data: Any, as_json: bool, lines: Any) -> None:
    if as_json:
        import json

        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        for line in lines(data):
            click.echo(line)


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path), default=Path("config"),
                required=False)
@click.option("--name", help="Your subscriber id (default: your user name).")
def init(directory: Path, name: str | None) -> None:
    """Write a working starter config in DIRECTORY (default ./config) and say what next.

    \b
    Example:
      paper-digest init my-digest && paper-digest --config my-digest check
    """
    from worker.profiles import SUBSCRIBER_ID
    from worker.starter import write_starter

    if name is not None and not SUBSCRIBER_ID.match(name):
        fail(f"{name!r} cannot be a subscriber id", "use letters, digits, '.', '_' or '-'", 2)
    try:
        written = write_starter(directory, name)
    except FileExistsError as exc:
        fail(f"{exc} exists already; nothing was written",
             "choose another directory, or edit the one you have")
    for path in written:
        click.echo(f"wrote {path}")
    config = f"--config {directory}" if directory != Path("config") else ""
    click.echo(f"""
Next steps:
  1. Edit {written[1]}: your interests (keywords, a query, papers you liked).
  2. paper-digest {config} check            validate the config
  3. paper-digest {config} run --dry-run    fetch today's papers, show what you would get
  4. paper-digest {config} run              write your first digest under {directory}/out/
  Optional: add [smtp] to {written[0]} for email; `paper-digest {config} serve` keeps it
  running on a schedule.""".replace("paper-digest  ", "paper-digest "))


@cli.command()
@click.pass_obj
def serve(obj: Obj) -> None:
    """Stay up: fetch sources on their cadence, send digests on each subscriber's schedule.

    Edits to subscribers/ apply within a minute; SIGTERM or Ctrl-C stops cleanly (docs/serve.md).

    \b
    Example:
      paper-digest --config /config serve
    """
    from worker.reload import ConfigWatcher
    from worker.scheduler import serve as serve_until_stopped

    setup_logging(max(obj.verbose, 1))  # serve's log is its record of events: INFO and up
    config = obj.load()
    settings = settings_or_exit(config)
    try:
        engine = obj.engine(settings)
        clean = serve_until_stopped(ConfigWatcher(obj.config_dir, obj.env, config), engine,
                                    http_factory=_http_factory(settings))
    except PaperDigestError as exc:
        fail(str(exc))
    if not clean:  # a job hangs on a peer: its thread must not hold the exit past the grace
        logging.shutdown()
        os._exit(EXIT_OK)
    sys.exit(EXIT_OK)


@cli.command()
@click.option("--max-age", metavar="DURATION",
              help="Oldest acceptable heartbeat [default: 3 x [serve] heartbeat, >= 10s more].")
@click.option("--any-host", is_flag=True,
              help="Accept a heartbeat from any host, not only this one.")
@click.option("--now", "now_text", metavar="ISO-8601", help="Check as if it were this moment.")
@click.pass_obj
def health(obj: Obj, max_age: str | None, any_host: bool, now_text: str | None) -> None:
    """Exit 0 if serve's heartbeat is recent and the database reachable, else 1.

    \b
    Example:
      paper-digest health            # Docker HEALTHCHECK
    """
    import socket

    from worker.config_types import parse_duration
    from worker.health import check_health, default_max_age
    from worker.settings import load_settings

    settings, problems = load_settings(obj.config_dir, obj.env)
    if problems:
        fail(f"worker.toml has problems: {problems[0]}")
    try:
        limit = parse_duration(max_age) if max_age else default_max_age(settings)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--max-age") from None
    result = check_health(settings, parse_now(now_text), max_age=limit,
                          host=None if any_host else socket.gethostname())
    if not result.ok:
        fail(result.message)
    click.echo(result.message)


@cli.command()
@click.argument("name")
@click.argument("paper")
@click.pass_obj
def explain(obj: Obj, name: str, paper: str) -> None:
    """Show how NAME's profile scores PAPER, term by term, and its place in the digest.

    PAPER is an arXiv id, a title, or the key a digest shows (paper:123). It is scored among
    the papers NAME's digest ranked it with, so the score is the digest's; the verdict says
    its place in that digest or what kept it out (min_score, an excluded term, the query,
    max_items), with the profile as it is now.

    \b
    Example:
      paper-digest explain ada 2403.12345
      paper-digest explain ada "Jack of All Tasks, Master of Many"
    """
    from worker.preview import explain_paper

    config = obj.load()
    settings = settings_or_exit(config)
    profile = _profile_or_exit(config, name)
    try:
        lines = explain_paper(obj.engine(settings), profile, paper, settings=settings,
                              lookup=_example_lookup(settings))
    except LookupError:
        fail(f"no stored paper matches {paper!r}", _not_stored_hint(profile, paper, "like"), 2)
    except PaperDigestError as exc:
        fail(str(exc))
    for line in lines:
        click.echo(line)


def _not_stored_hint(profile: Any, ref: str, verdict: str, remove: bool = False) -> str:
    """What to do about a paper no stored paper matches: for an arXiv id or a title no source
    has listed, that it can be an example all the same (in the profile's file, looked up on
    arXiv)."""
    from worker.store.papers import ref_arxiv_id

    arxiv_id = ref_arxiv_id(ref)
    where = profile.file or f"{profile.id}'s profile"
    if remove or ref.startswith("paper:") or not ref.strip():
        return "give an arXiv id, an exact title, or a key like paper:123 from a digest"
    if arxiv_id is None:
        return ("give an arXiv id, an exact title, or a key like paper:123 from a digest; a "
                "paper no source has listed can be an example all the same: add its exact "
                f"title or arXiv id to `{verdict}` in {where} (a run looks it up on arXiv)")
    return (f"no source has listed arXiv {arxiv_id}, so no digest holds it: to use it as an "
            f'example all the same, add "{arxiv_id}" to `{verdict}` in {where} (a run looks it '
            "up on arXiv)")


@cli.command()
@click.argument("name")
@click.argument("paper", required=False)
@click.option("--unlike", is_flag=True, help="Mark it as a paper NAME wants fewer like.")
@click.option("--remove", is_flag=True, help="Take the mark off again.")
@click.option("--now", "now_text", metavar="ISO-8601", help="Mark as if it were this moment.")
@click.pass_obj
def mark(obj: Obj, name: str, paper: str | None, unlike: bool, remove: bool,
         now_text: str | None) -> None:
    """Mark PAPER as liked (or --unlike) by NAME: later digests use it as an example.

    PAPER is an arXiv id, a title, or the key a digest shows (paper:123). Without PAPER, list
    NAME's marks (made here or with the feedback links in digests).

    \b
    Example:
      paper-digest mark ada 2403.12345            # more like this
      paper-digest mark ada paper:123 --unlike    # fewer like this
      paper-digest mark ada paper:123 --remove
      paper-digest mark ada                       # what ada has marked
    """
    from worker.marking import list_marks, mark_paper

    config = obj.load()
    settings = settings_or_exit(config)
    profile = _profile_or_exit(config, name)
    if paper is None:
        if unlike or remove:
            fail("--unlike and --remove need a PAPER", "paper-digest mark NAME PAPER --unlike",
                 2)
        for line in list_marks(obj.engine(settings), profile.id):
            click.echo(line)
        return
    try:
        message = mark_paper(obj.engine(settings), profile.id, paper, remove=remove,
                             verdict="unlike" if unlike else "like", now=parse_now(now_text))
    except LookupError:
        fail(f"no stored paper matches {paper!r}",
             _not_stored_hint(profile, paper, "unlike" if unlike else "like", remove), 2)
    except PaperDigestError as exc:
        fail(str(exc))
    click.echo(message)


@cli.command()
@click.argument("name", required=False)
@click.option("--now", "now_text", metavar="ISO-8601", help="Retry as if it were this moment.")
@click.pass_obj
def retry(obj: Obj, name: str | None, now_text: str | None) -> None:
    """Put failed digests (of NAME, or everyone's) back to pending; the next run sends them.

    \b
    Example:
      paper-digest retry ada && paper-digest run
    """
    from worker.store.outbox import retry_failed

    config = obj.load()
    settings = settings_or_exit(config)
    if name is not None and name not in {p.id for p in config.profiles} | set(config.broken):
        _profile_or_exit(config, name)
    try:
        count = retry_failed(obj.engine(settings), parse_now(now_text), name)
    except PaperDigestError as exc:
        fail(str(exc))
    who = f" of {name}" if name else ""
    click.echo(f"{count} failed deliver{'y' if count == 1 else 'ies'}{who} back to pending; "
               "`paper-digest run` sends them.")


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
