"""A rider's day as legs on the city's bikes, e-bikes, metro and buses.

Weekdays have a morning and an evening peak; a commute may chain a bike to the metro and an
e-bike from the metro to the office. Weekends bring a leisure ride near home. Legs of one rider
never overlap and follow one another in place, as real trips do.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random

from mock_clients.city import BusLine, City, Place
from mock_clients.population import Rider

ROAD_FACTOR = 1.3  # road distance over the straight line
SPEED_KMH = {"bike": 13.0, "ebike": 18.0, "metro": 32.0, "bus": 15.0}
SHORTEST_RIDE_M = 400  # shorter than this, people walk
LAST_MILE_M = 700  # from the metro, farther than this, take an e-bike
BAD_PARKING_SHARE = 0.08  # bikes left at the station entrance instead of the corral
WEEKDAY_COMMUTE_SHARE = 0.85
WEEKEND_RIDE_SHARE = 0.35
FLEET_SIZE = {"bike": 4000, "ebike": 2500}


@dataclasses.dataclass
class Leg:
    rider: Rider
    mode: str
    start_time: dt.datetime
    end_time: dt.datetime
    start: Place
    end: Place
    distance_m: int | None = None
    entry_station: str | None = None
    exit_station: str | None = None
    line_id: str | None = None
    vehicle_id: str | None = None
    parked_badly: bool = False


def day_of(
    rider: Rider, city: City, day: dt.date, zone: dt.tzinfo, rng: random.Random
) -> list[Leg]:
    """The rider's legs on ``day`` (local dates and times in ``zone``)."""
    if day.isoweekday() <= 5:
        if rng.random() >= WEEKDAY_COMMUTE_SHARE:
            return []
        leave = _at(day, zone, rng.gauss(8.25, 0.6), 6.5, 10.0)
        morning = _journey(rider, city, rider.home, rider.work, leave, rng)
        home_time = _at(day, zone, rng.gauss(18.25, 0.7), 16.5, 21.0)
        if morning and morning[-1].end_time > home_time - dt.timedelta(hours=4):
            return morning
        return morning + _journey(rider, city, rider.work, rider.home, home_time, rng)
    if rng.random() >= WEEKEND_RIDE_SHARE:
        return []
    out = _at(day, zone, rng.uniform(9.5, 15.5), 9.0, 16.0)
    spot = rider.home.moved(rng.uniform(-1800, 1800), rng.uniform(-1800, 1800))
    if not city.on_open_ground(spot):
        return []
    there = _ride(rider, "bike", rider.home, spot, out, rng)
    back = there.end_time + dt.timedelta(minutes=rng.uniform(45, 150))
    return [there, _ride(rider, "bike", spot, rider.home, back, rng)]


def _at(day: dt.date, zone: dt.tzinfo, hour: float, lowest: float, highest: float) -> dt.datetime:
    hour = min(max(hour, lowest), highest)
    midnight = dt.datetime.combine(day, dt.time(), zone)
    return midnight + dt.timedelta(seconds=round(hour * 3600))


def _journey(
    rider: Rider, city: City, origin: Place, target: Place, leave: dt.datetime, rng: random.Random
) -> list[Leg]:
    if rider.style in ("cycle", "ebike"):
        mode = "bike" if rider.style == "cycle" else "ebike"
        return [_ride(rider, mode, origin, target, leave, rng)]
    if rider.style == "bus":
        boarding = _bus_ride(rider, city, origin, target, leave, rng)
        if boarding is not None:
            return [boarding]
        return [_ride(rider, "bike", origin, target, leave, rng)]
    return _bike_and_metro(rider, city, origin, target, leave, rng)


def _bike_and_metro(
    rider: Rider, city: City, origin: Place, target: Place, leave: dt.datetime, rng: random.Random
) -> list[Leg]:
    """Bike to the nearest station, metro to the one nearest the target, maybe an e-bike on."""
    entry, exit_ = city.nearest_station(origin), city.nearest_station(target)
    if entry.station_id == exit_.station_id:
        return [_ride(rider, "bike", origin, target, leave, rng)]
    legs: list[Leg] = []
    clock = leave
    if origin.metres_to(entry.place) >= SHORTEST_RIDE_M:
        badly = rng.random() < BAD_PARKING_SHARE
        bike = _ride(rider, "bike", origin, entry.place if badly else entry.corral, clock, rng)
        bike.parked_badly = badly
        legs.append(bike)
        clock = bike.end_time
    clock += dt.timedelta(minutes=rng.uniform(3, 6))
    metro_m = city.metro_metres(entry, exit_)
    minutes = metro_m / 1000 / SPEED_KMH["metro"] * 60 + rng.uniform(2, 4)
    metro = Leg(
        rider, "metro", clock, clock + dt.timedelta(minutes=minutes), entry.place, exit_.place,
        entry_station=entry.station_id, exit_station=exit_.station_id,
    )  # fmt: skip
    legs.append(metro)
    if exit_.place.metres_to(target) > LAST_MILE_M:
        walk_to_bike = metro.end_time + dt.timedelta(minutes=rng.uniform(2, 4))
        legs.append(_ride(rider, "ebike", exit_.corral, target, walk_to_bike, rng))
    return legs


def _bus_ride(
    rider: Rider, city: City, origin: Place, target: Place, leave: dt.datetime, rng: random.Random
) -> Leg | None:
    """A ride on the line whose stops come nearest both ends, if it is worth taking."""

    def fit(line: BusLine) -> tuple[float, int, int]:
        board = min(range(len(line.stops)), key=lambda i: origin.metres_to(line.stops[i]))
        alight = min(range(len(line.stops)), key=lambda i: target.metres_to(line.stops[i]))
        walk = origin.metres_to(line.stops[board]) + target.metres_to(line.stops[alight])
        return walk, board, alight

    line = min(city.bus_lines, key=lambda candidate: fit(candidate)[0])
    walk, board, alight = fit(line)
    if board == alight or walk > 2500:
        return None
    start, end = line.stops[board], line.stops[alight]
    clock = leave + dt.timedelta(minutes=rng.uniform(4, 10))
    minutes = start.metres_to(end) * ROAD_FACTOR / 1000 / SPEED_KMH["bus"] * 60 + rng.uniform(1, 3)
    return Leg(rider, "bus", clock, clock + dt.timedelta(minutes=minutes), start, end,
               line_id=line.line_id)  # fmt: skip


def _ride(
    rider: Rider, mode: str, origin: Place, target: Place, leave: dt.datetime, rng: random.Random
) -> Leg:
    road_m = max(origin.metres_to(target) * rng.uniform(1.15, 1.45), 250.0)
    minutes = max(road_m / 1000 / SPEED_KMH[mode] * 60 * rng.uniform(0.9, 1.2), 2.0)
    prefix = "B" if mode == "bike" else "E"
    return Leg(
        rider, mode, leave, leave + dt.timedelta(minutes=minutes), origin, target,
        distance_m=round(road_m), vehicle_id=f"{prefix}-{rng.randrange(FLEET_SIZE[mode]):05d}",
    )  # fmt: skip
