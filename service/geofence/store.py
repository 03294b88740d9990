"""Zone versions in the database: publish, withdraw, read what is in force.

Publishing a zone whose ``zone_id`` exists makes the next version, naming the one it replaces;
rows are never changed. Every change bumps ``geofence_state.version`` in the same transaction,
which is how the other processes learn their index is stale.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from geo.zones import GlobalRules, Zone, global_rules_from, zone_from_properties, zone_properties
from service.errors import NotFound
from service.persistence.database import Database
from service.persistence.geo_models import GeofenceState, ZoneVersion


def _bump(session: Session, global_rules: GlobalRules | None = None) -> int:
    values: dict = {"version": GeofenceState.version + 1, "updated_at": dt.datetime.now(dt.UTC)}
    if global_rules is not None:
        values["global_rules"] = {
            k: v for k, v in dataclasses.asdict(global_rules).items() if v is not None
        }
    session.execute(update(GeofenceState).where(GeofenceState.id == 1).values(**values))
    return int(session.scalar(select(GeofenceState.version).where(GeofenceState.id == 1)))


def _latest_versions(session: Session, zone_ids: Sequence[str]) -> dict[str, int]:
    rows = session.execute(
        select(ZoneVersion.zone_id, func.max(ZoneVersion.version))
        .where(ZoneVersion.zone_id.in_(zone_ids))
        .group_by(ZoneVersion.zone_id)
    )
    return {zone_id: int(version) for zone_id, version in rows}


def publish(
    db: Database,
    zones: Sequence[Zone],
    *,
    source: str,
    global_rules: GlobalRules | None = None,
) -> list[Zone]:
    """Store ``zones`` as new versions (version 1, or the next one); returns them as stored."""
    now = dt.datetime.now(dt.UTC)
    stored = []
    with db.transaction() as session:
        # Serialise publishers: the state row is the lock, so versions never collide.
        session.scalar(select(GeofenceState.id).where(GeofenceState.id == 1).with_for_update())
        latest = _latest_versions(session, [z.zone_id for z in zones])
        for zone in zones:
            previous = latest.get(zone.zone_id)
            version = (previous or 0) + 1
            latest[zone.zone_id] = version
            replaces = f"{zone.zone_id}@{previous}" if previous else None
            zone = dataclasses.replace(zone, version=version, replaces=replaces)
            session.add(
                ZoneVersion(
                    zone_id=zone.zone_id,
                    version=version,
                    zone_type=zone.zone_type,
                    geometry=zone.geometry,
                    properties=zone_properties(zone),
                    withdrawn=False,
                    source=source,
                    replaces=replaces,
                    created_at=now,
                )
            )
            stored.append(zone)
        _bump(session, global_rules)
    return stored


def withdraw(db: Database, zone_id: str) -> None:
    """Take a zone out of force: a last version marked withdrawn (the history stays)."""
    with db.transaction() as session:
        session.scalar(select(GeofenceState.id).where(GeofenceState.id == 1).with_for_update())
        current = session.scalars(
            select(ZoneVersion)
            .where(ZoneVersion.zone_id == zone_id)
            .order_by(ZoneVersion.version.desc())
            .limit(1)
        ).first()
        if current is None or current.withdrawn:
            raise NotFound(f"no zone {zone_id}")
        session.add(
            ZoneVersion(
                zone_id=zone_id,
                version=current.version + 1,
                zone_type=current.zone_type,
                geometry=current.geometry,
                properties=current.properties,
                withdrawn=True,
                source=current.source,
                replaces=f"{zone_id}@{current.version}",
                created_at=dt.datetime.now(dt.UTC),
            )
        )
        _bump(session)


def catalogue_version(db: Database) -> int:
    with db.reading() as session:
        return int(session.scalar(select(GeofenceState.version).where(GeofenceState.id == 1)))


def in_force(db: Database) -> tuple[int, list[Zone], GlobalRules]:
    """(catalogue version, the latest non-withdrawn version of every zone, global rules)."""
    with db.reading() as session:
        state = session.get(GeofenceState, 1)
        assert state is not None
        latest = (
            select(ZoneVersion.zone_id, func.max(ZoneVersion.version).label("version"))
            .group_by(ZoneVersion.zone_id)
            .subquery()
        )
        rows = session.scalars(
            select(ZoneVersion)
            .join(
                latest,
                (latest.c.zone_id == ZoneVersion.zone_id)
                & (latest.c.version == ZoneVersion.version),
            )
            .where(ZoneVersion.withdrawn.is_(False))
            .order_by(ZoneVersion.zone_id)
        ).all()
        zones = [
            zone_from_properties(r.zone_id, r.version, r.zone_type, r.geometry, r.properties)
            for r in rows
        ]
        return int(state.version), zones, global_rules_from(state.global_rules)
