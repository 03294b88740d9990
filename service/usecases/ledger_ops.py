"""Ledger housekeeping run from cron or by an operator: maturing points, proving the books."""

from __future__ import annotations

import datetime as dt

from service.ledger import postings
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


def totals(db: Database, policy: LedgerPolicy) -> dict[str, object]:
    """The books at a glance: points issued (net of reversals), redeemed, donated and fined,
    and what riders hold, each summed from the entries."""
    with db.reading() as session:
        ledger = Ledger(session, policy)
        flows = ledger.flows()
        held = ledger.personal_totals()
    issued = flows[postings.ISSUANCE]
    return {
        "issued": sum(issued.values()),
        "issued_by_kind": issued,
        "redeemed": -sum(flows[postings.REDEMPTIONS].values()),
        "donated": -sum(flows[postings.DONATIONS].values()),
        "penalties": -sum(flows[postings.PENALTIES].values()),
        "riders": held,
    }


def verify(db: Database, policy: LedgerPolicy) -> tuple[list[Discrepancy], list[str]]:
    with db.transaction() as session:
        return Ledger(session, policy).verify()
