"""An operator streaming trip batches at a running service while a test breaks something (the
server, PostgreSQL, Redis), and the checks that follow: every trip answered, stored once,
credited once, and the books still balance."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import requests

from tests.e2e.conftest import RunningService, client_token
from tests.geo_fixtures import CITY_ZONES, IN_CORRAL, STREET

TIMEOUT = 30
POINTS = 230  # 2.35 km by bike at 98 g/km, 1,000 points per kg
RETRY_PAUSE_S = 0.1
# The daily cap would trim a rider's many trips; these tests are about faults, not the cap.
ENV = {"DAILY_CAP_POINTS": "1000000000"}


@dataclass
class City:
    """A service set up for streaming: an operator, an admin, riders who consented."""

    operator_id: str
    operator: dict[str, str]
    admin: dict[str, str]
    riders: list[tuple[str, dict[str, str]]]  # (rider_ref, headers)


def set_up_city(service: RunningService, riders: int) -> City:
    operator_id, operator = client_token(service, "operator")
    _, admin = client_token(service, "admin")
    fences = requests.post(service.url("/v1/fences"), headers=admin, json=CITY_ZONES,
                           timeout=TIMEOUT)  # fmt: skip
    assert fences.status_code == 201, fences.text
    return City(operator_id, operator, admin, _riders(service, operator_id, riders))


def _riders(service, operator_id, count):
    """Riders with accounts who let the operator credit their bike trips: (rider_ref, headers)."""
    tokens = service.cli("tokens", "rider", *[f"stream-{i}" for i in range(count)]).split()
    riders = []
    for i, token in enumerate(tokens):
        headers = {"Authorization": f"Bearer {token}"}
        opened = requests.post(service.url("/v1/me/account"), headers=headers, timeout=TIMEOUT)
        assert opened.status_code == 201, opened.text
        consent = requests.put(
            service.url(f"/v1/me/consents/{operator_id}"), headers=headers,
            json={"rider_ref": f"stream-ref-{i}", "scenarios": ["bike"]}, timeout=TIMEOUT,
        )  # fmt: skip
        assert consent.status_code == 200, consent.text
        riders.append((f"stream-ref-{i}", headers))
    return riders


def trip_batches(city: City, batches: int, batch_size: int) -> list[list[dict]]:
    """Valid bike trips, each rider's one after another without overlap, all in the last 2 days,
    in batches."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    refs = [ref for ref, _ in city.riders]
    trips = []
    for i in range(batches * batch_size):
        rider = i % len(refs)
        ended = now - dt.timedelta(minutes=10 + 16 * (i // len(refs)))
        trips.append({
            "trip_id": f"stream-{i:05d}",
            "mode": "bike",
            "rider_ref": refs[rider],
            "vehicle_id": f"B-{220000 + rider}",
            "start_time": (ended - dt.timedelta(minutes=12)).isoformat(),
            "end_time": ended.isoformat(),
            "start": {"lat": STREET[0], "lng": STREET[1]},
            "end": {"lat": IN_CORRAL[0], "lng": IN_CORRAL[1]},
            "distance_m": 2350,
        })  # fmt: skip
    return [trips[i : i + batch_size] for i in range(0, len(trips), batch_size)]


class Stream:
    """An operator posting batches one after another, retrying each until it is answered (for at
    most ``retries`` tries), at whichever server ``base_url`` names at the time."""

    def __init__(self, base_url: str, headers: dict[str, str], batches: list[list[dict]],
                 retries: int = 100, pause_s: float = 0.0) -> None:  # fmt: skip
        self.base_url = base_url
        self.headers = headers
        self.batches = batches
        self.retries = retries
        self.pause_s = pause_s  # between batches, so a short stream still spans the fault
        self.answers: list[dict] = []
        self.troubles: list[tuple[str, int | str]] = []  # (base_url, status or exception name)
        self.error: BaseException | None = None
        self.in_flight = threading.Event()  # set while a request is on its way or being answered
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Stream:
        self._thread.start()
        return self

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout=timeout_s)
        assert not self._thread.is_alive(), "the client is still posting"

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def wait_for_answers(self, count: int, within_s: float) -> None:
        wait_for(lambda: len(self.answers) >= count or not self.is_alive(), within_s)

    def _run(self) -> None:
        try:
            for batch in self.batches:
                self.answers.append(self._post(batch))
                time.sleep(self.pause_s)
        except BaseException as exc:
            self.error = exc

    def _post(self, batch: list[dict]) -> dict:
        for _ in range(self.retries):
            base_url = self.base_url
            self.in_flight.set()
            try:
                answer = requests.post(base_url + "/v1/trips", headers=self.headers,
                                       json={"trips": batch}, timeout=TIMEOUT)  # fmt: skip
            except requests.RequestException as exc:
                self.troubles.append((base_url, type(exc).__name__))
            else:
                if answer.status_code == 200:
                    return answer.json()
                self.troubles.append((base_url, answer.status_code))
                assert answer.status_code >= 500, answer.text
            finally:
                self.in_flight.clear()
            time.sleep(RETRY_PAUSE_S)
        raise AssertionError(f"a batch was not answered in {self.retries} tries: "
                             f"{self.troubles[-3:]}")  # fmt: skip


def wait_for_health(service: RunningService, within_s: float, **expected: str) -> None:
    """Wait until ``/health`` answers and says what ``expected`` names (``status="ok"``,
    ``database="ok"``; nothing: any answer); fails after ``within_s``."""

    def healthy() -> bool:
        try:
            answer = requests.get(service.url("/health"), timeout=1)
        except requests.RequestException:
            return False  # not listening again yet
        body = answer.json() if answer.status_code == 200 else {}
        return answer.status_code == 200 and all(body.get(k) == v for k, v in expected.items())

    wait_for(healthy, within_s)


def wait_for(condition: Callable[[], bool], within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _pages(service, path, headers, key, limit):
    """Every item of a paged listing, following ``next_cursor``."""
    items, cursor = [], None
    for _ in range(100):
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = requests.get(service.url(path), headers=headers, params=params, timeout=TIMEOUT)
        assert page.status_code == 200, page.text
        items += page.json()[key]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError(f"too many pages of {path}")


def _credits(service, rider):
    """How many ledger credits each of the rider's trips has."""
    entries = _pages(service, "/v1/me/entries", rider, "entries", 200)
    credits = [e for e in entries if e["kind"] == "credit"]
    assert all(e["amount"] == POINTS for e in credits), credits
    return Counter(e["trip_uid"] for e in credits)


def check_answers(stream: Stream) -> None:
    """Each batch was finally answered in full, every trip credited then or before a fault."""
    assert stream.error is None, stream.error
    assert len(stream.answers) == len(stream.batches)
    for batch, body in zip(stream.batches, stream.answers, strict=True):
        assert body["failures"] == [], body["failures"]
        assert body["total"] == body["success"] == len(batch)
        assert [r["trip_id"] for r in body["results"]] == [t["trip_id"] for t in batch]
        for result in body["results"]:
            status = result.get("original_status", result["status"])
            assert (status, result["points"]) == ("credited", POINTS), result


def check_books(service: RunningService, city: City, stream: Stream) -> None:
    """Every trip stored once and credited once, nothing else pending, and ``ledger verify``
    passes."""
    trips = [trip for batch in stream.batches for trip in batch]
    listed = _pages(service, "/v1/trips", city.operator, "trips", 500)
    assert sorted(t["trip_id"] for t in listed) == [t["trip_id"] for t in trips]
    assert all((t["status"], t["points"]) == ("credited", POINTS) for t in listed)
    uids = {t["trip_id"]: t["trip_uid"] for t in listed}
    pending = 0
    for ref, headers in city.riders:
        credits = _credits(service, headers)
        assert set(credits) == {uids[t["trip_id"]] for t in trips if t["rider_ref"] == ref}
        assert set(credits.values()) == {1}
        account = requests.get(service.url("/v1/me/account"), headers=headers, timeout=TIMEOUT)
        assert account.status_code == 200, account.text
        pending += account.json()["balance"]["pending"]
    assert pending == POINTS * len(trips)
    assert "ledger ok" in service.cli("ledger", "verify")
