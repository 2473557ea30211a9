"""The commands that set up and look at an install: `init`, `check`, `status` and
`subscribers`; and `forget`, which wipes what the database holds of one subscriber id."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from worker.cli import (
    EXIT_ERROR,
    Obj,
    cli,
    fail,
    parse_now,
    settings_or_exit,
)
from worker.errors import PaperDigestError


@cli.command()
@click.pass_obj
def check(obj: Obj) -> None:
    """Validate worker.toml and every subscriber file; report all problems at once.

    Then note what is valid but will not work as it stands (a dump folder that is not there,
    an SMTP login without its password here, no subscribers) or may not be meant (subscribers
    sending to one address); and, from the database if there is one already, the
    `like`/`unlike` entries that match no paper a source has listed (a run looks arXiv ids up
    on arXiv).

    \b
    Example:
      paper-digest --config config check
    """
    from worker.semantic import semantic_problems
    from worker.templating import template_problems

    config = obj.load()
    s = config.settings
    problems = [*config.problems, *semantic_problems(s),
                *template_problems(s.templates_dir, str(s.config_dir / "worker.toml"))]
    files = {p.file: n for n, p in reversed(list(enumerate(problems)))}  # each file's first
    for problem in sorted(problems, key=lambda p: (files[p.file], p.line or 0)):
        click.secho(f"error: {problem}", fg="red", err=True)
    if problems:  # the notes too: one check says everything it can
        for note in _setup_notes(config):
            click.secho(f"note: {note}", fg="yellow", err=True)
        click.echo(f"{len(problems)} problem(s) found.", err=True)
        sys.exit(EXIT_ERROR)
    email = f"SMTP {s.smtp.host}:{s.smtp.port}" if s.smtp else f".eml files in {s.output_dir}"
    off = sum(not source.enabled for source in s.sources)
    sources = f"{len(s.sources) - off} source(s)" + (f" ({off} disabled)" if off else "")
    subscribers = f"{len(config.profiles)} subscriber(s)" + (
        f" ({len(config.disabled)} disabled)" if config.disabled else "")
    click.echo(f"OK: {sources}, {subscribers}; email via {email}.")
    from worker.examples import check_notes

    for note in [*_setup_notes(config), *check_notes(s, config.profiles, datetime.now(UTC))]:
        click.secho(f"note: {note}", fg="yellow", err=True)


def database_url_unused_note(s: Any) -> str:
    """worker.toml names one database and the environment another, which wins (the image
    presets PAPER_DIGEST_DATABASE_URL to its SQLite file in /data)."""
    from worker.store.db import redact

    return (f"database_url in worker.toml ({redact(s.database_url_unused)}) is not used: "
            f"PAPER_DIGEST_DATABASE_URL ({redact(s.database_url)}) wins (the container image "
            "presets it): set that variable to the database you mean, or drop database_url "
            "from worker.toml")


def _setup_notes(config: Any) -> list[str]:
    """What is valid but will not work as it stands, or may not be meant: for `check`."""
    from worker.config_types import command_line

    s, notes = config.settings, []
    if s.database_url_unused is not None:
        notes.append(database_url_unused_note(s))
    if s.smtp and s.smtp.username and not s.smtp.password:
        notes.append(f"[smtp] username is {s.smtp.username!r} but PAPER_DIGEST_SMTP_PASSWORD "
                     "is not set here: a run from this environment cannot log in")
    for source in s.sources:
        folder = Path(source.options.path) if source.kind == "dump_dir" else None
        if folder is not None and not folder.is_dir():
            notes.append(f"source {source.name}: no folder {folder} (from {Path.cwd()}): a "
                         "run will fail this source until it exists")
    by_address: dict[str, list[str]] = {}
    for profile in config.profiles:
        if profile.email and "email" in profile.deliver:
            by_address.setdefault(profile.email.lower(), []).append(profile.id)
    notes += [f"{', '.join(ids)} all send to {address}: each gets digests of its own (one "
              "file per interest is fine; a copied file is not)"
              for address, ids in by_address.items() if len(ids) > 1]
    for profile in config.profiles:
        notes += [f"{profile.id}: {note}" for note in _interest_notes(profile.interests)]
    notes += _compact_notes(config)
    if not config.profiles and not config.disabled and not config.broken:
        # init writes a starter only where there is no worker.toml: it refuses to overwrite one
        starter = ("" if (s.config_dir / "worker.toml").exists() else
                   f" (`{command_line(s.config_dir, 'init')}` writes a starter)")
        notes.append(f"no subscribers: add NAME.toml files to {s.config_dir / 'subscribers'}"
                     + starter)
    return notes


def _compact_notes(config: Any, shown: int = 10) -> list[str]:
    """Subscribers whose max_items is more papers than an HTML email shows in full under the
    size at which Gmail clips it (about: papers differ in size; worker.clipping). Worded as
    the email's note is (clipping.compact_note): readers go from a compact paper to its page."""
    from worker.clipping import papers_in_full

    feedback = config.settings.feedback.links() is not None
    fit = papers_in_full(feedback)
    over = [f"{p.id} ({p.max_items})" for p in config.profiles
            if "email" in p.deliver and p.max_items > fit]
    if not over:
        return []
    more = f" and {len(over) - shown} more" if len(over) > shown else ""
    return [f"max_items over about {fit}{' with feedback links' if feedback else ''}: "
            f"{', '.join(over[:shown])}{more}: so that Gmail does not cut the email short, "
            f"the HTML part of a digest that long shows about its first {fit} papers in full "
            "and the rest compact (no abstract or authors; the title links to the paper's "
            "page, if it has one); its plain-text part and Markdown digests show them all in "
            "full"]


