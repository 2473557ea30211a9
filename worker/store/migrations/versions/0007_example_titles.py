"""example papers searched for on arXiv by title

Revision ID: 0007
Revises: 0006

A `like` or `unlike` given by title that no source has listed is searched for on arXiv by
title; the arXiv id of the paper with exactly that title (or none, and then perhaps one whose
title holds it) is kept here, and the paper itself in example_papers (worker.examples).
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "example_titles",
        sa.Column("title_hash", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("title_key", sa.Text(), nullable=False),
        sa.Column("arxiv_id", sa.String(length=64), nullable=True),
        sa.Column("near_id", sa.String(length=64), nullable=True),
        sa.Column("near_title", sa.Text(), nullable=True),
        sa.Column("looked_up_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("title_hash", name=op.f("pk_example_titles")),
    )


def downgrade() -> None:
    op.drop_table("example_titles")
