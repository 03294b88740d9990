"""The demo city's days, driven over HTTP: the city sets up, operators post, riders act.

Set-up is what a city administrator does with an admin client: publish the zones, register the
operators (each gets its own client credentials), give the bike operators their licence areas,
stock the points mall. Then, day by day: riders who decide to link their accounts do so,
operators post the day's trips, the maturing job runs (when the service is ours), and riders
open the app.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from zoneinfo import ZoneInfo

from shapely.geometry import mapping

from mock_clients import report
from mock_clients.city import City
from mock_clients.http import Api, ApiError, ClientCredentials
from mock_clients.operators import PROFILES, Operator
from mock_clients.population import populate
from mock_clients.rider_app import CATALOG, RiderApp, apps_for
from mock_clients.travel import Leg, day_of

CITY_ZONE = ZoneInfo("Asia/Shanghai")
LICENCE_RESOLUTION = 9
RIDER_THREADS = 8


class Pacer:
    """Keeps trips at or under ``rate`` a second across every operator (None: no limit):
    each batch waits for the time the batches before it have used up."""

    def __init__(
        self,
        rate: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.clock = clock
        self.sleep = sleep
        self._next = clock()
        self._lock = threading.Lock()

    def __call__(self, trips: int) -> None:
        if not self.rate:
            return
        with self._lock:
            now = self.clock()
            start = max(self._next, now)
            self._next = start + trips / self.rate
        if start > now:
            self.sleep(start - now)


@dataclasses.dataclass
class Settings:
    """What the demo command was asked for."""

    days: int
    riders: int
    seed: int = 7
    rate: float | None = None


class Simulation:
    """The demo city against one service: set up once, then run day by day, then summed up."""

    def __init__(
        self,
        city: City,
        base_url: str,
        admin: ClientCredentials,
        settings: Settings,
        rider_tokens: Callable[[list[str]], list[str]],
        mature: Callable[[], None] | None,
    ) -> None:
        self.city = city
        self.base_url = base_url
        self.admin = Api(base_url, token=admin)
        self.settings = settings
        self.rng = random.Random(settings.seed)
        self.mint = rider_tokens
        self.mature = mature
        self.operators: list[Operator] = []
        self.planner: ClientCredentials | None = None
        self.apps: list[RiderApp] = []
        self.late_consent_credits = 0
        self.pace = Pacer(settings.rate)
        today = dt.datetime.now(CITY_ZONE).date()
        self.days = [today - dt.timedelta(days=settings.days - i) for i in range(settings.days)]

    # -- set-up -----------------------------------------------------------------------------

    def set_up(self) -> None:
        self.admin.post("/v1/fences", self.city.zones_document)
        planner = self.admin.post("/v1/clients", {"kind": "planner", "name": "City planning"})
        self.planner = ClientCredentials(self.base_url, planner["client_id"],
                                         planner["client_secret"])  # fmt: skip
        for item in CATALOG:
            try:
                self.admin.post("/v1/catalog/items", item)
            except ApiError as exc:  # stocked by an earlier run against the same service
                if exc.status != 409:
                    raise
        area = mapping(self.city.service_area)
        for profile in PROFILES:
            created = self.admin.post("/v1/clients", {"kind": "operator", "name": profile.name})
            credentials = ClientCredentials(
                self.base_url, created["client_id"], created["client_secret"]
            )
            operator = Operator(profile, created["client_id"], Api(self.base_url, credentials),
                                self.city)  # fmt: skip
            if {"bike", "ebike"} & set(profile.modes):
                self.admin.put(f"/v1/operators/{operator.operator_id}/licence",
                               {"resolution": LICENCE_RESOLUTION, "polygon": area})  # fmt: skip
            self.operators.append(operator)
        riders = populate(self.city, self.settings.riders, self.settings.days, self.rng)
        tokens = self.mint([rider.user_id for rider in riders])
        self.apps = apps_for(riders, Api(self.base_url), tokens)
        self._each_app(lambda app: app.open_account())

    def credentials(self) -> dict[str, dict[str, str]]:
        """Who the demo acted as, so that a person can call the API the same way."""
        clients = {"admin": self.admin.token, "planner": self.planner}
        clients.update({op.profile.key: op.api.token for op in self.operators})
        return {
            name: {"client_id": source.client_id, "client_secret": source.secret}
            for name, source in clients.items()
            if isinstance(source, ClientCredentials)
        }

    # -- one day ----------------------------------------------------------------------------

    def run_day(self, index: int) -> None:
        day = self.days[index]
        linking = [app for app in self.apps if app.rider.consent_day == index]
        consents = {op.profile.key: (op.operator_id, op.profile.scenarios) for op in self.operators}
        credited = self._each_app(lambda app: app.link(consents), linking)
        self.late_consent_credits += sum(credited)
        legs: dict[str, list[Leg]] = {}
        for app in self.apps:
            for leg in day_of(app.rider, self.city, day, CITY_ZONE, self.rng):
                legs.setdefault(leg.mode, []).append(leg)
        batches = []
        for operator in self.operators:
            mine = sorted((leg for mode in operator.profile.modes for leg in legs.get(mode, [])),
                          key=lambda leg: leg.end_time)  # fmt: skip
            batches.append((operator, operator.payloads(mine, day, self.rng)))
        seeds = [self.rng.getrandbits(64) for _ in batches]
        with ThreadPoolExecutor(len(batches)) as pool:
            posting = [
                pool.submit(operator.post, items, random.Random(seed), self.pace)
                for (operator, items), seed in zip(batches, seeds, strict=True)
            ]
            for done in posting:
                done.result()
        if self.mature is not None:
            self.mature()
        refused = self._refused_trips()
        visits = {app.rider.index: random.Random(self.rng.getrandbits(64)) for app in self.apps}
        self._each_app(
            lambda app: app.daily_visit(visits[app.rider.index], refused.get(app.rider.index, []))
        )

    def _refused_trips(self) -> dict[int, list[tuple[str, str]]]:
        """Per rider, the trips refused for want of consent (what a rider would dispute)."""
        refused: dict[int, list[tuple[str, str]]] = {}
        for operator in self.operators:
            for item in operator.sent:
                answer = item.answer or {}
                if item.rider is not None and "no_consent" in answer.get("reasons", ()):
                    refused.setdefault(item.rider.index, []).append(
                        (operator.operator_id, item.trip_id)
                    )
        return refused

    def rebalance(self) -> dict[str, dict]:
        """Each vehicle operator sends its fleet as it stands and asks where trucks should go."""
        now = dt.datetime.now(CITY_ZONE)
        plans = {}
        for operator in self.operators:
            if operator.post_fleet(now) is not None:
                plans[operator.profile.key] = operator.api.get("/v1/rebalancing/recommendations")
        return plans

    def publish_feeds(self, folder: Path) -> list[Path]:
        """Each vehicle operator's GBFS feed, as it stands at the end of the simulation."""
        now = dt.datetime.now(CITY_ZONE)
        return [
            path
            for operator in self.operators
            for path in operator.publish_gbfs(folder / operator.profile.key, now)
        ]

    # -- the end ----------------------------------------------------------------------------

    def summarise(self) -> report.Summary:
        """Read back the trips that late consents credited, then sum up both sides."""
        for operator in self.operators:
            for item in operator.sent:
                answer = item.answer or {}
                late = item.rider is not None and item.rider.consent_day not in (None, 0)
                if (
                    late
                    and answer.get("status") == "rejected"
                    and answer["reasons"] == ["no_consent"]
                ):
                    item.answer = operator.api.get(f"/v1/trips/{item.trip_id}")
        actions: Counter[str] = Counter()
        for app in self.apps:
            actions.update(app.actions)
        return report.summarise(self.days, self.operators, self.admin, self.late_consent_credits,
                                actions)  # fmt: skip

    def _each_app(
        self, act: Callable[[RiderApp], object], apps: list[RiderApp] | None = None
    ) -> list[object]:
        with ThreadPoolExecutor(RIDER_THREADS) as pool:
            return list(pool.map(act, self.apps if apps is None else apps))
