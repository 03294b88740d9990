"""On PostgreSQL, the ledger entries' references to their transaction and account are checked
once per INSERT statement, by the balance trigger, instead of by two foreign keys row by row.

A foreign key checks each new row with its own query, which also locks the row it finds. Every
credit writes two entries, and one of them goes to the issuance account: a 1000-trip batch ran
4,000 such checks and locked that one account row a thousand times. Copying the 42,000 entries
of 21,000 credits into a table with both keys took 0.67-0.71 s, into one without them 0.22-0.36
s. The check that replaces them probes the same primary keys once for each distinct
transaction and account an INSERT wrote, through scalar subqueries (so that no plan PL/pgSQL
keeps can scan a whole table), in the same query as the balance check. PostgreSQL's CPU per
1000-trip batch in process, four alternating pairs of 20 batches: 93-115 ms against 112-126
before; one-trip requests 1.4-1.6 ms against 1.3-1.6.

Nothing the keys guarded is left open. An entry naming a transaction or an account that does
not exist is refused, with the foreign-key SQLSTATE (23503). Ledger transactions are
append-only already (``ledger_refuse_change``), so a transaction an entry names can never go
away. Accounts are never deleted and never renumbered by the service; the database now refuses
both, so an account an entry names cannot go away either, and no lock is needed to keep it.
SQLite keeps its foreign keys.

Revision ID: 0012_ledger_references
Revises: 0011_balanced_per_statement
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0012_ledger_references"
down_revision = "0011_balanced_per_statement"
branch_labels = None
depends_on = None

ENTRY_KEYS = (
    ("fk_ledger_entries_transaction_id_ledger_transactions", "transaction_id",
     "ledger_transactions"),
    ("fk_ledger_entries_account_id_accounts", "account_id", "accounts"),
)  # fmt: skip

_BALANCED_ONLY = """
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

_REFERENCES_AND_BALANCED = """
    CREATE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        problem record;
    BEGIN
        -- One statement for the three checks: a one-trip credit pays one query, not three.
        SELECT found.kind, found.id INTO problem
        FROM (
            SELECT 'transaction' AS kind, touched.transaction_id AS id
            FROM (SELECT DISTINCT transaction_id FROM inserted_entries) AS touched
            WHERE (SELECT t.id FROM ledger_transactions AS t
                   WHERE t.id = touched.transaction_id) IS NULL
            UNION ALL
            SELECT 'account', named.account_id
            FROM (SELECT DISTINCT account_id FROM inserted_entries) AS named
            WHERE (SELECT a.id FROM accounts AS a WHERE a.id = named.account_id) IS NULL
            UNION ALL
            SELECT 'unbalanced', touched.transaction_id
            FROM (SELECT DISTINCT transaction_id FROM inserted_entries) AS touched
            WHERE (SELECT sum(entry.amount) FROM ledger_entries AS entry
                   WHERE entry.transaction_id = touched.transaction_id) <> 0
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

_ACCOUNTS_KEPT = """
    CREATE FUNCTION accounts_keep_ids() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' OR NEW.id IS DISTINCT FROM OLD.id THEN
            RAISE EXCEPTION 'accounts are never deleted or renumbered (account %)', OLD.id
                USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN NEW;
    END $$
"""


def _replace_check(body: str) -> None:
    op.execute("DROP TRIGGER ledger_entries_balanced ON ledger_entries")
    op.execute("DROP FUNCTION ledger_check_balanced()")
    op.execute(body)
    op.execute(
        "CREATE TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries "
        "REFERENCING NEW TABLE AS inserted_entries "
        "FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_balanced()"
    )


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, _, _ in ENTRY_KEYS:
        op.drop_constraint(name, "ledger_entries", type_="foreignkey")
    _replace_check(_REFERENCES_AND_BALANCED)
    op.execute(_ACCOUNTS_KEPT)
    op.execute(
        "CREATE TRIGGER accounts_keep_ids BEFORE DELETE OR UPDATE OF id ON accounts "
        "FOR EACH ROW EXECUTE FUNCTION accounts_keep_ids()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER accounts_keep_ids ON accounts")
    op.execute("DROP FUNCTION accounts_keep_ids()")
    _replace_check(_BALANCED_ONLY)
    for name, column, table in ENTRY_KEYS:
        op.create_foreign_key(name, "ledger_entries", table, [column], ["id"])
