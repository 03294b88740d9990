"""Every batch rewrites account balances and daily totals: on PostgreSQL their pages keep
room, so those updates stay on the page (HOT) rather than adding index entries and bloat."""

from __future__ import annotations

import datetime as dt

import psycopg

ACCOUNTS = 500


def _hot_share_of_a_batch_update(url: str) -> float:
    """Fill the accounts table, then credit 40 % of the accounts in one statement, as a batch
    does; the share of those row updates that stayed on their page."""
    now = dt.datetime(2026, 12, 4, tzinfo=dt.UTC)
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        with connection.cursor().copy(
            "COPY accounts (id, kind, created_at, pending, available, held) FROM STDIN"
        ) as copy:
            for n in range(ACCOUNTS):
                copy.write_row((f"acc_hot_{n:04d}", "personal", now, 0, 0, 0))
        connection.commit()
        updated = connection.execute(
            "UPDATE accounts SET pending = pending + 230 "
            "WHERE kind = 'personal' AND right(id, 1) IN ('0', '1', '2', '3')"
        ).rowcount
        hot = connection.execute(
            "SELECT pg_stat_get_xact_tuples_hot_updated('accounts'::regclass)"
        ).fetchone()[0]
        connection.rollback()
    assert updated == ACCOUNTS * 4 // 10
    return hot / updated


def test_balance_updates_stay_on_their_page(postgres_url):
    assert _hot_share_of_a_batch_update(postgres_url) > 0.9


def test_both_tables_that_every_batch_rewrites_keep_half_their_pages_free(postgres_url):
    with psycopg.connect(postgres_url.replace("postgresql+psycopg://", "postgresql://")) as c:
        options = dict(
            c.execute(
                "SELECT relname, reloptions FROM pg_class "
                "WHERE relname IN ('accounts', 'daily_credits')"
            ).fetchall()
        )
    assert options == {"accounts": ["fillfactor=50"], "daily_credits": ["fillfactor=50"]}
