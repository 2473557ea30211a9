"""digests indexed by when they were made

Revision ID: 0009
Revises: 0008

`[retention] digests` removes sent digests older than it says, from every pass on: finding
them reads this index, not the whole table (ten thousand subscribers make 3.6 million digests
a year).
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_digests_created_at"), "digests", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_digests_created_at"), table_name="digests")
