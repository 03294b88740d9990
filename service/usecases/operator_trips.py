"""An operator's view of its own trips: one by its trip_id, or a page by status."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, and_, or_, select

from service.errors import NotFound
from service.persistence.database import Database
from service.persistence.rider_models import Trip
from service.usecases.accounts import decode_text_cursor, encode_cursor, invalid_cursor

MAX_PAGE = 500
STATUSES = ("credited", "rejected", "reversed")


def view(trip: Trip) -> dict[str, Any]:
    return {
        "trip_id": trip.operator_trip_id,
        "trip_uid": trip.uid,
        "mode": trip.mode,
        "status": trip.status,
        "reasons": list(trip.reasons or []),
        "points": trip.points,
        "co2_g": trip.co2_g,
        "start_time": trip.started_at,
        "end_time": trip.ended_at,
        "start_cell": trip.start_cell,
        "end_cell": trip.end_cell,
        "parking": trip.parking,
        "receipt": trip.receipt,
        "received_at": trip.created_at,
    }


def get(db: Database, operator_id: str, trip_id: str) -> dict[str, Any]:
    """One of the operator's trips; another operator's trip is not found."""
    with db.reading() as session:
        trip = session.scalar(
            select(Trip).where(Trip.operator_id == operator_id, Trip.operator_trip_id == trip_id)
        )
        if trip is None:
            raise NotFound(f"no trip {trip_id}")
        return view(trip)


def page_query(
    operator_id: str, status: str | None, limit: int, after: tuple[dt.datetime, str] | None
) -> Select[tuple[Trip]]:
    """Up to ``limit`` of the operator's trips, newest received first, after the (received,
    uid) of the last one seen. Without a status they are read in that order from
    ``ix_trips_operator_created``, so a page costs the same however many trips the operator
    has."""
    query = select(Trip).where(Trip.operator_id == operator_id)
    if status:
        query = query.where(Trip.status == status)
    if after is not None:
        received, uid = after
        query = query.where(
            or_(Trip.created_at < received, and_(Trip.created_at == received, Trip.uid < uid))
        )
    return query.order_by(Trip.created_at.desc(), Trip.uid.desc()).limit(limit)


def page(
    db: Database, operator_id: str, *, status: str | None, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The operator's trips, newest received first; a cursor continues after the last seen."""
    limit = max(1, min(limit, MAX_PAGE))
    after = None
    if cursor:
        moment, _, uid = decode_text_cursor(cursor).partition("|")
        try:
            received = dt.datetime.fromisoformat(moment)
        except ValueError:
            received = None
        if received is None or received.tzinfo is None or not uid:
            raise invalid_cursor()
        after = (received, uid)
    query = page_query(operator_id, status, limit + 1, after)
    with db.reading() as session:
        trips = session.scalars(query).all()
        items = [view(t) for t in trips[:limit]]
    more = len(trips) > limit
    last = trips[limit - 1] if more else None
    next_cursor = encode_cursor(f"{last.created_at.isoformat()}|{last.uid}") if last else None
    return items, next_cursor
