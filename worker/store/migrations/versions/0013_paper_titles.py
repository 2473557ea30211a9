"""the other titles a paper with an arXiv id was listed under

Revision ID: 0013
Revises: 0012

arXiv may retitle a paper in a new version: one source then lists its id with the new title
while a text dump (titles only) lists either title. Ingest found such a paper by its id and
forgot the other title, so a text dump listing it under that title listed a new paper, sent
again to everyone. Each title key a paper found by its id comes with, besides the one it has,
is now kept here, and ingest looks titles up here too (worker.store.papers). The titles
forgotten before 0013 are not known: the table starts empty.

Going back below 0013 drops the table: a retitled paper is then found by its id and by the
title it shows, as before 0013.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "paper_titles",
        sa.Column("title_hash", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("paper_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("title_key", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], ondelete="CASCADE",
                                name=op.f("fk_paper_titles_paper_id_papers")),
        sa.PrimaryKeyConstraint("title_hash", "paper_id", name=op.f("pk_paper_titles")),
    )


def downgrade() -> None:
    op.drop_table("paper_titles")
