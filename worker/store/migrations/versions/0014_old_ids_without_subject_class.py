"""old-style arXiv ids stored without their subject class

Revision ID: 0014
Revises: 0013

An old-style (before April 2007) arXiv id may be written with the paper's subject class,
`math.GT/0309136`, or without it, `math/0309136`: the class is not part of the identifier, and
both name one paper. split_arxiv_id kept what a source or a `like` wrote, so the two forms were
two papers, the second one new to every subscriber again, and a `like` in one form did not
find a paper stored in the other. It now gives the id without the class, and a paper stored
with one is given the id without it here, a thousand at a time (the database finds them: only
such an id has a dot before its slash; new-style ids have no slash). Its abstract and PDF links
stay as they are: arxiv.org serves an address with the class as well.

A paper whose id without the class another paper holds already (a source gave both forms, and
each became a paper) keeps its id. The two are not merged into one: that would move one's
sightings, digest items, marks and other titles onto the other, where a unique constraint
refuses those both have (a subscriber sent both, a dump listing both) and a digest already
sent would list a paper other than the one it showed. From now on every source and `like`
names the one without the class; the other stays, with the sightings and digests that show
it, as history (a text dump listing its title lists a known paper either way).

Example papers looked up on arXiv (example_papers) are kept by the id a lookup asked for; a
lookup now asks for the id without the class. A paper arXiv gave is given that id, unless a
row has it already; an answer that arXiv had no such paper is removed rather than carried over
(arXiv's answer names the paper without the class, which the asked id with it did not match:
such a "no" was likely wrong), and the next run asks again. The ids title searches found
(example_titles) are rewritten alike: a `like` title's id is looked up with the others.

Going down leaves the ids as they are: an older paper-digest finds a paper stored without the
class by that form, as it always did, and one written with the class is a new paper to it
again, as it was before.
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BATCH = 1000
# An old-style id with a subject class, as worker.records._OLD_ID takes one (its own copy: this
# migration must do what it did when it was written, whatever the parser does later).
_WITH_CLASS = re.compile(r"([a-z][a-z\-]{1,15})\.[A-Z]{2}/([0-9]{7})")


def _canonical(arxiv_id: str | None) -> str | None:
    """`arxiv_id` without its subject class, or None when it has none."""
    match = _WITH_CLASS.fullmatch(arxiv_id or "")
    return f"{match[1]}/{match[2]}" if match else None


def upgrade() -> None:
    conn = op.get_bind()
    _papers(conn)
    _example_papers(conn)
    _example_titles(conn)


def _papers(conn: sa.Connection) -> None:
    table = sa.table("papers", sa.column("id", sa.Integer()), sa.column("arxiv_id", sa.String()))
    last = 0
    while rows := conn.execute(sa.select(table.c.id, table.c.arxiv_id)
                               .where(table.c.id > last, table.c.arxiv_id.like("%.%/%"))
                               .order_by(table.c.id).limit(BATCH)).all():
        for paper, arxiv_id in rows:
            canonical = _canonical(arxiv_id)
            if canonical and not _held(conn, table, canonical):
                conn.execute(sa.update(table).where(table.c.id == paper)
                             .values(arxiv_id=canonical))
        last = rows[-1][0]


def _example_papers(conn: sa.Connection) -> None:
    table = sa.table("example_papers", sa.column("id", sa.Integer()),
                     sa.column("arxiv_id", sa.String()), sa.column("found", sa.Boolean()))
    last = 0
    while rows := conn.execute(sa.select(table.c.id, table.c.arxiv_id, table.c.found)
                               .where(table.c.id > last, table.c.arxiv_id.like("%.%/%"))
                               .order_by(table.c.id).limit(BATCH)).all():
        for row, arxiv_id, found in rows:
            canonical = _canonical(arxiv_id)
            if canonical is None:
                continue
            if found and not _held(conn, table, canonical):
                conn.execute(sa.update(table).where(table.c.id == row)
                             .values(arxiv_id=canonical))
            else:
                conn.execute(sa.delete(table).where(table.c.id == row))
        last = rows[-1][0]


def _example_titles(conn: sa.Connection) -> None:
    table = sa.table("example_titles", sa.column("title_hash", sa.BigInteger()),
                     sa.column("arxiv_id", sa.String()), sa.column("near_id", sa.String()))
    last: int | None = None
    maybe = sa.or_(table.c.arxiv_id.like("%.%/%"), table.c.near_id.like("%.%/%"))
    while rows := conn.execute(
            sa.select(table.c.title_hash, table.c.arxiv_id, table.c.near_id)
            .where(maybe, sa.true() if last is None else table.c.title_hash > last)
            .order_by(table.c.title_hash).limit(BATCH)).all():
        for title, arxiv_id, near_id in rows:
            changes = {name: canonical for name, value in (("arxiv_id", arxiv_id),
                                                           ("near_id", near_id))
                       if (canonical := _canonical(value))}
            if changes:
                conn.execute(sa.update(table).where(table.c.title_hash == title)
                             .values(**changes))
        last = rows[-1][0]


def _held(conn: sa.Connection, table: sa.TableClause, arxiv_id: str) -> bool:
    """Does a row of `table` hold `arxiv_id` already (its unique constraint)?"""
    query = sa.select(table.c.arxiv_id).where(table.c.arxiv_id == arxiv_id).limit(1)
    return conn.execute(query).first() is not None


def downgrade() -> None:
    """Nothing to undo: which form of an id a paper had before is not kept, and an older
    paper-digest finds a paper by the form without the class as it always did."""
