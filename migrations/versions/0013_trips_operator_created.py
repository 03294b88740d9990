"""An operator's trips newest received first, in place of a rider's trips by start time.

``GET /v1/trips`` pages through an operator's trips by (created_at, uid), newest first. With a
status it walks ``ix_trips_operator_status``; without one no index led with the operator and
``created_at``, so every page read and sorted all of the operator's trips. The new index gives
that order. ``ix_trips_account_started`` goes: every read of a rider's trips filters by the
account alone or by end time (``ix_trips_account_ended``), so the number of indexes a trip
insert maintains stays the same.

On PostgreSQL the index is built CONCURRENTLY, outside the migration's transaction, so a live
trips table keeps taking inserts while it builds.

Revision ID: 0013_trips_operator_created
Revises: 0012_ledger_references
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

from migrations.online import index_changes

revision = "0013_trips_operator_created"
down_revision = "0012_ledger_references"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with index_changes() as concurrently:
        op.create_index("ix_trips_operator_created", "trips",
                        ["operator_id", "created_at", "uid"],
                        postgresql_concurrently=concurrently)  # fmt: skip
        op.drop_index("ix_trips_account_started", table_name="trips",
                      postgresql_concurrently=concurrently)  # fmt: skip


def downgrade() -> None:
    op.create_index("ix_trips_account_started", "trips", ["account_id", "started_at"])
    op.drop_index("ix_trips_operator_created", table_name="trips")
