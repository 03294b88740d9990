"""Zones as GeoJSON: the file city staff draw in QGIS or geojson.io, read and written here.

Each feature is one zone version. Its ``properties`` say what the zone is:

| property                 | meaning                                                          |
|--------------------------|------------------------------------------------------------------|
| ``zone_type``            | required: service_area, parking, no_parking, no_ride, slow, rules |
| ``zone_id``              | optional; else the feature's ``id``; else derived from a hash     |
| ``version``              | integer >= 1, default 1 (a later version needs its ``zone_id``)   |
| ``name``                 | free text                                                         |
| ``priority``             | integer >= 0, lower wins; default per zone type                   |
| ``operators``            | list of operator ids; absent: every operator                      |
| ``vehicle_types``        | list of vehicle type ids; absent: every vehicle type              |
| ``days``                 | ISO weekdays 1-7 or mon..sun; absent: every day                   |
| ``start_time``/``end_time`` | local "HH:MM", both or neither; end < start wraps midnight     |
| ``effective``/``retired``   | RFC 3339 date-times with an offset                             |
| ``maximum_speed_kph``    | > 0; required for slow zones                                      |
| ``parking_category``     | parking zones only: corral, rack, curb, other_valid (default)     |
| ``ride_start_allowed``, ``ride_end_allowed``, ``ride_through_allowed``, ``station_parking`` |
|                          | explicit booleans overriding the zone type's defaults             |
| ``replaces``             | "zone_id@version" this version supersedes                         |

``zone_type`` "rules" (a zone that is only its rules, as GBFS zones are) is accepted when the
feature states at least one rule, so that zones imported from GBFS survive a GeoJSON round trip.
``null`` means "not given". Anything else is refused: a typo must not silently drop a rule.

The reading helpers here (paths, geometry, date-times) are shared by the GBFS and MDS readers so
that the three formats report problems the same way: every problem at once, keyed by JSON path,
and the document refused whole.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient
from shapely.validation import explain_validity

from geo.zones import (
    DEFAULT_PRIORITY,
    PARKING_CATEGORIES,
    ZONE_TYPES,
    GeoDocumentError,
    Schedule,
    Zone,
    ZoneRules,
    with_type_defaults,
)

RULE_BOOLEANS = (
    "ride_start_allowed",
    "ride_end_allowed",
    "ride_through_allowed",
    "station_parking",
)
GEOJSON_PROPERTIES = (
    "zone_type",
    "zone_id",
    "version",
    "name",
    "priority",
    "operators",
    "vehicle_types",
    "days",
    "start_time",
    "end_time",
    "effective",
    "retired",
    "maximum_speed_kph",
    "parking_category",
    *RULE_BOOLEANS,
    "replaces",
)
DAY_NAMES = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}
WGS84_CRS_NAMES = frozenset(
    {
        "urn:ogc:def:crs:OGC:1.3:CRS84",
        "urn:ogc:def:crs:OGC::CRS84",
        "EPSG:4326",
        "urn:ogc:def:crs:EPSG::4326",
    }
)
ZONE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")
ZONE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}@[1-9][0-9]*")
HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
MAX_COORDINATE_PROBLEMS = 5

PathOf = Callable[[str], str]


# --- problems and paths -------------------------------------------------------------------


class Problems:
    """Every problem in one document, by JSON path, so a whole file can be fixed in one pass."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.errors.setdefault(path or "document", []).append(message)

    def count(self) -> int:
        return sum(len(messages) for messages in self.errors.values())

    def raise_if_any(self) -> None:
        if self.errors:
            raise GeoDocumentError(self.errors)


