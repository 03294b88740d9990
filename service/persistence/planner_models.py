"""Planner roll-ups: start atoms and the flow atoms that split them by destination (see
``service/planner/atoms.py``), each with its coarser parent cells so that maps at resolutions 5
to 8 group by a column; and the journals of what ingestion adds to them
(``service/planner/journal.py``)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, SmallInteger, String, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

from service.persistence.models import Base
from service.planner.atoms import RIDER_BITS


class RiderBits(TypeDecorator[int]):
    """A rider bitmap: PostgreSQL ``bit(1024)`` (OR and ``bit_count`` in SQL), elsewhere 128
    bytes, big-endian; a Python int in both."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.BIT(RIDER_BITS))
        return dialect.type_descriptor(LargeBinary(RIDER_BITS // 8))

    def process_bind_param(self, value: int | None, dialect: Dialect) -> object:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return format(value, f"0{RIDER_BITS}b")
        return value.to_bytes(RIDER_BITS // 8, "big")

    def process_result_value(self, value: object, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, str):
            return int(value, 2)
        return int.from_bytes(value, "big")  # type: ignore[arg-type]


class PlannerCell(Base):
    __tablename__ = "planner_cells"
    __table_args__ = (Index("ix_planner_cells_month_mode", "month", "mode"),)

    cell: Mapped[str] = mapped_column(String(16), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    mode: Mapped[str] = mapped_column(String(8), primary_key=True)
    hour: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    day_type: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    c5: Mapped[str] = mapped_column(String(16))
    c6: Mapped[str] = mapped_column(String(16))
    c7: Mapped[str] = mapped_column(String(16))
    c8: Mapped[str] = mapped_column(String(16))
    starts: Mapped[int] = mapped_column(BigInteger)
    co2_g: Mapped[int] = mapped_column(BigInteger)
    distance_m: Mapped[int] = mapped_column(BigInteger)
    riders: Mapped[int] = mapped_column(RiderBits())
    riders_at_least: Mapped[int] = mapped_column(Integer)


class PlannerFlow(Base):
    __tablename__ = "planner_flows"
    __table_args__ = (Index("ix_planner_flows_month_mode", "month", "mode"),)

    origin: Mapped[str] = mapped_column(String(16), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    mode: Mapped[str] = mapped_column(String(8), primary_key=True)
    hour: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    day_type: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    destination: Mapped[str] = mapped_column(String(16), primary_key=True)
    o5: Mapped[str] = mapped_column(String(16))
    o6: Mapped[str] = mapped_column(String(16))
    o7: Mapped[str] = mapped_column(String(16))
    o8: Mapped[str] = mapped_column(String(16))
    d5: Mapped[str] = mapped_column(String(16))
    d6: Mapped[str] = mapped_column(String(16))
    d7: Mapped[str] = mapped_column(String(16))
    trips: Mapped[int] = mapped_column(BigInteger)
    parking_judged: Mapped[int] = mapped_column(BigInteger)
    parking_valid: Mapped[int] = mapped_column(BigInteger)
    riders: Mapped[int] = mapped_column(RiderBits())
    riders_at_least: Mapped[int] = mapped_column(Integer)


def _journal_of(atoms: Table, name: str) -> Table:
    """A journal of additions to ``atoms``: the same columns but the lower bound (a fold
    recomputes it), any number of rows per atom."""
    return Table(
        name,
        Base.metadata,
        Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
               autoincrement=True),
        *(Column(c.name, c.type, nullable=False) for c in atoms.columns
          if c.name != "riders_at_least"),
    )  # fmt: skip


CELL_JOURNAL = _journal_of(PlannerCell.__table__, "planner_cell_journal")  # type: ignore[arg-type]
FLOW_JOURNAL = _journal_of(PlannerFlow.__table__, "planner_flow_journal")  # type: ignore[arg-type]
