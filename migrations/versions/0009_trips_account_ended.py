"""A rider's trips by end time, in place of the index on the account alone.

The neighbouring-trips lookup (overlap and teleport checks) asks for a rider's trips that
started before a batch ends and ended after it starts. By (account_id, started_at) that reads
every earlier trip of the rider; by (account_id, ended_at) only those that ended after the
batch's start. ``ix_trips_account_id`` goes: both composite indexes lead with the account, so
the number of indexes a trip insert maintains stays the same.

On PostgreSQL the index is built CONCURRENTLY, outside the migration's transaction, so a live
trips table keeps taking inserts while it builds.

Revision ID: 0009_trips_account_ended
Revises: 0008_planner_journal
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

from migrations.online import index_changes

revision = "0009_trips_account_ended"
down_revision = "0008_planner_journal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with index_changes() as concurrently:
        op.create_index("ix_trips_account_ended", "trips", ["account_id", "ended_at"],
                        postgresql_concurrently=concurrently)  # fmt: skip
        op.drop_index("ix_trips_account_id", table_name="trips",
                      postgresql_concurrently=concurrently)  # fmt: skip


def downgrade() -> None:
    op.create_index("ix_trips_account_id", "trips", ["account_id"])
    op.drop_index("ix_trips_account_ended", table_name="trips")
