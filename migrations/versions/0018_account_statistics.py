"""PostgreSQL keeps at most 10 most common values of ``trips.account_id`` and
``daily_credits.account_id`` (statistics target 10, down from the default 100).

A batch reads its riders' neighbouring trips and day totals with ``account_id = ANY(...)`` over
up to a thousand accounts, each statement planned for its values. To estimate how many rows
match, the planner compares every value of the list with every most common value it keeps for
the column: a thousand by a hundred comparisons per statement, all made again each batch.
Measured on a database of 30,000 trips over 2,000 riders (15 runs each, medians), planning a
thousand-account day-totals read took 1.82 ms with 100 values kept and 0.41 ms with 10, the
neighbouring trips' read 1.98 and 0.50 ms; the row estimates, the plans and their running
times stayed the same. In ``bench.ingest_http --statements`` those two reads had taken 9.2 ms
of planning per 1000-trip batch, under the riders' locks.

A rider's share of all trips is small however active the rider, so ten values describe the
column as well as a hundred. ANALYZE sizes its sample by the table's largest target, which the
other columns keep at 100, so the number of distinct riders is estimated from as many rows as
before.

Revision ID: 0018_account_statistics
Revises: 0017_balanced_from_inserted
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0018_account_statistics"
down_revision = "0017_balanced_from_inserted"
branch_labels = None
depends_on = None

ACCOUNT_STATISTICS_TARGET = 10
_COLUMNS = (("trips", "account_id"), ("daily_credits", "account_id"))


def _set_statistics(target: int) -> None:
    for table, column in _COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET STATISTICS {target}")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _set_statistics(ACCOUNT_STATISTICS_TARGET)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _set_statistics(-1)  # the server's default_statistics_target
