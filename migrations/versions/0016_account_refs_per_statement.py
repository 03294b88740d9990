"""On PostgreSQL, the accounts that trips and ledger transactions name are checked once per
statement, by a trigger, instead of by a foreign key row by row.

A foreign key checks each new row with a query of its own, which also locks the account row it
finds. A credited trip writes one trip and one ledger transaction, each naming the rider's
account: a 1000-trip batch ran 2,000 such checks. The raw-database floor of
``bench.ingest_http`` (20,000 trips and their ledger rows copied into a fresh database, eight
alternating rounds each) spent a median of 59.5 ms of PostgreSQL's CPU per 1000 trips with both
keys and 50.2 ms with neither; with this migration's trigger in their place, 69.0 ms against
75.0 with the keys (eight more alternating rounds, the machine slower then). One-trip requests
in process showed no difference beyond the machine's noise (six alternating runs of 1000:
1.23-2.14 ms of PostgreSQL's CPU a request with the trigger, 1.23-1.89 with the keys). The
trigger probes the accounts' primary key once for each distinct account a statement wrote, as
migration 0012 does for the ledger entries, through a scalar subquery (so that no plan
PL/pgSQL keeps can scan the table).

Nothing the keys guarded is left open. A trip or a transaction naming an account that does not
exist is refused, inserted or updated, with the foreign-key SQLSTATE (23503). Accounts are never
deleted or renumbered (``accounts_keep_ids``, migration 0012), so an account a row names cannot
go away, and no lock is needed to keep it. SQLite keeps its foreign keys.

Revision ID: 0016_account_refs_per_statement
Revises: 0015_strings_compare_as_bytes
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0016_account_refs_per_statement"
down_revision = "0015_strings_compare_as_bytes"
branch_labels = None
depends_on = None

# (foreign key, table, the statements whose rows the trigger checks); ledger transactions are
# never updated (``ledger_refuse_change``), so their inserts are all there is to check.
ACCOUNT_KEYS = (
    ("fk_trips_account_id_accounts", "trips", ("INSERT", "UPDATE")),
    ("fk_ledger_transactions_account_id_accounts", "ledger_transactions", ("INSERT",)),
)

_ACCOUNTS_EXIST = """
    CREATE FUNCTION accounts_named_exist() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        missing text;
    BEGIN
        SELECT named.account_id INTO missing
        FROM (SELECT DISTINCT account_id FROM written_rows WHERE account_id IS NOT NULL) AS named
        WHERE (SELECT a.id FROM accounts AS a WHERE a.id = named.account_id) IS NULL
        LIMIT 1;
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION '% row names account %, which does not exist', TG_TABLE_NAME,
                missing USING ERRCODE = 'foreign_key_violation';
        END IF;
        RETURN NULL;
    END $$
"""


def _trigger(table: str, event: str) -> str:
    return f"{table}_accounts_exist_{event.lower()}"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_ACCOUNTS_EXIST)
    for name, table, events in ACCOUNT_KEYS:
        op.drop_constraint(name, table, type_="foreignkey")
        # A trigger with a transition table answers one kind of statement only.
        for event in events:
            op.execute(
                f"CREATE TRIGGER {_trigger(table, event)} AFTER {event} ON {table} "
                "REFERENCING NEW TABLE AS written_rows "
                "FOR EACH STATEMENT EXECUTE FUNCTION accounts_named_exist()"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, table, events in ACCOUNT_KEYS:
        for event in events:
            op.execute(f"DROP TRIGGER {_trigger(table, event)} ON {table}")
        op.create_foreign_key(name, table, "accounts", ["account_id"], ["id"])
    op.execute("DROP FUNCTION accounts_named_exist()")
