"""Is an operator's reported distance plausible? Compared with the straight line.

A trip cannot be shorter than the straight line between its ends, and is rarely much longer than
the street or track network makes it. The band accepted for the reported distance is

    straight x 0.95 - slack  <=  reported  <=  straight x max_detour + slack

where ``slack`` absorbs GPS error at both ends and short trips. Detour factors per mode:

| mode  | max_detour | slack |  why |
|-------|-----------:|------:|------|
| bike  | 2.0        | 300 m | streets run 1.2-1.4x the straight line; 2.0 allows detours |
| ebike | 2.0        | 300 m | as bike |
| bus   | 2.5        | 500 m | routes wind through neighbourhoods |
| metro | 3.0        | 1000 m| lines bend and transfers add distance |

Outside the band the reported distance is refused with a reason code; with no reported distance
the straight line itself is used (the least the rider can have travelled).
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import NamedTuple

from methodologies.model import NotCreditable


@dataclasses.dataclass(frozen=True)
class DetourRule:
    max_detour: Decimal
    slack_m: int


DETOUR_RULES = {
    "bike": DetourRule(Decimal("2.0"), 300),
    "ebike": DetourRule(Decimal("2.0"), 300),
    "bus": DetourRule(Decimal("2.5"), 500),
    "metro": DetourRule(Decimal("3.0"), 1000),
}
MIN_RATIO = Decimal("0.95")


class DistanceRejected(NotCreditable):
    """The reported distance is outside the plausible band."""


class DistanceJudgement(NamedTuple):
    """A trip's distance as credited, and why (a named tuple: one per trip)."""

    distance_m: int
    basis: str  # "reported" or "straight_line"
    band_m: tuple[int, int] | None


# Each mode's (max_detour as numerator, denominator, slack) and MIN_RATIO as a fraction.
_BANDS = {
    mode: (*rule.max_detour.as_integer_ratio(), rule.slack_m) for mode, rule in DETOUR_RULES.items()
}
_LOW_N, _LOW_D = MIN_RATIO.as_integer_ratio()


def plausible_band(mode: str, straight_line_m: int) -> tuple[int, int]:
    """The band in whole metres, each end rounded down. Worked in integers: the ratios are
    exact fractions of the published decimals, so the band is the same as in decimal
    arithmetic, in about a quarter of the time (it runs for every trip with a distance)."""
    high_n, high_d, slack_m = _BANDS[mode]
    low = (straight_line_m * _LOW_N - slack_m * _LOW_D) // _LOW_D
    return max(0, low), (straight_line_m * high_n + slack_m * high_d) // high_d


def judge_distance(
    mode: str, reported_m: int | None, straight_line_m: int | None
) -> DistanceJudgement:
    """The distance to credit, or ``DistanceRejected`` with the reason."""
    if reported_m is not None and reported_m <= 0:
        raise DistanceRejected("distance_not_positive", f"reported distance {reported_m} m")
    if straight_line_m is None:
        if reported_m is None:
            raise DistanceRejected("distance_missing", "no distance and no end points")
        return DistanceJudgement(reported_m, "reported", None)
    if reported_m is None:
        return DistanceJudgement(straight_line_m, "straight_line", None)
    low, high = plausible_band(mode, straight_line_m)
    if reported_m < low:
        raise DistanceRejected(
            "distance_shorter_than_straight_line",
            f"reported {reported_m} m < {low} m (straight line {straight_line_m} m)",
        )
    if reported_m > high:
        raise DistanceRejected(
            "distance_implausible_detour",
            f"reported {reported_m} m > {high} m (straight line {straight_line_m} m)",
        )
    return DistanceJudgement(reported_m, "reported", (low, high))
