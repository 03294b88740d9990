"""Where a trip went, checked against the zones: service areas at both ends, no-ride zones on
the route. Pure: the caller says which zones apply to each trip (operator, vehicle, time)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from geo.index import ZoneIndex
from geo.zones import Zone

Applies = Callable[[Zone], bool]
# Up to this many points, one lookup each is cheaper than the batch lookup, whose numpy set-up
# costs about 45 µs whatever the count (2 points: 4 µs against 47; 32 points: 70 against 57).
FEW_POINTS = 16


def zones_containing(
    index: ZoneIndex, lngs: Sequence[float], lats: Sequence[float]
) -> list[list[int]]:
    """For each point, the zones containing it, in ``ZoneIndex.zones_at``'s order: one batch
    lookup for all the points, or one lookup each for a few."""
    if len(lngs) <= FEW_POINTS:
        return [index.zones_at(lng, lat) for lng, lat in zip(lngs, lats, strict=True)]
    found: list[list[int]] = [[] for _ in lngs]
    points, zones = index.zones_at_many(
        np.asarray(lngs, dtype=np.float64), np.asarray(lats, dtype=np.float64)
    )
    for point, zone in zip(points.tolist(), zones.tolist(), strict=True):
        found[point].append(zone)
    return found


def outside_service_area(
    index: ZoneIndex, containing: Sequence[Sequence[int]], applies: Sequence[Applies]
) -> list[bool]:
    """For each point (given by the zones containing it): is it outside every service area
    that applies to its trip? A trip to which no service area applies is nowhere outside one."""
    zones, areas, area_set = index.zones, index.service_areas, index.service_area_set
    if not areas:
        return [False] * len(containing)
    # Most points lie in a service area in force for everyone at every moment: one set test.
    always = index.service_areas_always
    return [
        always.isdisjoint(here)
        and not any(z in area_set and applies_here(zones[z]) for z in here)
        and any(applies_here(zones[i]) for i in areas)
        for here, applies_here in zip(containing, applies, strict=True)
    ]


def no_ride_zone_crossed(
    index: ZoneIndex, path: Sequence[tuple[float, float]], applies: Applies
) -> str | None:
    """The first zone (by precedence) on the route where riding through is not allowed."""
    for i in index.zones_along(path):
        zone = index.zones[i]
        if zone.rules.ride_through_allowed is False and applies(zone):
            return zone.zone_id
    return None
