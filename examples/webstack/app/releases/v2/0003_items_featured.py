"""v2: featured items (a column, with every tenth item featured).

Revision ID: 0003_items_featured
Revises: 0002_items_name_index
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_items_featured"
down_revision = "0002_items_name_index"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("items", sa.Column("featured", sa.Boolean, nullable=False, server_default=sa.false()))
    op.execute("UPDATE items SET featured = true WHERE id % 10 = 0")


def downgrade():
    op.drop_column("items", "featured")
