"""The commands that run the worker: a pass (`run`), sources alone (`fetch`), the service
(`serve`) and its health check, and failed digests back to pending (`retry`)."""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import Any

import click

from worker.cli import (
    DATABASE_HINT,
    EXIT_OK,
    EXIT_PARTIAL,
    Obj,
    cli,
    complete_sources,
    complete_subscribers,
    fail,
    http_factory,
    parse_now,
    profile_or_exit,
    settings_or_exit,
    setup_logging,
)
from worker.errors import DatabaseError, PaperDigestError, as_database_error
from worker.signals import stopped_by


@cli.command()
@click.option("--dry-run", is_flag=True, help="Do everything but send or record anything.")
@click.option("--now", "now_text", metavar="ISO-8601", help="Run as if it were this moment.")
@click.option("--source", "sources", multiple=True, shell_complete=complete_sources,
              help="Only read this source (repeatable).")
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
    from worker.retention import apply_retention, describe

    now = parse_now(now_text)
    config = obj.load()
    settings = settings_or_exit(config)
    _check_sources(settings, sources)
    try:
        engine = obj.engine(settings, upgrade=not dry_run)
        with terminal_progress(sys.stderr) as progress, stopped_by(
                signal.SIGTERM, signal.SIGINT, again_aborts=True) as stop:
            report = run_pass(config, engine, now, dry_run=dry_run,
                              only_sources=sources or None, http_factory=http_factory(settings),
                              due=due, ignore_backoff=not due,  # cron: retries keep back-off
                              progress=progress, stop=stop.is_set)
    except DatabaseError as exc:
        fail(str(exc), DATABASE_HINT)
    except PaperDigestError as exc:
        fail(str(exc))
    removed = held = None
    try:  # after the pass: its report is said whatever becomes of this
        removed = None if dry_run else apply_retention(engine, settings.retention, now)
    except Exception as exc:
        held = as_database_error(exc)
        if held is None:
            raise
    for line in pass_lines(report, settings):
        click.echo(line)
    if removed:
        click.echo(f"\nRetention: removed {describe(removed, settings.retention)}.")
    if held is not None:
        click.echo(f"\nRetention: not applied ({held}); the next run applies it.")
    if stop.is_set() and report.unbuilt:  # (worker.app: asked while digests were built)
        click.echo(f"stopped (SIGTERM or Ctrl-C) while digests were built: those built stay "
                   f"pending, unsent; the next run sends them and builds the other "
                   f"{report.unbuilt}")
    elif stop.is_set() and not report.subscribers:  # (worker.app: asked once sources are read)
        click.echo("stopped (SIGTERM or Ctrl-C) once the sources were read: their papers are "
                   "recorded; the next run builds the digests and sends them")
    elif stop.is_set():
        click.echo("stopped (SIGTERM or Ctrl-C): the send under way was finished; digests not "
                   "yet sent stay pending, untried, for the next run")
    sys.exit(EXIT_PARTIAL if stop.is_set() or not report.ok or held else EXIT_OK)


@cli.command()
@click.option("--source", "sources", multiple=True, shell_complete=complete_sources,
              help="Only this source (repeatable).")
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

    config = obj.load(subscribers=False)  # sources only
    settings = settings_or_exit(config)
    _check_sources(settings, sources)
    try:
        with terminal_progress(sys.stderr) as progress:
            reports = fetch_pass(config, obj.engine(settings, upgrade=not dry_run),
                                 parse_now(now_text),
                                 dry_run=dry_run, only_sources=sources or None,
                                 http_factory=http_factory(settings), progress=progress)
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


@cli.command()
@click.pass_obj
def serve(obj: Obj) -> None:
    """Stay up: fetch sources on their cadence, send digests on each subscriber's schedule.

    Edits to subscribers/ apply within a minute; SIGTERM or Ctrl-C stops cleanly (docs/serve.md).

    \b
    Example:
      paper-digest --config /config serve
    """
    # SIGTERM from here on stops serve cleanly, also while it starts (imports, a migration):
    # unhandled it killed serve, and as a container's PID 1 the kernel dropped it, so docker
    # stop waited 10 s and killed it. The same flag is serve's own once it runs.
    with stopped_by(signal.SIGTERM, signal.SIGINT) as stop:
        from worker.reload import ConfigWatcher
        from worker.scheduler import serve as serve_until_stopped

        setup_logging(max(obj.verbose, 1))  # serve's log is its record of events: INFO and up
        config = obj.load()
        settings = settings_or_exit(config)
        if settings.database_url_unused is not None:
            from worker.cli.admin import database_url_unused_note

            logging.getLogger("paper_digest.serve").warning(
                database_url_unused_note(settings), extra={"event": "config.database_url"})
        try:
            engine = obj.engine(settings)
            if stop.is_set():  # told to stop while starting: nothing started, nothing to stop
                logging.getLogger("paper_digest.serve").info(
                    "stopped before serving", extra={"event": "serve.stop", "clean": True})
                sys.exit(EXIT_OK)
            clean = serve_until_stopped(ConfigWatcher(obj.config_dir, obj.env, config), engine,
                                        http_factory=http_factory(settings), stop=stop)
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
@click.argument("name", shell_complete=complete_subscribers)
@click.pass_obj
def resubscribe(obj: Obj, name: str) -> None:
    """Send NAME digests again after its reader unsubscribed with a digest's link.

    
    Example:
      paper-digest resubscribe ada
    """
    from worker.config_types import command_line
    from worker.store.subscriptions import set_unsubscribed

    config = obj.load(name)
    settings = settings_or_exit(config)
    profile_or_exit(config, name)
    try:
        again = set_unsubscribed(obj.engine(settings), name, None)
    except PaperDigestError as exc:
        fail(str(exc))
    if not again:
        click.echo(f"{name} had not unsubscribed: nothing changed.")
        return
    click.echo(f"{name} gets digests again: the next `{command_line(obj.config_dir, 'run')}` "
               "(or serve, at its schedule) sends what came meanwhile, the best first.")


@cli.command()
@click.argument("name", required=False, shell_complete=complete_subscribers)
@click.option("--now", "now_text", metavar="ISO-8601", help="Retry as if it were this moment.")
@click.pass_obj
def retry(obj: Obj, name: str | None, now_text: str | None) -> None:
    """Put failed digests (of NAME, or everyone's) back to pending; the next run sends them.

    \b
    Example:
      paper-digest retry ada && paper-digest run
    """
    from worker.config_types import command_line
    from worker.store.outbox import retry_failed

    config = obj.load(name, subscribers=name is not None)
    settings = settings_or_exit(config)
    if name is not None and name not in {p.id for p in config.profiles} | set(config.broken):
        profile_or_exit(config, name)
    try:
        count = retry_failed(obj.engine(settings), parse_now(now_text), name)
    except PaperDigestError as exc:
        fail(str(exc))
    who = f" of {name}" if name else ""
    click.echo(f"{count} failed deliver{'y' if count == 1 else 'ies'}{who} back to pending; "
               f"`{command_line(obj.config_dir, 'run')}` sends them.")
