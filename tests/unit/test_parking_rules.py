"""The parking rules in ``geo/parking.py``, zone by zone, with no database."""

from __future__ import annotations

import dataclasses
import datetime as dt

import orjson
from shapely.geometry import box

from geo.index import ZoneIndex
from geo.parking import ParkingJudge
from geo.zones import GlobalRules, Schedule, Zone, ZoneRules, with_type_defaults

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
MONDAY_NOON = dt.datetime(2026, 11, 2, 12, 0, tzinfo=SHANGHAI)
SUNDAY_NOON = dt.datetime(2026, 11, 8, 12, 0, tzinfo=SHANGHAI)
POINT = {"lng": 121.4737, "lat": 31.2304}


def zone(zone_id, zone_type, **extra):
    shape = extra.pop("shape", box(121.4730, 31.2300, 121.4745, 31.2310))
    rules = with_type_defaults(zone_type, extra.pop("rules", ZoneRules()))
    return Zone(zone_id, zone_type, shape, rules=rules, **extra)


DEFAULT_RULES = GlobalRules()


def judge(zones, at=MONDAY_NOON, global_rules=DEFAULT_RULES, **query):
    verdict = ParkingJudge(ZoneIndex(zones), global_rules).judge(
        **{**POINT, **query}, at=at.astimezone(dt.UTC), local=at
    )
    return verdict.allowed, verdict.reason


def test_no_zones_means_the_global_rules():
    assert judge([]) == (True, "global_rules")
    assert judge([], global_rules=GlobalRules(ride_end_allowed=False)) == (False, "global_rules")


def test_a_weekday_no_parking_zone_is_lifted_at_the_weekend():
    weekdays = zone("market", "no_parking", schedule=Schedule(days=frozenset(range(1, 6))))
    assert judge([weekdays]) == (False, "no_parking_zone")
    assert judge([weekdays], at=SUNDAY_NOON) == (True, "global_rules")


def test_a_night_zone_wraps_past_midnight():
    night = zone("night", "no_parking", schedule=Schedule(start=dt.time(22), end=dt.time(6)))
    assert judge([night]) == (True, "global_rules")
    late = MONDAY_NOON.replace(hour=23)
    early = MONDAY_NOON.replace(hour=5)
    assert judge([night], at=late) == (False, "no_parking_zone")
    assert judge([night], at=early) == (False, "no_parking_zone")


def test_zones_for_other_operators_or_vehicle_types_do_not_apply():
    only_b = zone("b-only", "no_parking", operators=frozenset({"op_b"}))
    scooters = zone("scooters", "no_parking", vehicle_types=frozenset({"scooter"}))
    assert judge([only_b], operator="op_a") == (True, "global_rules")
    assert judge([only_b], operator="op_b") == (False, "no_parking_zone")
    assert judge([scooters], vehicle_type="bike") == (True, "global_rules")
    assert judge([scooters], vehicle_type="scooter") == (False, "no_parking_zone")


def test_effective_and_retired_dates():
    later = zone("later", "no_parking", effective=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    gone = zone("gone", "no_parking", retired=dt.datetime(2026, 10, 1, tzinfo=dt.UTC))
    assert judge([later, gone]) == (True, "global_rules")


def test_station_parking_requires_a_designated_spot():
    district = zone(
        "district",
        "rules",
        rules=ZoneRules(station_parking=True),
        shape=box(121.46, 31.22, 121.48, 31.24),
    )
    corral = zone("corral", "parking", priority=100, parking_category="rack")
    assert judge([district, corral]) == (True, "in_parking_zone")
    assert judge([district]) == (False, "outside_designated_parking")


def test_precedence_decides_between_overlapping_zones():
    allow = zone("allow", "rules", rules=ZoneRules(ride_end_allowed=True), priority=1)
    forbid = zone("forbid", "no_parking", priority=2)
    assert judge([allow, forbid]) == (True, "zone_rules")
    assert judge([dataclasses.replace(allow, priority=3), forbid]) == (False, "no_parking_zone")


def test_outside_the_service_area():
    area = zone("area", "service_area", shape=box(121.0, 31.0, 121.1, 31.1))
    assert judge([area]) == (False, "outside_service_area")


def test_a_trip_end_is_outside_only_the_service_areas_in_force_for_it():
    """``geo.trips.outside_service_area``: an area in force for everyone settles it at once;
    an area with conditions counts only where they hold; where no area applies to the trip,
    no point is outside one."""
    from geo.trips import outside_service_area

    here, away = (POINT["lng"], POINT["lat"]), (121.05, 31.05)
    everyone = zone("everyone", "service_area")
    only_b = zone("b-area", "service_area", operators=frozenset({"op_b"}))
    elsewhere = zone("elsewhere", "service_area", shape=box(121.0, 31.0, 121.1, 31.1))
    for_a = [lambda z: z.applies_to(operator="op_a")] * 2
    for_b = [lambda z: z.applies_to(operator="op_b")] * 2

    def outside(zones, applies):
        index = ZoneIndex(zones)
        return outside_service_area(index, [index.zones_at(*p) for p in (here, away)], applies)

    assert outside([everyone, elsewhere], for_a) == [False, False]
    assert outside([everyone], for_a) == [False, True]
    assert outside([only_b, elsewhere], for_a) == [True, False]
    assert outside([only_b, elsewhere], for_b) == [False, False]
    assert outside([only_b], for_a) == [False, False]
    assert outside([only_b], for_b) == [False, True]


def test_a_stored_verdict_reads_back_as_it_was():
    from geo.parking import ParkingVerdict

    verdict = ParkingVerdict(False, "no_parking_zone", "plaza", "no_parking", "invalid",
                             ("corral-1", 12.5))  # fmt: skip
    stored = {**verdict.as_dict(), "consequence": {"kind": "reminder"}}
    assert ParkingVerdict.from_dict(stored) == verdict
    allowed = ParkingVerdict(True, "global_rules", None, None, "other_valid", None)
    assert ParkingVerdict.from_dict(allowed.as_dict()) == allowed


def test_one_judge_remembers_decisions_without_mixing_moments_operators_or_points():
    """A judge reuses its decision for the same zones; the moment, the operator and the point
    must still make their own difference."""
    night_area = zone(
        "night-area", "service_area", shape=box(121.40, 31.20, 121.41, 31.21),
        schedule=Schedule(start=dt.time(22), end=dt.time(6)),
    )  # fmt: skip
    only_b = zone("b-only", "no_parking", operators=frozenset({"op_b"}))
    corral = zone("corral", "parking", shape=box(121.4750, 31.2300, 121.4755, 31.2305))
    shared = ParkingJudge(ZoneIndex([night_area, only_b, corral]), DEFAULT_RULES)

    def ask(at=MONDAY_NOON, lng=POINT["lng"], **query):
        return shared.judge(lng=lng, lat=31.2302, at=at.astimezone(dt.UTC), local=at, **query)

    assert ask(operator="op_a").reason == "global_rules"
    assert ask(at=MONDAY_NOON.replace(hour=23), operator="op_a").reason == "outside_service_area"
    near, far = ask(lng=121.4744, operator="op_b"), ask(lng=121.4731, operator="op_b")
    assert (near.reason, far.reason) == ("no_parking_zone", "no_parking_zone")
    assert near.nearest_allowed[0] == far.nearest_allowed[0] == "corral"
    assert 50 < near.nearest_allowed[1] < 60 and 175 < far.nearest_allowed[1] < 185
    assert orjson.loads(far.json) == far.as_dict()
