"""kill -9 during a stream of trip batches (of the whole server, then of its workers only),
then the client's retries: every trip is credited exactly once and the books still balance."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.e2e.conftest import database_on, run_service
from tests.e2e.trip_stream import (
    ENV,
    Stream,
    check_answers,
    check_books,
    set_up_city,
    trip_batches,
    wait_for,
    wait_for_health,
)

RIDERS = 20
BATCHES = 30
BATCH_SIZE = 100
KILL_AFTER = 5  # batches answered before the kill
KILL_INTO_BATCH_S = 0.05  # so that the kill lands while the next batch is being handled
BACK_WITHIN_S = 10
# A worker killed before it accepted the request leaves it to its successor, cutting nothing
# off; the kill is repeated (at most this often) until one lands mid-request.
WORKER_KILLS = 5
WORKER_KILL_INTO_REQUEST_S = 0.02


def _gone(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def _workers(master_pid):
    listed = subprocess.run(["pgrep", "-P", str(master_pid)], capture_output=True, text=True,
                            timeout=10)  # fmt: skip
    return [int(pid) for pid in listed.stdout.split()]


def _kill_9(pids):
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in pids):
        assert time.monotonic() < deadline, f"{pids} outlived SIGKILL"
        time.sleep(0.05)


def _kill_9_server(process):
    """SIGKILL to the gunicorn master and every worker, as a crash or the OOM killer would. The
    master is stopped first so that it cannot fork a worker the kill would miss."""
    os.kill(process.pid, signal.SIGSTOP)
    workers = _workers(process.pid)
    assert workers, "the master has no workers to kill"
    _kill_9([process.pid, *workers])
    process.wait(timeout=10)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_kill_9_of_the_server_mid_stream_then_retries_credit_every_trip_once(kind, tmp_path):
    with database_on(kind, tmp_path) as database_url, ExitStack() as running:
        first = running.enter_context(run_service(tmp_path, database_url, None, **ENV))
        city = set_up_city(first, RIDERS)
        stream = Stream(first.base_url, city.operator, trip_batches(city, BATCHES, BATCH_SIZE))
        stream.start().wait_for_answers(KILL_AFTER, within_s=30)
        time.sleep(KILL_INTO_BATCH_S)
        _kill_9_server(first.process)
        assert len(stream.answers) < BATCHES, "the stream ended before the kill"
        second = running.enter_context(run_service(tmp_path, database_url, None, **ENV))
        stream.base_url = second.base_url
        stream.join(timeout_s=45)

        assert any(url == first.base_url for url, _ in stream.troubles), "nothing was cut off"
        assert [t for t in stream.troubles if t[0] == second.base_url] == []
        check_answers(stream)
        check_books(second, city, stream)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_kill_9_of_the_workers_mid_batch_then_retries_credit_every_trip_once(kind, tmp_path):
    """The gunicorn master lives on and forks new workers; the batch in flight is cut off and
    the client's retry finds a new worker."""
    with (
        database_on(kind, tmp_path) as database_url,
        run_service(tmp_path, database_url, None, **ENV) as service,
    ):
        city = set_up_city(service, RIDERS)
        stream = Stream(service.base_url, city.operator,
                        trip_batches(city, BATCHES, BATCH_SIZE))  # fmt: skip
        stream.start().wait_for_answers(KILL_AFTER, within_s=30)
        killed: list[int] = []
        for _ in range(WORKER_KILLS):
            wait_for(lambda: stream.in_flight.is_set() or not stream.is_alive(), within_s=30)
            time.sleep(WORKER_KILL_INTO_REQUEST_S)
            workers = _workers(service.process.pid)
            _kill_9(workers)
            killed += workers
            wait_for_health(service, BACK_WITHIN_S)
            if stream.troubles or not stream.is_alive():
                break
        stream.join(timeout_s=45)

        assert service.process.poll() is None, "the master died with its workers"
        assert set(_workers(service.process.pid)).isdisjoint(killed)
        assert stream.troubles, f"{WORKER_KILLS} kills cut nothing off"
        assert all(isinstance(t, str) for _, t in stream.troubles), stream.troubles
        check_answers(stream)
        check_books(service, city, stream)
