"""Zone documents in and out: GBFS geofencing_zones.json, our GeoJSON, MDS geographies.

Every document is built inline around People's Square, Shanghai (lng 121.4737, lat 31.2304).
"""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from shapely.geometry import Point, Polygon

from geo.documents import (
    export_gbfs_geofencing,
    export_geojson,
    parse_gbfs_geofencing,
    parse_geojson_zones,
    parse_mds_geography,
)
from geo.zones import (
    DEFAULT_PRIORITY,
    GeoDocumentError,
    GlobalRules,
    Schedule,
    Zone,
    ZoneRules,
    with_type_defaults,
)

LNG, LAT = 121.4737, 31.2304
CST = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 3, 1, 8, 0, tzinfo=CST)


def ring(half: float, dx: float = 0.0, dy: float = 0.0) -> list[list[float]]:
    """A closed square ring around People's Square, counterclockwise, ``half`` degrees wide."""
    x0, x1 = round(LNG + dx - half, 6), round(LNG + dx + half, 6)
    y0, y1 = round(LAT + dy - half, 6), round(LAT + dy + half, 6)
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def polygon(half: float, dx: float = 0.0, dy: float = 0.0) -> dict:
    return {"type": "Polygon", "coordinates": [ring(half, dx, dy)]}


def multipolygon(half: float, dx: float = 0.0, dy: float = 0.0) -> dict:
    return {"type": "MultiPolygon", "coordinates": [[ring(half, dx, dy)]]}


def errors_of(parse, document) -> dict[str, list[str]]:
    with pytest.raises(GeoDocumentError) as caught:
        parse(document)
    return caught.value.errors


# --- GBFS -----------------------------------------------------------------------------------


def gbfs_v3() -> dict:
    return {
        "last_updated": "2026-03-01T08:00:00+08:00",
        "ttl": 60,
        "version": "3.0",
        "data": {
            "geofencing_zones": {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": multipolygon(0.001),
                        "properties": {
                            "name": [
                                {"text": "人民广场", "language": "zh"},
                                {"text": "People's Square", "language": "en"},
                            ],
                            "start": "2026-03-01T00:00:00+08:00",
                            "end": "2026-12-31T00:00:00+08:00",
                            "rules": [
                                {
                                    "vehicle_type_ids": ["scooter"],
                                    "ride_start_allowed": False,
                                    "ride_end_allowed": False,
                                    "ride_through_allowed": False,
                                },
                                {
                                    "ride_start_allowed": True,
                                    "ride_end_allowed": False,
                                    "ride_through_allowed": True,
                                    "maximum_speed_kph": 10,
                                },
                            ],
                        },
                    },
                    {
                        "type": "Feature",
                        "id": "nanjing-road",
                        "geometry": polygon(0.001, dx=0.01),
                        "properties": {
                            "rules": [
                                {
                                    "ride_start_allowed": True,
                                    "ride_end_allowed": True,
                                    "ride_through_allowed": True,
                                    "maximum_speed_kph": 12,
                                }
                            ]
                        },
                    },
                    {
                        "type": "Feature",
                        "geometry": multipolygon(0.001, dy=0.01),
                        "properties": {
                            "rules": [
                                {
                                    "ride_start_allowed": True,
                                    "ride_end_allowed": True,
                                    "ride_through_allowed": True,
                                    "station_parking": True,
                                }
                            ]
                        },
                    },
                ],
            },
            "global_rules": [
                {
                    "vehicle_type_ids": ["bike"],
                    "ride_start_allowed": True,
                    "ride_end_allowed": True,
                    "ride_through_allowed": True,
                },
                {
                    "ride_start_allowed": False,
                    "ride_end_allowed": False,
                    "ride_through_allowed": True,
                    "maximum_speed_kph": 20,
                },
            ],
        },
    }


