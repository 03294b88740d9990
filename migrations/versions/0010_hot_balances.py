"""Room on the pages of the tables every batch rewrites (account balances, daily totals), so
PostgreSQL updates their rows in place (HOT) instead of adding an index entry each time.

The setting applies to pages written from now on. Rows already stored move to roomier pages
as they are updated and vacuumed; ``VACUUM FULL accounts, daily_credits`` applies it at once,
but locks both tables while it runs, so it is left to the operator.

Revision ID: 0010_hot_balances
Revises: 0009_trips_account_ended
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0010_hot_balances"
down_revision = "0009_trips_account_ended"
branch_labels = None
depends_on = None

TABLES = ("accounts", "daily_credits")
FILLFACTOR = 50  # service.persistence.ledger_models.HOT_FILLFACTOR, as of this revision


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
