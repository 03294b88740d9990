"""Geofencing: zone versions (PostGIS geometry with a GiST index on PostgreSQL), the catalogue
version and global rules, operator licence cells, parking offences, and each trip's parking
category and zone.

Revision ID: 0004_geofencing
Revises: 0003_trip_methodology
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0004_geofencing"
down_revision = "0003_trip_methodology"
branch_labels = None
depends_on = None


def _geometry_type() -> sa.types.TypeEngine:
    if op.get_bind().dialect.name == "postgresql":
        return Geometry("GEOMETRY", srid=4326, spatial_index=False)
    return sa.LargeBinary()


def upgrade() -> None:
    op.create_table(
        "zones",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("zone_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("zone_type", sa.String(16), nullable=False),
        sa.Column("geometry", _geometry_type(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("withdrawn", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("replaces", sa.String(80), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "zone_type IN ('service_area', 'parking', 'no_parking', 'no_ride', 'slow', 'rules')",
            name=op.f("ck_zones_zone_type_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zones")),
    )
    op.create_index("uq_zones_zone_version", "zones", ["zone_id", "version"], unique=True)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_zones_geometry ON zones USING gist (geometry)")

    op.create_table(
        "geofence_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("global_rules", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_geofence_state")),
    )
    state = sa.table(
        "geofence_state",
        sa.column("id", sa.Integer),
        sa.column("version", sa.BigInteger),
        sa.column("global_rules", sa.JSON),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        state.insert().values(
            id=1, version=0, global_rules={}, updated_at=sa.func.current_timestamp()
        )
    )

    op.create_table(
        "licence_cells",
        sa.Column("operator_id", sa.String(64), nullable=False),
        sa.Column("cell", sa.String(16), nullable=False),
        sa.Column("resolution", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("operator_id", "cell", name=op.f("pk_licence_cells")),
    )

    op.create_table(
        "parking_offences",
        sa.Column("trip_uid", sa.String(40), nullable=False),
        sa.Column("account_id", sa.String(40), nullable=True),
        sa.Column("operator_id", sa.String(64), nullable=False),
        sa.Column("zone_id", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("consequence", sa.String(10), nullable=False),
        sa.Column("penalty_points", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("trip_uid", name=op.f("pk_parking_offences")),
    )
    op.create_index(
        "ix_parking_offences_account_time", "parking_offences", ["account_id", "occurred_at"]
    )
    op.create_index(op.f("ix_parking_offences_operator_id"), "parking_offences", ["operator_id"])

    with op.batch_alter_table("trips") as batch:
        batch.add_column(sa.Column("parking_category", sa.String(12), nullable=True))
        batch.add_column(sa.Column("parking_zone_id", sa.String(64), nullable=True))
    op.create_index(
        "ix_trips_operator_parking", "trips", ["operator_id", "parking_zone_id", "parking_category"]
    )


def downgrade() -> None:
    op.drop_index("ix_trips_operator_parking", table_name="trips")
    with op.batch_alter_table("trips") as batch:
        batch.drop_column("parking_zone_id")
        batch.drop_column("parking_category")
    op.drop_index(op.f("ix_parking_offences_operator_id"), table_name="parking_offences")
    op.drop_index("ix_parking_offences_account_time", table_name="parking_offences")
    op.drop_table("parking_offences")
    op.drop_table("licence_cells")
    op.drop_table("geofence_state")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_zones_geometry")
    op.drop_index("uq_zones_zone_version", table_name="zones")
    op.drop_table("zones")
