"""Fleet tables: every vehicle's latest position, and the sightings kept for demand history.

``vehicle_positions`` holds one row per (operator, vehicle), replaced only by a newer report,
so a late, stale snapshot never moves a vehicle back. ``vehicle_sightings`` is append-only.
``cell`` is the H3 cell at ``TRIP_CELL_RESOLUTION``: dispatch units are its parents.
``incentive_maps`` keeps each 15-minute slot's rider bonuses, written once;
``rebalancing_moves`` the truck moves operators started.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.persistence.models import Base, UtcDateTime


class VehiclePosition(Base):
    __tablename__ = "vehicle_positions"
    __table_args__ = (Index("ix_vehicle_positions_operator_cell", "operator_id", "cell"),)

    operator_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    vehicle_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    cell: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    vehicle_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    range_m: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reported_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class VehicleSighting(Base):
    __tablename__ = "vehicle_sightings"
    __table_args__ = (Index("ix_vehicle_sightings_operator_time", "operator_id", "reported_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"),
                                    primary_key=True, autoincrement=True)  # fmt: skip
    operator_id: Mapped[str] = mapped_column(String(64))
    vehicle_id: Mapped[str] = mapped_column(String(200))
    cell: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    reported_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class IncentiveMap(Base):
    """The bonus points of every unit for one operator and one 15-minute slot, fixed once
    written: the map a trip started under decides its bonus, whenever the trip is posted."""

    __tablename__ = "incentive_maps"

    operator_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    slot_start: Mapped[dt.datetime] = mapped_column(UtcDateTime(), primary_key=True)
    resolution: Mapped[int] = mapped_column(Integer)
    units: Mapped[dict] = mapped_column(JSON)  # unit -> [balance, pickup points, dropoff points]
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class RebalancingMove(Base):
    """A truck move an operator started: its vehicles count as inbound at ``to_unit`` until
    the move is done or ``expires_at`` passes (a move nobody closed must not count forever)."""

    __tablename__ = "rebalancing_moves"
    __table_args__ = (Index("ix_rebalancing_moves_operator_open", "operator_id", "done_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    operator_id: Mapped[str] = mapped_column(String(64))
    from_unit: Mapped[str] = mapped_column(String(64))
    to_unit: Mapped[str] = mapped_column(String(64))
    vehicles: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    done_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
