"""Where a trip went, checked against the zones: service areas at both ends, no-ride zones on
the route. Pure: the caller says which zones apply to each trip (operator, vehicle, time)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from geo.index import ZoneIndex
from geo.zones import Zone

Applies = Callable[[Zone], bool]


def outside_service_area(
    index: ZoneIndex, lngs: Sequence[float], lats: Sequence[float], applies: Sequence[Applies]
) -> list[bool]:
    """For each point: is it outside every service area that applies to its trip? A trip to
    which no service area applies at all is nowhere outside one. One batch lookup for all."""
    zones = index.zones
    areas = [i for i, zone in enumerate(zones) if zone.zone_type == "service_area"]
    if not areas:
        return [False] * len(lngs)
    inside = [False] * len(lngs)
    points, found = index.zones_at_many(np.asarray(lngs), np.asarray(lats))
    for point, zone in zip(points.tolist(), found.tolist(), strict=True):
        if (
            not inside[point]
            and zones[zone].zone_type == "service_area"
            and applies[point](zones[zone])
        ):
            inside[point] = True
    return [not inside[p] and any(applies[p](zones[i]) for i in areas) for p in range(len(lngs))]


def no_ride_zone_crossed(
    index: ZoneIndex, path: Sequence[tuple[float, float]], applies: Applies
) -> str | None:
    """The first zone (by precedence) on the route where riding through is not allowed."""
    for i in index.zones_along(path):
        zone = index.zones[i]
        if zone.rules.ride_through_allowed is False and applies(zone):
            return zone.zone_id
    return None
