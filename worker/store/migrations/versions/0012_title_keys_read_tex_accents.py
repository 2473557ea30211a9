"""papers' title keys made again by the normalize_title that reads TeX accents

Revision ID: 0012
Revises: 0011

normalize_title now reads what a listing shows for a title's TeX (`Schr\\"odinger` is
`schrödinger`, `Poincar\\'{e}` is `poincaré`, `$\\ell_1$` is `l1`, `$O(\\log n)$` is
`o log n`), drops invisible characters (a soft hyphen or a zero-width space no longer splits a
word in two) and reads HTML character references (`Q&amp;A` is `Q&A`). A paper stored under
its old key would not be found by its new one, and the same paper met again without its id
would be new again: each stored key that changes is written again, with its hash, a thousand
papers at a time. A paper without an id whose new key another paper without an id holds
already keeps its old key (the two were kept apart before, and the unique index takes no two
papers without an id with one key). Titles looked up on arXiv for `like` (example_titles) are
a cache: a title whose key changed is looked up again once.

Going down leaves the keys as they are: the older normalize_title finds such a paper by its
id, not by its title.
"""

import sqlalchemy as sa
from alembic import op

from worker.records import _INVISIBLE, normalize_title, title_hash

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

BATCH = 1000


def _changed_by() -> tuple[str, ...]:
    """What the new normalize_title reads that the one before did not: a backslash (TeX
    commands and accents), an ampersand (character references) and each character it drops
    as invisible (worker.records._INVISIBLE, all in the Basic Multilingual Plane)."""
    return ("\\", "&", *(chr(c) for c in range(0x10000) if _INVISIBLE.match(chr(c))))


def upgrade() -> None:
    conn = op.get_bind()
    table = sa.table("papers", sa.column("id", sa.Integer()), sa.column("arxiv_id", sa.String()),
                     sa.column("title", sa.Text()), sa.column("title_key", sa.Text()),
                     sa.column("title_hash", sa.BigInteger()))
    # Only a title with a backslash, an ampersand or an invisible character has another key
    # now: the database finds those (a history of a million papers is not read into Python).
    maybe = sa.or_(*(table.c.title.contains(c, autoescape=True) for c in _changed_by()))
    last = 0
    while rows := conn.execute(sa.select(table.c.id, table.c.arxiv_id, table.c.title,
                                         table.c.title_key)
                               .where(table.c.id > last, maybe).order_by(table.c.id)
                               .limit(BATCH)).all():
        for paper, arxiv_id, title, old_key in rows:
            key = normalize_title(title)
            if key and key != old_key and not _taken(conn, table, paper, arxiv_id, key):
                conn.execute(sa.update(table).where(table.c.id == paper)
                             .values(title_key=key, title_hash=title_hash(key)))
        last = rows[-1][0]


def _taken(conn: sa.Connection, table: sa.TableClause, paper: int, arxiv_id: str | None,
           key: str) -> bool:
    """Does another paper hold what the unique index would refuse this one to take?"""
    query = sa.select(table.c.id).where(table.c.title_hash == title_hash(key),
                                        sa.func.coalesce(table.c.arxiv_id, "") == (arxiv_id or ""),
                                        table.c.id != paper)
    return conn.execute(query.limit(1)).first() is not None


def downgrade() -> None:
    pass