def test_gbfs_v3_rules_per_vehicle_type_become_zones_in_feature_order():
    zones, _ = parse_gbfs_geofencing(gbfs_v3())

    assert [(z.zone_id, z.zone_type, z.priority) for z in zones] == [
        ("gbfs-0-0", "no_ride", 0),
        ("gbfs-0-1", "no_parking", 1),
        ("nanjing-road", "slow", 100),
        ("gbfs-2", "rules", 200),  # station_parking: park at stations here, not a parking zone
    ]
    scooters_barred, others_no_parking = zones[0], zones[1]
    assert scooters_barred.vehicle_types == frozenset({"scooter"})
    assert scooters_barred.rules == ZoneRules(False, False, False, None, None)
    assert others_no_parking.vehicle_types is None
    assert others_no_parking.rules == ZoneRules(True, False, True, 10.0, None)
    assert zones[3].rules.station_parking is True
    assert scooters_barred.effective == dt.datetime(2026, 3, 1, tzinfo=CST)
    assert scooters_barred.retired == dt.datetime(2026, 12, 31, tzinfo=CST)
    assert scooters_barred.geometry.contains(Point(LNG, LAT))
    assert zones[2].geometry.geom_type == "Polygon"  # Polygon accepted where GBFS says Multi


def test_gbfs_v3_localized_name_and_global_rules():
    zones, global_rules = parse_gbfs_geofencing(gbfs_v3(), language="zh-CN")

    assert zones[0].name == "人民广场"
    assert parse_gbfs_geofencing(gbfs_v3())[0][0].name == "人民广场"  # the first translation
    assert parse_gbfs_geofencing(gbfs_v3(), language="en")[0][0].name == "People's Square"
    # the rule for every vehicle type is kept, not the first (bikes only)
    assert global_rules == GlobalRules(False, False, True, 20.0, False)


def test_gbfs_without_global_rules_uses_the_defaults():
    document = gbfs_v3()
    del document["data"]["global_rules"]
    assert parse_gbfs_geofencing(document)[1] == GlobalRules()


def test_gbfs_v23_ride_allowed_vehicle_type_id_and_posix_times():
    start = int(dt.datetime(2026, 3, 1, tzinfo=dt.UTC).timestamp())
    document = {
        "last_updated": start,
        "ttl": 0,
        "version": "2.3",
        "data": {
            "geofencing_zones": {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": multipolygon(0.001),
                        "properties": {
                            "name": "People's Square",
                            "start": start,
                            "rules": [
                                {
                                    "vehicle_type_id": ["bike", "scooter"],
                                    "ride_allowed": False,
                                    "ride_through_allowed": True,
                                    "station_parking": False,
                                }
                            ],
                        },
                    },
                    {
                        "type": "Feature",
                        "geometry": multipolygon(0.002, dx=0.01),
                        "properties": {
                            "rules": [
                                {
                                    "ride_allowed": True,
                                    "ride_through_allowed": True,
                                    "station_parking": True,
                                }
                            ]
                        },
                    },
                ],
            }
        },
    }

    zones, global_rules = parse_gbfs_geofencing(document)

    no_parking, stations_only = zones
    assert no_parking.zone_type == "no_parking"
    assert no_parking.rules == ZoneRules(False, False, True, None, False)
    assert no_parking.vehicle_types == frozenset({"bike", "scooter"})
    assert no_parking.name == "People's Square"
    assert no_parking.effective == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    assert stations_only.zone_type == "rules"
    assert stations_only.rules == ZoneRules(True, True, True, None, True)
    assert [z.priority for z in zones] == [0, 100]
    assert global_rules == GlobalRules()


def test_gbfs_v21_ride_allowed_without_station_parking():
    document = {
        "last_updated": 1772323200,
        "ttl": 60,
        "version": "2.1",
        "data": {
            "geofencing_zones": {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": multipolygon(0.001),
                        "properties": {
                            "rules": [
                                {"ride_allowed": False, "ride_through_allowed": False},
                                {"ride_allowed": True, "ride_through_allowed": True},
                            ]
                        },
                    }
                ],
            }
        },
    }

    zones, _ = parse_gbfs_geofencing(document)

    assert [(z.zone_type, z.rules) for z in zones] == [
        ("no_ride", ZoneRules(False, False, False, None, None)),
        ("rules", ZoneRules(True, True, True, None, None)),
    ]

    rule = document["data"]["geofencing_zones"]["features"][0]["properties"]["rules"][0]
    rule["station_parking"] = True
    errors = errors_of(parse_gbfs_geofencing, document)
    assert errors == {
        "data.geofencing_zones.features[0].properties.rules[0].station_parking": [
            "was added in GBFS 2.3"
        ]
    }


