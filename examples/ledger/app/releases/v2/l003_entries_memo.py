"""entries get a memo (nullable: v1's code keeps working on this schema)

Revision ID: l003
Revises: l002
"""

import sqlalchemy as sa
from alembic import op

revision = "l003"
down_revision = "l002"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("entries", sa.Column("memo", sa.Text, nullable=True))


def downgrade():
    op.drop_column("entries", "memo")
