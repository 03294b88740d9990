"""The demo city's simulation on its own: riders' days are physically possible, consent habits
and faults come in the stated shares, and the pacer holds its rate."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from zoneinfo import ZoneInfo

import pytest
from shapely.geometry import Point

from mock_clients import city as cities
from mock_clients.operators import PROFILES, Operator
from mock_clients.population import populate
from mock_clients.simulation import Pacer
from mock_clients.travel import day_of

ZONE = ZoneInfo("Asia/Shanghai")
WEEKDAY, SATURDAY = dt.date(2026, 11, 16), dt.date(2026, 11, 21)


@pytest.fixture(scope="module")
def city():
    return cities.load()


@pytest.fixture(scope="module")
def riders(city):
    return populate(city, 600, 7, random.Random(3))


def test_every_rider_lives_and_works_on_open_ground(city, riders):
    for rider in riders:
        assert city.on_open_ground(rider.home) and city.on_open_ground(rider.work)


def test_a_riders_legs_never_overlap_and_follow_one_another_in_place(city, riders):
    rng = random.Random(5)
    legs_seen = 0
    for day in (WEEKDAY, SATURDAY):
        for rider in riders:
            legs = day_of(rider, city, day, ZONE, rng)
            legs_seen += len(legs)
            for leg in legs:
                assert leg.end_time - leg.start_time >= dt.timedelta(seconds=60)
                for end in (leg.start, leg.end):
                    assert city.service_area.contains(Point(end.lng, end.lat))
            for before, after in itertools.pairwise(legs):
                assert after.start_time > before.end_time
                walk_m = before.end.metres_to(after.start)
                minutes = (after.start_time - before.end_time).total_seconds() / 60
                assert walk_m / 1000 / (minutes / 60) < 150 or walk_m < 500  # no teleport
    assert legs_seen > 1000


def test_weekdays_have_a_morning_and_an_evening_peak(city, riders):
    rng = random.Random(6)
    hours = [leg.start_time.hour for r in riders for leg in day_of(r, city, WEEKDAY, ZONE, rng)]
    morning = sum(7 <= h <= 9 for h in hours)
    evening = sum(17 <= h <= 19 for h in hours)
    midday = sum(11 <= h <= 14 for h in hours)
    assert morning > 5 * max(midday, 1) and evening > 5 * max(midday, 1)


def test_bike_to_metro_chains_end_at_the_station_corral_unless_parked_badly(city, riders):
    rng = random.Random(8)
    chained = [r for r in riders if r.style == "bike_metro"]
    corrals = {s.corral for s in city.stations.values()}
    entrances = {s.place for s in city.stations.values()}
    checked = 0
    for rider in chained:
        legs = day_of(rider, city, WEEKDAY, ZONE, rng)
        for bike, metro in itertools.pairwise(legs):
            if bike.mode == "bike" and metro.mode == "metro":
                assert bike.end in (entrances if bike.parked_badly else corrals)
                checked += 1
    assert checked > 50


def test_about_one_rider_in_twenty_five_never_links_an_account(riders):
    never = sum(r.consent_day is None for r in riders) / len(riders)
    late = sum(r.consent_day not in (None, 0) for r in riders) / len(riders)
    assert 0.01 < never < 0.08
    assert 0.06 < late < 0.17
    assert all(r.consent_day is None or 0 <= r.consent_day <= 4 for r in riders)


def test_an_operator_spoils_trips_in_its_stated_shares(city, riders):
    bike_share = next(p for p in PROFILES if p.key == "hellobike")
    operator = Operator(bike_share, "op-1", api=None, city=city)
    rng = random.Random(9)
    legs = [
        leg
        for day in (WEEKDAY, WEEKDAY + dt.timedelta(days=1))
        for r in riders
        for leg in day_of(r, city, day, ZONE, rng)
        if leg.mode == "bike"
    ]
    items = operator.payloads(legs, WEEKDAY, rng)
    expected = {}
    for item in items:
        expected[item.expect] = expected.get(item.expect, 0) + 1
    assert expected["duplicate"] == pytest.approx(len(legs) * 0.01, rel=0.6)
    assert expected["too_short"] == pytest.approx(len(legs) * 0.005, rel=0.8)
    repeats = [i for i in items if i.expect == "duplicate"]
    originals = {i.trip_id: i.body for i in items if i.expect != "duplicate"}
    assert all(originals[r.trip_id] == r.body for r in repeats)
    assert len({i.trip_id for i in items}) == len(items) - len(repeats)


def test_the_pacer_spaces_batches_by_the_trips_before_them():
    now = [100.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    pace = Pacer(50.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        pace(100)  # 100 trips at 50 a second: 2 s each
    assert slept == [2.0, 2.0, 2.0]
    assert now[0] == 106.0
    Pacer(None, clock=lambda: now[0], sleep=sleep)(10_000)
    assert len(slept) == 3
