"""``service.ingest.coalesce``: which requests share a batch, and what each gets back."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from service.ingest.batch import ItemFailure, Outcome
from service.ingest.coalesce import Coalescer, Item
from service.ingest.contract import TripIn

NOW = dt.datetime(2026, 11, 2, 4, 0, tzinfo=dt.UTC)
DEADLINE_S = 10


def trip(trip_id: str) -> TripIn:
    return TripIn(trip_id=trip_id, mode="bike", rider_ref="r1",
                  start_time=NOW - dt.timedelta(minutes=20), end_time=NOW)  # fmt: skip


def unreadable(index: int) -> ItemFailure:
    return ItemFailure(index, None, "invalid_trip", "not a trip", "trip_id")


class Writer:
    """Stands in for the batch writer: records each batch, answers every readable trip by
    its id and every unreadable one as it came; a batch may be held until released, and one
    holding a trip of ``doomed`` fails whole."""

    def __init__(self) -> None:
        self.batches: list[list[str | int]] = []
        self.hold = threading.Event()
        self.hold.set()
        self.doomed: set[str] = set()

    def __call__(self, operator: str, items: Sequence[Item], now: dt.datetime) -> Outcome:
        self.batches.append([i.trip_id if isinstance(i, TripIn) else i.index for i in items])
        assert self.hold.wait(DEADLINE_S)
        if self.doomed.intersection(self.batches[-1]):
            raise ConnectionError("database away")
        results = {n: {"trip_id": i.trip_id} for n, i in enumerate(items) if isinstance(i, TripIn)}
        return Outcome(results, [i for i in items if isinstance(i, ItemFailure)])


def until(condition) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


@pytest.fixture
def writer() -> Writer:
    return Writer()


@pytest.fixture
def pool():
    with ThreadPoolExecutor(8) as executor:
        yield executor


def start_first_batch(coalescer: Coalescer, writer: Writer, pool, trip_id: str = "a") -> Future:
    """A one-trip request whose batch is being written (held) when this returns."""
    writer.hold.clear()
    first = pool.submit(coalescer.ingest, "op", [trip(trip_id)], NOW)
    until(lambda: writer.batches[-1:] == [[trip_id]])
    return first


def test_requests_arriving_during_a_write_share_the_next_batch_with_their_own_indexes(writer, pool):
    coalescer = Coalescer(writer)
    first = start_first_batch(coalescer, writer, pool)
    second = pool.submit(coalescer.ingest, "op", [trip("b1"), trip("b2")], NOW)
    until(lambda: coalescer.waiting("op") == 1)
    third = pool.submit(coalescer.ingest, "op", [trip("c1"), unreadable(1), trip("c3")], NOW)
    until(lambda: coalescer.waiting("op") == 2)
    writer.hold.set()

    assert first.result(DEADLINE_S).answer(1)["results"] == [{"trip_id": "a"}]
    assert second.result(DEADLINE_S).answer(2) == {
        "total": 2, "success": 2, "results": [{"trip_id": "b1"}, {"trip_id": "b2"}],
        "failures": [],
    }  # fmt: skip
    third_answer = third.result(DEADLINE_S).answer(3)
    assert third_answer["results"] == [{"trip_id": "c1"}, {"trip_id": "c3"}]
    assert [f["index"] for f in third_answer["failures"]] == [1]
    assert third.result().results.keys() == {0, 2}
    assert writer.batches == [["a"], ["b1", "b2", "c1", 3, "c3"]]
    assert coalescer.waiting("op") == 0


def test_requests_sharing_a_trip_id_never_share_a_batch(writer, pool):
    coalescer = Coalescer(writer)
    first = start_first_batch(coalescer, writer, pool)
    again = [pool.submit(coalescer.ingest, "op", [trip("x"), trip(f"y{n}")], NOW) for n in range(2)]
    until(lambda: coalescer.waiting("op") == 2)
    writer.hold.set()
    for future in [first, *again]:
        future.result(DEADLINE_S)
    assert writer.batches == [["a"], ["x", "y0"], ["x", "y1"]]


def test_a_big_request_goes_alone_without_waiting(writer, pool):
    coalescer = Coalescer(writer, small=2)
    first = start_first_batch(coalescer, writer, pool)
    big = [trip(f"big{n}") for n in range(3)]
    writer_done = pool.submit(coalescer.ingest, "op", big, NOW)
    until(lambda: len(writer.batches) == 2)  # written while the first one is
    writer.hold.set()
    assert writer_done.result(DEADLINE_S).results.keys() == {0, 1, 2}
    first.result(DEADLINE_S)


def test_a_failed_batch_fails_each_of_its_requests_and_the_next_in_line_still_runs(writer, pool):
    writer.doomed = {"a", "f0"}
    coalescer = Coalescer(writer)
    first = start_first_batch(coalescer, writer, pool)
    after = [pool.submit(coalescer.ingest, "op", [trip(f"d{n}")], NOW) for n in range(2)]
    until(lambda: coalescer.waiting("op") == 2)
    writer.hold.set()
    with pytest.raises(ConnectionError):
        first.result(DEADLINE_S)
    assert [f.result(DEADLINE_S).results for f in after] == [{0: {"trip_id": "d0"}},
                                                              {0: {"trip_id": "d1"}}]  # fmt: skip

    held = start_first_batch(coalescer, writer, pool, "e")
    together = [pool.submit(coalescer.ingest, "op", [trip(f"f{n}")], NOW) for n in range(2)]
    until(lambda: coalescer.waiting("op") == 2)
    writer.hold.set()
    held.result(DEADLINE_S)
    for future in together:
        with pytest.raises(ConnectionError):
            future.result(DEADLINE_S)
    assert writer.batches[-1] == ["f0", "f1"]
    assert coalescer.ingest("op", [trip("g")], NOW).results == {0: {"trip_id": "g"}}


def test_operators_do_not_wait_for_each_other(writer, pool):
    coalescer = Coalescer(writer)
    first = start_first_batch(coalescer, writer, pool)
    other = pool.submit(coalescer.ingest, "other-op", [trip("o")], NOW)
    until(lambda: len(writer.batches) == 2)  # written while "op" is
    writer.hold.set()
    assert other.result(DEADLINE_S).results == {0: {"trip_id": "o"}}
    first.result(DEADLINE_S)


def test_a_request_that_waits_too_long_gives_up_and_leaves_the_line(writer, pool, monkeypatch):
    monkeypatch.setattr("service.ingest.coalesce.WAIT_S", 0.2)
    coalescer = Coalescer(writer)
    first = start_first_batch(coalescer, writer, pool)
    with pytest.raises(TimeoutError):
        coalescer.ingest("op", [trip("late")], NOW)
    assert coalescer.waiting("op") == 0
    writer.hold.set()
    first.result(DEADLINE_S)
    assert coalescer.ingest("op", [trip("next")], NOW).results == {0: {"trip_id": "next"}}
    assert writer.batches == [["a"], ["next"]]
