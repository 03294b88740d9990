"""Planner roll-ups: start atoms (resolution-9 cell, month, mode, hour, day type) and the flow
atoms that split them by resolution-8 destination, with their parent cells.

Revision ID: 0007_planner_rollups
Revises: 0006_fleet_status
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007_planner_rollups"
down_revision = "0006_fleet_status"
branch_labels = None
depends_on = None


def _bits() -> sa.types.TypeEngine:
    return postgresql.BIT(1024).with_variant(sa.LargeBinary(128), "sqlite")


def _sums(*names: str) -> list[sa.Column]:
    return [sa.Column(name, sa.BigInteger(), nullable=False) for name in names]


def upgrade() -> None:
    op.create_table(
        "planner_cells",
        sa.Column("cell", sa.String(16), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("hour", sa.SmallInteger(), nullable=False),
        sa.Column("day_type", sa.SmallInteger(), nullable=False),
        *(sa.Column(f"c{r}", sa.String(16), nullable=False) for r in (5, 6, 7, 8)),
        *_sums("starts", "co2_g", "distance_m"),
        sa.Column("riders", _bits(), nullable=False),
        sa.Column("riders_at_least", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "cell", "month", "mode", "hour", "day_type", name=op.f("pk_planner_cells")
        ),
    )
    op.create_index("ix_planner_cells_month_mode", "planner_cells", ["month", "mode"])
    op.create_table(
        "planner_flows",
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("hour", sa.SmallInteger(), nullable=False),
        sa.Column("day_type", sa.SmallInteger(), nullable=False),
        sa.Column("destination", sa.String(16), nullable=False),
        *(sa.Column(f"o{r}", sa.String(16), nullable=False) for r in (5, 6, 7, 8)),
        *(sa.Column(f"d{r}", sa.String(16), nullable=False) for r in (5, 6, 7)),
        *_sums("trips", "parking_judged", "parking_valid"),
        sa.Column("riders", _bits(), nullable=False),
        sa.Column("riders_at_least", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "origin",
            "month",
            "mode",
            "hour",
            "day_type",
            "destination",
            name=op.f("pk_planner_flows"),
        ),
    )
    op.create_index("ix_planner_flows_month_mode", "planner_flows", ["month", "mode"])


def downgrade() -> None:
    op.drop_index("ix_planner_flows_month_mode", table_name="planner_flows")
    op.drop_table("planner_flows")
    op.drop_index("ix_planner_cells_month_mode", table_name="planner_cells")
    op.drop_table("planner_cells")
