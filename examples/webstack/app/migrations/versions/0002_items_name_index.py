"""Index items by name and by category.

Revision ID: 0002_items_name_index
Revises: 0001_initial
"""

from alembic import op

revision = "0002_items_name_index"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_items_name", "items", ["name"])
    op.create_index("ix_items_category_id", "items", ["category_id"])


def downgrade():
    op.drop_index("ix_items_category_id", table_name="items")
    op.drop_index("ix_items_name", table_name="items")
