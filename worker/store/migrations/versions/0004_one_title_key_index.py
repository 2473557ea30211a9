"""one index on papers' title key instead of two

Revision ID: 0004
Revises: 0003

`ix_papers_title_key` (lookups) and `uq_papers_title_key_noid` (two papers without an arXiv id
cannot share a title key; partial, WHERE arxiv_id IS NULL) held the same random keys: every
paper from a dump was written into both, and on a large SQLite history each of them dirties
about one page per new paper (bench/growth.py). One unique index on
(title_key, COALESCE(arxiv_id, '')) does both jobs: lookups by title key use its first column,
and two id-less papers with one title key collide on ('key', ''), while papers with distinct
ids (or one with an id and one without) may share a title as before.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Built before the old ones go: the data already satisfies it (the partial index and the
    # unique arxiv_id imply it), and a failure leaves the old guarantees in place.
    op.create_index("uq_papers_title_key", "papers",
                    ["title_key", sa.text("coalesce(arxiv_id, '')")], unique=True)
    op.drop_index("uq_papers_title_key_noid", table_name="papers")
    op.drop_index("ix_papers_title_key", table_name="papers")


def downgrade() -> None:
    op.create_index("ix_papers_title_key", "papers", ["title_key"], unique=False)
    op.create_index("uq_papers_title_key_noid", "papers", ["title_key"], unique=True,
                    sqlite_where=sa.text("arxiv_id IS NULL"),
                    postgresql_where=sa.text("arxiv_id IS NULL"))
    op.drop_index("uq_papers_title_key", table_name="papers")
