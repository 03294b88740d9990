"""MDS geographies (Geography API, MDS 1.1 to 2.0): a city's published areas, as zones.

An MDS geography is only an area: MDS says ``geography_type`` "does not imply policy", and the
rules that apply there live in MDS Policy, which is not read here. To make zones of geographies
anyway, ``geography_type`` is read as the zone type, with this mapping and no other:

| geography_type                                                     | zone type        |
|--------------------------------------------------------------------|------------------|
| ``stop``, ``parking``, ``parking_zone``, ``designated_parking``    | parking (*)      |
| ``no_parking``, ``no_parking_zone``, ``disallowed_parking``        | no_parking       |
| ``service_area``, ``operating_area``, ``municipal_boundary``       | service_area     |

(*) parking category ``other_valid``: MDS does not say whether a stop is a corral or a rack.

Only ``stop`` and ``municipal_boundary`` are among MDS's recommended values; the others are
agency-defined values (MDS allows custom types) that this import agrees to read. Any other
type (``policy_zone``, ``council_district``, ``census_tract``...) or none at all is refused:
guessing would invent rules the city never set.
A zone's rules are its type's defaults.

Other choices: the zone id is the ``geography_id`` and its version 1 (MDS versions by new ids);
``prev_geographies`` becomes ``replaces`` ("<previous id>@1"), and only one predecessor can be
kept, so a geography merging several is refused; ``effective`` is ``effective_date``, else
``published_date``; ``retired`` is ``retire_date``. Features of a FeatureCollection are merged
into one (Multi)Polygon; their properties are not read.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from geo.geojson_zones import (
    PathOf,
    Problems,
    at,
    check_keys,
    check_window,
    given,
    read_epoch,
    read_polygonal,
    read_str,
)
from geo.zones import DEFAULT_PRIORITY, GeoDocumentError, Zone, ZoneRules, with_type_defaults

GEOGRAPHY_TYPES = {
    "stop": "parking",
    "parking": "parking",
    "parking_zone": "parking",
    "designated_parking": "parking",
    "no_parking": "no_parking",
    "no_parking_zone": "no_parking",
    "disallowed_parking": "no_parking",
    "service_area": "service_area",
    "operating_area": "service_area",
    "municipal_boundary": "service_area",
}
GEOGRAPHY_FIELDS = (
    "geography_id",
    "name",
    "description",
    "geography_type",
    "geography_json",
    "effective_date",
    "published_date",
    "retire_date",
    "prev_geographies",
)
MDS_MIN_TIMESTAMP = 1514764800000  # the MDS schemas' minimum: 2018-01-01, in milliseconds


def parse_mds_geography(document: Mapping[str, Any]) -> list[Zone]:
    """Zones from MDS geographies: one geography object, a ``{"geography": ...}`` response, or
    a ``{"geographies": [...]}`` list (``geographies.json``). See the module docstring for the
    type mapping and its limits. Every problem is collected and the document refused whole
    with ``GeoDocumentError``."""
    if not isinstance(document, Mapping):
        raise GeoDocumentError({"document": ["must be an MDS geography or geographies object"]})
    problems = Problems()
    if "geographies" in document:
        check_keys(document, ("version", "updated", "geographies"), "", problems)
        listed = document["geographies"]
        if not isinstance(listed, list):
            problems.add("geographies", "must be a list of geographies")
            listed = []
        entries = [(at("geographies", index), item) for index, item in enumerate(listed)]
    elif "geography" in document:
        check_keys(document, ("version", "geography"), "", problems)
        entries = [("geography", document["geography"])]
    else:
        entries = [("", document)]
    zones: list[Zone] = []
    first_seen: dict[str, str] = {}
    for path, geography in entries:
        zone = _zone_from_geography(geography, path, problems)
        if zone is None:
            continue
        if zone.zone_id in first_seen:
            elsewhere = first_seen[zone.zone_id]
            problems.add(at(path, "geography_id"), f"is also used at {elsewhere}")
        first_seen.setdefault(zone.zone_id, path)
        zones.append(zone)
    problems.raise_if_any()
    return zones


def _zone_from_geography(geography: object, path: str, problems: Problems) -> Zone | None:
    if not isinstance(geography, Mapping):
        problems.add(path, "must be a geography object")
        return None
    before = problems.count()
    check_keys(geography, GEOGRAPHY_FIELDS, path, problems, what="field")

    def p(key: str) -> str:
        return at(path, key)

    geography_id = _read_uuid(given(geography, "geography_id"), p("geography_id"), problems)
    name = read_str(given(geography, "name"), p("name"), problems)
    if given(geography, "description") is not None:
        read_str(geography["description"], p("description"), problems)
    zone_type = _read_type(given(geography, "geography_type"), p("geography_type"), problems)
    geometry = _read_shape(given(geography, "geography_json"), p("geography_json"), problems)
    published = _read_ms(geography, "published_date", p, problems, required=True)
    effective = _read_ms(geography, "effective_date", p, problems)
    retired = _read_ms(geography, "retire_date", p, problems)
    if effective is not None and published is not None and effective < published:
        problems.add(p("effective_date"), "must be at or after published_date")
    check_window(effective or published, retired, p("retire_date"), problems)
    replaces = _read_previous(given(geography, "prev_geographies"), geography_id, p, problems)
    if problems.count() > before or None in (geography_id, zone_type, geometry):
        return None
    return Zone(
        zone_id=str(geography_id),
        zone_type=str(zone_type),
        geometry=geometry,  # type: ignore[arg-type]
        name=name,
        rules=with_type_defaults(str(zone_type), ZoneRules()),
        priority=DEFAULT_PRIORITY[str(zone_type)],
        effective=effective or published,
        retired=retired,
        parking_category="other_valid" if zone_type == "parking" else None,
        replaces=replaces,
    )


def _read_uuid(value: object, path: str, problems: Problems) -> str | None:
    try:
        parsed = uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or str(parsed) != value.lower():  # type: ignore[union-attr]
        problems.add(path, "must be a UUID like 3c9604d6-b5ee-11e8-96f8-529269fb1459")
        return None
    return str(parsed)


def _read_type(value: object, path: str, problems: Problems) -> str | None:
    known = ", ".join(GEOGRAPHY_TYPES)
    if value is None:
        problems.add(path, f"is required here to choose a zone type: one of {known}")
        return None
    if value not in GEOGRAPHY_TYPES:
        problems.add(path, f"{value!r} cannot be read as a zone type; this import reads {known}")
        return None
    return GEOGRAPHY_TYPES[value]  # type: ignore[index]


def _read_shape(value: object, path: str, problems: Problems) -> BaseGeometry | None:
    """The geography's area: a FeatureCollection's polygons merged, a Feature's, or a bare
    Polygon or MultiPolygon."""
    if not isinstance(value, Mapping):
        problems.add(path, "is required: a GeoJSON FeatureCollection, Feature or geometry")
        return None
    if value.get("type") == "Feature":
        return read_polygonal(value.get("geometry"), at(path, "geometry"), problems)
    if value.get("type") != "FeatureCollection":
        return read_polygonal(value, path, problems)
    features = value.get("features")
    if not isinstance(features, list) or not features:
        problems.add(at(path, "features"), "must be a non-empty list of features")
        return None
    parts = []
    for index, feature in enumerate(features):
        feature_path = at(at(path, "features"), index)
        if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
            problems.add(feature_path, "must be a GeoJSON Feature")
            continue
        parts.append(
            read_polygonal(feature.get("geometry"), at(feature_path, "geometry"), problems)
        )
    if not parts or any(part is None for part in parts):
        return None
    return parts[0] if len(parts) == 1 else shapely.union_all(parts)


def _read_ms(
    geography: Mapping[str, Any],
    key: str,
    p: PathOf,
    problems: Problems,
    *,
    required: bool = False,
) -> dt.datetime | None:
    value = given(geography, key)
    if value is None:
        if required:
            problems.add(p(key), "is required (milliseconds since the epoch)")
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 1e11:
        problems.add(p(key), f"{value} looks like seconds; MDS timestamps are milliseconds")
        return None
    return read_epoch(value, p(key), problems, milliseconds=True, minimum=MDS_MIN_TIMESTAMP)


def _read_previous(value: object, own_id: str | None, p: PathOf, problems: Problems) -> str | None:
    if value is None or value == []:
        return None
    path = p("prev_geographies")
    if not isinstance(value, list):
        problems.add(path, "must be a list of geography ids")
        return None
    if len(value) > 1:
        problems.add(path, "a zone keeps one predecessor; this geography replaces several")
        return None
    previous = _read_uuid(value[0], at(path, 0), problems)
    if previous is not None and previous == own_id:
        problems.add(at(path, 0), "a geography cannot replace itself")
        return None
    return None if previous is None else f"{previous}@1"