def test_gbfs_2x_feeds_with_3_0_style_rule_fields_are_read():
    rule = {
        "vehicle_type_ids": ["scooter"],
        "ride_start_allowed": True,
        "ride_end_allowed": False,
        "ride_through_allowed": True,
    }
    document = {
        "last_updated": 1772323200,
        "ttl": 60,
        "version": "2.3",
        "data": {
            "geofencing_zones": {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": multipolygon(0.001),
                        "properties": {"rules": [rule], "_operator_note": "extensions pass"},
                    }
                ],
            }
        },
    }

    (no_parking,) = parse_gbfs_geofencing(document)[0]

    assert no_parking.zone_type == "no_parking"
    assert no_parking.vehicle_types == frozenset({"scooter"})
    assert no_parking.rules == ZoneRules(True, False, True, None, None)

    rule["ride_allowed"] = True
    rule["vehicle_type_id"] = ["bike"]
    errors = errors_of(parse_gbfs_geofencing, document)
    path = "data.geofencing_zones.features[0].properties.rules[0]"
    assert set(errors) == {
        f"{path}.ride_start_allowed",
        f"{path}.ride_end_allowed",
        f"{path}.vehicle_type_ids",
    }


def test_gbfs_errors_name_the_feature_rule_and_field_all_at_once():
    document = gbfs_v3()
    features = document["data"]["geofencing_zones"]["features"]
    features[0]["properties"]["rules"][1]["maximum_speed_kph"] = -5
    del features[1]["properties"]["rules"][0]["ride_end_allowed"]
    features[2]["properties"]["rules"][0]["ride_allowed"] = True  # a 2.x field in a 3.0 feed
    features[2]["properties"]["start"] = 1772323200  # POSIX seconds in a 3.0 feed

    errors = errors_of(parse_gbfs_geofencing, document)

    base = "data.geofencing_zones.features"
    assert set(errors) == {
        f"{base}[0].properties.rules[1].maximum_speed_kph",
        f"{base}[1].properties.rules[0].ride_end_allowed",
        f"{base}[2].properties.rules[0].ride_allowed",
        f"{base}[2].properties.start",
    }
    assert errors[f"{base}[1].properties.rules[0].ride_end_allowed"] == ["is required"]
    assert "unknown property" in errors[f"{base}[2].properties.rules[0].ride_allowed"][0]


def test_gbfs_unknown_version_is_refused():
    document = gbfs_v3()
    document["version"] = "1.1"
    assert list(errors_of(parse_gbfs_geofencing, document)) == ["version"]


def test_gbfs_export_then_parse_gives_the_same_rules_order_and_geometry():
    zones, global_rules = parse_gbfs_geofencing(gbfs_v3(), language="en")

    published = export_gbfs_geofencing(zones, global_rules, last_updated=NOW)
    again, global_again = parse_gbfs_geofencing(published, language="en")

    assert published["version"] == "3.0"
    assert published["last_updated"] == "2026-03-01T08:00:00+08:00"
    assert [(z.zone_id, z.zone_type, z.rules, z.vehicle_types) for z in again] == [
        (z.zone_id, z.zone_type, z.rules, z.vehicle_types) for z in zones
    ]
    assert [z.priority for z in again] == sorted(z.priority for z in again)
    assert all(a.geometry.equals(b.geometry) for a, b in zip(again, zones, strict=True))
    assert [(z.name, z.effective, z.retired) for z in again] == [
        (z.name, z.effective, z.retired) for z in zones
    ]
    assert global_again == global_rules


