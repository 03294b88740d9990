"""Trip ingestion: each trip's content digest, vehicle, stations, line and H3 cells; indexes for
a rider's neighbouring trips and an operator's trips by status; replayable request answers.

Revision ID: 0005_trip_ingestion
Revises: 0004_geofencing
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_trip_ingestion"
down_revision = "0004_geofencing"
branch_labels = None
depends_on = None

NEW_TRIP_COLUMNS = (
    ("content_digest", sa.String(64)),
    ("vehicle_id", sa.String(200)),
    ("vehicle_type", sa.String(64)),
    ("entry_station", sa.String(200)),
    ("exit_station", sa.String(200)),
    ("line_id", sa.String(200)),
    ("start_cell", sa.String(16)),
    ("end_cell", sa.String(16)),
)


def upgrade() -> None:
    with op.batch_alter_table("trips") as batch:
        for name, kind in NEW_TRIP_COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))
    op.create_index("ix_trips_account_started", "trips", ["account_id", "started_at"])
    op.create_index("ix_trips_operator_status", "trips", ["operator_id", "status", "created_at"])
    op.create_index("ix_trips_operator_rider_ref", "trips", ["operator_id", "rider_ref"])
    op.create_table(
        "request_replays",
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("body_digest", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "key", name=op.f("pk_request_replays")),
    )


def downgrade() -> None:
    op.drop_table("request_replays")
    op.drop_index("ix_trips_operator_rider_ref", table_name="trips")
    op.drop_index("ix_trips_operator_status", table_name="trips")
    op.drop_index("ix_trips_account_started", table_name="trips")
    with op.batch_alter_table("trips") as batch:
        for name, _ in reversed(NEW_TRIP_COLUMNS):
            batch.drop_column(name)
