"""Is a trip physically and temporally plausible? Pure rules, each failure a stable reason code.

Checked per trip, before anything is read from the database:

- ``end_not_after_start``: the trip ends after it starts.
- ``too_short``: it lasts at least ``min_duration_s`` (60 s).
- ``in_future``: it ends no later than now plus ``clock_skew_s`` (300 s).
- ``too_old``: it ended within ``max_age_days`` (30, setting ``TRIP_MAX_AGE_DAYS``).
- ``missing_locations``: bike and e-bike trips give start and end.
- ``missing_quantity``: metro trips give a distance, both stations or both ends.
- ``missing_line``: bus trips name their line.
- ``implausible_distance``: the distance is at most the mode's ``max_distance_m``.
- ``implausible_speed``: the average speed is at most the mode's ``max_speed_kmh``.

And between a rider's trips (across operators), once the rider is known:

- ``overlapping_trip``: no overlap with another of the rider's trips beyond
  ``overlap_tolerance_s`` (60 s).
- ``teleport``: the rider could have got from the previous trip's end to this start (and from
  this end to the next start): at most ``teleport_speed_kmh`` (150) over the gap, beyond
  ``teleport_slack_m`` (500 m) of GPS error.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Mapping
from typing import NamedTuple

from geo.coords import great_circle_m
from service.ingest.contract import TripIn

# Average speed limits (km/h): a bike averages 12-18, China's e-bike standard caps assisted speed
# at 25 km/h; metro averages 30-40 including stops; city buses 15-25.
MAX_SPEED_KMH = {"bike": 30.0, "ebike": 35.0, "metro": 90.0, "bus": 60.0}
MAX_DISTANCE_M = {"bike": 50_000, "ebike": 80_000, "metro": 120_000, "bus": 100_000}


@dataclasses.dataclass(frozen=True)
class PlausibilityRules:
    min_duration_s: int = 60
    clock_skew_s: int = 300
    max_age_days: int = 30
    overlap_tolerance_s: int = 60
    teleport_speed_kmh: float = 150.0
    teleport_slack_m: float = 500.0
    max_speed_kmh: Mapping[str, float] = dataclasses.field(default_factory=lambda: MAX_SPEED_KMH)
    max_distance_m: Mapping[str, int] = dataclasses.field(default_factory=lambda: MAX_DISTANCE_M)

    # The spans above as time deltas, made once: every trip of a batch is checked against them.
    @functools.cached_property
    def clock_skew(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.clock_skew_s)

    @functools.cached_property
    def max_age(self) -> dt.timedelta:
        return dt.timedelta(days=self.max_age_days)

    @functools.cached_property
    def overlap_tolerance(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.overlap_tolerance_s)


def straight_line_m(trip: TripIn) -> int | None:
    if trip.start is None or trip.end is None:
        return None
    return int(great_circle_m(trip.start.lng, trip.start.lat, trip.end.lng, trip.end.lat))


def check_trip(
    trip: TripIn, rules: PlausibilityRules, now: dt.datetime, travelled_m: int | None
) -> list[str]:
    """Reason codes for everything wrong with the trip on its own (empty: plausible).
    ``travelled_m`` is the distance the trip is credited for, when it could be established."""
    reasons: list[str] = []
    seconds = (trip.end_time - trip.start_time).total_seconds()
    if seconds <= 0:
        reasons.append("end_not_after_start")
    elif seconds < rules.min_duration_s:
        reasons.append("too_short")
    if trip.end_time > now + rules.clock_skew:
        reasons.append("in_future")
    if trip.end_time < now - rules.max_age:
        reasons.append("too_old")
    reasons.extend(_missing(trip))
    if travelled_m is not None:
        if travelled_m > rules.max_distance_m[trip.mode]:
            reasons.append("implausible_distance")
        elif seconds > 0 and travelled_m / seconds * 3.6 > rules.max_speed_kmh[trip.mode]:
            reasons.append("implausible_speed")
    return reasons


def _missing(trip: TripIn) -> list[str]:
    ends = trip.start is not None and trip.end is not None
    if trip.mode in ("bike", "ebike"):
        return [] if ends else ["missing_locations"]
    if trip.mode == "metro":
        stations = trip.entry_station is not None and trip.exit_station is not None
        return [] if stations or trip.distance_m is not None or ends else ["missing_quantity"]
    return [] if trip.line_id is not None else ["missing_line"]


class Span(NamedTuple):
    """Where and when one of the rider's trips started and ended (for the checks between trips);
    a named tuple, as a batch builds one for each of its riders' neighbouring trips."""

    started_at: dt.datetime
    ended_at: dt.datetime
    start: tuple[float, float] | None  # (lng, lat)
    end: tuple[float, float] | None


def check_against(span: Span, others: list[Span], rules: PlausibilityRules) -> list[str]:
    """Reasons this trip cannot have happened beside the rider's other (accepted) trips."""
    tolerance = rules.overlap_tolerance
    ends_before = span.started_at + tolerance  # a trip ending by then came before this one
    starts_after = span.ended_at - tolerance  # a trip starting from then came after it
    previous: Span | None = None  # the latest of those before
    following: Span | None = None  # the earliest of those after
    for other in others:  # one pass: a batch checks every trip against its rider's others
        overlap = min(span.ended_at, other.ended_at) - max(span.started_at, other.started_at)
        if overlap > tolerance:
            return ["overlapping_trip"]
        if other.ended_at <= ends_before and (
            previous is None or other.ended_at > previous.ended_at
        ):
            previous = other
        if other.started_at >= starts_after and (
            following is None or other.started_at < following.started_at
        ):
            following = other
    pairs = []
    if previous is not None:
        pairs.append((previous.end, previous.ended_at, span.start, span.started_at))
    if following is not None:
        pairs.append((span.end, span.ended_at, following.start, following.started_at))
    for here, left, there, arrived in pairs:
        if here is None or there is None:
            continue
        gap_m = great_circle_m(here[0], here[1], there[0], there[1]) - rules.teleport_slack_m
        if gap_m <= 0:
            continue
        hours = max((arrived - left).total_seconds(), 1.0) / 3600
        if gap_m / 1000 / hours > rules.teleport_speed_kmh:
            return ["teleport"]
    return []