def zone(zone_id: str, zone_type: str, half: float, **fields) -> Zone:
    rules = fields.pop("rules", ZoneRules())
    return Zone(
        zone_id=zone_id,
        zone_type=zone_type,
        geometry=Polygon(ring(half)),
        rules=with_type_defaults(zone_type, rules),
        priority=fields.pop("priority", DEFAULT_PRIORITY[zone_type]),
        **fields,
    )


def test_gbfs_export_lists_by_priority_and_fills_what_zones_leave_unset():
    zones = [
        zone("city", "service_area", 0.05),
        zone("bund-slow", "slow", 0.01, rules=ZoneRules(maximum_speed_kph=15)),
        zone("square-no-parking", "no_parking", 0.002, vehicle_types=frozenset({"scooter"})),
        zone("corral", "parking", 0.0005, parking_category="corral"),
    ]
    strict_outside = GlobalRules(ride_start_allowed=False, ride_end_allowed=False)

    published = export_gbfs_geofencing(zones, strict_outside, last_updated=NOW)

    features = published["data"]["geofencing_zones"]["features"]
    assert [f["id"] for f in features] == ["corral", "square-no-parking", "bund-slow", "city"]
    rules = {f["id"]: f["properties"]["rules"] for f in features}
    assert rules["corral"] == [
        {
            "ride_start_allowed": True,
            "ride_end_allowed": True,
            "ride_through_allowed": True,
            "maximum_speed_kph": 15,  # inside the slow zone
            "station_parking": False,
        }
    ]
    assert rules["square-no-parking"] == [
        {
            "vehicle_type_ids": ["scooter"],
            "ride_start_allowed": True,
            "ride_end_allowed": False,
            "ride_through_allowed": True,
            "maximum_speed_kph": 15,
        }
    ]
    assert rules["city"] == [
        {"ride_start_allowed": True, "ride_end_allowed": True, "ride_through_allowed": True}
    ]
    assert published["data"]["global_rules"] == [
        {
            "ride_start_allowed": False,
            "ride_end_allowed": False,
            "ride_through_allowed": True,
            "station_parking": False,
        }
    ]
    assert all(f["geometry"]["type"] == "MultiPolygon" for f in features)


def test_gbfs_23_export_has_ride_allowed_posix_times_and_clockwise_rings():
    square = zone(
        "square",
        "no_parking",
        0.002,
        name="People's Square",
        effective=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
    )

    published = export_gbfs_geofencing([square], GlobalRules(), version="2.3", last_updated=NOW)

    assert published["last_updated"] == int(NOW.timestamp())
    assert "global_rules" not in published["data"]
    feature = published["data"]["geofencing_zones"]["features"][0]
    assert feature["properties"]["name"] == "People's Square"
    assert feature["properties"]["start"] == 1772323200
    assert feature["properties"]["rules"] == [{"ride_allowed": False, "ride_through_allowed": True}]
    exterior = feature["geometry"]["coordinates"][0][0]
    assert not Polygon(exterior).exterior.is_ccw  # 2.x: clockwise means "the area inside"
    zones, _ = parse_gbfs_geofencing(published)
    assert zones[0].geometry.equals(square.geometry)
    assert zones[0].rules == ZoneRules(False, False, True, None, None)


def test_gbfs_export_writes_scheduled_zones_only_when_they_apply():
    weekends = zone("market", "no_ride", 0.001, schedule=Schedule(days=frozenset({6, 7})))
    always = zone("square", "no_parking", 0.002)
    saturday, monday = dt.datetime(2026, 3, 7, 10, 0), dt.datetime(2026, 3, 9, 10, 0)

    def ids(local_now):
        published = export_gbfs_geofencing(
            [weekends, always], GlobalRules(), last_updated=NOW, local_now=local_now
        )
        return [f["id"] for f in published["data"]["geofencing_zones"]["features"]]

    assert ids(saturday) == ["market", "square"]
    assert ids(monday) == ["square"]
    with pytest.raises(ValueError, match="market@1"):
        export_gbfs_geofencing([weekends, always], GlobalRules(), last_updated=NOW)


