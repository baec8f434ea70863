"""accounts, with three opening accounts

Revision ID: l001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "l001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    accounts = op.create_table(
        "accounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
    )
    op.bulk_insert(accounts, [{"id": 1, "name": "cash"}, {"id": 2, "name": "bank"}, {"id": 3, "name": "sales"}])


def downgrade():
    op.drop_table("accounts")
