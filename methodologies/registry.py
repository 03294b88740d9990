"""All methodology versions, checked together, and the choice of one for a trip.

Versions of the same mode and scope must not overlap in time, so for any trip date there is at
most one version in force: a new version is published by closing the old one's validity
(``valid_to``) on the day the new one starts.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from methodologies.cities import CityProfile
from methodologies.loader import MethodologyError, load_directory
from methodologies.model import Methodology, NotCreditable

SHIPPED = Path(__file__).parent / "data" / "methodologies"


class NoMethodology(NotCreditable):
    """No methodology applies to this mode, city and date; the trip earns nothing."""


class Registry:
    def __init__(self, methodologies: Iterable[Methodology]) -> None:
        self._all = sorted(methodologies, key=lambda m: (m.id, m.version))
        _check_unique(self._all)
        _check_no_overlap(self._all)
        self._by_id: dict[str, list[Methodology]] = defaultdict(list)
        for methodology in self._all:
            self._by_id[methodology.id].append(methodology)

    @classmethod
    def from_directories(cls, *directories: Path) -> Registry:
        return cls(m for directory in directories for m in load_directory(directory))

    @classmethod
    def shipped(cls) -> Registry:
        return cls.from_directories(SHIPPED)

    def all(self) -> list[Methodology]:
        return list(self._all)

    def versions(self, methodology_id: str) -> list[Methodology]:
        return list(self._by_id.get(methodology_id, []))

    def get(self, methodology_id: str, version: int) -> Methodology:
        for methodology in self._by_id.get(methodology_id, []):
            if methodology.version == version:
                return methodology
        raise KeyError(f"{methodology_id}@{version}")

    def in_force(self, methodology_id: str, day: dt.date) -> Methodology:
        """The version of ``methodology_id`` valid on ``day``."""
        for methodology in self._by_id.get(methodology_id, []):
            if methodology.valid_on(day):
                return methodology
        raise NoMethodology(
            "no_methodology_for_date", f"no version of {methodology_id} is valid on {day}"
        )

    def for_trip(self, city: CityProfile, mode: str, day: dt.date) -> Methodology:
        """The methodology a city uses for ``mode``, in the version valid on ``day``."""
        methodology_id = city.methodologies.get(mode)
        if methodology_id is None:
            raise NoMethodology("no_methodology_for_mode", f"{city.key} credits no {mode} trips")
        return self.in_force(methodology_id, day)

    def check_city(self, city: CityProfile) -> None:
        """Every methodology a city names exists and is for the mode it is named for."""
        for mode, methodology_id in city.methodologies.items():
            versions = self._by_id.get(methodology_id)
            if not versions:
                raise MethodologyError(city.file, f"{city.key}.methodologies.{mode}",
                                       f"no methodology {methodology_id}")  # fmt: skip
            wrong = [m for m in versions if m.mode != mode]
            if wrong:
                raise MethodologyError(city.file, f"{city.key}.methodologies.{mode}",
                                       f"{methodology_id} is for {wrong[0].mode}")  # fmt: skip


def _check_unique(methodologies: list[Methodology]) -> None:
    seen: dict[tuple[str, int], str] = {}
    for m in methodologies:
        other = seen.get((m.id, m.version))
        if other is not None:
            raise MethodologyError(m.file, "version", f"{m.key} is also defined in {other}")
        seen[(m.id, m.version)] = m.file
    by_id: dict[str, Methodology] = {}
    for m in methodologies:
        first = by_id.setdefault(m.id, m)
        if (first.mode, first.scope) != (m.mode, m.scope):
            raise MethodologyError(m.file, "mode", f"{m.id} changes mode or scope between versions")


def _check_no_overlap(methodologies: list[Methodology]) -> None:
    groups: dict[tuple[str, str], list[Methodology]] = defaultdict(list)
    for m in methodologies:
        groups[(m.mode, m.scope.key)].append(m)
    for group in groups.values():
        ordered = sorted(group, key=lambda m: m.valid_from)
        for earlier, later in itertools.pairwise(ordered):
            if earlier.overlaps(later):
                raise MethodologyError(
                    later.file,
                    "valid_from",
                    f"{later.key} overlaps {earlier.key} ({earlier.file}) for {later.mode} in "
                    f"{later.scope.key}: close the earlier one with valid_to",
                )