def _interest_notes(interests: Any) -> list[str]:
    """Interests that are valid but cannot work as meant: a term nearly every paper has (a
    function word, a single character), a query that only leaves papers out."""
    from worker.matching.corpus import FUNCTION_WORDS
    from worker.matching.query import parse_query
    from worker.matching.text import tokens

    notes = []
    query = parse_query(interests.query) if interests.query else None
    asked = [t.text for t in query.positive_terms] if query else []
    for term in dict.fromkeys([*interests.keywords, *interests.phrases, *asked]):
        words = [t.fold for t in tokens(term)]
        if words and all(w in FUNCTION_WORDS or len(w) == 1 for w in words):
            notes.append(f"“{term.strip()}” is in nearly every paper: it will match almost "
                         "anything (a word such as “the”, or a single letter)")
    notes += _excluded_interests(interests, asked)
    notes += _unused_synonyms(interests, [t.text for t, _ in query.terms()] if query else [])
    if query is not None and not asked and not (
            interests.keywords or interests.phrases or interests.like):
        notes.append(f"the query {query} only leaves papers out: with nothing else under "
                     "[interests], no paper can score; add keywords or terms it asks for")
    return notes


def _unused_synonyms(interests: Any, queried: list[str]) -> list[str]:
    """Synonyms none of whose terms a keyword, phrase, query or exclude term holds: they only
    widen those terms (worker.matching.terms), so such a group changes nothing, silently
    (`RES = ["referring expression segmentation"]` beside the keyword `referring expression`)."""
    from worker.matching.terms import Synonyms
    from worker.matching.text import term_stems

    written = [*interests.keywords, *interests.phrases, *queried, *interests.exclude]
    stems = [s for s in map(term_stems, written) if s]
    notes = []
    for group in Synonyms(interests.synonyms).groups:
        keys = {k: v for k, v in interests.synonyms.items() if term_stems(k) in group}
        if not keys or any(len(Synonyms(keys).variants(s)[0]) > 1 for s in stems):
            continue  # (a key without letters is a problem check reports)
        names = [f"“{text.strip()}”" for text in group.values()]
        names_ = (f"neither {names[0]} nor {names[1]}" if len(names) == 2 else
                  f"none of {', '.join(names)}")
        first = next(iter(keys)).strip()
        notes.append(f"synonyms.{first}: {names_} is a keyword, phrase, query or exclude term "
                     "(or part of one), and synonyms only widen those: it changes nothing; add "
                     f"“{first}” to keywords, for one")
    return notes


def _excluded_interests(interests: Any, asked: list[str]) -> list[str]:
    """An interest that holds an exclude term (`exclude = ["video"]` beside the keyword `video
    generation`): every paper that names it as written names the excluded term too, so it is
    dropped (or demoted) whatever it scores."""
    from worker.matching.text import term_stems

    notes = []
    done = "dropped" if interests.exclude_mode != "demote" else "demoted"
    how = f'{done} (exclude_mode = "{interests.exclude_mode}")'
    terms: dict[tuple[str, ...], str] = {}  # each interest once, as first written
    for written in (*interests.keywords, *interests.phrases, *asked):
        terms.setdefault(term_stems(written), written.strip())
    for stems, term in terms.items():
        for excluded in (e.strip() for e in interests.exclude):
            out = term_stems(excluded)
            if out == stems:
                notes.append(f"“{term}” is also in `exclude`: every paper that names it is "
                             f"{how}; take it out of one of the two")
            elif out and any(stems[i:i + len(out)] == out for i in range(len(stems))):
                notes.append(f"“{term}” holds “{excluded}”, which `exclude` names: every paper "
                             f"that names “{term}” is {how}; take “{excluded}” out of `exclude`"
                             ", or make it longer than the interest")
            else:
                continue
            break
    return notes


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
    from worker.status_report import status_data, status_lines

    _show(obj, as_json, status_data, status_lines)


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
    from worker.status_report import subscribers_data, subscribers_lines

    _show(obj, as_json, subscribers_data, subscribers_lines)


