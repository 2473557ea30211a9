"""subscribers who unsubscribed with a digest's link

Revision ID: 0010
Revises: 0009

With `[feedback] url` set, every email digest carries a one-click unsubscribe link (RFC 8058)
that serve answers; the reader's choice is kept here, and passes leave them out until
`paper-digest resubscribe`.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("subscribers", sa.Column("unsubscribed_at", sa.DateTime(timezone=True),
                                           nullable=True))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN on SQLite too (3.35 and later): a batch copy of subscribers
    # dropped the table digests refer to, and foreign keys refused it once any digest was made.
    op.drop_column("subscribers", "unsubscribed_at")
