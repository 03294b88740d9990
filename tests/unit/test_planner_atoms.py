"""Planner atoms on their own: which atom a trip lands in, rider bitmaps, and the rule that
decides which flow atoms of a start atom may be shown."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import h3

from service.planner.atoms import (
    RIDER_BITS,
    WEEKDAY,
    WEEKEND,
    rider_bit,
    riders_at_least,
    riders_estimate,
    riders_published,
    trip_atoms,
)
from service.planner.queries import _publishable

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = h3.latlng_to_cell(31.2304, 121.4737, 10)
END = h3.latlng_to_cell(31.2414, 121.4737, 10)


def _trip(account, started, **extra):
    return {"status": "credited", "account_id": account, "mode": "bike", "started_at": started,
            "ended_at": started + dt.timedelta(minutes=9), "start_cell": START, "end_cell": END,
            "co2_g": 157, "distance_m": 1600, "parking": {"allowed": True}, **extra}  # fmt: skip


def test_a_trip_lands_in_the_local_hour_and_day_type_of_its_start():
    # 23:30 UTC on a Friday is 07:30 on Saturday in Shanghai.
    friday_night = dt.datetime(2026, 11, 20, 23, 30, tzinfo=dt.UTC)
    cells, flows = trip_atoms([_trip("a1", friday_night)], SHANGHAI)
    (((cell, month, mode, hour, day_type), totals),) = cells.items()
    assert (cell, month, mode, hour, day_type) == (h3.cell_to_parent(START, 9), "2026-11",
                                                   "bike", 7, WEEKEND)  # fmt: skip
    assert (totals.starts, totals.co2_g, totals.distance_m) == (1, 157, 1600)
    (((*start_key, destination), flow),) = flows.items()
    assert tuple(start_key) == (cell, month, mode, hour, day_type)
    assert destination == h3.cell_to_parent(END, 8)
    assert (flow.trips, flow.parking_judged, flow.parking_valid) == (1, 1, 1)


def test_only_credited_trips_with_a_start_and_a_rider_count():
    monday = dt.datetime(2026, 11, 16, 0, 10, tzinfo=dt.UTC)
    trips = [_trip("a1", monday), _trip("a2", monday, status="rejected"),
             _trip(None, monday), _trip("a3", monday, start_cell=None),
             _trip("a4", monday, end_cell=None, parking=None)]  # fmt: skip
    cells, flows = trip_atoms(trips, SHANGHAI)
    assert sum(t.starts for t in cells.values()) == 2
    assert {key[-1] for key in flows} == {h3.cell_to_parent(END, 8), ""}
    assert all(key[4] == WEEKDAY for key in cells)


def test_rider_bitmaps_never_count_more_riders_than_there_are():
    bits = 0
    for n in range(300):
        bits |= rider_bit(f"account-{n}")
    assert riders_at_least(bits) <= 300
    assert abs(riders_estimate(bits) - 300) < 300 * 0.1  # linear counting: sigma about 7 here
    assert rider_bit("account-7") == rider_bit("account-7")
    assert 0 < rider_bit("x") < 1 << RIDER_BITS
    assert riders_published(bits) % 10 == 0


def _flow(destination, riders, first=0):
    bits = 0
    for n in range(first, first + riders):
        bits |= 1 << n
    return {"destination": destination, "riders": bits, "riders_at_least": riders}


def test_a_flow_is_shown_only_when_what_stays_hidden_is_empty_or_big_enough():
    q, z, w = _flow("q", 20), _flow("z", 12, 20), _flow("w", 2, 32)
    assert _publishable([q, z], 10) == [q, z]
    # w alone would be the hidden remainder (2 riders): z is hidden with it (14 together).
    assert _publishable([q, z, w], 10) == [q]
    # Nothing may be shown when even the biggest leaves a small remainder.
    assert _publishable([_flow("q", 12), _flow("w", 3, 12)], 10) == []
    # A flow to an unknown destination is never shown, and counts in the remainder.
    assert _publishable([q, _flow("", 11, 20)], 10) == [q]
    assert _publishable([q, _flow("", 2, 20)], 10) == []
