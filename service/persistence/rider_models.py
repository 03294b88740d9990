"""Rider-side tables: who owns which account, consents, trips, disputes.

Personal data lives here and not in the ledger: erasing a rider deletes the ``riders`` row (the
link from a person to an account id), consents, and the trips' locations and rider references.
The ledger keeps its entries against the now pseudonymous account id, so the books still balance.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.persistence.models import Base, UtcDateTime

MODES = ("bike", "ebike", "metro", "bus")
# The trips a consent that arrives later may still credit. Only their index carries the rider
# reference: most trips are credited, and none of them needs it. Queries state it literally
# (``status = 'rejected'``), so that a prepared statement's generic plan can use that index.
TRIP_REJECTED = text("status = 'rejected'")


class Rider(Base):
    __tablename__ = "riders"

    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class Consent(Base):
    """A rider's authorisation for one operator: their id there and the scenarios allowed."""

    __tablename__ = "consents"
    __table_args__ = (
        Index("uq_consents_operator_rider_ref", "operator_id", "rider_ref", unique=True),
    )

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    operator_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rider_ref: Mapped[str] = mapped_column(String(200))
    scenarios: Mapped[list] = mapped_column(JSON)
    granted_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class Trip(Base):
    """A trip an operator posted, with its verdict, receipt and credited points."""

    __tablename__ = "trips"
    __table_args__ = (
        Index("uq_trips_operator_trip", "operator_id", "operator_trip_id", unique=True),
        Index("ix_trips_methodology", "methodology_id", "methodology_version", "ended_at"),
        Index("ix_trips_operator_parking", "operator_id", "parking_zone_id", "parking_category"),
        # A rider's trips that ended after a moment: the checks between a rider's trips look
        # for those that end after a batch starts, and this reads only them, however long
        # the rider's history (by started_at, a lookup reads every earlier trip).
        Index("ix_trips_account_ended", "account_id", "ended_at"),
        Index("ix_trips_operator_status", "operator_id", "status", "created_at"),
        # The operator's trip list, newest received first, a page at a time.
        Index("ix_trips_operator_created", "operator_id", "created_at", "uid"),
        Index(
            "ix_trips_operator_rider_rejected",
            "operator_id",
            "rider_ref",
            "created_at",
            postgresql_where=TRIP_REJECTED,
            sqlite_where=TRIP_REJECTED,
        ),
        Index("ix_trips_operator_started", "operator_id", "started_at"),
        Index("ix_trips_operator_vehicle", "operator_id", "vehicle_id", "started_at"),
        CheckConstraint("mode IN ('bike', 'ebike', 'metro', 'bus')", name="mode_known"),
    )

    uid: Mapped[str] = mapped_column(String(40), primary_key=True)
    operator_id: Mapped[str] = mapped_column(String(64))
    operator_trip_id: Mapped[str] = mapped_column(String(200))
    # A foreign key on SQLite; on PostgreSQL a trigger checks it once per INSERT or UPDATE
    # statement (migration 0016, ``schema.CHECKED_BY_TRIGGER``).
    account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    rider_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    mode: Mapped[str] = mapped_column(String(8))
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    start_lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    start_lng: Mapped[float | None] = mapped_column(Float, nullable=True)
    end_lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    end_lng: Mapped[float | None] = mapped_column(Float, nullable=True)
    distance_m: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    co2_g: Mapped[int] = mapped_column(BigInteger, default=0)
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    pollutants_mg: Mapped[dict] = mapped_column(JSON, default=dict)
    receipt: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    # The methodology version the receipt used, as columns so credits can be found by it.
    methodology_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    methodology_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    parking: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    # The parking verdict's MDS category and zone, as columns for compliance reports.
    parking_category: Mapped[str | None] = mapped_column(String(12), nullable=True)
    parking_zone_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    # What the operator sent, as a digest: the same trip_id with other content is a conflict.
    content_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    vehicle_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    vehicle_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    entry_station: Mapped[str | None] = mapped_column(String(200), nullable=True)
    exit_station: Mapped[str | None] = mapped_column(String(200), nullable=True)
    line_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # H3 cells of the ends (resolution TRIP_CELL_RESOLUTION): aggregates never re-read points.
    start_cell: Mapped[str | None] = mapped_column(String(16), nullable=True)
    end_cell: Mapped[str | None] = mapped_column(String(16), nullable=True)


class RequestReplay(Base):
    """The first answer to a request that carried an ``Idempotency-Key``, replayed for 24 h."""

    __tablename__ = "request_replays"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    body_digest: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class Dispute(Base):
    """A rider's missing-points claim for a trip, and how it was resolved."""

    __tablename__ = "disputes"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'credited', 'rejected')", name="status_known"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    operator_id: Mapped[str] = mapped_column(String(64), index=True)
    operator_trip_id: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(10))
    resolution_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    credited_points: Mapped[int] = mapped_column(BigInteger, default=0)
    resolved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
