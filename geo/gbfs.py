"""GBFS ``geofencing_zones.json``, versions 2.1 to 3.0: read an operator's zones, publish ours.

What differs between versions, and how it is read:

| field                  | 2.1, 2.2              | 2.3                   | 3.0                    |
|------------------------|-----------------------|-----------------------|------------------------|
| ``last_updated``       | POSIX seconds         | POSIX seconds         | RFC 3339               |
| feature name           | string                | string                | ``[{text, language}]`` |
| feature start, end     | POSIX seconds         | POSIX seconds         | RFC 3339               |
| rule vehicle types     | ``vehicle_type_id``   | ``vehicle_type_id``   | ``vehicle_type_ids``   |
| rule start, end        | ``ride_allowed``      | ``ride_allowed``      | ``ride_start_allowed``, |
|                        |                       |                       | ``ride_end_allowed``   |
| ``station_parking``    | -                     | added                 | yes                    |
| ``data.global_rules``  | -                     | -                     | yes                    |

Leniencies for 2.x feeds seen in the wild: ``vehicle_type_ids`` is read as ``vehicle_type_id``,
and the 3.0 pair ``ride_start_allowed``/``ride_end_allowed`` is read in place of ``ride_allowed``
(never both); ``global_rules`` is read whatever the version. Keys starting with "_" are GBFS
extensions and ignored; any other unknown key is an error.

Simplifications, said plainly:

* GBFS 2.x gives winding a meaning (clockwise: the area inside; counterclockwise: the area
  outside). Every polygon is read as its inside: producers often ignore that rule, and a zone
  here has no "outside".
  Exports are wound for the version written: clockwise for 2.3, counterclockwise (RFC 7946) for
  3.0, where rules only ever apply inside.
* GBFS precedence is per rule object (the first listed rule that applies wins whole); ours is per
  field (``None``: the next zone decides). Imports keep each rule exactly (unset stays ``None``);
  exports fill the fields a zone leaves unset from the next zone that covers it entirely (and
  start, end and ride-through, which GBFS requires, else from the global rules), so that the
  first-listed rule says what we mean. Export then import therefore gives back the same rules,
  except that a zone leaving ``maximum_speed_kph`` or ``station_parking`` unset inside a later
  zone that sets it comes back with that value.
* Of several ``global_rules`` only one is kept: the one without ``vehicle_type_ids``, else the
  first. Per-vehicle-type global rules are lost.
* Schedules (days, hours) cannot be said in GBFS: the export writes the zones that apply at a
  given local time (GBFS feeds are refreshed every ``ttl`` seconds), or refuses scheduled zones.
* 2.3 exports have one ``ride_allowed``: true only where both starting and ending are allowed.
  Global rules are not written for 2.3 (the version has none).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from geo.geojson_zones import (
    Problems,
    at,
    check_keys,
    check_window,
    geometry_json,
    given,
    read_bool,
    read_epoch,
    read_id_set,
    read_polygonal,
    read_rfc3339,
    read_speed,
    read_str,
    read_zone_id,
)
from geo.zones import GeoDocumentError, GlobalRules, Schedule, Zone, ZoneRules

READ_VERSIONS = ("2.1", "2.2", "2.3", "3.0")
WRITE_VERSIONS = ("2.3", "3.0")
GBFS_MIN_POSIX = 1450155600  # the schemas' minimum for POSIX times: 2015-12-15
RULES_PER_ZONE = 100  # priority = feature index * 100 + rule index
ZONES = "data.geofencing_zones"
LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Z]{2})?")
RULE_FIELDS = tuple(field.name for field in dataclasses.fields(ZoneRules))
REQUIRED_RULE_FIELDS = ("ride_start_allowed", "ride_end_allowed", "ride_through_allowed")
V3_RULE_KEYS = (
    "vehicle_type_ids",
    "ride_start_allowed",
    "ride_end_allowed",
    "ride_through_allowed",
    "maximum_speed_kph",
    "station_parking",
)
V2_RULE_KEYS = ("vehicle_type_id", "ride_allowed", *V3_RULE_KEYS)


# --- reading --------------------------------------------------------------------------------


def parse_gbfs_geofencing(
    document: Mapping[str, Any], *, language: str | None = None
) -> tuple[list[Zone], GlobalRules]:
    """Zones and global rules from a GBFS ``geofencing_zones.json`` (2.1, 2.2, 2.3 or 3.0).

    One zone per rule: a feature whose rules differ by vehicle type becomes several zones, each
    limited to its rule's vehicle types. GBFS lets the first-listed rule win where zones
    overlap; that order is kept as ``priority = feature index * 100 + rule index``. Zone ids are
    the feature's ``id`` or ``gbfs-<index>``, suffixed ``-<rule index>`` when a feature has
    several rules. Features without rules restrict nothing and give no zone. A 3.0 name is
    taken in ``language`` when the feed has it, else its first translation.

    Every problem is collected and the document refused whole with ``GeoDocumentError``."""
    if not isinstance(document, Mapping):
        raise GeoDocumentError({"document": ["must be a GBFS geofencing_zones.json object"]})
    problems = Problems()
    check_keys(document, ("last_updated", "ttl", "version", "data"), "", problems, extensions=True)
    version = _read_version(document.get("version"), problems)
    data = document.get("data")
    if not isinstance(data, Mapping):
        problems.add("data", "is required: an object with geofencing_zones")
    if version is None or not isinstance(data, Mapping):
        raise GeoDocumentError(problems.errors)
    _check_header(document, version.startswith("3"), problems)
    check_keys(data, ("geofencing_zones", "global_rules"), "data", problems, extensions=True)
    zones = _read_zones(data.get("geofencing_zones"), version, language, problems)
    global_rules = _read_global_rules(given(data, "global_rules"), version, problems)
    problems.raise_if_any()
    return zones, global_rules


def _read_version(value: object, problems: Problems) -> str | None:
    base = re.sub(r"-RC[0-9]*$", "", value) if isinstance(value, str) else None
    if base not in READ_VERSIONS:
        problems.add("version", f"must be one of {', '.join(READ_VERSIONS)}, not {value!r}")
        return None
    return base


def _check_header(document: Mapping[str, Any], v3: bool, problems: Problems) -> None:
    last_updated = document.get("last_updated")
    if last_updated is None:
        problems.add("last_updated", "is required")
    elif v3:
        read_rfc3339(last_updated, "last_updated", problems)
    else:
        read_epoch(last_updated, "last_updated", problems, milliseconds=False, minimum=0)
    ttl = document.get("ttl")
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0:
        problems.add("ttl", "is required: a whole number of seconds >= 0")


def _read_zones(
    collection: object, version: str, language: str | None, problems: Problems
) -> list[Zone]:
    if not isinstance(collection, Mapping) or collection.get("type") != "FeatureCollection":
        problems.add(ZONES, "is required: a GeoJSON FeatureCollection")
        return []
    features = collection.get("features")
    if not isinstance(features, list):
        problems.add(at(ZONES, "features"), "must be a list of features")
        return []
    zones: list[Zone] = []
    first_seen: dict[str, str] = {}
    for index, feature in enumerate(features):
        path = at(at(ZONES, "features"), index)
        for zone in _read_feature(feature, index, path, version, language, problems):
            if zone.zone_id in first_seen:
                elsewhere = first_seen[zone.zone_id]
                problems.add(at(path, "id"), f"{zone.zone_id!r} is also used at {elsewhere}")
            first_seen.setdefault(zone.zone_id, path)
            zones.append(zone)
    return zones


def _read_feature(
    feature: object,
    index: int,
    path: str,
    version: str,
    language: str | None,
    problems: Problems,
) -> list[Zone]:
    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        problems.add(path, "must be a GeoJSON Feature")
        return []
    before = problems.count()
    members = ("type", "geometry", "properties", "id", "bbox")
    check_keys(feature, members, path, problems, what="member", extensions=True)
    geometry = read_polygonal(feature.get("geometry"), at(path, "geometry"), problems)
    zone_id = f"gbfs-{index}"
    if feature.get("id") is not None:
        zone_id = read_zone_id(feature["id"], at(path, "id"), problems) or zone_id
    props_path = at(path, "properties")
    props = feature.get("properties")
    if not isinstance(props, Mapping):
        problems.add(props_path, "is required: an object with the zone's rules")
        return []
    check_keys(props, ("name", "start", "end", "rules"), props_path, problems, extensions=True)
    v3 = version.startswith("3")
    name = _read_name(given(props, "name"), at(props_path, "name"), v3, language, problems)
    start, end = (
        _read_time(given(props, key), at(props_path, key), v3, problems) for key in ("start", "end")
    )
    check_window(start, end, at(props_path, "end"), problems)
    rules = _read_rules(given(props, "rules"), at(props_path, "rules"), version, problems)
    if len(rules) > RULES_PER_ZONE:
        problems.add(at(props_path, "rules"), f"at most {RULES_PER_ZONE} rules per zone are read")
    if len(rules) > 1 and len(zone_id) > 64 - 1 - len(str(len(rules) - 1)):
        problems.add(at(path, "id"), "too long to name one zone per rule (64 characters)")
    if problems.count() > before or geometry is None:
        return []
    return [
        Zone(
            zone_id=zone_id if len(rules) == 1 else f"{zone_id}-{rule_index}",
            zone_type=classify(rule),
            geometry=geometry,
            name=name,
            rules=rule,
            priority=index * RULES_PER_ZONE + rule_index,
            vehicle_types=vehicle_types,
            effective=start,
            retired=end,
        )
        for rule_index, (vehicle_types, rule) in enumerate(rules)
    ]


def _read_name(
    value: object, path: str, v3: bool, language: str | None, problems: Problems
) -> str | None:
    if value is None:
        return None
    if not v3:
        return read_str(value, path, problems)
    if not isinstance(value, list) or not value:
        problems.add(path, "must be a list of {text, language} translations")
        return None
    texts: dict[str, str] = {}
    for index, entry in enumerate(value):
        entry_path = at(path, index)
        if not isinstance(entry, Mapping):
            problems.add(entry_path, "must be an object with text and language")
            continue
        check_keys(entry, ("text", "language"), entry_path, problems)
        text = read_str(entry.get("text"), at(entry_path, "text"), problems)
        lang = read_str(entry.get("language"), at(entry_path, "language"), problems)
        if text is not None and lang is not None:
            texts.setdefault(lang, text)
    if language is not None:
        for lang, text in texts.items():
            if lang == language or lang.split("-")[0] == language.split("-")[0]:
                return text
    return next(iter(texts.values()), None)


def _read_time(value: object, path: str, v3: bool, problems: Problems) -> dt.datetime | None:
    if value is None:
        return None
    if v3:
        return read_rfc3339(value, path, problems)
    return read_epoch(value, path, problems, milliseconds=False, minimum=GBFS_MIN_POSIX)


def _read_rules(
    value: object, path: str, version: str, problems: Problems
) -> list[tuple[frozenset[str] | None, ZoneRules]]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add(path, "must be a list of rule objects")
        return []
    read = [
        _read_rule(rule, at(path, index), version, problems) for index, rule in enumerate(value)
    ]
    return [rule for rule in read if rule is not None]


def _read_rule(
    rule: object, path: str, version: str, problems: Problems
) -> tuple[frozenset[str] | None, ZoneRules] | None:
    """One rule object, its values exactly as written (optional fields left unset stay None)."""
    if not isinstance(rule, Mapping):
        problems.add(path, "must be a rule object")
        return None
    v3 = version.startswith("3")
    check_keys(rule, V3_RULE_KEYS if v3 else V2_RULE_KEYS, path, problems, extensions=True)
    before = problems.count()
    if version in ("2.1", "2.2") and "station_parking" in rule:
        problems.add(at(path, "station_parking"), "was added in GBFS 2.3")
    if not v3 and "vehicle_type_id" in rule and "vehicle_type_ids" in rule:
        problems.add(at(path, "vehicle_type_ids"), "give vehicle_type_id or _ids, not both")
    types_key = "vehicle_type_id" if "vehicle_type_id" in rule and not v3 else "vehicle_type_ids"
    vehicle_types = None
    if given(rule, types_key) is not None:
        types_path = at(path, types_key)
        vehicle_types = read_id_set(rule[types_key], types_path, problems, empty_means_all=True)
    start, end = _read_start_end(rule, path, v3, problems)
    through = _required_bool(rule, "ride_through_allowed", path, problems)
    speed = given(rule, "maximum_speed_kph")
    if speed is not None:
        speed = read_speed(speed, at(path, "maximum_speed_kph"), problems, zero_allowed=True)
    station = given(rule, "station_parking")
    if station is not None:
        station = read_bool(station, at(path, "station_parking"), problems)
    if problems.count() > before:
        return None
    return vehicle_types, ZoneRules(start, end, through, speed, station)


def _read_start_end(
    rule: Mapping[str, Any], path: str, v3: bool, problems: Problems
) -> tuple[bool | None, bool | None]:
    if v3 or "ride_allowed" not in rule:
        if not v3 and not {"ride_start_allowed", "ride_end_allowed"} & rule.keys():
            problems.add(at(path, "ride_allowed"), "is required")
            return None, None
        start = _required_bool(rule, "ride_start_allowed", path, problems)
        return start, _required_bool(rule, "ride_end_allowed", path, problems)
    for key in ("ride_start_allowed", "ride_end_allowed"):
        if key in rule:
            problems.add(at(path, key), "give ride_allowed or ride_start/end_allowed, not both")
    allowed = _required_bool(rule, "ride_allowed", path, problems)
    return allowed, allowed


def _required_bool(rule: Mapping[str, Any], key: str, path: str, problems: Problems) -> bool | None:
    if given(rule, key) is None:
        problems.add(at(path, key), "is required")
        return None
    return read_bool(rule[key], at(path, key), problems)


def _read_global_rules(value: object, version: str, problems: Problems) -> GlobalRules:
    """One GlobalRules: the rule for every vehicle type, else the first (a simplification)."""
    if value is None:
        return GlobalRules()
    if value == []:
        problems.add("data.global_rules", "must hold at least one rule (or be left out)")
    rules = _read_rules(value, "data.global_rules", version, problems)
    if not rules:
        return GlobalRules()
    chosen = next((rule for types, rule in rules if types is None), rules[0][1])
    return GlobalRules(
        ride_start_allowed=bool(chosen.ride_start_allowed),
        ride_end_allowed=bool(chosen.ride_end_allowed),
        ride_through_allowed=bool(chosen.ride_through_allowed),
        maximum_speed_kph=chosen.maximum_speed_kph,
        station_parking=bool(chosen.station_parking),
    )


def classify(rules: ZoneRules) -> str:
    """A readable zone type for a GBFS rule; the rule itself is kept as written.

    no_ride: no starting, ending or riding through; no_parking: no ending, riding through
    allowed; slow: everything allowed under a speed limit; anything else: rules.
    ``station_parking`` true means "park only at stations inside this zone": that is not a
    parking zone, so such zones stay "rules"."""
    if rules.station_parking:
        return "rules"
    if rules.ride_through_allowed is False:
        return "no_ride" if not rules.ride_start_allowed and not rules.ride_end_allowed else "rules"
    if rules.ride_end_allowed is False:
        return "no_parking"
    if rules.ride_start_allowed is False or rules.ride_through_allowed is None:
        return "rules"
    speed = rules.maximum_speed_kph
    return "slow" if speed is not None and speed > 0 else "rules"


# --- writing --------------------------------------------------------------------------------


def export_gbfs_geofencing(
    zones: Sequence[Zone],
    global_rules: GlobalRules,
    *,
    version: str = "3.0",
    last_updated: dt.datetime,
    ttl: int = 60,
    language: str = "en",
    local_now: dt.datetime | None = None,
) -> dict[str, Any]:
    """A ``geofencing_zones.json`` an operator can publish (GBFS 3.0, or 2.3).

    Features are listed by ``priority`` so GBFS's "first listed wins" matches our precedence,
    one feature per zone, with the zone id as the feature's ``id``. A zone's unset fields are
    filled from the next zone that covers it entirely (for the same vehicle types and
    operators); start, end and ride-through, which GBFS requires, else from ``global_rules``.
    Service areas allow riding, starting and ending; parking zones allow ending and say
    ``station_parking: false``. Pass one version per zone and the zones of the operator the
    feed is for (operator limits are not written). 3.0 names are tagged with ``language``.

    GBFS cannot say "weekdays 07:00-22:00": given ``local_now`` (the city's local time), a
    scheduled zone is written, unscheduled, if it applies then and left out if not, which holds
    for a feed refreshed every ``ttl`` seconds; without ``local_now`` scheduled zones are
    refused."""
    if version not in WRITE_VERSIONS:
        raise ValueError(f"GBFS version must be one of {', '.join(WRITE_VERSIONS)}")
    if last_updated.tzinfo is None:
        raise ValueError("last_updated must be timezone-aware")
    if ttl < 0:
        raise ValueError("ttl must be >= 0")
    if not LANGUAGE.fullmatch(language):
        raise ValueError("language must be a BCP 47 code like 'en' or 'zh-CN'")
    scheduled = [zone.key for zone in zones if zone.schedule != Schedule()]
    if scheduled and local_now is None:
        raise ValueError(
            f"GBFS cannot say when in the week a zone applies: {', '.join(scheduled)}; "
            "pass local_now to write the zones that apply now"
        )
    if local_now is not None:
        zones = [
            dataclasses.replace(zone, schedule=Schedule())
            for zone in zones
            if zone.schedule.applies(local_now)
        ]
    ids = [zone.zone_id for zone in zones]
    repeated = sorted({zone_id for zone_id in ids if ids.count(zone_id) > 1})
    if repeated:
        raise ValueError(f"one version per zone: {', '.join(repeated)} given more than once")
    v3 = version == "3.0"
    ordered = sorted(zones, key=lambda zone: zone.priority)
    features = [
        _feature(zone, _filled_rules(zone, ordered[index + 1 :], global_rules), v3, language)
        for index, zone in enumerate(ordered)
    ]
    data: dict[str, Any] = {"geofencing_zones": {"type": "FeatureCollection", "features": features}}
    if v3:
        data["global_rules"] = [_rule_json(_global_as_rules(global_rules), None, v3)]
    return {
        "last_updated": last_updated.isoformat() if v3 else int(last_updated.timestamp()),
        "ttl": ttl,
        "version": version,
        "data": data,
    }


def _own_rules(zone: Zone) -> ZoneRules:
    """What a zone says by its type even where its rules are unset."""
    rules = zone.rules
    if zone.zone_type == "service_area":
        return dataclasses.replace(
            rules,
            ride_start_allowed=rules.ride_start_allowed is not False,
            ride_end_allowed=rules.ride_end_allowed is not False,
            ride_through_allowed=rules.ride_through_allowed is not False,
        )
    if zone.zone_type == "parking":
        return dataclasses.replace(
            rules,
            ride_end_allowed=True,
            station_parking=False if rules.station_parking is None else rules.station_parking,
        )
    return rules


def _covers(outer: Zone, inner: Zone) -> bool:
    def includes(wide: frozenset[str] | None, narrow: frozenset[str] | None) -> bool:
        return wide is None or (narrow is not None and narrow <= wide)

    return (
        includes(outer.vehicle_types, inner.vehicle_types)
        and includes(outer.operators, inner.operators)
        and outer.geometry.covers(inner.geometry)
    )


def _filled_rules(zone: Zone, later: Sequence[Zone], global_rules: GlobalRules) -> ZoneRules:
    """The zone's rules with unset fields said, as our per-field precedence reads them: from the
    first later zone covering this one entirely; start, end and ride-through (which GBFS
    requires) else from the global rules. Optional fields are not copied from the global
    rules, which are published alongside."""
    own = _own_rules(zone)
    filled: dict[str, Any] = {}
    for field in RULE_FIELDS:
        value = getattr(own, field)
        if field == "maximum_speed_kph" and filled["ride_through_allowed"] is False:
            filled[field] = value  # no riding here: a speed limit would say nothing
            continue
        if value is None:
            value = next(
                (
                    getattr(_own_rules(other), field)
                    for other in later
                    if getattr(_own_rules(other), field) is not None and _covers(other, zone)
                ),
                None,
            )
        if value is None and field in REQUIRED_RULE_FIELDS:
            value = getattr(global_rules, field)
        filled[field] = value
    return ZoneRules(**filled)


def _global_as_rules(global_rules: GlobalRules) -> ZoneRules:
    return ZoneRules(**dataclasses.asdict(global_rules))


def _rule_json(rules: ZoneRules, vehicle_types: frozenset[str] | None, v3: bool) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    if vehicle_types is not None:
        rule["vehicle_type_ids" if v3 else "vehicle_type_id"] = sorted(vehicle_types)
    if v3:
        rule["ride_start_allowed"] = bool(rules.ride_start_allowed)
        rule["ride_end_allowed"] = bool(rules.ride_end_allowed)
    else:
        rule["ride_allowed"] = bool(rules.ride_start_allowed and rules.ride_end_allowed)
    rule["ride_through_allowed"] = bool(rules.ride_through_allowed)
    if rules.maximum_speed_kph is not None:
        rule["maximum_speed_kph"] = math.floor(rules.maximum_speed_kph)  # GBFS: an integer
    if rules.station_parking is not None:
        rule["station_parking"] = rules.station_parking
    return rule


def _feature(zone: Zone, rules: ZoneRules, v3: bool, language: str) -> dict[str, Any]:
    props: dict[str, Any] = {}
    if zone.name:
        props["name"] = [{"text": zone.name, "language": language}] if v3 else zone.name
    for key, moment in (("start", zone.effective), ("end", zone.retired)):
        if moment is not None:
            props[key] = moment.isoformat() if v3 else int(moment.timestamp())
    props["rules"] = [_rule_json(rules, zone.vehicle_types, v3)]
    return {
        "type": "Feature",
        "id": zone.zone_id,
        "geometry": geometry_json(zone.geometry, multi=True, clockwise=not v3),
        "properties": props,
    }
