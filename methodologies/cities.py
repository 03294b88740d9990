"""City profiles: which methodology a city uses for each mode, chosen by a setting.

``data/cities.toml`` holds one table per profile:

    [shanghai]
    name = "Shanghai"
    timezone = "Asia/Shanghai"
    has_metro = true
    [shanghai.methodologies]
    bike = "sh-cycling-2025"
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from methodologies.loader import MethodologyError
from methodologies.model import MODES

SHIPPED_CITIES = Path(__file__).parent / "data" / "cities.toml"
_KEYS = {"name", "timezone", "has_metro", "methodologies"}


@dataclasses.dataclass(frozen=True)
class CityProfile:
    key: str
    name: str
    timezone: str
    has_metro: bool
    methodologies: dict[str, str]
    file: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_cities(path: Path = SHIPPED_CITIES) -> dict[str, CityProfile]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    cities = {}
    for key, table in data.items():
        unknown = set(table) - _KEYS
        if unknown:
            raise MethodologyError(path.name, f"{key}.{sorted(unknown)[0]}", "unknown key")
        methodologies = table.get("methodologies", {})
        for mode in methodologies:
            if mode not in MODES:
                raise MethodologyError(path.name, f"{key}.methodologies.{mode}", "unknown mode")
        try:
            ZoneInfo(table.get("timezone", ""))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise MethodologyError(path.name, f"{key}.timezone", "unknown timezone") from exc
        cities[key] = CityProfile(
            key=key,
            name=str(table.get("name", key)),
            timezone=table["timezone"],
            has_metro=bool(table.get("has_metro", False)),
            methodologies=dict(methodologies),
            file=path.name,
        )
    return cities
