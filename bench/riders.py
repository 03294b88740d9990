"""A service database with riders ready to be credited: the city's zones, an operator, and
riders with accounts and consents; and distinct plausible trips for them, each credited 230
points. Shared by the benchmarks that need real riders (ingestion, account reads)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson

from bench.database import analyze
from bench.report import BenchError

POINTS_PER_TRIP = 230  # 98 g/km x 2.35 km = 230.3 g -> 230 points
# Each rider's trips take distinct two-hour slots going back from an hour ago: 12 a day (2,760
# points, under the 5,000 daily cap), never overlapping, all within the last 25 days.
SLOT = dt.timedelta(hours=2)
MAX_SLOTS = 25 * 12
TRIP_MINUTES = 12
STREET = (31.2400, 121.4800)  # tests.geo_fixtures: in the service area, in no other zone
IN_CORRAL = (31.2304, 121.47375)  # tests.geo_fixtures: inside a parking corral


@dataclasses.dataclass(frozen=True)
class Prepared:
    """What the service's database holds for a run: its environment (no Redis), the operator,
    the operator's ``trips:write`` token, and the riders' references at that operator."""

    env: dict
    operator_id: str
    token: str
    refs: list[str]


def user_of(ref: str) -> str:
    """The user id of the rider known to the operator as ``ref``."""
    return f"u-{ref}"


def prepare(database_url: str, workdir: Path, riders: int) -> Prepared:
    """Zones, an operator with a token, and ``riders`` riders with accounts and consents."""
    from geo import documents
    from service.auth.clients import create_client
    from service.container import build_services
    from service.geofence import store
    from service.persistence import migrate
    from service.settings import Settings
    from service.usecases import consents
    from tests.factories import open_rider
    from tests.geo_fixtures import CITY_ZONES

    env = {**os.environ, "DATABASE_URL": database_url, "GREENPOINTS_VAR_DIR": str(workdir),
           "INGEST_REQUESTS_PER_MINUTE": "1000000"}  # fmt: skip
    env.pop("REDIS_URL", None)
    settings = Settings.from_env(env)
    migrate.upgrade(settings.database_url)
    svc = build_services(settings)
    store.publish(svc.db, documents.parse_geojson_zones(CITY_ZONES), source="geojson")
    operator = create_client(svc.db, kind="operator", name="bench")
    token = svc.tokens.issue_access_token(
        client_id=operator.client_id, kind="operator", scopes=("trips:write",)
    )
    tag = uuid.uuid4().hex[:6]
    refs = [f"r{tag}-{i:05d}" for i in range(riders)]

    def link(ref: str) -> None:
        user_id, _ = open_rider(svc, user_of(ref))
        consents.grant(svc.db, user_id, operator.client_id, rider_ref=ref, scenarios=["bike"])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(link, refs))
    svc.db.dispose()
    analyze(database_url)
    return Prepared(env, operator.client_id, token, refs)


class Trips:
    """Distinct plausible trips: the k-th goes to rider k mod R in that rider's slot k // R."""

    def __init__(self, refs: list[str]) -> None:
        self.refs = refs
        self.base = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)
        self.count = 0

    def take(self, n: int, prefix: str) -> list[dict]:
        trips = []
        for _ in range(n):
            k = self.count
            self.count += 1
            slot = k // len(self.refs)
            if slot >= MAX_SLOTS:
                raise BenchError(f"too many trips for {len(self.refs)} riders; raise --riders")
            ended = self.base - slot * SLOT
            trips.append({
                "trip_id": f"{prefix}-{k:07d}", "mode": "bike",
                "rider_ref": self.refs[k % len(self.refs)], "vehicle_id": "B-220114",
                "start_time": (ended - dt.timedelta(minutes=TRIP_MINUTES)).isoformat(),
                "end_time": ended.isoformat(),
                "start": {"lat": STREET[0], "lng": STREET[1]},
                "end": {"lat": IN_CORRAL[0], "lng": IN_CORRAL[1]},
                "distance_m": 2350,
            })  # fmt: skip
        return trips

    def bodies(self, requests: int, per_request: int, prefix: str) -> list[bytes]:
        return [orjson.dumps({"trips": self.take(per_request, prefix)}) for _ in range(requests)]
