"""Everything that can be decided about a batch of trips before touching the ledger: the
methodology, plausibility, service areas, no-ride zones, licence cells, consent and the parking
verdict. No database here: the caller brings what was read (consents, licence cells)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from geo.coords import lnglat_to_cell
from geo.parking import ParkingJudge, ParkingVerdict
from geo.trips import no_ride_zone_crossed, outside_service_area, zones_containing
from geo.zones import Zone
from methodologies.calculate import TripFacts, calculate
from methodologies.context import MethodologyContext
from methodologies.model import NotCreditable
from service.ingest.contract import TripIn
from service.ingest.plausibility import PlausibilityRules, Span, check_trip, straight_line_m
from service.usecases.parking import JUDGED_MODES, WITHHOLDING_REASONS


def trip_uid(operator_id: str, trip_id: str) -> str:
    """A trip's uid follows from (operator, trip_id), so every retry of a trip names the same
    trip, and the same ledger credit (``credit:trip:<uid>``)."""
    digest = hashlib.sha256(f"{operator_id}\x00{trip_id}".encode()).hexdigest()
    return f"trp_{digest[:24]}"


@dataclasses.dataclass(frozen=True)
class Licence:
    resolution: int
    cells: frozenset[str]


@dataclasses.dataclass(frozen=True)
class Consent:
    account_id: str
    scenarios: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class BatchContext:
    operator_id: str
    now: dt.datetime
    rules: PlausibilityRules
    methodologies: MethodologyContext
    judge: ParkingJudge
    consents: Mapping[str, Consent]  # by rider_ref
    licence: Licence | None
    cell_resolution: int


@dataclasses.dataclass
class Candidate:
    """One readable trip on its way to a verdict."""

    index: int
    trip: TripIn
    digest: str
    uid: str
    reasons: list[str] = dataclasses.field(default_factory=list)
    account_id: str | None = None
    co2_g: int = 0
    pollutants_mg: dict[str, int] = dataclasses.field(default_factory=dict)
    receipt: dict[str, Any] | None = None
    parking: ParkingVerdict | None = None
    start_cell: str | None = None
    end_cell: str | None = None
    status: str = "rejected"
    points: int = 0
    consequence: dict[str, Any] | None = None  # of a bad parking: reminder or penalty
    bonus_points: int = 0  # a rebalancing bonus, credited on its own

    @property
    def withheld(self) -> str | None:
        """Why an accepted trip earns nothing (it still counts as credited, with 0 points)."""
        if self.parking is not None and self.parking.reason in WITHHOLDING_REASONS:
            return self.parking.reason
        return None

    @property
    def span(self) -> Span:
        return Span(
            self.trip.start_time,
            self.trip.end_time,
            None if self.trip.start is None else (self.trip.start.lng, self.trip.start.lat),
            None if self.trip.end is None else (self.trip.end.lng, self.trip.end.lat),
        )


def evaluate(candidates: list[Candidate], ctx: BatchContext) -> None:
    """Fill in each candidate's reduction, reasons, account, cells and parking verdict."""
    zone = ctx.methodologies.city.zone
    local_starts = [c.trip.start_time.astimezone(zone) for c in candidates]
    applies = [
        _applies(c.trip, local, ctx) for c, local in zip(candidates, local_starts, strict=True)
    ]
    ends = _zones_at_ends(candidates, ctx, applies)
    for candidate, local, applies_here, (_, end_zones) in zip(
        candidates, local_starts, applies, ends, strict=True
    ):
        _evaluate_one(candidate, ctx, local.date(), applies_here, end_zones)


