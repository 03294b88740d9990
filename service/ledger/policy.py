"""The ledger's rules that a deployment may set: conversion rate, fraud window, daily cap."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from zoneinfo import ZoneInfo


@dataclasses.dataclass(frozen=True)
class LedgerPolicy:
    points_per_kg_co2: int = 1000
    fraud_window: dt.timedelta = dt.timedelta(hours=48)
    daily_cap_points: int = 5000
    timezone: str = "Asia/Shanghai"

    def points_for(self, co2_g: int) -> int:
        """Points for ``co2_g`` grams: exact integer arithmetic, rounded down once."""
        return co2_g * self.points_per_kg_co2 // 1000

    @functools.cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local_day(self, moment: dt.datetime) -> dt.date:
        """The day a moment belongs to for the daily cap, in the scheme's own timezone."""
        return moment.astimezone(self.zone).date()