def test_gbfs_export_refuses_what_gbfs_cannot_say():
    with pytest.raises(ValueError, match="version"):
        export_gbfs_geofencing([], GlobalRules(), version="2.2", last_updated=NOW)
    with pytest.raises(ValueError, match="timezone"):
        export_gbfs_geofencing([], GlobalRules(), last_updated=dt.datetime(2026, 3, 1))
    two_versions = [zone("square", "no_ride", 0.001), zone("square", "no_ride", 0.002, version=2)]
    with pytest.raises(ValueError, match="one version per zone"):
        export_gbfs_geofencing(two_versions, GlobalRules(), last_updated=NOW)


# --- GeoJSON --------------------------------------------------------------------------------


def every_property_feature() -> dict:
    return {
        "type": "Feature",
        "geometry": polygon(0.001),
        "properties": {
            "zone_type": "parking",
            "zone_id": "peoples-square-corral",
            "version": 2,
            "name": "人民广场 corral",
            "priority": 50,
            "operators": ["hellobike", "meituan"],
            "vehicle_types": ["bike"],
            "days": ["mon", "tue", 3, 4, "Fri"],
            "start_time": "07:00",
            "end_time": "22:30",
            "effective": "2026-03-01T00:00:00+08:00",
            "retired": "2027-03-01T00:00:00+08:00",
            "maximum_speed_kph": 8,
            "parking_category": "corral",
            "ride_start_allowed": False,
            "ride_through_allowed": True,
            "station_parking": False,
            "replaces": "peoples-square-corral@1",
        },
    }


def test_geojson_feature_with_every_property():
    (corral,) = parse_geojson_zones(every_property_feature())

    assert corral == Zone(
        zone_id="peoples-square-corral",
        zone_type="parking",
        geometry=Polygon(ring(0.001)),
        version=2,
        name="人民广场 corral",
        rules=ZoneRules(
            ride_start_allowed=False,  # explicit, over the parking default
            ride_end_allowed=True,  # the parking default
            ride_through_allowed=True,
            maximum_speed_kph=8.0,
            station_parking=False,
        ),
        priority=50,
        operators=frozenset({"hellobike", "meituan"}),
        vehicle_types=frozenset({"bike"}),
        schedule=Schedule(
            days=frozenset({1, 2, 3, 4, 5}), start=dt.time(7, 0), end=dt.time(22, 30)
        ),
        effective=dt.datetime(2026, 3, 1, tzinfo=CST),
        retired=dt.datetime(2027, 3, 1, tzinfo=CST),
        parking_category="corral",
        replaces="peoples-square-corral@1",
    )


def test_geojson_defaults_and_a_stable_derived_id():
    document = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": polygon(0.002), "properties": {"zone_type": "parking"}},
            {
                "type": "Feature",
                "geometry": polygon(0.01),
                "properties": {"zone_type": "slow", "maximum_speed_kph": 15},
            },
        ],
    }

    parking, slow = parse_geojson_zones(document)

    assert parking.priority == 100 and slow.priority == 300
    assert parking.parking_category == "other_valid"
    assert parking.rules == ZoneRules(ride_start_allowed=True, ride_end_allowed=True)
    assert parking.zone_id.startswith("zone-") and parking.zone_id != slow.zone_id
    assert parse_geojson_zones(copy.deepcopy(document))[0].zone_id == parking.zone_id
    assert slow.schedule == Schedule() and slow.version == 1


def test_geojson_round_trip_through_export():
    gbfs_zones, _ = parse_gbfs_geofencing(gbfs_v3())
    (corral,) = parse_geojson_zones(every_property_feature())
    zones = [corral, *gbfs_zones]

    exported = export_geojson(zones)
    again = parse_geojson_zones(exported)

    assert again == zones
    assert exported["features"][0]["properties"]["days"] == [1, 2, 3, 4, 5]
    assert exported["features"][1]["properties"]["zone_type"] == "no_ride"


