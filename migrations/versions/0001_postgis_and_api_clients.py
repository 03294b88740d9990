"""PostGIS extension and the API clients table.

Revision ID: 0001_postgis_and_api_clients
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_postgis_and_api_clients"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Geometry columns in later revisions are PostGIS; SQLite stores WKB instead.
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "api_clients",
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secret_hash", sa.String(128), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('operator', 'planner', 'admin')", name=op.f("ck_api_clients_kind_known")
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_api_clients")),
    )


def downgrade() -> None:
    op.drop_table("api_clients")
    # The postgis extension stays: it is database-wide and other schemas may use it.
