"""From trip facts to grams of CO2 reduced, with a receipt that shows the working.

    reduction = (baseline - project) x quantity      where both are published
    reduction = published reduction x quantity       otherwise

``quantity`` is passenger-km (the trip's distance; for the metro, the network distance between
the stations when stations are given) or rides (one per trip). All arithmetic is exact decimal;
the one rounding rule is applied once, at the end: **down to the whole gram** (and to the whole
milligram for co-pollutants), so no fraction of a gram is ever credited that was not reduced.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import ROUND_FLOOR, Decimal
from typing import Any, NamedTuple

from methodologies.cities import CityProfile
from methodologies.distance import judge_distance
from methodologies.model import Methodology, NotCreditable
from methodologies.model import decimal_text as _text
from methodologies.registry import Registry
from methodologies.stations import NoRoute, StationNetwork, UnknownStation

ROUNDING = "down to the whole gram (co-pollutants: to the whole milligram), once, at the end"
_KM = Decimal(1000)


class NoQuantity(NotCreditable):
    """The trip's quantity cannot be established."""


class TripFacts(NamedTuple):
    """What a methodology needs to know about a trip, and nothing else. This and the other
    per-trip values here are named tuples: built for every trip of a batch, in half the time
    of frozen dataclasses."""

    mode: str
    local_date: dt.date
    distance_m: int | None = None
    straight_line_m: int | None = None
    entry_station: str | None = None
    exit_station: str | None = None


class Quantity(NamedTuple):
    value: Decimal
    unit: str  # "pkm" or "ride"
    basis: str  # "reported", "straight_line", "station_table", "per_ride"
    inputs: dict[str, Any]


class Result(NamedTuple):
    co2_g: int
    pollutants_mg: dict[str, int]
    methodology: Methodology
    receipt: dict[str, Any]


def quantity_for(
    methodology: Methodology, facts: TripFacts, stations: StationNetwork | None
) -> Quantity:
    """Passenger-km or rides, by the methodology's unit; raises NoQuantity or DistanceRejected."""
    if methodology.unit == "g_per_ride":
        return Quantity(Decimal(1), "ride", "per_ride", {})
    if facts.entry_station and facts.exit_station and facts.distance_m is None:
        if stations is None:
            raise NoQuantity("no_station_table", "this city has no station table")
        try:
            path = stations.path(facts.entry_station, facts.exit_station)
        except UnknownStation as exc:
            raise NoQuantity("unknown_station", str(exc)) from exc
        except NoRoute as exc:
            raise NoQuantity("no_route_between_stations", str(exc)) from exc
        inputs = {"entry_station": facts.entry_station, "exit_station": facts.exit_station,
                  "network_distance_m": path.distance_m, "lines": list(path.lines)}  # fmt: skip
        return Quantity(Decimal(path.distance_m) / _KM, "pkm", "station_table", inputs)
    judged = judge_distance(facts.mode, facts.distance_m, facts.straight_line_m)
    inputs = {"distance_m": facts.distance_m, "straight_line_m": facts.straight_line_m}
    if judged.band_m is not None:
        inputs["plausible_band_m"] = list(judged.band_m)
    return Quantity(Decimal(judged.distance_m) / _KM, "pkm", judged.basis, inputs)


@dataclasses.dataclass(frozen=True)
class _Constants:
    """The parts of a receipt that depend on the methodology alone."""

    methodology: Methodology
    header: dict[str, Any]  # the receipt's "methodology"
    factors: dict[str, Any]  # the receipt's "factors"
    per_unit: str  # the formula's factor, with its unit
    # Each co-pollutant's factor in milligrams, by name: the same exact products, in fewer steps.
    pollutants_mg: tuple[tuple[str, Decimal], ...]


_CONSTANTS: dict[str, _Constants] = {}


def _constants(methodology: Methodology) -> _Constants:
    """Built once per methodology version (every trip of a batch shares them); receipts share
    these dicts, so nothing may change a receipt's parts after it is made."""
    known = _CONSTANTS.get(methodology.key)
    if known is not None and known.methodology is methodology:
        return known
    factors = methodology.factors
    unit = "g/pkm" if methodology.unit == "g_per_pkm" else "g/ride"
    known = _Constants(
        methodology=methodology,
        header={
            "id": methodology.id,
            "version": methodology.version,
            "status": methodology.status,
            "title": methodology.title,
            "source": methodology.source.citation,
        },
        factors={
            "baseline_g": _text(factors.baseline),
            "project_g": _text(factors.project),
            "reduction_g": _text(factors.reduction),
            "pollutants_g": {k: _text(v) for k, v in sorted(methodology.pollutants.items())},
        },
        per_unit=(
            f"({factors.baseline} - {factors.project}) {unit}"
            if factors.baseline is not None
            else f"{factors.reduction} {unit}"
        ),
        pollutants_mg=tuple(
            (name, factor * 1000) for name, factor in sorted(methodology.pollutants.items())
        ),
    )
    _CONSTANTS[methodology.key] = known
    return known


def apply(methodology: Methodology, quantity: Quantity) -> Result:
    """The reduction of ``quantity`` under ``methodology``, with its receipt."""
    constants = _constants(methodology)
    exact = methodology.factors.reduction * quantity.value
    co2_g = int(exact.to_integral_value(ROUND_FLOOR))
    pollutants = {
        name: int((factor_mg * quantity.value).to_integral_value(ROUND_FLOOR))
        for name, factor_mg in constants.pollutants_mg
    }
    value = _text(quantity.value)
    exact_text = _text(exact)
    receipt = {
        "methodology": constants.header,
        "unit": methodology.unit,
        "factors": constants.factors,
        "quantity": {
            "value": value,
            "unit": quantity.unit,
            "basis": quantity.basis,
            "inputs": quantity.inputs,
        },
        "formula": f"{constants.per_unit} x {value} {quantity.unit} = {exact_text} g",
        "exact_g": exact_text,
        "rounding": ROUNDING,
        "co2_g": co2_g,
        "pollutants_mg": pollutants,
    }
    return Result(co2_g, pollutants, methodology, receipt)


def calculate(
    registry: Registry,
    city: CityProfile,
    facts: TripFacts,
    stations: StationNetwork | None = None,
) -> Result:
    """The methodology in force for the trip's mode, city and date, applied to the trip."""
    methodology = registry.for_trip(city, facts.mode, facts.local_date)
    result = apply(methodology, quantity_for(methodology, facts, stations))
    result.receipt["city"] = city.key
    result.receipt["mode"] = facts.mode
    result.receipt["trip_date"] = facts.local_date.isoformat()
    return result
