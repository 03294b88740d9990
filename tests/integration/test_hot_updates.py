"""Every batch rewrites account balances and daily totals: on PostgreSQL their pages keep
room, so those updates stay on the page (HOT) rather than adding index entries and bloat."""

from __future__ import annotations

from sqlalchemy import create_engine, text

ACCOUNTS = 500


def _hot_share_of_a_batch_update(url: str) -> float:
    """Fill the accounts table, then credit 40 % of the accounts in one statement, as a batch
    does; the share of those row updates that stayed on their page."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(
                text(
                    "INSERT INTO accounts (id, kind, created_at, pending, available, held) "
                    "SELECT 'acc_hot_' || lpad(n::text, 4, '0'), 'personal', "
                    "TIMESTAMPTZ '2026-12-04 00:00+00', 0, 0, 0 "
                    "FROM generate_series(0, :last) AS n"
                ),
                {"last": ACCOUNTS - 1},
            )
            connection.commit()
            updated = connection.execute(
                text(
                    "UPDATE accounts SET pending = pending + 230 "
                    "WHERE kind = 'personal' AND right(id, 1) IN ('0', '1', '2', '3')"
                )
            ).rowcount
            hot = connection.execute(
                text("SELECT pg_stat_get_xact_tuples_hot_updated('accounts'::regclass)")
            ).scalar_one()
            connection.rollback()
    finally:
        engine.dispose()
    assert updated == ACCOUNTS * 4 // 10
    return hot / updated


def test_balance_updates_stay_on_their_page(postgres_url):
    assert _hot_share_of_a_batch_update(postgres_url) > 0.9


def test_both_tables_that_every_batch_rewrites_keep_half_their_pages_free(postgres_url):
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            options = dict(
                connection.execute(
                    text(
                        "SELECT relname, reloptions FROM pg_class "
                        "WHERE relname IN ('accounts', 'daily_credits')"
                    )
                ).all()
            )
    finally:
        engine.dispose()
    assert options == {"accounts": ["fillfactor=50"], "daily_credits": ["fillfactor=50"]}
