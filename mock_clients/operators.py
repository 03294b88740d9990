"""Simulated mobility operators: they turn legs into trip payloads, spoil a few the way real
feeds go wrong, and post them in batches like a real client (retries, Idempotency-Key).

Every payload remembers what the service should answer (``expect``): ``credited``, a reason
code, a failure code, or ``duplicate``. The demo's report compares answers with expectations.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from mock_clients.city import City, Place
from mock_clients.http import Api
from mock_clients.population import Rider
from mock_clients.travel import SPEED_KMH, Leg

LOST_ANSWER_SHARE = 0.03  # a batch whose answer "got lost": sent again with the same key
FAILURES = ("invalid_trip", "unsupported_vehicle")  # refused unread, so in ``failures``


@dataclasses.dataclass(frozen=True)
class OperatorProfile:
    key: str  # also the prefix of the operator's rider refs and trip ids
    name: str
    modes: tuple[str, ...]
    scenarios: tuple[str, ...]  # what riders authorise for this operator
    mds: bool = False
    batch_size: int = 500
    faults: dict[str, float] = dataclasses.field(default_factory=dict)  # fault -> share of trips


PROFILES = (
    OperatorProfile("hellobike", "Demo bike share", ("bike",), ("bike",), faults={
        "no_ride_zone": 0.01, "invalid_trip": 0.005, "duplicate": 0.01, "too_short": 0.005}),
    OperatorProfile("meituan-ebike", "Demo e-bike share (MDS)", ("ebike",), ("ebike",), mds=True,
                    faults={"outside_service_area": 0.005, "invalid_trip": 0.003,
                            "unsupported_vehicle": 0.003, "duplicate": 0.01}),
    OperatorProfile("shmetro", "Demo metro", ("metro",), ("metro",),
                    faults={"unknown_station": 0.003, "duplicate": 0.005}),
    OperatorProfile("shbus", "Demo bus", ("bus",), ("bus",),
                    faults={"missing_line": 0.005, "duplicate": 0.005}),
)  # fmt: skip


@dataclasses.dataclass
class Sent:
    """One item an operator posted and what it should become."""

    trip_id: str
    rider: Rider | None
    mode: str
    expect: str
    body: dict[str, Any]
    answer: dict[str, Any] | None = None  # the result or failure the service gave


class Operator:
    """One operator: its profile, its API client, and the trips it has sent so far."""

    def __init__(self, profile: OperatorProfile, operator_id: str, api: Api, city: City) -> None:
        self.profile = profile
        self.operator_id = operator_id
        self.api = api
        self.city = city
        self.sent: list[Sent] = []
        self.replays = 0
        self.fleet: dict[str, Place] = {}  # vehicle -> where its last trip left it
        self._serial = 0

    def payloads(self, legs: Iterable[Leg], day: dt.date, rng: random.Random) -> list[Sent]:
        """The day's legs as this operator's payloads, a few of them spoiled, plus repeats."""
        items: list[Sent] = []
        repeats: list[Sent] = []
        for leg in legs:
            if leg.vehicle_id is not None:
                self.fleet[leg.vehicle_id] = leg.end
            item = self._item(leg, day)
            if leg.rider.consent_day is None:
                item.expect = "no_consent"
            elif leg.parked_badly:
                item.expect = "no_parking_zone"
            items.append(item)
            for fault, share in self.profile.faults.items():
                if rng.random() >= share:
                    continue
                if fault == "duplicate":
                    repeats.append(Sent(item.trip_id, item.rider, item.mode, fault, item.body))
                elif fault == "no_ride_zone":
                    if item.expect == "credited":  # the bike came through the pedestrian street
                        crossing = [p.as_json() for p in self.city.no_ride_crossing]
                        item.body["route"] = [leg.start.as_json(), *crossing, leg.end.as_json()]
                        item.expect = fault
                else:
                    items.append(self._spoiled(fault, leg, day))
        return items + repeats

    def post(self, items: list[Sent], rng: random.Random, pace: Callable[[int], None]) -> None:
        """Send ``items`` in batches, each with an Idempotency-Key; keep every answer."""
        path = "/v1/mds/trips" if self.profile.mds else "/v1/trips"
        size = self.profile.batch_size
        for start in range(0, len(items), size):
            batch = items[start : start + size]
            pace(len(batch))
            key = str(uuid.UUID(int=rng.getrandbits(128)))
            body = {"trips": [item.body for item in batch]}
            answer = self.api.post(path, body, headers={"Idempotency-Key": key})
            if rng.random() < LOST_ANSWER_SHARE:
                again = self.api.call("POST", path, json=body, headers={"Idempotency-Key": key})
                self.replays += again.headers.get("Idempotent-Replayed") == "true"
                answer = again.json()
            failed = {failure["index"]: failure for failure in answer["failures"]}
            readable = [item for i, item in enumerate(batch) if i not in failed]
            for item, result in zip(readable, answer["results"], strict=True):
                item.answer = result
            for index, failure in failed.items():
                batch[index].answer = failure
            self.sent.extend(batch)

    def vehicle_status(self, now: dt.datetime) -> dict[str, Any]:
        """The operator's GBFS 3.0 ``vehicle_status.json``: every vehicle where its last trip
        left it, reporting from there now (parked vehicles keep sending their position)."""
        vehicles = []
        for vehicle_id, place in sorted(self.fleet.items()):
            vehicle = {
                "vehicle_id": vehicle_id, "lat": round(place.lat, 6), "lon": round(place.lng, 6),
                "is_reserved": False, "is_disabled": False,
                "vehicle_type_id": "ebike" if vehicle_id.startswith("E-") else "bike",
                "last_reported": now.isoformat(timespec="seconds"),
            }  # fmt: skip
            if vehicle["vehicle_type_id"] == "ebike":
                vehicle["current_range_meters"] = 25_000
            vehicles.append(vehicle)
        return {"last_updated": now.isoformat(timespec="seconds"), "ttl": 60, "version": "3.0",
                "data": {"vehicles": vehicles}}  # fmt: skip

    def post_fleet(self, now: dt.datetime) -> dict[str, Any] | None:
        """Send the fleet snapshot to the service, as an operator does every few minutes."""
        if not self.fleet:
            return None
        return self.api.post("/v1/vehicles/status", self.vehicle_status(now))

    def publish_gbfs(self, folder: Path, now: dt.datetime) -> list[Path]:
        """The operator's public GBFS 3.0 feed: ``vehicle_status.json`` and
        ``geofencing_zones.json`` (the city's zones in force)."""
        if not self.fleet:
            return []
        folder.mkdir(parents=True, exist_ok=True)
        feeds = {
            "vehicle_status.json": self.vehicle_status(now),
            "geofencing_zones.json": self.api.get("/v1/fences/gbfs", params={"version": "3.0"}),
        }
        written = []
        for name, document in feeds.items():
            path = folder / name
            path.write_text(json.dumps(document), encoding="utf-8")
            written.append(path)
        return written

    # -- payloads -------------------------------------------------------------------------

    def _trip_id(self, day: dt.date) -> str:
        self._serial += 1
        return f"{self.profile.key}-{day:%Y%m%d}-{self._serial:07d}"

    def _item(self, leg: Leg, day: dt.date, expect: str = "credited") -> Sent:
        trip_id = self._trip_id(day)
        ref = leg.rider.ref_at(self.profile.key)
        if self.profile.mds:
            body = _mds_trip(trip_id, ref, self.operator_id, leg)
        else:
            body = _trip(trip_id, ref, leg)
        return Sent(trip_id, leg.rider, leg.mode, expect, body)

    def _spoiled(self, fault: str, leg: Leg, day: dt.date) -> Sent:
        """An extra, faulty trip beside a real leg, the way real feeds go wrong."""
        extra = self._item(leg, day, fault)
        body = extra.body
        if fault == "too_short":  # a bike unlocked and locked again at once
            end = leg.end_time + dt.timedelta(minutes=2)
            body.update(start_time=_iso(end - dt.timedelta(seconds=40)), end_time=_iso(end),
                        start=leg.end.as_json(), end=leg.end.as_json(), distance_m=30)  # fmt: skip
        elif fault == "outside_service_area":  # an e-bike ridden out of the district
            _send_beyond(body, leg, self.city.outside_point())
        elif fault == "invalid_trip":
            key = "start_location" if self.profile.mds else "start"
            body[key] = {"lat": "north", "lng": body[key]["lng"]}
        elif fault == "unsupported_vehicle":
            body["vehicle_type"] = "scooter_standing"
        elif fault == "unknown_station":
            body["exit_station"] = "no_such_station"
        elif fault == "missing_line":
            del body["line_id"]
        else:
            raise ValueError(f"unknown fault {fault}")
        if leg.rider.consent_day is None and fault not in FAILURES:
            extra.expect = "no_consent"
        return extra


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _trip(trip_id: str, ref: str, leg: Leg) -> dict[str, Any]:
    body: dict[str, Any] = {
        "trip_id": trip_id, "mode": leg.mode, "rider_ref": ref,
        "start_time": _iso(leg.start_time), "end_time": _iso(leg.end_time),
        "start": leg.start.as_json(), "end": leg.end.as_json(),
    }  # fmt: skip
    if leg.mode in ("bike", "ebike"):
        body.update(vehicle_id=leg.vehicle_id, distance_m=leg.distance_m, accuracy_m=8)
    elif leg.mode == "metro":
        body.update(entry_station=leg.entry_station, exit_station=leg.exit_station)
    else:
        body["line_id"] = leg.line_id
    return body


def _mds_trip(trip_id: str, ref: str, provider_id: str, leg: Leg) -> dict[str, Any]:
    start_ms = round(leg.start_time.timestamp() * 1000)
    end_ms = round(leg.end_time.timestamp() * 1000)
    return {
        "provider_id": provider_id, "device_id": leg.vehicle_id, "trip_id": trip_id,
        "vehicle_type": "bicycle", "propulsion_types": ["electric_assist"],
        "start_time": start_ms, "end_time": end_ms,
        "start_location": leg.start.as_json(), "end_location": leg.end.as_json(),
        "distance": leg.distance_m, "duration": end_ms - start_ms, "rider_ref": ref,
        "accuracy": 8,
    }  # fmt: skip


def _send_beyond(body: dict[str, Any], leg: Leg, beyond: Place) -> None:
    """Rewrite an MDS trip so that it ends at ``beyond``, at a plausible e-bike speed."""
    road_m = round(leg.end.metres_to(beyond) * 1.3)
    start = leg.end_time + dt.timedelta(minutes=5)
    end = start + dt.timedelta(hours=road_m / 1000 / SPEED_KMH["ebike"])
    body.update(start_time=round(start.timestamp() * 1000), end_time=round(end.timestamp() * 1000),
                start_location=leg.end.as_json(), end_location=beyond.as_json(),
                distance=road_m, duration=round((end - start).total_seconds() * 1000))  # fmt: skip
