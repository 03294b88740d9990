"""Everything a deployment needs to compute reductions, loaded and cross-checked once."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from methodologies.cities import SHIPPED_CITIES, CityProfile, load_cities
from methodologies.loader import MethodologyError
from methodologies.registry import SHIPPED, Registry
from methodologies.stations import StationNetwork

SHIPPED_STATIONS = Path(__file__).parent / "data" / "stations"


@dataclasses.dataclass(frozen=True)
class MethodologyContext:
    registry: Registry
    city: CityProfile
    stations: StationNetwork | None


def load_context(
    city_key: str,
    *,
    methodologies_dir: Path | None = None,
    cities_file: Path | None = None,
    station_table: Path | None = None,
) -> MethodologyContext:
    """Load methodologies, the city profile and its station table; refuse anything wrong."""
    registry = Registry.from_directories(methodologies_dir or SHIPPED)
    cities_path = cities_file or SHIPPED_CITIES
    cities = load_cities(cities_path)
    if city_key not in cities:
        known = ", ".join(sorted(cities))
        raise MethodologyError(cities_path.name, city_key, f"no such city profile ({known})")
    city = cities[city_key]
    registry.check_city(city)
    table = station_table or SHIPPED_STATIONS / f"{city_key}.csv"
    stations = StationNetwork.from_csv(table) if table.exists() else None
    return MethodologyContext(registry=registry, city=city, stations=stations)
