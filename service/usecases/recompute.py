"""Recomputing credited trips under a revised methodology version.

Trips credited under ``methodology_id`` in a date range are computed again with the version in
force on each trip's date, from the quantity their receipt recorded. The report lists every
trip whose grams would change. With ``apply``, each difference is posted through the ledger's
normal path (a ``recompute`` credit, capped like any credit, or a compensating debit), under
a transaction id naming the trip and the new version, and the trip's receipt is replaced by the
new one (which keeps a summary of the one it supersedes). Past entries are never edited, and a
second run finds every trip already at the new version: it changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from methodologies.calculate import Quantity, apply
from methodologies.context import MethodologyContext
from methodologies.registry import NoMethodology
from service.ledger.ledger import Ledger
from service.ledger.policy import LedgerPolicy
from service.persistence.database import Database
from service.persistence.rider_models import Trip
from service.planner import store as planner

PAGE = 500
MAX_PAGES = 10_000


@dataclasses.dataclass(frozen=True)
class Change:
    trip_uid: str
    trip_date: dt.date
    old_version: int
    new_version: int
    old_co2_g: int
    new_co2_g: int
    delta_points: int
    posted_points: int | None  # what the ledger moved when applied (the cap may cut credits)


@dataclasses.dataclass(frozen=True)
class RecomputeReport:
    methodology_id: str
    examined: int
    changes: list[Change]
    skipped: dict[str, int]

    @property
    def delta_g(self) -> int:
        return sum(c.new_co2_g - c.old_co2_g for c in self.changes)

    @property
    def delta_points(self) -> int:
        return sum(c.delta_points for c in self.changes)


def recompute(
    db: Database,
    policy: LedgerPolicy,
    context: MethodologyContext,
    *,
    methodology_id: str,
    date_from: dt.date,
    date_to: dt.date,
    apply_changes: bool,
) -> RecomputeReport:
    """What the version in force would change for trips ended ``date_from``..``date_to``."""
    zone = context.city.zone
    start = dt.datetime.combine(date_from, dt.time(), zone).astimezone(dt.UTC)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    changes: list[Change] = []
    skipped: dict[str, int] = {}
    examined = 0
    last_uid = ""
    for _ in range(MAX_PAGES):
        with db.transaction() as session:
            uids = session.scalars(
                select(Trip.uid)
                .where(
                    Trip.methodology_id == methodology_id,
                    Trip.status == "credited",
                    Trip.ended_at >= start,
                    Trip.ended_at < end,
                    Trip.uid > last_uid,
                )
                .order_by(Trip.uid)
                .limit(PAGE)
            ).all()
        if not uids:
            break
        last_uid = uids[-1]
        for uid in uids:
            examined += 1
            with db.transaction() as session:
                outcome = _one(session, policy, context, uid, apply_changes)
            if isinstance(outcome, Change):
                changes.append(outcome)
            elif outcome is not None:
                skipped[outcome] = skipped.get(outcome, 0) + 1
    return RecomputeReport(methodology_id, examined, changes, skipped)


def _one(
    session: Session, policy: LedgerPolicy, context: MethodologyContext, uid: str, write: bool
) -> Change | str | None:
    """One trip: its change, a reason it was skipped, or None when already current."""
    trip = session.get(Trip, uid, with_for_update=True)
    assert trip is not None and trip.receipt is not None and trip.methodology_id is not None
    trip_date = trip.ended_at.astimezone(context.city.zone).date()
    try:
        current = context.registry.in_force(trip.methodology_id, trip_date)
    except NoMethodology:
        return "no_version_for_date"
    if current.version == trip.methodology_version:
        return None
    recorded = trip.receipt["quantity"]
    if current.unit != trip.receipt.get("unit"):
        return "unit_changed"
    quantity = Quantity(
        Decimal(recorded["value"]), recorded["unit"], recorded["basis"], recorded["inputs"]
    )
    result = apply(current, quantity)
    delta_points = policy.points_for(result.co2_g) - policy.points_for(trip.co2_g)
    change = Change(
        trip_uid=uid,
        trip_date=trip_date,
        old_version=trip.methodology_version or 0,
        new_version=current.version,
        old_co2_g=trip.co2_g,
        new_co2_g=result.co2_g,
        delta_points=delta_points,
        posted_points=None,
    )
    if not write:
        return change
    posted = _post(session, policy, trip, current.key, delta_points)
    superseded = {
        "methodology": trip.receipt.get("methodology"),
        "co2_g": trip.co2_g,
        "points": trip.points,
    }
    trip.receipt = {**trip.receipt, **result.receipt, "supersedes": superseded}
    planner.adjust_co2(session, trip, result.co2_g - trip.co2_g, policy.zone)
    trip.co2_g = result.co2_g
    trip.pollutants_mg = result.pollutants_mg
    trip.methodology_version = current.version
    trip.points = trip.points + posted
    return dataclasses.replace(change, posted_points=posted)


def _post(session: Session, policy: LedgerPolicy, trip: Trip, key: str, delta: int) -> int:
    """Post the difference through the ledger; returns the signed points moved."""
    if delta == 0 or trip.account_id is None:
        return 0
    ledger = Ledger(session, policy)
    ref = f"{trip.uid}:{key}"
    now = dt.datetime.now(dt.UTC)
    details = {"trip_uid": trip.uid, "methodology": key}
    if delta > 0:
        outcome = ledger.credit(
            trip.account_id, purpose="recompute", ref=ref, points=delta,
            occurred_at=trip.ended_at, now=now, trip_uid=trip.uid, details=details,
        )  # fmt: skip
        return outcome.points
    take = min(-delta, trip.points)
    if take == 0:
        return 0
    ledger.debit(trip.account_id, purpose="recompute", ref=ref, points=take, now=now,
                 trip_uid=trip.uid, details=details)  # fmt: skip
    return -take
