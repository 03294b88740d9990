"""Ledger housekeeping run from cron or by an operator: maturing points, proving the books."""

from __future__ import annotations

import datetime as dt

from service.ledger.ledger import MATURE_BATCH, Discrepancy, Ledger
from service.ledger.policy import LedgerPolicy
from service.persistence.database import Database

MAX_BATCHES = 10_000  # a bound on one run: 5 million credits


def mature_due(db: Database, policy: LedgerPolicy, now: dt.datetime | None = None) -> int:
    """Mature every credit past its fraud window, batch by batch; safe to run concurrently."""
    now = now or dt.datetime.now(dt.UTC)
    total = 0
    for _ in range(MAX_BATCHES):
        with db.transaction() as session:
            moved = Ledger(session, policy).mature_due(now, limit=MATURE_BATCH)
        total += moved
        if moved == 0:
            break
    return total


def verify(db: Database, policy: LedgerPolicy) -> tuple[list[Discrepancy], list[str]]:
    with db.transaction() as session:
        return Ledger(session, policy).verify()
