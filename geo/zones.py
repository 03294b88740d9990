"""Zones as plain data: where riding and parking are allowed, for whom and when.

A zone is an immutable version: a change is a new version of the same ``zone_id`` that names the
version it replaces (as MDS geographies do). Every zone carries GBFS-style rules; its
``zone_type`` says what kind of place it is and sets the rules' defaults:

| zone_type    | ride_start | ride_end | ride_through | other                            |
|--------------|------------|----------|--------------|----------------------------------|
| service_area | yes        | yes      | yes          | trips must start and end inside  |
| parking      | yes        | yes      | yes          | a designated parking place       |
| no_parking   | yes        | no       | yes          |                                  |
| no_ride      | no         | no       | no           |                                  |
| slow         | yes        | yes      | yes          | ``maximum_speed_kph`` required   |
| rules        | (as given) | ...      | ...          | a GBFS zone carrying its own rules |

Precedence follows GBFS: where zones overlap, the one with the lower ``priority`` wins (a GBFS
import uses the order of the document's features). Outside every zone the ``GlobalRules`` apply.
Coordinates are (lng, lat), WGS84.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from shapely.geometry.base import BaseGeometry

ZONE_TYPES = ("service_area", "parking", "no_parking", "no_ride", "slow", "rules")
PARKING_CATEGORIES = ("corral", "rack", "curb", "other_valid")
DEFAULT_PRIORITY = {
    "parking": 100,
    "no_parking": 200,
    "no_ride": 200,
    "slow": 300,
    "rules": 300,
    "service_area": 1000,
}


@dataclasses.dataclass(frozen=True)
class ZoneRules:
    """GBFS geofencing rules. ``None`` for a boolean means "not said": the next zone or the
    global rules decide."""

    ride_start_allowed: bool | None = None
    ride_end_allowed: bool | None = None
    ride_through_allowed: bool | None = None
    maximum_speed_kph: float | None = None
    station_parking: bool | None = None


TYPE_RULES = {
    "service_area": ZoneRules(),
    "parking": ZoneRules(ride_start_allowed=True, ride_end_allowed=True),
    "no_parking": ZoneRules(ride_end_allowed=False),
    "no_ride": ZoneRules(
        ride_start_allowed=False, ride_end_allowed=False, ride_through_allowed=False
    ),
    "slow": ZoneRules(),
    "rules": ZoneRules(),
}


@dataclasses.dataclass(frozen=True)
class GlobalRules:
    """What applies outside every zone (GBFS v3 ``global_rules``)."""

    ride_start_allowed: bool = True
    ride_end_allowed: bool = True
    ride_through_allowed: bool = True
    maximum_speed_kph: float | None = None
    station_parking: bool = False


@dataclasses.dataclass(frozen=True)
class Schedule:
    """When a zone applies, in the city's local time. Empty: always."""

    days: frozenset[int] | None = None  # ISO weekdays, 1 = Monday
    start: dt.time | None = None
    end: dt.time | None = None  # exclusive; end < start wraps past midnight

    @property
    def always(self) -> bool:
        """Every day, all day."""
        return self.days is None and (self.start is None or self.end is None)

    def applies(self, local: dt.datetime) -> bool:
        if self.days is not None and local.isoweekday() not in self.days:
            return False
        if self.start is None or self.end is None:
            return True
        now = local.time()
        if self.start <= self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end


