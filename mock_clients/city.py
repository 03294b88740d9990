"""The demo city, read from its data files (see ``city/README.md``)."""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import math
import random
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from methodologies.stations import StationNetwork

CITIES_DIR = Path(__file__).parent / "city"
EDGE_MARGIN_DEG = 0.004  # homes and workplaces keep about 400 m from the service area's edge
ZONE_MARGIN_DEG = 0.0006  # and about 60 m from every parking, no-parking and no-ride zone
METRES_PER_DEG_LAT = 111_320.0


@dataclasses.dataclass(frozen=True)
class Place:
    lat: float
    lng: float

    def as_json(self) -> dict[str, float]:
        return {"lat": round(self.lat, 6), "lng": round(self.lng, 6)}

    def metres_to(self, other: Place) -> float:
        """Great-circle distance (haversine, mean Earth radius)."""
        p1, p2 = math.radians(self.lat), math.radians(other.lat)
        dp, dl = p2 - p1, math.radians(other.lng - self.lng)
        h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
        return 2 * 6_371_008.8 * math.asin(math.sqrt(h))

    def moved(self, east_m: float, north_m: float) -> Place:
        scale = METRES_PER_DEG_LAT * math.cos(math.radians(self.lat))
        return Place(self.lat + north_m / METRES_PER_DEG_LAT, self.lng + east_m / scale)


@dataclasses.dataclass(frozen=True)
class Station:
    station_id: str
    name: str
    place: Place
    corral: Place  # the centre of the station's bike corral


@dataclasses.dataclass(frozen=True)
class BusLine:
    line_id: str
    name: str
    stops: tuple[Place, ...]


@dataclasses.dataclass(frozen=True)
class Area:
    name: str
    kind: str  # home or work
    centre: Place
    radius_m: float
    weight: float


@dataclasses.dataclass(frozen=True)
class City:
    key: str
    zones_document: dict[str, Any]
    service_area: BaseGeometry
    stations: dict[str, Station]
    bus_lines: tuple[BusLine, ...]
    areas: tuple[Area, ...]
    no_ride_crossing: tuple[Place, Place]  # a path across the no-ride zone

    @property
    def station_table(self) -> Path:
        return CITIES_DIR / self.key / "metro_stations.csv"

    @functools.cached_property
    def _open_ground(self) -> BaseGeometry:
        """Where a ride may end with no zone but the service area having a say."""
        zones = [
            shape(f["geometry"]).buffer(ZONE_MARGIN_DEG)
            for f in self.zones_document["features"]
            if f["properties"]["zone_type"] != "service_area"
        ]
        return self.service_area.buffer(-EDGE_MARGIN_DEG).difference(shapely.union_all(zones))

    def on_open_ground(self, place: Place) -> bool:
        """Well inside the service area and clear of every other zone."""
        return self._open_ground.contains(Point(place.lng, place.lat))

    def somewhere_in(self, area: Area, rng: random.Random) -> Place:
        """A point of the area on open ground (bounded rejection sampling)."""
        for _ in range(1000):
            distance = area.radius_m * math.sqrt(rng.random())
            bearing = rng.uniform(0, 2 * math.pi)
            place = area.centre.moved(distance * math.cos(bearing), distance * math.sin(bearing))
            if self.on_open_ground(place):
                return place
        raise ValueError(f"area {area.name} lies outside the service area")

    def nearest_station(self, place: Place) -> Station:
        return min(self.stations.values(), key=lambda s: place.metres_to(s.place))

    @functools.cached_property
    def _metro(self) -> StationNetwork:
        return StationNetwork.from_csv(self.station_table)

    def metro_metres(self, entry: Station, exit_: Station) -> int:
        """Track metres between two stations, by the station table the service reads too (a
        ride across a transfer runs much farther than the straight line)."""
        return self._metro.path(entry.station_id, exit_.station_id).distance_m

    def outside_point(self) -> Place:
        """A point just beyond the service area's eastern edge (across the river in Pudong)."""
        _, _, max_lng, max_lat = self.service_area.bounds
        return Place(max_lat - 0.02, max_lng + 0.01)


def load(key: str = "shanghai") -> City:
    folder = CITIES_DIR / key
    document = json.loads((folder / "zones.geojson").read_text(encoding="utf-8"))
    by_id = {f["properties"]["zone_id"]: f for f in document["features"]}
    service_area = shape(
        next(f for f in document["features"] if f["properties"]["zone_type"] == "service_area")[
            "geometry"
        ]
    )
    stations: dict[str, Station] = {}
    with (folder / "metro_stations.csv").open(encoding="utf-8", newline="") as rows:
        for row in csv.DictReader(rows):
            if row["station_id"] in stations:
                continue
            corral = shape(by_id[f"corral-{row['station_id']}"]["geometry"]).centroid
            stations[row["station_id"]] = Station(
                row["station_id"], row["name"], Place(float(row["lat"]), float(row["lng"])),
                Place(corral.y, corral.x),
            )  # fmt: skip
    stops: dict[str, list[tuple[int, Place]]] = {}
    names: dict[str, str] = {}
    with (folder / "bus_lines.csv").open(encoding="utf-8", newline="") as rows:
        for row in csv.DictReader(rows):
            names[row["line_id"]] = row["name"]
            place = Place(float(row["lat"]), float(row["lng"]))
            stops.setdefault(row["line_id"], []).append((int(row["seq"]), place))
    bus_lines = tuple(
        BusLine(line_id, names[line_id], tuple(p for _, p in sorted(seq)))
        for line_id, seq in sorted(stops.items())
    )
    with (folder / "areas.csv").open(encoding="utf-8", newline="") as rows:
        areas = tuple(
            Area(r["name"], r["kind"], Place(float(r["lat"]), float(r["lng"])),
                 float(r["radius_m"]), float(r["weight"]))
            for r in csv.DictReader(rows)
        )  # fmt: skip
    no_ride = shape(by_id["nr-nanjing-road-pedestrian"]["geometry"])
    west, south, east, north = no_ride.bounds
    middle = (south + north) / 2
    crossing = (Place(middle, west - 0.003), Place(middle, east + 0.003))
    return City(
        key=key,
        zones_document=document,
        service_area=service_area,
        stations=stations,
        bus_lines=bus_lines,
        areas=areas,
        no_ride_crossing=crossing,
    )