def test_geojson_errors_name_feature_and_property_all_at_once():
    bow_tie = [[121.472, 31.229], [121.475, 31.232], [121.475, 31.229], [121.472, 31.232]]
    document = {
        "type": "FeatureCollection",
        "features": [
            {  # 0: typo'd property
                "type": "Feature",
                "geometry": polygon(0.001),
                "properties": {"zone_type": "no_parking", "ride_end_alowed": False},
            },
            {  # 1: no zone_type
                "type": "Feature",
                "geometry": polygon(0.001),
                "properties": {"name": "somewhere"},
            },
            {  # 2: slow without a speed
                "type": "Feature",
                "geometry": polygon(0.001),
                "properties": {"zone_type": "slow"},
            },
            {  # 3: self-intersecting
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [[*bow_tie, bow_tie[0]]]},
                "properties": {"zone_type": "no_ride"},
            },
            {  # 4: latitude out of range (lat, lng swapped in one corner)
                "type": "Feature",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [[121.47, 31.23], [31.23, 121.48], [121.48, 31.24], [121.47, 31.23]]
                    ],
                },
                "properties": {"zone_type": "no_ride"},
            },
            {  # 5: bad time
                "type": "Feature",
                "geometry": polygon(0.001),
                "properties": {"zone_type": "no_ride", "start_time": "7:00", "end_time": "24:00"},
            },
            {  # 6: fine, and still not returned
                "type": "Feature",
                "geometry": polygon(0.001),
                "properties": {"zone_type": "no_ride"},
            },
        ],
    }

    errors = errors_of(parse_geojson_zones, document)

    assert set(errors) == {
        "features[0].properties.ride_end_alowed",
        "features[1].properties.zone_type",
        "features[2].properties.maximum_speed_kph",
        "features[3].geometry",
        "features[4].geometry.coordinates[0][1]",
        "features[5].properties.start_time",
        "features[5].properties.end_time",
    }
    assert errors["features[0].properties.ride_end_alowed"] == [
        "unknown property 'ride_end_alowed' (did you mean 'ride_end_allowed'?)"
    ]
    assert errors["features[1].properties.zone_type"][0].startswith("is required")
    assert errors["features[2].properties.maximum_speed_kph"] == ["is required for a slow zone"]
    assert "Self-intersection" in errors["features[3].geometry"][0]
    assert (
        "latitude 121.48 is outside -90..90" in errors["features[4].geometry.coordinates[0][1]"][0]
    )
    assert "HH:MM" in errors["features[5].properties.start_time"][0]


@pytest.mark.parametrize(
    ("properties", "path", "message"),
    [
        ({"zone_type": "rules"}, "properties.zone_type", "at least one rule"),
        ({"zone_type": "parking", "ride_end_allowed": False}, "properties.ride_end_allowed", ""),
        ({"zone_type": "no_ride", "parking_category": "rack"}, "properties.parking_category", ""),
        ({"zone_type": "slow", "maximum_speed_kph": 0}, "properties.maximum_speed_kph", "> 0"),
        ({"zone_type": "no_ride", "days": []}, "properties.days", "non-empty"),
        ({"zone_type": "no_ride", "days": [8]}, "properties.days[0]", "weekday"),
        ({"zone_type": "no_ride", "operators": "meituan"}, "properties.operators", "list"),
        ({"zone_type": "no_ride", "effective": "2026-03-01"}, "properties.effective", "offset"),
        ({"zone_type": "no_ride", "version": 2}, "properties.zone_id", "required"),
        ({"zone_type": "no_ride", "zone_id": "a b"}, "properties.zone_id", "no spaces"),
        ({"zone_type": "no_ride", "replaces": "x"}, "properties.replaces", "zone_id@version"),
        (
            {
                "zone_type": "no_ride",
                "effective": "2026-03-01T00:00:00+08:00",
                "retired": "2026-02-01T00:00:00+08:00",
            },
            "properties.retired",
            "after",
        ),
    ],
)
def test_geojson_refuses(properties, path, message):
    feature = {"type": "Feature", "geometry": polygon(0.001), "properties": properties}
    errors = errors_of(parse_geojson_zones, feature)
    assert list(errors) == [path]
    assert message in errors[path][0]