def _evaluate_one(
    candidate: Candidate,
    ctx: BatchContext,
    local_day: dt.date,
    applies: Any,
    end_zones: list[int] | None,
) -> None:
    trip = candidate.trip
    straight = straight_line_m(trip)
    travelled = trip.distance_m if trip.distance_m is not None else straight
    facts = TripFacts(
        mode=trip.mode, local_date=local_day, distance_m=trip.distance_m,
        straight_line_m=straight, entry_station=trip.entry_station, exit_station=trip.exit_station,
    )  # fmt: skip
    try:
        result = calculate(
            ctx.methodologies.registry, ctx.methodologies.city, facts, ctx.methodologies.stations
        )
    except NotCreditable as exc:
        candidate.reasons.append(exc.reason)
    else:
        candidate.co2_g = result.co2_g
        candidate.pollutants_mg = result.pollutants_mg
        candidate.receipt = result.receipt
        quantity = result.receipt["quantity"]
        if quantity["unit"] == "pkm":
            travelled = int(Decimal(quantity["value"]) * 1000)
    candidate.reasons.extend(check_trip(trip, ctx.rules, ctx.now, travelled))
    if trip.route:
        path = [(p.lng, p.lat) for p in trip.route]
        if no_ride_zone_crossed(ctx.judge.index, path, applies):
            candidate.reasons.append("no_ride_zone")
    ends = [p for p in (trip.start, trip.end) if p is not None]
    if ctx.licence is not None and any(
        lnglat_to_cell(p.lng, p.lat, ctx.licence.resolution) not in ctx.licence.cells for p in ends
    ):
        candidate.reasons.append("unlicensed_area")
    consent = ctx.consents.get(trip.rider_ref)
    if consent is None:
        candidate.reasons.append("no_consent")
    elif trip.mode not in consent.scenarios:
        candidate.reasons.append("scenario_not_consented")
    else:
        candidate.account_id = consent.account_id
    if trip.start is not None:
        candidate.start_cell = lnglat_to_cell(trip.start.lng, trip.start.lat, ctx.cell_resolution)
    if trip.end is not None:
        candidate.end_cell = lnglat_to_cell(trip.end.lng, trip.end.lat, ctx.cell_resolution)
        if trip.mode in JUDGED_MODES:
            candidate.parking = ctx.judge.judge(
                lng=trip.end.lng, lat=trip.end.lat, at=trip.end_time,
                local=trip.end_time.astimezone(ctx.methodologies.city.zone),
                operator=ctx.operator_id, vehicle_type=trip.vehicle_type,
                accuracy_m=trip.accuracy_m or 0.0, containing=end_zones,
            )  # fmt: skip


def _applies(trip: TripIn, local: dt.datetime, ctx: BatchContext) -> Any:
    """The test of whether a zone is in force for the trip, at its start (``local``: the
    start in the city's zone, worked out once per trip)."""

    def applies(zone: Zone) -> bool:
        return zone.applies_to(
            at=trip.start_time, local=local, operator=ctx.operator_id,
            vehicle_type=trip.vehicle_type,
        )  # fmt: skip

    return applies


def _zones_at_ends(
    candidates: list[Candidate], ctx: BatchContext, applies: list[Any]
) -> list[tuple[list[int] | None, list[int] | None]]:
    """The zones containing each trip's start and end, in one batch lookup; an end outside
    every service area that applies puts ``outside_service_area`` among the reasons."""
    index = ctx.judge.index
    lngs: list[float] = []
    lats: list[float] = []
    for candidate in candidates:
        for point in (candidate.trip.start, candidate.trip.end):
            if point is not None:
                lngs.append(point.lng)
                lats.append(point.lat)
    found = iter(zones_containing(index, lngs, lats))
    ends = []
    for candidate in candidates:
        start = None if candidate.trip.start is None else next(found)
        end = None if candidate.trip.end is None else next(found)
        ends.append((start, end))
    points = [(z, applies[i]) for i, pair in enumerate(ends) for z in pair if z is not None]
    owners = [i for i, pair in enumerate(ends) for z in pair if z is not None]
    outside = outside_service_area(index, [z for z, _ in points], [a for _, a in points])
    for owner, out in zip(owners, outside, strict=True):
        reasons = candidates[owner].reasons
        if out and "outside_service_area" not in reasons:
            reasons.append("outside_service_area")
    return ends
