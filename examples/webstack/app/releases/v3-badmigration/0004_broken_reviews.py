"""v3 (broken on purpose): creates a table, then fails half-way on a column that does not exist.

On PostgreSQL the migration's transaction rolls back: the database stays at 0003_items_featured.

Revision ID: 0004_broken_reviews
Revises: 0003_items_featured
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_broken_reviews"
down_revision = "0003_items_featured"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id"), nullable=False),
        sa.Column("stars", sa.Integer, nullable=False),
    )
    op.execute("UPDATE items SET rating = 5")  # there is no column "rating": fails here


def downgrade():
    op.drop_table("reviews")
