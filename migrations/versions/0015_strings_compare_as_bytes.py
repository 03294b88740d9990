"""On PostgreSQL every string column compares as bytes (``COLLATE "C"``).

The service's strings are identifiers and codes, and every index on them compares them on each
insert: a credited trip's row goes into nine indexes, each of them on strings. In the database's
collation (``C.UTF-8`` here, a locale's in many deployments) PostgreSQL 15 compares strings
through the C library; in ``C`` it compares bytes. Sampled with ``perf`` during 1000-trip
batches, string comparisons took about 8 % of PostgreSQL's CPU. The raw-database floor of
``bench.ingest_http`` (the same 20,000 trips and their ledger rows copied into a fresh
database, eight alternating rounds each): PostgreSQL's CPU per 1000 trips went from a median
of 67.0 ms (least 60.0) to 61.8 ms (least 55.5); the trips' COPY from 32.5 to 29.9 ms.

Orders change only where a locale's order differed from the code point order, and every order
the service asks for is of identifiers: PostgreSQL now sorts them as SQLite and Python do.

Each table changes in one ALTER TABLE, which rebuilds the indexes on its string columns and
holds an exclusive lock meanwhile (no table is rewritten). With 50,000 trips and their ledger
rows, the upgrade took 0.86-0.90 s here and the downgrade 0.94-0.98 s (two runs each).

Revision ID: 0015_strings_compare_as_bytes
Revises: 0014_trips_rider_rejected
Create Date: 2026-12-07
"""

from __future__ import annotations

from migrations.collation import BYTEWISE, DATABASE_DEFAULT, collate_strings

revision = "0015_strings_compare_as_bytes"
down_revision = "0014_trips_rider_rejected"
branch_labels = None
depends_on = None


def upgrade() -> None:
    collate_strings(BYTEWISE)


def downgrade() -> None:
    collate_strings(DATABASE_DEFAULT)
