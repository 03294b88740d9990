"""The ledger's sum-to-zero check runs once per INSERT statement over the transactions it
touched, instead of once per entry at commit.

The deferred row trigger summed a transaction's entries again for every entry, at commit: in a
1000-trip batch, 2,000 sums for 1,000 transactions, about a sixth of PostgreSQL's time for the
batch. The statement trigger reads the inserted entries as one set and checks every
transaction they touch, in one query, as soon as the statement ends. So a transaction's entries
must be written in one statement (the ledger always does: one multi-row INSERT or one COPY), and
no later statement can tip a transaction off balance.

Each transaction touched is summed through the entries' index on its id (a correlated
subquery), so that no plan PL/pgSQL keeps for the trigger's query can read every entry: with a
join, the plan kept after some 1000-entry inserts scanned the whole table for a one-trip one.

Revision ID: 0011_balanced_per_statement
Revises: 0010_hot_balances
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0011_balanced_per_statement"
down_revision = "0010_hot_balances"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER ledger_entries_balanced ON ledger_entries")
    op.execute("DROP FUNCTION ledger_check_balanced()")
    op.execute(
        """
        CREATE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            unbalanced text;
        BEGIN
            SELECT touched.transaction_id INTO unbalanced
            FROM (SELECT DISTINCT transaction_id FROM inserted_entries) AS touched
            WHERE (SELECT sum(entry.amount) FROM ledger_entries AS entry
                   WHERE entry.transaction_id = touched.transaction_id) <> 0
            LIMIT 1;
            IF unbalanced IS NOT NULL THEN
                RAISE EXCEPTION 'ledger transaction % does not sum to zero', unbalanced
                    USING ERRCODE = 'check_violation';
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries "
        "REFERENCING NEW TABLE AS inserted_entries "
        "FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_balanced()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER ledger_entries_balanced ON ledger_entries")
    op.execute("DROP FUNCTION ledger_check_balanced()")
    op.execute(
        """
        CREATE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF (SELECT COALESCE(SUM(amount), 0) FROM ledger_entries
                WHERE transaction_id = NEW.transaction_id) <> 0 THEN
                RAISE EXCEPTION 'ledger transaction % does not sum to zero', NEW.transaction_id
                    USING ERRCODE = 'check_violation';
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced()"
    )