def at(path: str, key: str | int) -> str:
    """The JSON path of ``key`` inside ``path``: ``features[3].properties.zone_type``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def given(obj: Mapping[str, Any], key: str) -> Any:
    """The value of ``key``, ``None`` when it is absent or ``null``: both mean "not given"."""
    return obj.get(key)


def check_keys(
    obj: Mapping[str, Any],
    known: Iterable[str],
    path: str,
    problems: Problems,
    *,
    what: str = "property",
    extensions: bool = False,
) -> None:
    """Refuse unknown keys (naming the closest known one), so a typo cannot drop a rule.
    ``extensions`` lets through "_"-prefixed keys, GBFS's convention for extensions."""
    known = list(known)
    for key in obj:
        if key in known or (extensions and str(key).startswith("_")):
            continue
        close = difflib.get_close_matches(str(key), known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.add(at(path, str(key)), f"unknown {what} {key!r}{hint}")


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def read_str(value: object, path: str, problems: Problems) -> str | None:
    if not isinstance(value, str) or not value.strip():
        problems.add(path, "must be a non-empty string")
        return None
    return value


def read_bool(value: object, path: str, problems: Problems) -> bool | None:
    if not isinstance(value, bool):
        problems.add(path, "must be true or false")
        return None
    return value


def read_int(value: object, path: str, problems: Problems, *, minimum: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        problems.add(path, f"must be an integer >= {minimum}")
        return None
    return value


def read_speed(value: object, path: str, problems: Problems, *, zero_allowed: bool) -> float | None:
    """A speed in km/h. GBFS allows 0 (no riding at all); our own files ask for > 0."""
    if not is_number(value) or value < 0 or (value == 0 and not zero_allowed):
        problems.add(path, "must be a number >= 0" if zero_allowed else "must be a number > 0")
        return None
    return float(value)  # type: ignore[arg-type]


def read_id_set(
    value: object, path: str, problems: Problems, *, empty_means_all: bool = False
) -> frozenset[str] | None:
    """A list of ids as a set. An empty list matches nobody, which is never meant: refused,
    unless the format says empty means everyone (``empty_means_all``)."""
    if not isinstance(value, list) or (not value and not empty_means_all):
        problems.add(path, "must be a non-empty list of ids; omit it to mean all")
        return None
    ids = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            problems.add(at(path, index), "must be a non-empty string")
        else:
            ids.append(item)
    return frozenset(ids) if ids else None


def read_zone_id(value: object, path: str, problems: Problems) -> str | None:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not ZONE_ID.fullmatch(text):
        problems.add(
            path, "must be 1 to 64 characters: letters, digits and . _ : / - (no spaces or @)"
        )
        return None
    return text


# --- date-times -----------------------------------------------------------------------------


def read_rfc3339(value: object, path: str, problems: Problems) -> dt.datetime | None:
    """An RFC 3339 date-time. The offset is required: a zone must not move with the server's
    timezone."""
    if not isinstance(value, str) or not RFC3339.fullmatch(value):
        problems.add(
            path, "must be an RFC 3339 date-time with an offset, like 2025-03-01T08:00:00+08:00"
        )
        return None
    text = value[:10] + "T" + value[11:]
    if text[-1] in "zZ":
        text = text[:-1] + "+00:00"
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError as error:
        problems.add(path, f"is not a valid date-time: {error}")
        return None


def read_epoch(
    value: object, path: str, problems: Problems, *, milliseconds: bool, minimum: int
) -> dt.datetime | None:
    """POSIX time (GBFS 2.x: seconds; MDS: milliseconds). ``minimum`` catches the usual mix-up
    of seconds and milliseconds."""
    unit = "milliseconds" if milliseconds else "seconds"
    if not is_number(value) or value != int(value) or value < minimum:  # type: ignore[arg-type]
        problems.add(path, f"must be a whole number of {unit} since the epoch, >= {minimum}")
        return None
    seconds = int(value) / 1000 if milliseconds else int(value)  # type: ignore[arg-type]
    try:
        return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        problems.add(path, f"is too far in the future to be {unit} since the epoch")
        return None


def check_window(
    start: dt.datetime | None, end: dt.datetime | None, end_path: str, problems: Problems
) -> None:
    if start is not None and end is not None and end <= start:
        problems.add(end_path, "must be after the start")


# --- geometry -------------------------------------------------------------------------------


def read_polygonal(value: object, path: str, problems: Problems) -> BaseGeometry | None:
    """A GeoJSON Polygon or MultiPolygon as a valid Shapely geometry, (lng, lat) in WGS84 range.

    Invalid shapes (self-intersections, bow ties) are refused, not repaired: a repaired zone is
    a different zone from the one the city drew. Ring orientation is not checked (RFC 7946 asks
    readers not to reject on winding), and a third coordinate (altitude) is dropped."""
    if not isinstance(value, Mapping):
        problems.add(path, "must be a GeoJSON Polygon or MultiPolygon object")
        return None
    kind = value.get("type")
    if kind not in ("Polygon", "MultiPolygon"):
        problems.add(at(path, "type"), f"must be Polygon or MultiPolygon, not {kind!r}")
        return None
    coordinates = value.get("coordinates")
    coordinates_path = at(path, "coordinates")
    budget = [MAX_COORDINATE_PROBLEMS]
    before = problems.count()
    if kind == "Polygon":
        polygons = [_read_polygon(coordinates, coordinates_path, problems, budget)]
    elif not isinstance(coordinates, list) or not coordinates:
        problems.add(coordinates_path, "must be a non-empty list of polygons")
        return None
    else:
        polygons = [
            _read_polygon(rings, at(coordinates_path, index), problems, budget)
            for index, rings in enumerate(coordinates)
        ]
    if budget[0] < 0:
        problems.add(coordinates_path, f"{-budget[0]} more coordinate problems not listed")
    if problems.count() > before or any(polygon is None for polygon in polygons):
        return None
    geometry = polygons[0] if kind == "Polygon" else MultiPolygon(polygons)
    if not geometry.is_valid:
        problems.add(
            path, f"is not a valid {kind}: {explain_validity(geometry)} (fix it at the source)"
        )
        return None
    if geometry.is_empty or geometry.area == 0:
        problems.add(path, "encloses no area")
        return None
    return geometry


def _read_polygon(
    rings: object, path: str, problems: Problems, budget: list[int]
) -> Polygon | None:
    if not isinstance(rings, list) or not rings:
        problems.add(path, "must be a non-empty list of linear rings")
        return None
    read = [_read_ring(ring, at(path, index), problems, budget) for index, ring in enumerate(rings)]
    if any(ring is None for ring in read):
        return None
    return Polygon(read[0], read[1:])


def _read_ring(
    ring: object, path: str, problems: Problems, budget: list[int]
) -> list[tuple[float, float]] | None:
    if not isinstance(ring, list) or len(ring) < 4:
        problems.add(path, "a linear ring needs at least 4 positions")
        return None
    points: list[tuple[float, float]] = []
    for index, position in enumerate(ring):
        problem = _position_problem(position)
        if problem is not None:
            budget[0] -= 1
            if budget[0] >= 0:
                problems.add(at(path, index), problem)
            continue
        points.append((float(position[0]), float(position[1])))  # type: ignore[index]
    if len(points) != len(ring):
        return None
    if points[0] != points[-1]:
        problems.add(path, "a linear ring must end where it starts")
        return None
    return points


def _position_problem(position: object) -> str | None:
    if (
        not isinstance(position, list | tuple)
        or len(position) not in (2, 3)
        or not all(is_number(number) for number in position)
    ):
        return "a position must be [longitude, latitude] numbers"
    lng, lat = position[0], position[1]
    if not -180 <= lng <= 180:
        return f"longitude {lng} is outside -180..180"
    if not -90 <= lat <= 90:
        return f"latitude {lat} is outside -90..90 (are longitude and latitude swapped?)"
    return None


def geometry_json(
    geometry: BaseGeometry, *, multi: bool = False, clockwise: bool = False
) -> dict[str, Any]:
    """A Polygon or MultiPolygon as GeoJSON. Exterior rings are counterclockwise (RFC 7946)
    unless ``clockwise`` (GBFS 2.x, where clockwise means "the area inside")."""
    if isinstance(geometry, Polygon):
        polygons = [geometry]
    elif isinstance(geometry, MultiPolygon):
        polygons = list(geometry.geoms)
    else:
        raise ValueError(f"a zone must be a Polygon or MultiPolygon, not {geometry.geom_type}")
    sign = -1.0 if clockwise else 1.0
    rings = [_polygon_rings(orient(polygon, sign)) for polygon in polygons]
    if isinstance(geometry, Polygon) and not multi:
        return {"type": "Polygon", "coordinates": rings[0]}
    return {"type": "MultiPolygon", "coordinates": rings}


def _polygon_rings(polygon: Polygon) -> list[list[list[float]]]:
    rings = [polygon.exterior, *polygon.interiors]
    return [[[x, y] for x, y, *_ in ring.coords] for ring in rings]


# --- GeoJSON zones --------------------------------------------------------------------------


def parse_geojson_zones(document: Mapping[str, Any]) -> list[Zone]:
    """Zones from a GeoJSON Feature or FeatureCollection (properties as in the module's table).

    Every problem is collected; any problem refuses the whole document with
    ``GeoDocumentError``, so a half-read file never replaces a good catalogue."""
    problems = Problems()
    zones: list[Zone] = []
    first_seen: dict[tuple[str, int], str] = {}
    for path, feature in _features(document, problems):
        zone = _zone_from_feature(feature, path, problems)
        if zone is None:
            continue
        key = (zone.zone_id, zone.version)
        if key in first_seen:
            problems.add(
                at(at(path, "properties"), "zone_id"),
                f"zone {zone.key} is also defined at {first_seen[key] or 'the document'}",
            )
        first_seen.setdefault(key, path)
        zones.append(zone)
    problems.raise_if_any()
    return zones


def _features(document: object, problems: Problems) -> list[tuple[str, Any]]:
    if not isinstance(document, Mapping):
        problems.add("document", "must be a GeoJSON Feature or FeatureCollection object")
        return []
    crs = document.get("crs")
    if crs is not None:
        crs_props = crs.get("properties") if isinstance(crs, Mapping) else None
        name = crs_props.get("name") if isinstance(crs_props, Mapping) else None
        if name not in WGS84_CRS_NAMES:
            problems.add("crs", "coordinates must be WGS84 longitude, latitude (CRS84)")
    kind = document.get("type")
    if kind == "Feature":
        return [("", document)]
    if kind != "FeatureCollection":
        problems.add("type", f"must be Feature or FeatureCollection, not {kind!r}")
        return []
    features = document.get("features")
    if not isinstance(features, list):
        problems.add("features", "must be a list of features")
        return []
    return [(at("features", index), feature) for index, feature in enumerate(features)]


def _zone_from_feature(feature: object, path: str, problems: Problems) -> Zone | None:
    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        where = at(path, "type") if isinstance(feature, Mapping) else path
        problems.add(where, "must be a GeoJSON Feature")
        return None
    before = problems.count()
    geometry = read_polygonal(feature.get("geometry"), at(path, "geometry"), problems)
    props_path = at(path, "properties")
    props = feature.get("properties")
    if not isinstance(props, Mapping):
        problems.add(props_path, "must be an object carrying at least zone_type")
        return None
    check_keys(props, GEOJSON_PROPERTIES, props_path, problems)

    def p(key: str) -> str:
        return at(props_path, key)

    zone_type = _read_zone_type(given(props, "zone_type"), p("zone_type"), problems)
    explicit = ZoneRules(
        **{key: _optional(props, key, p, problems, read_bool) for key in RULE_BOOLEANS},
        maximum_speed_kph=_optional(
            props, "maximum_speed_kph", p, problems, read_speed, zero_allowed=False
        ),
    )
    parking_category = _read_parking_category(props, zone_type, p("parking_category"), problems)
    if zone_type is not None:
        _check_type_rules(zone_type, explicit, props, p, problems)

    version = _optional(props, "version", p, problems, read_int, minimum=1) or 1
    priority = _optional(props, "priority", p, problems, read_int, minimum=0)
    zone_id = _read_feature_zone_id(feature, props, path, version, problems)
    schedule = _read_schedule(props, p, problems)
    effective = _optional(props, "effective", p, problems, read_rfc3339)
    retired = _optional(props, "retired", p, problems, read_rfc3339)
    check_window(effective, retired, p("retired"), problems)
    replaces = given(props, "replaces")
    if replaces is not None and (not isinstance(replaces, str) or not ZONE_KEY.fullmatch(replaces)):
        problems.add(p("replaces"), 'must be "zone_id@version", like "market-street@2"')
    name = _optional(props, "name", p, problems, read_str)
    operators = _optional(props, "operators", p, problems, read_id_set)
    vehicle_types = _optional(props, "vehicle_types", p, problems, read_id_set)

    if problems.count() > before or geometry is None or zone_type is None:
        return None
    return Zone(
        zone_id=zone_id or derived_zone_id(feature.get("geometry"), props),
        zone_type=zone_type,
        geometry=geometry,
        version=version,
        name=name,
        rules=with_type_defaults(zone_type, explicit),
        priority=DEFAULT_PRIORITY[zone_type] if priority is None else priority,
        operators=operators,
        vehicle_types=vehicle_types,
        schedule=schedule,
        effective=effective,
        retired=retired,
        parking_category=parking_category,
        replaces=replaces,
    )


def _optional(
    props: Mapping[str, Any],
    key: str,
    p: PathOf,
    problems: Problems,
    reader: Callable[..., Any],
    **options: Any,
) -> Any:
    """Read ``key`` with ``reader`` when it is given; ``None`` when it is not."""
    value = given(props, key)
    return None if value is None else reader(value, p(key), problems, **options)


def _read_zone_type(value: object, path: str, problems: Problems) -> str | None:
    if value is None:
        problems.add(path, f"is required: one of {', '.join(ZONE_TYPES)}")
        return None
    if value not in ZONE_TYPES:
        problems.add(path, f"must be one of {', '.join(ZONE_TYPES)}, not {value!r}")
        return None
    return str(value)


def _read_parking_category(
    props: Mapping[str, Any], zone_type: str | None, path: str, problems: Problems
) -> str | None:
    value = given(props, "parking_category")
    if value is None:
        return "other_valid" if zone_type == "parking" else None
    if zone_type is not None and zone_type != "parking":
        problems.add(path, "only parking zones have a parking_category")
        return None
    if value not in PARKING_CATEGORIES:
        problems.add(path, f"must be one of {', '.join(PARKING_CATEGORIES)}, not {value!r}")
        return None
    return str(value)


def _check_type_rules(
    zone_type: str, explicit: ZoneRules, props: Mapping[str, Any], p: PathOf, problems: Problems
) -> None:
    """Overrides may refine a zone type, not contradict what the type says the place is."""
    if zone_type == "slow" and given(props, "maximum_speed_kph") is None:
        problems.add(p("maximum_speed_kph"), "is required for a slow zone")
    if zone_type == "parking" and explicit.ride_end_allowed is False:
        problems.add(p("ride_end_allowed"), "a parking zone cannot forbid ending a ride")
    if zone_type == "no_parking" and explicit.ride_end_allowed is True:
        problems.add(p("ride_end_allowed"), "a no_parking zone cannot allow ending a ride")
    if zone_type == "rules" and explicit == ZoneRules():
        problems.add(
            p("zone_type"),
            "a 'rules' zone must state at least one rule (ride_start_allowed, ride_end_allowed, "
            "ride_through_allowed, station_parking or maximum_speed_kph)",
        )


def _read_feature_zone_id(
    feature: Mapping[str, Any],
    props: Mapping[str, Any],
    path: str,
    version: int,
    problems: Problems,
) -> str | None:
    props_id_path = at(at(path, "properties"), "zone_id")
    zone_id = _optional(props, "zone_id", lambda key: props_id_path, problems, read_zone_id)
    feature_id = feature.get("id")
    if feature_id is not None:
        from_feature = read_zone_id(feature_id, at(path, "id"), problems)
        if zone_id is not None and from_feature is not None and from_feature != zone_id:
            problems.add(props_id_path, f"differs from the feature's id {from_feature!r}")
        zone_id = zone_id or from_feature
    if zone_id is None and given(props, "zone_id") is None and version > 1:
        problems.add(props_id_path, "is required for a version after the first")
    return zone_id


def _read_schedule(props: Mapping[str, Any], p: PathOf, problems: Problems) -> Schedule:
    days = _read_days(given(props, "days"), p("days"), problems)
    start = _optional(props, "start_time", p, problems, _read_hhmm)
    end = _optional(props, "end_time", p, problems, _read_hhmm)
    for key, other in (("start_time", "end_time"), ("end_time", "start_time")):
        if given(props, key) is not None and given(props, other) is None:
            problems.add(p(other), f"is required with {key}")
    if start is not None and start == end:
        problems.add(p("end_time"), "must differ from start_time")
    return Schedule(days=days, start=start, end=end)


def _read_days(value: object, path: str, problems: Problems) -> frozenset[int] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        problems.add(path, "must be a non-empty list of ISO weekdays (1-7) or mon..sun")
        return None
    days = set()
    for index, day in enumerate(value):
        if isinstance(day, int) and not isinstance(day, bool) and 1 <= day <= 7:
            days.add(day)
        elif isinstance(day, str) and day.lower() in DAY_NAMES:
            days.add(DAY_NAMES[day.lower()])
        else:
            problems.add(at(path, index), f"{day!r} is not an ISO weekday 1-7 or mon..sun")
    return frozenset(days)


def _read_hhmm(value: object, path: str, problems: Problems) -> dt.time | None:
    match = HHMM.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        problems.add(path, 'must be a local time "HH:MM", 00:00 to 23:59')
        return None
    return dt.time(int(match[1]), int(match[2]))


def derived_zone_id(geometry: object, properties: Mapping[str, Any]) -> str:
    """An id for a feature that has none: a hash of its geometry and properties as written, so
    importing the same file twice gives the same ids."""
    canonical = json.dumps(
        {"geometry": geometry, "properties": properties},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=lambda value: dict(value) if isinstance(value, Mapping) else str(value),
    )
    return "zone-" + hashlib.sha256(canonical.encode()).hexdigest()[:16]


def export_geojson(zones: Sequence[Zone]) -> dict[str, Any]:
    """A FeatureCollection that ``parse_geojson_zones`` reads back into the same zones.

    Every stated rule is written, defaults included, so the file means the same thing even if
    the type defaults change later."""
    return {"type": "FeatureCollection", "features": [_zone_feature(zone) for zone in zones]}


def _zone_feature(zone: Zone) -> dict[str, Any]:
    props: dict[str, Any] = {
        "zone_id": zone.zone_id,
        "version": zone.version,
        "zone_type": zone.zone_type,
        "name": zone.name,
        "priority": zone.priority,
        "operators": sorted(zone.operators) if zone.operators is not None else None,
        "vehicle_types": sorted(zone.vehicle_types) if zone.vehicle_types is not None else None,
        "days": sorted(zone.schedule.days) if zone.schedule.days is not None else None,
        "start_time": _hhmm(zone.schedule.start, zone),
        "end_time": _hhmm(zone.schedule.end, zone),
        "effective": zone.effective.isoformat() if zone.effective else None,
        "retired": zone.retired.isoformat() if zone.retired else None,
        "maximum_speed_kph": zone.rules.maximum_speed_kph,
        "parking_category": zone.parking_category if zone.zone_type == "parking" else None,
        **{key: getattr(zone.rules, key) for key in RULE_BOOLEANS},
        "replaces": zone.replaces,
    }
    return {
        "type": "Feature",
        "geometry": geometry_json(zone.geometry),
        "properties": {key: value for key, value in props.items() if value is not None},
    }


def _hhmm(value: dt.time | None, zone: Zone) -> str | None:
    if value is None:
        return None
    if value.second or value.microsecond:
        raise ValueError(f"zone {zone.key}: schedule time {value} cannot be written as HH:MM")
    return value.strftime("%H:%M")
