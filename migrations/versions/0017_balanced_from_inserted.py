"""The ledger's sum-to-zero check adds up the entries an INSERT wrote, not every entry of the
transactions it touched.

Each INSERT into ``ledger_entries`` has been checked since 0011: after it, every transaction it
touched sums to zero. Entries are never changed or deleted (``ledger_refuse_change``), so before
any INSERT every transaction already sums to zero, and after it a transaction's total is the sum
of the entries that INSERT wrote for it. Checking that sum is the same check, and it needs only
the statement's own rows: no probe of the entries' index per transaction, which in a 1000-trip
batch meant 1,000 lookups and 2,000 entries read back.

The references (transaction and account) are still probed once for each distinct value, and the
three checks keep their order, so a statement with more than one fault is refused for the same
one as before.

Revision ID: 0017_balanced_from_inserted
Revises: 0016_account_refs_per_statement
Create Date: 2026-12-07
"""

from __future__ import annotations

import importlib

from alembic import op

revision = "0017_balanced_from_inserted"
down_revision = "0016_account_refs_per_statement"
branch_labels = None
depends_on = None

_CHECKS = """
    CREATE OR REPLACE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        problem record;
    BEGIN
        -- One statement for the three checks: a one-trip credit pays one query, not three.
        WITH touched AS (
            SELECT transaction_id, sum(amount) AS total
            FROM inserted_entries GROUP BY transaction_id
        )
        SELECT found.kind, found.id INTO problem
        FROM (
            SELECT 'transaction' AS kind, touched.transaction_id AS id
            FROM touched
            WHERE (SELECT t.id FROM ledger_transactions AS t
                   WHERE t.id = touched.transaction_id) IS NULL
            UNION ALL
            SELECT 'account', named.account_id
            FROM (SELECT DISTINCT account_id FROM inserted_entries) AS named
            WHERE (SELECT a.id FROM accounts AS a WHERE a.id = named.account_id) IS NULL
            UNION ALL
            SELECT 'unbalanced', touched.transaction_id
            FROM touched
            WHERE touched.total <> 0
        ) AS found
        LIMIT 1;
        IF problem.kind = 'unbalanced' THEN
            RAISE EXCEPTION 'ledger transaction % does not sum to zero', problem.id
                USING ERRCODE = 'check_violation';
        ELSIF problem.kind IS NOT NULL THEN
            RAISE EXCEPTION 'ledger entry names % %, which does not exist', problem.kind,
                problem.id USING ERRCODE = 'foreign_key_violation';
        END IF;
        RETURN NULL;
    END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_CHECKS)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    before = importlib.import_module("migrations.versions.0012_ledger_references")
    op.execute(
        before._REFERENCES_AND_BALANCED.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
    )
