"""May a vehicle be parked here? One decision, explainable, for the API and for trip ends.

The rules, in order (the first that speaks decides):

1. Inside a service area is required where the operator has any: outside them parking is
   refused (``outside_service_area``).
2. The zones containing the point, by precedence (lowest ``priority`` first, as GBFS lists
   them), that apply to this operator, vehicle type and moment: the first whose rules say
   anything about ``ride_end_allowed`` decides. A parking zone allows (``in_parking_zone``,
   with its MDS parking category); a zone that forbids parking refuses (``no_parking_zone``);
   a zone that allows it allows (``zone_rules``).
3. A zone on the way there requiring ``station_parking`` (or the global rules requiring it)
   refuses parking outside designated parking zones (``outside_designated_parking``).
4. If no zone said anything, the global rules decide (``global_rules``).

GPS accuracy gives the rider the benefit of the doubt, and only that: when the exact position
would be refused, a parking zone within ``accuracy_m`` of the point counts as containing it,
and a no-parking zone whose boundary is within ``accuracy_m`` of the point does not count
against it. A point deep inside a no-parking zone is refused whatever the accuracy, and an
allowed position is never looked at again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
import shapely
from shapely.geometry import Point

from geo.coords import to_local_metres
from geo.index import ZoneIndex
from geo.zones import GlobalRules, Zone

ORIGIN = Point(0.0, 0.0)
NEAREST_SEARCH_M = 2_000
MAX_ACCURACY_M = 100
DECISIONS_KEPT = 4_096  # distinct sets of zones a judge remembers its decision for


@dataclasses.dataclass(frozen=True)
class ParkingVerdict:
    allowed: bool
    reason: str
    zone_id: str | None
    zone_type: str | None
    parking_category: str  # MDS: corral, rack, curb, other_valid, invalid
    nearest_allowed: tuple[str, float] | None  # (zone_id, metres) of the nearest parking zone

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> ParkingVerdict:
        """The verdict ``as_dict`` wrote (extra keys, such as a consequence, are ignored)."""
        nearest = stored.get("nearest_allowed")
        return cls(
            stored["allowed"],
            stored["reason"],
            stored.get("zone_id"),
            stored.get("zone_type"),
            stored["parking_category"],
            (nearest["zone_id"], nearest["distance_m"]) if nearest else None,
        )

    def as_dict(self) -> dict:
        nearest = (
            {"zone_id": self.nearest_allowed[0], "distance_m": round(self.nearest_allowed[1], 1)}
            if self.nearest_allowed
            else None
        )
        return {
            "allowed": self.allowed,
            "reason": self.reason,
            "zone_id": self.zone_id,
            "zone_type": self.zone_type,
            "parking_category": self.parking_category,
            "nearest_allowed": nearest,
        }

    @functools.cached_property
    def json(self) -> bytes:
        """``as_dict`` as JSON, made once per verdict: a judge hands out the same verdict
        object for every point whose decision was remembered."""
        return orjson.dumps(self.as_dict())


class ParkingJudge:
    """Parking verdicts over one set of zones (rebuilt whenever the zones change)."""

    def __init__(self, index: ZoneIndex, global_rules: GlobalRules) -> None:
        self.index = index
        self.global_rules = global_rules
        # Zones in force for everyone at every moment need no per-question check.
        self._conditional = frozenset(
            i for i, zone in enumerate(index.zones) if not zone.always_applies
        )
        self._service_area_always = bool(index.service_areas_always)
        # A decision depends only on the zones the point counts as inside and on whether any
        # service area is in force: a city has few such combinations, and the API asks often.
        self._decisions: dict[tuple[tuple[int, ...], bool], ParkingVerdict] = {}

    def judge(
        self,
        *,
        lng: float,
        lat: float,
        at: dt.datetime,
        local: dt.datetime,
        operator: str | None = None,
        vehicle_type: str | None = None,
        accuracy_m: float = 0.0,
        containing: Sequence[int] | None = None,
    ) -> ParkingVerdict:
        """The parking verdict for one point (see the module docstring for the rules).

        The accuracy circle is looked at only when the exact position would be refused: it
        can only ever turn a refusal into an allowance. ``containing`` may give the zones
        containing the point, as ``ZoneIndex.zones_at`` orders them, when a batch lookup found
        them already.
        """
        zones = self.index.zones

        def applies(zone: Zone) -> bool:
            return zone.applies_to(at=at, local=local, operator=operator, vehicle_type=vehicle_type)

        if containing is None:
            containing = self.index.zones_at(lng, lat)
        if self._conditional.isdisjoint(containing):
            inside = list(containing)
        else:
            inside = [i for i in containing if applies(zones[i])]
        decision = self._decide(inside, applies)
        if decision.allowed:
            return decision
        accuracy_m = max(0.0, min(float(accuracy_m), MAX_ACCURACY_M))
        if accuracy_m > 0 and decision.reason != "outside_service_area":
            near = self.index.zones_within(lng, lat, accuracy_m)
            parking_near = {i for i, _ in near if zones[i].zone_type == "parking"}
            merged = set(inside) | {i for i in parking_near if applies(zones[i])}
            generous = [
                i
                for i in sorted(merged, key=lambda i: (zones[i].priority, i))
                # A forbidding zone counts only if the whole accuracy circle lies inside it.
                if zones[i].rules.ride_end_allowed is not False
                or boundary_distance_m(zones[i], lng, lat) > accuracy_m
            ]
            decision = self._decide(generous, applies)
        if decision.allowed:
            return decision
        found = self.index.nearest(
            lng, lat, lambda z: z.zone_type == "parking" and applies(z), NEAREST_SEARCH_M
        )
        nearest = None if found is None else (zones[found[0]].zone_id, found[1])
        return dataclasses.replace(decision, nearest_allowed=nearest)

    def _decide(self, inside: list[int], applies: Callable[[Zone], bool]) -> ParkingVerdict:
        """The verdict from the zones the point counts as inside, by precedence (no nearest
        parking yet: that is looked up only for a final refusal). Remembered per (zones
        inside, service areas in force), up to ``DECISIONS_KEPT`` of them."""
        zones = self.index.zones
        in_force = self._service_area_always or any(
            applies(zones[i]) for i in self.index.service_areas
        )
        key = (tuple(inside), in_force)
        decision = self._decisions.get(key)
        if decision is None:
            if len(self._decisions) >= DECISIONS_KEPT:
                self._decisions.clear()
            decision = self._decisions[key] = self._decide_anew(*key)
        return decision

    def _decide_anew(self, inside: tuple[int, ...], service_area_in_force: bool) -> ParkingVerdict:
        zones = self.index.zones

        def refuse(reason: str, zone: Zone | None) -> ParkingVerdict:
            zone_id, zone_type = (zone.zone_id, zone.zone_type) if zone else (None, None)
            return ParkingVerdict(False, reason, zone_id, zone_type, "invalid", None)

        if service_area_in_force and not any(zones[i].zone_type == "service_area" for i in inside):
            return refuse("outside_service_area", None)
        station_parking = self.global_rules.station_parking
        decided: Zone | None = None
        for i in inside:
            zone = zones[i]
            station_parking = station_parking or bool(zone.rules.station_parking)
            if zone.zone_type == "parking" and zone.rules.ride_end_allowed is not False:
                category = zone.parking_category or "other_valid"
                return ParkingVerdict(
                    True, "in_parking_zone", zone.zone_id, zone.zone_type, category,
                    (zone.zone_id, 0.0),
                )  # fmt: skip
            if zone.rules.ride_end_allowed is False:
                return refuse("no_parking_zone", zone)
            if zone.rules.ride_end_allowed is True:
                decided = zone
                break
        if station_parking:
            return refuse("outside_designated_parking", decided)
        if decided is not None:
            return ParkingVerdict(
                True, "zone_rules", decided.zone_id, decided.zone_type, "other_valid", None
            )
        if not self.global_rules.ride_end_allowed:
            return refuse("global_rules", None)
        return ParkingVerdict(True, "global_rules", None, None, "other_valid", None)


def boundary_distance_m(zone: Zone, lng: float, lat: float) -> float:
    """Metres from the point to the zone's boundary."""
    local = to_local_metres(zone.geometry.boundary, lng, lat)
    return float(shapely.distance(local, ORIGIN))