def test_geojson_refuses_duplicate_zone_versions_and_other_crs():
    feature = {
        "type": "Feature",
        "geometry": polygon(0.001),
        "properties": {"zone_type": "no_ride", "zone_id": "square"},
    }
    document = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "EPSG:3857"}},
        "features": [feature, feature],
    }
    errors = errors_of(parse_geojson_zones, document)
    assert set(errors) == {"crs", "features[1].properties.zone_id"}


# --- MDS ------------------------------------------------------------------------------------

OLD_ID = "c0591267-bb6a-4f28-a612-ff7f4a8f8b2a"
NEW_ID = "8917cf2d-a963-4ea2-a98b-7725050b3ec5"
CITY_ID = "3c9604d6-b5ee-11e8-96f8-529269fb1459"
PUBLISHED_MS = 1772294400000  # 2026-02-28T16:00:00Z


def geography(geography_id: str, geography_type: str | None, half: float, **fields) -> dict:
    document = {
        "geography_id": geography_id,
        "name": f"{geography_type} near People's Square",
        "geography_json": {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": {}, "geometry": polygon(half)}],
        },
        "published_date": PUBLISHED_MS,
        **fields,
    }
    if geography_type is not None:
        document["geography_type"] = geography_type
    return document


def test_mds_geographies_with_prev_geographies_set_replaces():
    document = {
        "version": "2.0.0",
        "updated": PUBLISHED_MS,
        "geographies": [
            geography(NEW_ID, "stop", 0.0005, prev_geographies=[OLD_ID]),
            geography(
                CITY_ID,
                "municipal_boundary",
                0.05,
                effective_date=PUBLISHED_MS + 86_400_000,
                retire_date=PUBLISHED_MS + 365 * 86_400_000,
            ),
            geography(OLD_ID, "no_parking", 0.001),
        ],
    }

    stop, city, no_parking = parse_mds_geography(document)

    assert (stop.zone_id, stop.zone_type, stop.version) == (NEW_ID, "parking", 1)
    assert stop.replaces == f"{OLD_ID}@1"
    assert stop.parking_category == "other_valid"
    assert stop.effective == dt.datetime(2026, 2, 28, 16, 0, tzinfo=dt.UTC)  # published
    assert stop.rules == ZoneRules(ride_start_allowed=True, ride_end_allowed=True)
    assert city.zone_type == "service_area" and city.priority == 1000 and city.replaces is None
    assert city.effective == dt.datetime(2026, 3, 1, 16, 0, tzinfo=dt.UTC)
    assert city.retired == dt.datetime(2027, 2, 28, 16, 0, tzinfo=dt.UTC)
    assert no_parking.rules.ride_end_allowed is False
    assert city.geometry.contains(Point(LNG, LAT))


def test_mds_single_geography_and_bare_geometry():
    single = geography(NEW_ID, "service_area", 0.01)
    single["geography_json"] = multipolygon(0.01)
    (zone_,) = parse_mds_geography({"version": "2.0.0", "geography": single})
    assert zone_.zone_type == "service_area"
    assert parse_mds_geography(single) == [zone_]


def test_mds_errors_name_the_geography_and_field():
    document = {
        "geographies": [
            geography(NEW_ID, "stop", 0.001, prev_geographies=[OLD_ID, CITY_ID]),
            geography(OLD_ID, None, 0.001, published_date=1772294400),  # seconds, not ms
            geography(CITY_ID, "council_district", 0.001),
            geography("not-a-uuid", "no_parking", 0.001, colour="red"),
        ]
    }

    errors = errors_of(parse_mds_geography, document)

    assert set(errors) == {
        "geographies[0].prev_geographies",
        "geographies[1].geography_type",
        "geographies[1].published_date",
        "geographies[2].geography_type",
        "geographies[3].geography_id",
        "geographies[3].colour",
    }
    assert "council_district" in errors["geographies[2].geography_type"][0]
    assert "seconds" in errors["geographies[1].published_date"][0]
