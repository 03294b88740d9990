"""Ledger tables: accounts, transactions and their entries, and per-day credit totals.

Entries and transactions are append-only (database triggers refuse UPDATE and DELETE; on
PostgreSQL a statement trigger also refuses any INSERT after which a transaction it touched does
not sum to zero, so a transaction's entries go in one statement). The balance columns on
``accounts`` are a cache of the sums of entries, kept for personal accounts only (system
accounts would be a hot row); ``greenpoints ledger verify`` proves them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.persistence.models import Base, UtcDateTime

ACCOUNT_KINDS = ("personal", "issuance", "redemptions", "donations", "penalties")
BUCKETS = ("pending", "available", "held")

# Accounts' balances and the daily totals are rewritten by every batch. Pages left half free
# let PostgreSQL put the new row version beside the old one (a HOT update: no new index entry,
# and the old version pruned in place); full pages sent about nine in ten of those updates
# elsewhere, each with an index entry, and the tables bloated with dead rows.
HOT_FILLFACTOR = 50

# A 64-bit id on PostgreSQL; SQLite only autoincrements an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('personal', 'issuance', 'redemptions', 'donations', 'penalties')",
            name="kind_known",
        ),
        CheckConstraint("held IS NULL OR held >= 0", name="held_not_negative"),
        CheckConstraint("pending IS NULL OR pending >= 0", name="pending_not_negative"),
        {"postgresql_with": {"fillfactor": HOT_FILLFACTOR}},
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    # Cached sums of entries per bucket (personal accounts only; NULL for system accounts).
    pending: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    available: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    held: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class LedgerTransaction(Base):
    """One balanced movement of points; its id is deterministic, so a retry collides."""

    __tablename__ = "ledger_transactions"
    __table_args__ = (Index("ix_ledger_transactions_due", "kind", "matures_at"),)

    id: Mapped[str] = mapped_column(String(160), primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    # A foreign key on SQLite; on PostgreSQL a trigger checks it once per INSERT statement
    # (migration 0016, ``schema.CHECKED_BY_TRIGGER``).
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    matures_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    reverses_id: Mapped[str | None] = mapped_column(
        ForeignKey("ledger_transactions.id"), nullable=True
    )
    trip_uid: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    details: Mapped[dict] = mapped_column(JSON, default=dict)


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        CheckConstraint("bucket IN ('pending', 'available', 'held')", name="bucket_known"),
        Index("ix_ledger_entries_account_id_id", "account_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # Foreign keys on SQLite; on PostgreSQL the balance trigger checks both references once per
    # INSERT statement instead (migration 0012, ``schema.CHECKED_BY_TRIGGER``).
    transaction_id: Mapped[str] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    bucket: Mapped[str] = mapped_column(String(10))
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class DailyCredit(Base):
    """Points credited to one account on one local day: what the daily cap is checked against."""

    __tablename__ = "daily_credits"
    __table_args__ = (
        CheckConstraint("points >= 0", name="points_not_negative"),
        {"postgresql_with": {"fillfactor": HOT_FILLFACTOR}},
    )

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    points: Mapped[int] = mapped_column(BigInteger)
