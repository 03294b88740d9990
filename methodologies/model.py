"""Methodology versions as plain data: factors, scope, validity, status and source.

Factors are ``Decimal`` grams per unit, exact as published; rounding happens once, at the end
of a calculation (see ``calculate.py``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

MODES = ("bike", "ebike", "metro", "bus")
UNITS = ("g_per_pkm", "g_per_ride")
STATUSES = ("trial", "active", "retired")
CITY_CLASSES = ("metro_city", "no_metro_city")
POLLUTANTS = ("co", "hc", "nox", "pm")


class NotCreditable(ValueError):
    """A trip earns no reduction; ``reason`` is a stable code stored with the trip."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def decimal_text(value: Decimal | None) -> str | None:
    """A decimal as plain text, no exponent or trailing zeros: ``243.25``, ``468``."""
    if value is None:
        return None
    return format(value.normalize(), "f")


@dataclasses.dataclass(frozen=True)
class Scope:
    """Where a methodology applies: one city, or a class of cities."""

    city: str | None = None
    city_class: str | None = None

    @property
    def key(self) -> str:
        return f"city:{self.city}" if self.city else f"class:{self.city_class}"


@dataclasses.dataclass(frozen=True)
class Factors:
    """Grams of CO2 per unit. ``reduction`` is always set; baseline and project when published."""

    reduction: Decimal
    baseline: Decimal | None = None
    project: Decimal | None = None


@dataclasses.dataclass(frozen=True)
class Source:
    citation: str
    quote: str | None = None
    url: str | None = None
    published: str | None = None


@dataclasses.dataclass(frozen=True)
class Methodology:
    id: str
    version: int
    title: str
    mode: str
    unit: str
    scope: Scope
    factors: Factors
    pollutants: dict[str, Decimal]
    status: str
    valid_from: dt.date
    valid_to: dt.date | None
    source: Source
    file: str

    @property
    def key(self) -> str:
        return f"{self.id}@{self.version}"

    def valid_on(self, day: dt.date) -> bool:
        """Valid from ``valid_from`` (inclusive) to ``valid_to`` (exclusive)."""
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)

    def overlaps(self, other: Methodology) -> bool:
        ends = self.valid_to or dt.date.max
        other_ends = other.valid_to or dt.date.max
        return self.valid_from < other_ends and other.valid_from < ends