def _show(obj: Obj, as_json: bool, read: Any, lines: Any) -> None:
    """What `read` finds in the database, as JSON or as the `lines` of a table."""
    from worker.store.opening import NoSchemaYet, open_engine

    config = obj.load()
    settings = settings_or_exit(config)
    try:
        try:
            data = read(config, obj.engine(settings, migrate=False))
        except NoSchemaYet as exc:  # the config's side of it (subscribers, channels), all
            # "never": no SQLite file made, no tables created where a mistyped URL pointed
            click.secho(f"note: {exc}", fg="yellow", err=True)
            empty = open_engine("sqlite://")
            try:
                data = read(config, empty)
            finally:
                empty.dispose()
    except PaperDigestError as exc:
        fail(str(exc))
    if as_json:
        import json

        from worker.logs import redact

        click.echo(redact(json.dumps(data, indent=2, ensure_ascii=False)))  # as report's lines
    else:
        for line in lines(data):
            click.echo(line)


@cli.command()
@click.argument("name")
@click.option("--force", is_flag=True,
              help="Also while NAME's file is there: the next run starts it afresh.")
@click.option("--now", "now_text", metavar="ISO-8601", help="Forget as if it were this moment.")
@click.pass_obj
def forget(obj: Obj, name: str, force: bool, now_text: str | None) -> None:
    """Wipe what the database holds of NAME's reader, for a name given to someone else.

    Its digests (sent or not), marks, unsubscribe, address and name go; the links in its
    digests stop working; the next file named NAME starts afresh (its own backfill), whatever
    its address. A run does this by itself for a file that comes back with another address
    after it was removed; this is for when it cannot tell (the file replaced between two
    runs). Refused while NAME's file is there, unless --force.

    \b
    Example:
      rm config/subscribers/alex.toml && paper-digest forget alex
      paper-digest forget alex --force      # the file already holds the new alex
    """
    from worker.config_types import command_line
    from worker.profiles import SUBSCRIBER_ID
    from worker.report import wiped_words
    from worker.store.readers import forget as forget_reader

    if not SUBSCRIBER_ID.match(name):
        fail(f"{name!r} cannot be a subscriber id", "use letters, digits, '.', '_' or '-'", 2)
    settings = settings_or_exit(obj.load(subscribers=False))
    file = obj.config_dir / "subscribers" / f"{name}.toml"
    there = file.exists() or file.is_symlink()
    if there and not force:
        fail(f"{file} is there: forgetting {name} would take its reader's digests, marks and "
             "unsubscribe away", f"remove the file first, or, if it holds someone new, "
             f"`{command_line(obj.config_dir, f'forget {name} --force')}`")
    try:
        wiped = forget_reader(obj.engine(settings), name, parse_now(now_text))
    except PaperDigestError as exc:
        fail(str(exc))
    if wiped is None:
        click.echo(f"The database holds nothing of {name}: nothing changed.")
        return
    left = "".join(f"{part}, " for part in wiped_words(wiped))
    click.echo(f"Forgot {name}: {left}its address and name; the links in its digests no "
               "longer work.")
    click.echo(f"{file.name} starts afresh at the next "
               f"`{command_line(obj.config_dir, 'run')}` (or serve)." if there else
               f"A file {file.name} starts afresh, whatever its address.")


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path), required=False)
@click.option("--name", help="Your subscriber id (default: your user name).")
@click.pass_obj
def init(obj: Obj, directory: Path | None, name: str | None) -> None:
    """Write a working starter config in DIRECTORY (default: --config, $PAPER_DIGEST_CONFIG,
    else ./config, as for every other command) and say what next.

    \b
    Example:
      paper-digest init my-digest && paper-digest --config my-digest check
    """
    from worker.config_types import command_line
    from worker.profiles import SUBSCRIBER_ID
    from worker.starter import write_starter

    if directory is None:  # `--config mine init` writes where `--config mine check` reads
        directory = obj.config_dir

    if name is not None and not SUBSCRIBER_ID.match(name):
        fail(f"{name!r} cannot be a subscriber id", "use letters, digits, '.', '_' or '-'", 2)
    try:
        written = write_starter(directory, name)
    except FileExistsError as exc:
        fail(f"{exc} exists already; nothing was written",
             "choose another directory, or edit the one you have")
    for path in written:
        click.echo(f"wrote {path}")
    check, dry_run, run, serve = (command_line(directory, words) for words in
                                  ("check", "run --dry-run", "run", "serve"))
    width = len(dry_run) + 3
    click.echo(f"""
Next steps:
  1. Edit {written[1]}: your interests (keywords, a query, papers you liked).
  2. {check:<{width}}validate the config
  3. {dry_run:<{width}}read the last 3 days' papers (network) and
     {directory}/dumps/, show what you would get (offline: add --source local)
  4. {run:<{width}}write your first digest under {directory}/out/
  Optional: add [smtp] to {written[0]} for email; `{serve}` keeps it
  running on a schedule.""")
