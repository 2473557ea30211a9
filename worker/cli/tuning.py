"""The commands for tuning a profile: a digest before it is sent (`preview`), why a paper
scored what it did (`explain`), and a reader's likes and unlikes (`mark`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click

from worker.cli import (
    Obj,
    cli,
    complete_subscribers,
    example_lookup,
    fail,
    parse_now,
    profile_or_exit,
    settings_or_exit,
)
from worker.errors import PaperDigestError


@cli.command()
@click.argument("name", shell_complete=complete_subscribers)
@click.option("--format", "fmt", type=click.Choice(["md", "txt", "html"]), default="md",
              show_default=True, help="Which rendering to show.")
@click.option("--since", metavar="DURATION",
              help="Replay papers first seen in this window (e.g. 7d), ignoring what was sent.")
@click.option("--now", "now_text", metavar="ISO-8601", help="Preview as if it were this moment.")
@click.option("--below", metavar="N", type=click.IntRange(min=0), default=0,
              help="Also list the N best papers the digest leaves out, with their keys.")
@click.pass_obj
def preview(obj: Obj, name: str, fmt: str, since: str | None, now_text: str | None,
            below: int) -> None:
    """Render NAME's next digest to the terminal; send and record nothing.

    With --since, replay the papers first seen in that window, each ranked with the papers
    its digest ranked it with: what NAME's digests would have held with the profile as it is.
    With --below N, the note after it (on stderr) lists the N best papers left out (under
    min_score, or past max_items), each with the key `explain` takes.

    \b
    Example:
      paper-digest preview ada
      paper-digest preview ada --since 7d --format txt
      paper-digest preview ada --below 10
    """
    from worker.config_types import command_line, parse_duration
    from worker.preview import preview_digest
    from worker.store.subscriptions import unsubscribed_since

    config = obj.load(name)
    settings = settings_or_exit(config)
    profile = profile_or_exit(config, name)
    try:
        window = parse_duration(since) if since is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    if window is not None and window <= timedelta(0):
        raise click.BadParameter(f"{since!r} is an empty window: give one like 12h or 7d",
                                 param_hint="--since")
    try:
        engine = obj.engine(settings, migrate=False)
        text, note = preview_digest(config, engine, profile, parse_now(now_text), fmt=fmt,
                                    since=window, lookup=example_lookup(settings),
                                    below=below)
        left = unsubscribed_since(engine, name)
    except PaperDigestError as exc:
        fail(str(exc))
    if left is not None:  # previewed all the same: a reader may come back
        click.secho(f"note: {name} unsubscribed on {left:%Y-%m-%d} with the link in a digest: "
                    "it gets no digests until `"
                    f"{command_line(obj.config_dir, f'resubscribe {name}')}`",
                    fg="yellow", err=True)
    click.echo(text, nl=False)
    click.secho(note, fg="cyan", err=True)


@cli.command()
@click.argument("name", shell_complete=complete_subscribers)
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
      paper-digest explain ada "AbstainVL: Teaching Vision-Language Models When Not to Answer"
    """
    from worker.preview import explain_paper

    config = obj.load(name)
    settings = settings_or_exit(config)
    profile = profile_or_exit(config, name)
    try:
        engine = obj.engine(settings, migrate=False)
        lines = explain_paper(engine, profile, paper, settings=settings,
                              lookup=example_lookup(settings))
    except LookupError:
        fail(f"no stored paper matches {paper!r}",
             _did_you_mean(engine, paper) + _not_stored_hint(profile, paper, "like"), 2)
    except PaperDigestError as exc:
        fail(str(exc))
    for line in lines:
        click.echo(line)


def _did_you_mean(engine: Any, ref: str) -> str:
    """For a title no stored paper has exactly: the stored papers it nearly names, with the
    key to give instead, each on a line of the hint; "" when none is near (or `ref` is a key
    or an arXiv id)."""
    from worker.store.identity import near_titles, ref_arxiv_id

    if ref.startswith(("paper:", "arxiv:")) or ref_arxiv_id(ref) is not None:
        return ""
    return "".join(f"did you mean “{p.title}” ({p.key})?\n  " for p in near_titles(engine, ref))


def _not_stored_hint(profile: Any, ref: str, verdict: str, remove: bool = False) -> str:
    """What to do about a paper no stored paper matches: for an arXiv id or a title no source
    has listed, that it can be an example all the same (in the profile's file, looked up on
    arXiv)."""
    from worker.store.identity import ref_arxiv_id

    arxiv_id = ref_arxiv_id(ref)
    where = profile.file or f"{profile.id}'s profile"
    if remove or ref.startswith("paper:") or not ref.strip():
        return "give an arXiv id, an exact title, or a key like paper:123 from a digest"
    if arxiv_id is None:
        return ("give an arXiv id, an exact title, or a key like paper:123 from a digest; a "
                "paper no source has listed can be an example all the same: add its exact "
                f"title or arXiv id to `{verdict}` in {where} (a run looks it up on arXiv)")
    listed = next((key for key in ("like", "unlike") for given in getattr(profile.interests, key)
                   if ref_arxiv_id(given) == arxiv_id), None)
    if listed is not None:  # already an example: nothing to add
        return (f"no source has listed arXiv {arxiv_id}, so no digest holds it; it is in "
                f"`{listed}` in {where} already (a run looks it up on arXiv and keeps it)")
    return (f"no source has listed arXiv {arxiv_id}, so no digest holds it: to use it as an "
            f'example all the same, add "{arxiv_id}" to `{verdict}` in {where} (a run looks it '
            "up on arXiv)")


@cli.command()
@click.argument("name", shell_complete=complete_subscribers)
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
    from worker.marking import file_note, list_marks, mark_stored
    from worker.readers import settle
    from worker.report import reader_lines
    from worker.store import identity

    config = obj.load(name)
    settings = settings_or_exit(config)
    profile = profile_or_exit(config, name)
    if paper is None and (unlike or remove):
        fail("--unlike and --remove need a PAPER", "paper-digest mark NAME PAPER --unlike", 2)
    try:
        engine = obj.engine(settings)
        # a file of a new reader, not met by a pass yet: its marks start now, not the last one's
        settled = settle(engine, [profile], parse_now(now_text))
    except PaperDigestError as exc:
        fail(str(exc))
    for line in reader_lines(settled.notes, settings):
        click.echo(f"note: {line.strip()}", err=True)
    if paper is None:
        for line in list_marks(engine, profile.id, obj.config_dir):
            click.echo(line)
        return
    verdict = "unlike" if unlike else "like"
    try:
        found = identity.find_paper(engine, paper)
        if found is None:
            fail(f"no stored paper matches {paper!r}", _did_you_mean(engine, paper)
                 + _not_stored_hint(profile, paper, verdict, remove), 2)
        message = mark_stored(engine, profile.id, found, remove=remove, verdict=verdict,
                              now=parse_now(now_text))
        note = file_note(engine, profile, found, verdict=verdict, remove=remove)
    except PaperDigestError as exc:
        fail(str(exc))
    click.echo(message)
    if note:
        click.echo(f"note: {note}", err=True)
