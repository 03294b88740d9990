"""The methodology version of each trip's receipt, as indexed columns.

Revision ID: 0003_trip_methodology
Revises: 0002_ledger_riders_mall
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_trip_methodology"
down_revision = "0002_ledger_riders_mall"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trips") as batch:
        batch.add_column(sa.Column("methodology_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("methodology_version", sa.Integer(), nullable=True))
    op.create_index(
        "ix_trips_methodology", "trips", ["methodology_id", "methodology_version", "ended_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_trips_methodology", table_name="trips")
    with op.batch_alter_table("trips") as batch:
        batch.drop_column("methodology_version")
        batch.drop_column("methodology_id")
