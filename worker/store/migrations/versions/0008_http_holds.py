"""servers' holds: Retry-After remembered across runs

Revision ID: 0008
Revises: 0007

A server that answers with a `Retry-After` longer than a run waits is not asked again before
that time (a day at most), by any run: the fetcher keeps the time here, by host[:port].
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "http_holds",
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("host", name=op.f("pk_http_holds")),
    )


def downgrade() -> None:
    op.drop_table("http_holds")
