"""Geofencing tables: zone versions, the catalogue's version number, licence cells, offences.

Zone rows are immutable versions: a change is a new row of the same ``zone_id`` with the next
``version`` naming the one it replaces; withdrawing a zone is a version marked ``withdrawn``.
``geofence_state.version`` goes up with every change, so every process can tell in one cheap
query whether its in-memory index is stale. On PostgreSQL ``geometry`` is a PostGIS column with
a GiST index (QGIS reads it directly); on SQLite it is WKB.
"""

from __future__ import annotations

import datetime as dt

from shapely.geometry.base import BaseGeometry
from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.persistence.geometry import PortableGeometry
from service.persistence.models import Base, UtcDateTime


class ZoneVersion(Base):
    __tablename__ = "zones"
    __table_args__ = (
        Index("uq_zones_zone_version", "zone_id", "version", unique=True),
        CheckConstraint(
            "zone_type IN ('service_area', 'parking', 'no_parking', 'no_ride', 'slow', 'rules')",
            name="zone_type_known",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"),
                                    primary_key=True, autoincrement=True)  # fmt: skip
    zone_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    zone_type: Mapped[str] = mapped_column(String(16))
    geometry: Mapped[BaseGeometry] = mapped_column(PortableGeometry("GEOMETRY"))
    properties: Mapped[dict] = mapped_column(JSON)
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(16))
    replaces: Mapped[str | None] = mapped_column(String(80), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class GeofenceState(Base):
    """One row: the catalogue version and the global rules (GBFS ``global_rules``)."""

    __tablename__ = "geofence_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    global_rules: Mapped[dict] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class LicenceCell(Base):
    """One H3 cell of an operator's licence area."""

    __tablename__ = "licence_cells"

    operator_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    cell: Mapped[str] = mapped_column(String(16), primary_key=True)
    resolution: Mapped[int] = mapped_column(Integer)


class ParkingOffence(Base):
    """A trip that ended badly parked, and what followed: a reminder or a penalty."""

    __tablename__ = "parking_offences"
    __table_args__ = (Index("ix_parking_offences_account_time", "account_id", "occurred_at"),)

    trip_uid: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    operator_id: Mapped[str] = mapped_column(String(64), index=True)
    zone_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(String(40))
    consequence: Mapped[str] = mapped_column(String(10))
    penalty_points: Mapped[int] = mapped_column(BigInteger, default=0)
    occurred_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
