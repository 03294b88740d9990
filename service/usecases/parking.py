"""Parking questions and the consequences of bad parking.

Every bike and e-bike trip end is judged against the zones in force. The verdict (with its MDS
parking category) is stored with the trip. A bad parking is an offence: the first
``free_offences`` within ``window_days`` get a reminder, every one after that a penalty of
``penalty_points`` through the ledger (once per trip). A trip that ends inside a no-parking
zone earns no points, and its reasons say so.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo.parking import ParkingJudge, ParkingVerdict
from service.geofence.catalog import ZoneCatalog
from service.ledger.ledger import Ledger
from service.ledger.policy import LedgerPolicy
from service.persistence.database import Database
from service.persistence.geo_models import ParkingOffence
from service.persistence.rider_models import Trip
from service.usecases.crediting import TripEndJudge

JUDGED_MODES = ("bike", "ebike")
WITHHOLDING_REASONS = ("no_parking_zone",)


@dataclasses.dataclass(frozen=True)
class ParkingRules:
    free_offences: int = 2
    window_days: int = 30
    penalty_points: int = 50


def check(
    catalog: ZoneCatalog,
    policy: LedgerPolicy,
    *,
    lat: float,
    lng: float,
    operator: str | None,
    vehicle_type: str | None,
    accuracy_m: float,
    at: dt.datetime | None = None,
) -> ParkingVerdict:
    """May a vehicle be parked here, now? (``GET /v1/parking/check``)"""
    at = at or dt.datetime.now(dt.UTC)
    return catalog.judge().judge(
        lng=lng, lat=lat, at=at, local=at.astimezone(policy.zone),
        operator=operator, vehicle_type=vehicle_type, accuracy_m=accuracy_m,
    )  # fmt: skip


def judge_trip_end(
    session: Session,
    judge: ParkingJudge,
    policy: LedgerPolicy,
    rules: ParkingRules,
    trip: Trip,
    *,
    vehicle_type: str | None = None,
    accuracy_m: float = 0.0,
) -> str | None:
    """Judge where a trip ended; record the verdict and any offence. Returns the reason the
    trip's points are withheld, or None."""
    if trip.mode not in JUDGED_MODES or trip.end_lat is None or trip.end_lng is None:
        return None
    verdict = judge.judge(
        lng=trip.end_lng, lat=trip.end_lat, at=trip.ended_at,
        local=trip.ended_at.astimezone(policy.zone), operator=trip.operator_id,
        vehicle_type=vehicle_type, accuracy_m=accuracy_m,
    )  # fmt: skip
    trip.parking = verdict.as_dict()
    trip.parking_category = verdict.parking_category
    trip.parking_zone_id = verdict.zone_id
    if verdict.allowed:
        return None
    trip.parking["consequence"] = record_offence(session, policy, rules, trip, verdict)
    return verdict.reason if verdict.reason in WITHHOLDING_REASONS else None


class EndedTrip(Protocol):
    """What an offence needs to know about the trip (a ``Trip`` row or an ingestion candidate)."""

    uid: str
    account_id: str | None
    operator_id: str
    ended_at: dt.datetime


def record_offence(
    session: Session,
    policy: LedgerPolicy,
    rules: ParkingRules,
    trip: EndedTrip,
    verdict: ParkingVerdict,
) -> dict[str, Any]:
    """Record a bad parking; a reminder or, beyond the free offences in the window, a penalty
    through the ledger. Returns the consequence as stored with the trip."""
    since = trip.ended_at - dt.timedelta(days=rules.window_days)
    earlier = 0
    if trip.account_id is not None:
        Ledger(session, policy).lock([trip.account_id])  # counts and penalties in one order
        earlier = session.scalar(
            select(func.count())
            .select_from(ParkingOffence)
            .where(
                ParkingOffence.account_id == trip.account_id,
                ParkingOffence.occurred_at > since,
                ParkingOffence.occurred_at <= trip.ended_at,
                ParkingOffence.trip_uid != trip.uid,
            )
        )
    penalise = trip.account_id is not None and earlier >= rules.free_offences
    points = rules.penalty_points if penalise else 0
    session.add(
        ParkingOffence(
            trip_uid=trip.uid,
            account_id=trip.account_id,
            operator_id=trip.operator_id,
            zone_id=verdict.zone_id,
            reason=verdict.reason,
            consequence="penalty" if penalise else "reminder",
            penalty_points=points,
            occurred_at=trip.ended_at,
        )
    )
    if penalise and points > 0:
        assert trip.account_id is not None
        Ledger(session, policy).penalize(
            trip.account_id, ref=f"parking:{trip.uid}", points=points,
            now=dt.datetime.now(dt.UTC), details={"trip_uid": trip.uid, "reason": verdict.reason},
        )  # fmt: skip
    return {
        "kind": "penalty" if penalise else "reminder",
        "penalty_points": points,
        "offences_in_window": earlier + 1,
        "free_offences": rules.free_offences,
        "window_days": rules.window_days,
    }


def compliance(db: Database, operator_id: str) -> list[dict[str, Any]]:
    """Per zone (``null``: outside every zone): trip ends judged, how many were valid, and the
    count per MDS parking category."""
    with db.transaction() as session:
        rows = session.execute(
            select(Trip.parking_zone_id, Trip.parking_category, func.count())
            .where(Trip.operator_id == operator_id, Trip.parking_category.is_not(None))
            .group_by(Trip.parking_zone_id, Trip.parking_category)
            .order_by(Trip.parking_zone_id, Trip.parking_category)
        ).all()
    zones: dict[str | None, dict[str, Any]] = {}
    for zone_id, category, count in rows:
        entry = zones.setdefault(
            zone_id, {"zone_id": zone_id, "trips": 0, "valid": 0, "by_category": {}}
        )
        entry["trips"] += count
        entry["by_category"][category] = count
        if category != "invalid":
            entry["valid"] += count
    for entry in zones.values():
        entry["compliance"] = round(entry["valid"] / entry["trips"], 4) if entry["trips"] else None
    return list(zones.values())


def trip_end_judge(catalog: ZoneCatalog, policy: LedgerPolicy, rules: ParkingRules) -> TripEndJudge:
    """The parking judgement as ``record_accepted_trip`` takes it. The zones are fetched here,
    before the caller's transaction opens, so judging never reads the database mid-write."""
    parking_judge = catalog.judge()

    def judge(session: Session, trip: Trip, end: dict[str, Any]) -> str | None:
        return judge_trip_end(
            session, parking_judge, policy, rules, trip,
            vehicle_type=end.get("vehicle_type"), accuracy_m=float(end.get("accuracy_m") or 0),
        )  # fmt: skip

    return judge
