"""Ledger (accounts, transactions, entries, daily credits), riders, consents, trips, disputes,
and the points mall (catalog items, redemptions).

Ledger rows are append-only by trigger on both databases. On PostgreSQL a deferred constraint
trigger also refuses, at commit, any transaction whose entries do not sum to zero.

Revision ID: 0002_ledger_riders_mall
Revises: 0001_postgis_and_api_clients
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

SYSTEM_ACCOUNTS = ("sys:issuance", "sys:redemptions", "sys:donations", "sys:penalties")
LEDGER_TABLES = ("ledger_transactions", "ledger_entries")


revision = "0002_ledger_riders_mall"
down_revision = "0001_postgis_and_api_clients"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pending", sa.BigInteger(), nullable=True),
        sa.Column("available", sa.BigInteger(), nullable=True),
        sa.Column("held", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('personal', 'issuance', 'redemptions', 'donations', 'penalties')",
            name=op.f("ck_accounts_kind_known"),
        ),
        sa.CheckConstraint("held IS NULL OR held >= 0", name=op.f("ck_accounts_held_not_negative")),
        sa.CheckConstraint(
            "pending IS NULL OR pending >= 0", name=op.f("ck_accounts_pending_not_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
    )
    op.create_table(
        "catalog_items",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("cost_points", sa.BigInteger(), nullable=False),
        sa.Column("stock", sa.BigInteger(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('coupon', 'transit_credit', 'donation')",
            name=op.f("ck_catalog_items_kind_known"),
        ),
        sa.CheckConstraint("cost_points > 0", name=op.f("ck_catalog_items_cost_positive")),
        sa.CheckConstraint(
            "stock IS NULL OR stock >= 0", name=op.f("ck_catalog_items_stock_not_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_items")),
    )
    op.create_table(
        "consents",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("operator_id", sa.String(length=64), nullable=False),
        sa.Column("rider_ref", sa.String(length=200), nullable=False),
        sa.Column("scenarios", sa.JSON(), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_consents_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", "operator_id", name=op.f("pk_consents")),
    )
    op.create_index(
        op.f("uq_consents_operator_rider_ref"),
        "consents",
        ["operator_id", "rider_ref"],
        unique=True,
    )

    op.create_table(
        "daily_credits",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("points >= 0", name=op.f("ck_daily_credits_points_not_negative")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_daily_credits_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", "day", name=op.f("pk_daily_credits")),
    )
    op.create_table(
        "disputes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("operator_id", sa.String(length=64), nullable=False),
        sa.Column("operator_trip_id", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.Column("credited_points", sa.BigInteger(), nullable=False),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'credited', 'rejected')", name=op.f("ck_disputes_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_disputes_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes")),
    )
    op.create_index(op.f("ix_disputes_account_id"), "disputes", ["account_id"], unique=False)
    op.create_index(op.f("ix_disputes_operator_id"), "disputes", ["operator_id"], unique=False)

    op.create_table(
        "ledger_transactions",
        sa.Column("id", sa.String(length=160), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("matures_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reverses_id", sa.String(length=160), nullable=True),
        sa.Column("trip_uid", sa.String(length=40), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_ledger_transactions_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_transactions_reverses_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transactions")),
    )
    op.create_index(
        op.f("ix_ledger_transactions_account_id"),
        "ledger_transactions",
        ["account_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_ledger_transactions_due"),
        "ledger_transactions",
        ["kind", "matures_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_ledger_transactions_trip_uid"), "ledger_transactions", ["trip_uid"], unique=False
    )

    op.create_table(
        "redemptions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("fulfilment", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('held', 'completed', 'failed')", name=op.f("ck_redemptions_status_known")
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_redemptions_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_redemptions_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["catalog_items.id"], name=op.f("fk_redemptions_item_id_catalog_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_redemptions")),
    )
    op.create_index(op.f("ix_redemptions_account_id"), "redemptions", ["account_id"], unique=False)
    op.create_index(
        op.f("uq_redemptions_account_key"),
        "redemptions",
        ["account_id", "idempotency_key"],
        unique=True,
    )

    op.create_table(
        "riders",
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_riders_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_riders")),
        sa.UniqueConstraint("account_id", name=op.f("uq_riders_account_id")),
    )
    op.create_table(
        "trips",
        sa.Column("uid", sa.String(length=40), nullable=False),
        sa.Column("operator_id", sa.String(length=64), nullable=False),
        sa.Column("operator_trip_id", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=True),
        sa.Column("rider_ref", sa.String(length=200), nullable=True),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("start_lat", sa.Float(), nullable=True),
        sa.Column("start_lng", sa.Float(), nullable=True),
        sa.Column("end_lat", sa.Float(), nullable=True),
        sa.Column("end_lng", sa.Float(), nullable=True),
        sa.Column("distance_m", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("co2_g", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("pollutants_mg", sa.JSON(), nullable=False),
        sa.Column("receipt", sa.JSON(), nullable=True),
        sa.Column("parking", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "mode IN ('bike', 'ebike', 'metro', 'bus')", name=op.f("ck_trips_mode_known")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_trips_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("uid", name=op.f("pk_trips")),
    )
    op.create_index(op.f("ix_trips_account_id"), "trips", ["account_id"], unique=False)
    op.create_index(
        op.f("uq_trips_operator_trip"), "trips", ["operator_id", "operator_trip_id"], unique=True
    )

    op.create_table(
        "ledger_entries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("transaction_id", sa.String(length=160), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("bucket", sa.String(length=10), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "bucket IN ('pending', 'available', 'held')",
            name=op.f("ck_ledger_entries_bucket_known"),
        ),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_ledger_entries_amount_not_zero")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_ledger_entries_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_entries_transaction_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    op.create_index(
        op.f("ix_ledger_entries_account_id_id"),
        "ledger_entries",
        ["account_id", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_ledger_entries_transaction_id"), "ledger_entries", ["transaction_id"], unique=False
    )

    _add_ledger_guards()
    _add_system_accounts()


def downgrade() -> None:
    op.drop_index(op.f("ix_ledger_entries_transaction_id"), table_name="ledger_entries")
    op.drop_index(op.f("ix_ledger_entries_account_id_id"), table_name="ledger_entries")

    _drop_ledger_guards()
    op.drop_table("ledger_entries")
    op.drop_index(op.f("uq_trips_operator_trip"), table_name="trips")
    op.drop_index(op.f("ix_trips_account_id"), table_name="trips")

    op.drop_table("trips")
    op.drop_table("riders")
    op.drop_index(op.f("uq_redemptions_account_key"), table_name="redemptions")
    op.drop_index(op.f("ix_redemptions_account_id"), table_name="redemptions")

    op.drop_table("redemptions")
    op.drop_index(op.f("ix_ledger_transactions_trip_uid"), table_name="ledger_transactions")
    op.drop_index(op.f("ix_ledger_transactions_due"), table_name="ledger_transactions")
    op.drop_index(op.f("ix_ledger_transactions_account_id"), table_name="ledger_transactions")

    op.drop_table("ledger_transactions")
    op.drop_index(op.f("ix_disputes_operator_id"), table_name="disputes")
    op.drop_index(op.f("ix_disputes_account_id"), table_name="disputes")

    op.drop_table("disputes")
    op.drop_table("daily_credits")
    op.drop_index(op.f("uq_consents_operator_rider_ref"), table_name="consents")

    op.drop_table("consents")
    op.drop_table("catalog_items")
    op.drop_table("accounts")


def _add_system_accounts() -> None:
    accounts = sa.table(
        "accounts",
        sa.column("id", sa.String),
        sa.column("kind", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    created = sa.func.current_timestamp()
    for account_id in SYSTEM_ACCOUNTS:
        op.execute(
            accounts.insert().values(
                id=account_id, kind=account_id.split(":")[1], created_at=created
            )
        )


def _add_ledger_guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'ledger table % is append-only: % refused', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'restrict_violation';
            END $$
            """
        )
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
        for table in LEDGER_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()"
            )
        op.execute(
            "CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced()"
        )
        return
    for table in LEDGER_TABLES:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'ledger table {table} is append-only'); END"
            )


def _drop_ledger_guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS ledger_entries_balanced ON ledger_entries")
        for table in LEDGER_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS ledger_check_balanced()")
        op.execute("DROP FUNCTION IF EXISTS ledger_refuse_change()")
        return
    for table in LEDGER_TABLES:
        for operation in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{operation}")
