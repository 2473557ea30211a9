"""example papers looked up on arXiv by id

Revision ID: 0006
Revises: 0005

A `like` or `unlike` given by arXiv id that no source has listed is looked up on arXiv's export
API once and kept here, apart from `papers`, so it does not count as seen (worker.examples).
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "example_papers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("arxiv_id", sa.String(length=64), nullable=False),
        sa.Column("found", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("title", sa.Text(), server_default="", nullable=False),
        sa.Column("abstract", sa.Text(), server_default="", nullable=False),
        sa.Column("authors", sa.Text(), server_default="[]", nullable=False),
        sa.Column("looked_up_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_example_papers")),
        sa.UniqueConstraint("arxiv_id", name=op.f("uq_example_papers_arxiv_id")),
    )


def downgrade() -> None:
    op.drop_table("example_papers")