@dataclasses.dataclass(frozen=True)
class Zone:
    zone_id: str
    zone_type: str
    geometry: BaseGeometry  # Polygon or MultiPolygon, (lng, lat)
    version: int = 1
    name: str | None = None
    rules: ZoneRules = ZoneRules()
    priority: int = 300
    operators: frozenset[str] | None = None  # None: every operator
    vehicle_types: frozenset[str] | None = None  # None: every vehicle type
    schedule: Schedule = Schedule()
    effective: dt.datetime | None = None
    retired: dt.datetime | None = None
    parking_category: str | None = None  # for parking zones: corral, rack, curb, other_valid
    replaces: str | None = None  # "zone_id@version" this version supersedes

    @property
    def key(self) -> str:
        return f"{self.zone_id}@{self.version}"

    @property
    def always_applies(self) -> bool:
        """In force for every operator and vehicle type at every moment: ``applies_to`` is
        true whatever it is asked."""
        return (
            self.operators is None
            and self.vehicle_types is None
            and self.schedule.always
            and self.effective is None
            and self.retired is None
        )

    def applies_to(
        self,
        *,
        at: dt.datetime | None = None,
        local: dt.datetime | None = None,
        operator: str | None = None,
        vehicle_type: str | None = None,
    ) -> bool:
        """Whether this zone is in force for this operator, vehicle type and moment."""
        if at is not None:
            if self.effective is not None and at < self.effective:
                return False
            if self.retired is not None and at >= self.retired:
                return False
        if local is not None and not self.schedule.applies(local):
            return False
        if self.operators is not None and operator is not None and operator not in self.operators:
            return False
        return not (
            self.vehicle_types is not None
            and vehicle_type is not None
            and vehicle_type not in self.vehicle_types
        )


def with_type_defaults(zone_type: str, rules: ZoneRules) -> ZoneRules:
    """The type's default rules, overridden by whatever ``rules`` says explicitly."""
    base = TYPE_RULES[zone_type]
    merged = {
        field.name: getattr(rules, field.name)
        if getattr(rules, field.name) is not None
        else getattr(base, field.name)
        for field in dataclasses.fields(ZoneRules)
    }
    return ZoneRules(**merged)


class GeoDocumentError(ValueError):
    """A zone document was refused whole. ``errors`` maps a JSON path (``features[3].properties
    .rules[0].ride_end_allowed``) to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        first = next(iter(errors.items()), ("document", ["invalid"]))
        super().__init__(f"{first[0]}: {first[1][0]}")
        self.errors = errors


def zone_properties(zone: Zone) -> dict:
    """Everything about a zone except its id, version, type and geometry, as JSON-ready data."""
    rules = {k: v for k, v in dataclasses.asdict(zone.rules).items() if v is not None}
    schedule = zone.schedule
    return {
        "name": zone.name,
        "priority": zone.priority,
        "rules": rules,
        "operators": sorted(zone.operators) if zone.operators is not None else None,
        "vehicle_types": sorted(zone.vehicle_types) if zone.vehicle_types is not None else None,
        "days": sorted(schedule.days) if schedule.days is not None else None,
        "start_time": schedule.start.strftime("%H:%M") if schedule.start else None,
        "end_time": schedule.end.strftime("%H:%M") if schedule.end else None,
        "effective": zone.effective.isoformat() if zone.effective else None,
        "retired": zone.retired.isoformat() if zone.retired else None,
        "parking_category": zone.parking_category,
        "replaces": zone.replaces,
    }


def zone_from_properties(
    zone_id: str, version: int, zone_type: str, geometry: BaseGeometry, props: dict
) -> Zone:
    """The inverse of ``zone_properties``."""

    def moment(text: str | None) -> dt.datetime | None:
        return dt.datetime.fromisoformat(text) if text else None

    def clock(text: str | None) -> dt.time | None:
        return dt.time.fromisoformat(text) if text else None

    def names(values: list | None) -> frozenset | None:
        return frozenset(values) if values is not None else None

    return Zone(
        zone_id=zone_id,
        zone_type=zone_type,
        geometry=geometry,
        version=version,
        name=props.get("name"),
        rules=ZoneRules(**props.get("rules", {})),
        priority=int(props.get("priority", DEFAULT_PRIORITY.get(zone_type, 300))),
        operators=names(props.get("operators")),
        vehicle_types=names(props.get("vehicle_types")),
        schedule=Schedule(
            days=names(props.get("days")),
            start=clock(props.get("start_time")),
            end=clock(props.get("end_time")),
        ),
        effective=moment(props.get("effective")),
        retired=moment(props.get("retired")),
        parking_category=props.get("parking_category"),
        replaces=props.get("replaces"),
    )


def global_rules_from(data: dict | None) -> GlobalRules:
    return GlobalRules(**(data or {}))
