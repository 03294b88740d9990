"""Who rides in the demo city: riders with a home, a workplace, a way to commute, and a habit
of linking their account (at once, some days late, or never)."""

from __future__ import annotations

import dataclasses
import random

from mock_clients.city import Area, City, Place

COMMUTE_STYLES = ("cycle", "ebike", "bike_metro", "bus")
STYLE_WEIGHTS = (0.25, 0.15, 0.45, 0.15)
CONSENT_NOW, CONSENT_LATE, CONSENT_NEVER = 0.85, 0.11, 0.04
LATE_CONSENT_MAX_DAY = 4  # late riders link their account on day 1..4 (inside the grace window)


@dataclasses.dataclass(frozen=True)
class Rider:
    index: int
    home: Place
    work: Place
    home_area: str
    work_area: str
    style: str
    consent_day: int | None  # the simulated day the rider links the account; None: never

    @property
    def user_id(self) -> str:
        """The rider's id at the app's identity provider (the token's ``sub``)."""
        return f"demo-rider-{self.index:05d}"

    def ref_at(self, operator_key: str) -> str:
        """The rider's own id at an operator, as the operator knows them."""
        return f"{operator_key}-u{self.index:05d}"


def populate(city: City, riders: int, days: int, rng: random.Random) -> list[Rider]:
    """``riders`` riders spread over the city's home and work areas by their weights."""
    homes = [a for a in city.areas if a.kind == "home"]
    works = [a for a in city.areas if a.kind == "work"]
    population = []
    for index in range(riders):
        home_area = _pick(homes, rng)
        work_area = _pick(works, rng)
        population.append(
            Rider(
                index=index,
                home=city.somewhere_in(home_area, rng),
                work=city.somewhere_in(work_area, rng),
                home_area=home_area.name,
                work_area=work_area.name,
                style=rng.choices(COMMUTE_STYLES, STYLE_WEIGHTS)[0],
                consent_day=_consent_day(days, rng),
            )
        )
    return population


def _pick(areas: list[Area], rng: random.Random) -> Area:
    return rng.choices(areas, [a.weight for a in areas])[0]


def _consent_day(days: int, rng: random.Random) -> int | None:
    draw = rng.random()
    if draw < CONSENT_NOW:
        return 0
    if draw < CONSENT_NOW + CONSENT_LATE:
        return rng.randint(1, min(LATE_CONSENT_MAX_DAY, days - 1)) if days > 1 else 0
    return None
