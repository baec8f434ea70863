"""Categories and items, with seed rows.

Revision ID: 0001_initial
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

CATEGORIES = ["books", "games", "tools", "music"]


def upgrade():
    categories = op.create_table(
        "categories",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
    )
    items = op.create_table(
        "items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("category_id", sa.Integer, sa.ForeignKey("categories.id"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("price", sa.Numeric(10, 2), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
    )
    op.bulk_insert(categories, [{"id": i + 1, "name": n} for i, n in enumerate(CATEGORIES)])
    op.bulk_insert(
        items,
        [
            {
                "id": i,
                "category_id": (i % len(CATEGORIES)) + 1,
                "name": f"item {i:03d}",
                "price": round(1 + (i * 37 % 500) / 10, 2),
                "description": f"The example item number {i}.",
            }
            for i in range(1, 101)
        ],
    )
    op.execute("SELECT setval(pg_get_serial_sequence('items', 'id'), 100)")
    op.execute("SELECT setval(pg_get_serial_sequence('categories', 'id'), 4)")


def downgrade():
    op.drop_table("items")
    op.drop_table("categories")
