"""papers indexed by a 64-bit hash of the title key, not the key itself

Revision ID: 0005
Revises: 0004

Every paper a dump brings is written into the one random-keyed index of papers, and on a large
history each new paper lands on a page of its own: at a million papers, 1,000 new ones rewrote
~1,540 pages of `uq_papers_title_key` (title keys average ~85 bytes an entry), most of what an
ingest writes (bench/growth.py). `title_hash` (worker.records.title_hash) is 8 bytes: the index
on (title_hash, COALESCE(arxiv_id, '')) holds several times more entries per page, keeps the
same guarantee (two papers without an id never share a title), and ingest looks titles up by
it. Existing rows get their hash here, a thousand at a time; on SQLite the column stays
nullable (it cannot add NOT NULL to an existing table without rebuilding it).
"""

import sqlalchemy as sa
from alembic import op

from worker.records import title_hash

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    op.add_column("papers", sa.Column("title_hash", sa.BigInteger(), nullable=True))
    conn = op.get_bind()
    table = sa.table("papers", sa.column("id", sa.Integer()), sa.column("title_key", sa.Text()),
                     sa.column("title_hash", sa.BigInteger()))
    fill = (sa.update(table).where(table.c.id == sa.bindparam("paper"))
            .values(title_hash=sa.bindparam("hash")))
    last = 0
    while rows := conn.execute(sa.select(table.c.id, table.c.title_key)
                               .where(table.c.id > last).order_by(table.c.id)
                               .limit(BATCH)).all():
        conn.execute(fill, [{"paper": pid, "hash": title_hash(key)} for pid, key in rows])
        last = rows[-1][0]
    if conn.dialect.name != "sqlite":
        op.alter_column("papers", "title_hash", nullable=False)
    # Built before the old one goes: a failure leaves the old guarantee in place.
    op.create_index("uq_papers_title_hash", "papers",
                    ["title_hash", sa.text("coalesce(arxiv_id, '')")], unique=True)
    op.drop_index("uq_papers_title_key", table_name="papers")


def downgrade() -> None:
    op.create_index("uq_papers_title_key", "papers",
                    ["title_key", sa.text("coalesce(arxiv_id, '')")], unique=True)
    op.drop_index("uq_papers_title_hash", table_name="papers")
    op.drop_column("papers", "title_hash")
