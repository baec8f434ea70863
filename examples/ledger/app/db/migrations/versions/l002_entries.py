"""entries booked on accounts

Revision ID: l002
Revises: l001
"""

import sqlalchemy as sa
from alembic import op

revision = "l002"
down_revision = "l001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "entries",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("booked_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("entries_account_id", "entries", ["account_id"])
    op.execute("INSERT INTO entries (account_id, amount_cents) SELECT 1 + g % 3, (g * 37) % 1000 - 300 "
               "FROM generate_series(1, 300) g")


def downgrade():
    op.drop_table("entries")
