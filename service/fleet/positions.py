"""Every vehicle's latest position: in Redis when the deployment has it, in the database
otherwise. Both keep a vehicle's newest report only, so a late, stale snapshot never moves a
vehicle back. Sightings (the history demand is learnt from) always go to the database.

Redis layout: one hash per operator, ``fleet:<operator>``, field = vehicle id, value =
``<reported ms>|<json>``; the set ``fleet:operators`` names the operators. A Lua script writes
a snapshot atomically and keeps the newer report of each vehicle.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Protocol

import orjson
from sqlalchemy import select

from service.kv.store import KeyValueStore, RedisStore
from service.persistence import bulk
from service.persistence.database import Database
from service.persistence.fleet_models import VehiclePosition, VehicleSighting

_POSITIONS = VehiclePosition.__table__
_FIELDS = ("lat", "lng", "cell", "state", "vehicle_type", "range_m", "reported_at")


@dataclasses.dataclass(frozen=True)
class Position:
    operator_id: str
    vehicle_id: str
    lat: float
    lng: float
    cell: str  # H3 at the trip cell resolution
    state: str
    vehicle_type: str | None
    range_m: int | None
    reported_at: dt.datetime


class PositionStore(Protocol):
    kind: str

    def record(self, positions: Sequence[Position], now: dt.datetime) -> int:
        """Keep each vehicle's newest position; returns how many were newer than the stored."""
        ...

    def latest(self, operator_id: str | None = None) -> list[Position]:
        """Every vehicle's latest position (one operator's, or every operator's)."""
        ...


class DatabasePositions:
    kind = "database"

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, positions: Sequence[Position], now: dt.datetime) -> int:
        if not positions:
            return 0
        rows = [
            {"operator_id": p.operator_id, "vehicle_id": p.vehicle_id, "received_at": now,
             **{name: getattr(p, name) for name in _FIELDS}}
            for p in sorted(positions, key=lambda p: (p.operator_id, p.vehicle_id))
        ]  # fmt: skip
        with self.db.transaction() as session:
            statement = bulk.insert_for(session, _POSITIONS)
            statement = statement.on_conflict_do_update(
                index_elements=["operator_id", "vehicle_id"],
                set_={name: statement.excluded[name] for name in (*_FIELDS, "received_at")},
                where=_POSITIONS.c.reported_at <= statement.excluded.reported_at,
            )
            # RETURNING names the rows written: a stale report is neither written nor returned.
            written = session.connection().execute(
                statement.returning(_POSITIONS.c.vehicle_id), rows
            )
            return len(written.all())

    def latest(self, operator_id: str | None = None) -> list[Position]:
        query = select(_POSITIONS)
        if operator_id is not None:
            query = query.where(_POSITIONS.c.operator_id == operator_id)
        with self.db.reading() as session:
            rows = session.connection().execute(query).mappings().all()
        return [Position(**{k: v for k, v in row.items() if k != "received_at"}) for row in rows]


# For each vehicle: keep the stored value unless this report is at least as new.
_RECORD_NEWER = """
redis.call('SADD', KEYS[2], ARGV[1])
local changed = 0
for i = 2, #ARGV, 3 do
  local old = redis.call('HGET', KEYS[1], ARGV[i])
  local newer = true
  if old then
    local stamp = tonumber(string.match(old, '^(%d+)|'))
    newer = stamp == nil or stamp <= tonumber(ARGV[i + 1])
  end
  if newer then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1] .. '|' .. ARGV[i + 2])
    changed = changed + 1
  end
end
return changed
"""
_OPERATORS = "fleet:operators"


class RedisPositions:
    kind = "redis"

    def __init__(self, store: RedisStore) -> None:
        self.store = store

    def record(self, positions: Sequence[Position], now: dt.datetime) -> int:
        by_operator: dict[str, list[Position]] = {}
        for p in positions:
            by_operator.setdefault(p.operator_id, []).append(p)
        changed = 0
        for operator_id, mine in sorted(by_operator.items()):
            args: list[object] = [operator_id]
            for p in mine:
                value = {name: getattr(p, name) for name in _FIELDS}
                value["reported_at"] = p.reported_at.isoformat()
                stamp = int(p.reported_at.timestamp() * 1000)
                args += [p.vehicle_id, stamp, orjson.dumps(value)]
            keys = [f"fleet:{operator_id}", _OPERATORS]
            changed += int(self.store.run_script(_RECORD_NEWER, keys, args))  # type: ignore[arg-type]
        return changed

    def latest(self, operator_id: str | None = None) -> list[Position]:
        if operator_id is None:
            operators = sorted(m.decode() for m in self.store.set_members(_OPERATORS))
        else:
            operators = [operator_id]
        found = []
        for operator in operators:
            for vehicle_id, raw in self.store.hash_items(f"fleet:{operator}").items():
                fields = orjson.loads(raw.split(b"|", 1)[1])
                fields["reported_at"] = dt.datetime.fromisoformat(fields["reported_at"])
                found.append(Position(operator, vehicle_id.decode(), **fields))
        return found


def position_store(db: Database, store: KeyValueStore) -> PositionStore:
    """Redis when the deployment has it, otherwise the database."""
    return RedisPositions(store) if isinstance(store, RedisStore) else DatabasePositions(db)


def record_sightings(db: Database, positions: Sequence[Position]) -> None:
    """Append the snapshot to the history (set-based: COPY on PostgreSQL)."""
    rows = [
        {"operator_id": p.operator_id, "vehicle_id": p.vehicle_id, "cell": p.cell,
         "state": p.state, "reported_at": p.reported_at}
        for p in positions
    ]  # fmt: skip
    with db.transaction() as session:
        bulk.insert_rows(session, VehicleSighting.__table__, rows)
