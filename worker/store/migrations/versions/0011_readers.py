"""who reads under each subscriber id: a generation signed into its links, and when its file
went

Revision ID: 0011
Revises: 0010

A subscriber's file name is its id, and ids are reused (a new "alex" at the lab). The pass now
tells a new reader from the last one (worker.readers): `removed_at` records that the file
went, `forgotten_at` that `paper-digest forget` wiped the id, and `generation` (0 for every
subscriber already here, so the links in digests already sent keep working) goes up by one
for each new reader and is signed into every feedback and unsubscribe link.

Going back below 0011 drops the three: a subscriber whose id has had several readers then
signs its links as generation 0 again, so the links of its current digests stop working
(403) and those of its first reader's digests work again, as before 0011.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("subscribers", sa.Column("generation", sa.Integer(), nullable=False,
                                           server_default="0"))
    op.add_column("subscribers", sa.Column("removed_at", sa.DateTime(timezone=True),
                                           nullable=True))
    op.add_column("subscribers", sa.Column("forgotten_at", sa.DateTime(timezone=True),
                                           nullable=True))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN, on SQLite too (3.35 and later), as 0010 does: a batch copy
    # of subscribers would drop the table digests and slot claims refer to.
    for column in ("forgotten_at", "removed_at", "generation"):
        op.drop_column("subscribers", column)
