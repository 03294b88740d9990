"""kill -9 of the server during a stream of trip batches, then a restart and the client's
retries: every trip is credited exactly once and the books still balance."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import client_token, database_on, run_service
from tests.geo_fixtures import CITY_ZONES, IN_CORRAL, STREET

TIMEOUT = 30
RIDERS = 20
BATCHES = 30
BATCH_SIZE = 100
POINTS = 230  # 2.35 km by bike at 98 g/km, 1,000 points per kg
KILL_AFTER = 5  # batches answered before the kill
KILL_INTO_BATCH_S = 0.05  # so that the kill lands while the next batch is being handled
RETRIES = 100
RETRY_PAUSE_S = 0.1
# The daily cap would trim a rider's 150 trips; this test is about crashes, not the cap.
ENV = {"DAILY_CAP_POINTS": "1000000000"}


def _riders(service, operator_id):
    """Riders with accounts who let the operator credit their bike trips: (rider_ref, headers)."""
    tokens = service.cli("tokens", "rider", *[f"crash-{i}" for i in range(RIDERS)]).split()
    riders = []
    for i, token in enumerate(tokens):
        headers = {"Authorization": f"Bearer {token}"}
        opened = requests.post(service.url("/v1/me/account"), headers=headers, timeout=TIMEOUT)
        assert opened.status_code == 201, opened.text
        consent = requests.put(
            service.url(f"/v1/me/consents/{operator_id}"), headers=headers,
            json={"rider_ref": f"crash-ref-{i}", "scenarios": ["bike"]}, timeout=TIMEOUT,
        )  # fmt: skip
        assert consent.status_code == 200, consent.text
        riders.append((f"crash-ref-{i}", headers))
    return riders


def _trips(rider_refs, now):
    """Valid bike trips, each rider's one after another without overlap, all in the last 2 days."""
    trips = []
    for i in range(BATCHES * BATCH_SIZE):
        rider = i % len(rider_refs)
        ended = now - dt.timedelta(minutes=10 + 16 * (i // len(rider_refs)))
        trips.append({
            "trip_id": f"crash-{i:05d}",
            "mode": "bike",
            "rider_ref": rider_refs[rider],
            "vehicle_id": f"B-{220000 + rider}",
            "start_time": (ended - dt.timedelta(minutes=12)).isoformat(),
            "end_time": ended.isoformat(),
            "start": {"lat": STREET[0], "lng": STREET[1]},
            "end": {"lat": IN_CORRAL[0], "lng": IN_CORRAL[1]},
            "distance_m": 2350,
        })  # fmt: skip
    return trips


class Stream:
    """An operator posting batches one after another, retrying each until it is answered, at
    whichever server ``base_url`` names at the time."""

    def __init__(self, base_url, headers, batches):
        self.base_url = base_url
        self.headers = headers
        self.batches = batches
        self.answers = []
        self.troubles = []  # (base_url, status code or exception name)
        self.error = None

    def run(self):
        try:
            for batch in self.batches:
                self.answers.append(self._post(batch))
        except BaseException as exc:
            self.error = exc

    def _post(self, batch):
        for _ in range(RETRIES):
            base_url = self.base_url
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
            time.sleep(RETRY_PAUSE_S)
        raise AssertionError(f"a batch was not answered in {RETRIES} tries: {self.troubles[-3:]}")


def _gone(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def _kill_9(process):
    """SIGKILL to the gunicorn master and every worker, as a crash or the OOM killer would. The
    master is stopped first so that it cannot fork a worker the kill would miss."""
    os.kill(process.pid, signal.SIGSTOP)
    listed = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True,
                            timeout=10)  # fmt: skip
    workers = [int(pid) for pid in listed.stdout.split()]
    assert workers, "the master has no workers to kill"
    for pid in [process.pid, *workers]:
        os.kill(pid, signal.SIGKILL)
    process.wait(timeout=10)
    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in workers):
        assert time.monotonic() < deadline, f"workers {workers} outlived SIGKILL"
        time.sleep(0.05)


def _wait_for(condition, within_s):
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


def _listed(service, operator):
    return _pages(service, "/v1/trips", operator, "trips", 500)


def _credits(service, rider):
    """How many ledger credits each of the rider's trips has."""
    entries = _pages(service, "/v1/me/entries", rider, "entries", 200)
    credits = [e for e in entries if e["kind"] == "credit"]
    assert all(e["amount"] == POINTS for e in credits), credits
    return Counter(e["trip_uid"] for e in credits)


def _check_answers(stream, batches):
    """Each batch was finally answered in full, every trip credited then or before the crash."""
    assert stream.error is None, stream.error
    assert len(stream.answers) == len(batches)
    for batch, body in zip(batches, stream.answers, strict=True):
        assert body["failures"] == [], body["failures"]
        assert body["total"] == body["success"] == len(batch)
        assert [r["trip_id"] for r in body["results"]] == [t["trip_id"] for t in batch]
        for result in body["results"]:
            status = result.get("original_status", result["status"])
            assert (status, result["points"]) == ("credited", POINTS), result


def _check_stored_once(service, operator, trips):
    """The operator sees each trip once, credited; returns each trip's uid by trip_id."""
    trip_ids = [t["trip_id"] for t in trips]
    listed = _listed(service, operator)
    assert sorted(t["trip_id"] for t in listed) == trip_ids
    assert all((t["status"], t["points"]) == ("credited", POINTS) for t in listed)
    return {t["trip_id"]: t["trip_uid"] for t in listed}


def _check_credited_once(service, riders, trips, uids):
    """Each rider's ledger holds one credit per trip of theirs, and nothing else is pending."""
    pending = 0
    for ref, headers in riders:
        credits = _credits(service, headers)
        assert set(credits) == {uids[t["trip_id"]] for t in trips if t["rider_ref"] == ref}
        assert set(credits.values()) == {1}
        account = requests.get(service.url("/v1/me/account"), headers=headers, timeout=TIMEOUT)
        assert account.status_code == 200, account.text
        pending += account.json()["balance"]["pending"]
    assert pending == POINTS * len(trips)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_kill_9_mid_stream_then_retries_credit_every_trip_exactly_once(kind, tmp_path):
    with database_on(kind, tmp_path) as database_url, ExitStack() as running:
        first = running.enter_context(run_service(tmp_path, database_url, None, **ENV))
        operator_id, operator = client_token(first, "operator")
        _, admin = client_token(first, "admin")
        fences = requests.post(first.url("/v1/fences"), headers=admin, json=CITY_ZONES,
                               timeout=TIMEOUT)  # fmt: skip
        assert fences.status_code == 201, fences.text
        riders = _riders(first, operator_id)
        trips = _trips([ref for ref, _ in riders], dt.datetime.now(dt.UTC).replace(microsecond=0))
        batches = [trips[i : i + BATCH_SIZE] for i in range(0, len(trips), BATCH_SIZE)]
        stream = Stream(first.base_url, operator, batches)
        client = threading.Thread(target=stream.run, daemon=True)
        client.start()

        _wait_for(lambda: len(stream.answers) >= KILL_AFTER or not client.is_alive(), 30)
        time.sleep(KILL_INTO_BATCH_S)
        _kill_9(first.process)
        assert len(stream.answers) < BATCHES, "the stream ended before the kill"
        second = running.enter_context(run_service(tmp_path, database_url, None, **ENV))
        stream.base_url = second.base_url
        client.join(timeout=45)

        assert not client.is_alive(), "the client is still posting"
        assert any(url == first.base_url for url, _ in stream.troubles), "nothing was cut off"
        assert [t for t in stream.troubles if t[0] == second.base_url] == []
        _check_answers(stream, batches)
        uids = _check_stored_once(second, operator, trips)
        _check_credited_once(second, riders, trips, uids)
        assert "ledger ok" in second.cli("ledger", "verify")
