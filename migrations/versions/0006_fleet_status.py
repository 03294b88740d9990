"""Fleet status and rebalancing: each vehicle's latest position, the sightings kept for demand
history, each 15-minute slot's incentive map, the truck moves under way, and trip indexes by
operator and start and by vehicle.

Revision ID: 0006_fleet_status
Revises: 0005_trip_ingestion
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_fleet_status"
down_revision = "0005_trip_ingestion"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vehicle_positions",
        sa.Column("operator_id", sa.String(64), nullable=False),
        sa.Column("vehicle_id", sa.String(200), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("cell", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("vehicle_type", sa.String(64), nullable=True),
        sa.Column("range_m", sa.Integer(), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("operator_id", "vehicle_id", name=op.f("pk_vehicle_positions")),
    )
    op.create_index("ix_vehicle_positions_operator_cell", "vehicle_positions",
                    ["operator_id", "cell"])  # fmt: skip
    op.create_table(
        "vehicle_sightings",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("operator_id", sa.String(64), nullable=False),
        sa.Column("vehicle_id", sa.String(200), nullable=False),
        sa.Column("cell", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vehicle_sightings")),
    )
    op.create_index("ix_vehicle_sightings_operator_time", "vehicle_sightings",
                    ["operator_id", "reported_at"])  # fmt: skip

    op.create_table(
        "incentive_maps",
        sa.Column("operator_id", sa.String(64), nullable=False),
        sa.Column("slot_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolution", sa.Integer(), nullable=False),
        sa.Column("units", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("operator_id", "slot_start", name=op.f("pk_incentive_maps")),
    )
    op.create_table(
        "rebalancing_moves",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("operator_id", sa.String(64), nullable=False),
        sa.Column("from_unit", sa.String(64), nullable=False),
        sa.Column("to_unit", sa.String(64), nullable=False),
        sa.Column("vehicles", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rebalancing_moves")),
    )
    op.create_index("ix_rebalancing_moves_operator_open", "rebalancing_moves",
                    ["operator_id", "done_at"])  # fmt: skip
    op.create_index("ix_trips_operator_started", "trips", ["operator_id", "started_at"])
    op.create_index(
        "ix_trips_operator_vehicle", "trips", ["operator_id", "vehicle_id", "started_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_trips_operator_vehicle", table_name="trips")
    op.drop_index("ix_trips_operator_started", table_name="trips")
    op.drop_table("incentive_maps")
    op.drop_index("ix_rebalancing_moves_operator_open", table_name="rebalancing_moves")
    op.drop_table("rebalancing_moves")
    op.drop_index("ix_vehicle_sightings_operator_time", table_name="vehicle_sightings")
    op.drop_table("vehicle_sightings")
    op.drop_index("ix_vehicle_positions_operator_cell", table_name="vehicle_positions")
    op.drop_table("vehicle_positions")
