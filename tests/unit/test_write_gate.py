"""``service.ingest.gate``: big batches of one process take turns, and none waits for ever."""

from __future__ import annotations

import threading
import time

import pytest

from service.errors import Unavailable
from service.ingest.gate import WriteGate

DEADLINE_S = 10


def _hold(gate: WriteGate, inside: threading.Event, leave: threading.Event, log: list) -> None:
    with gate.held():
        log.append("in")
        inside.set()
        assert leave.wait(DEADLINE_S)
        log.append("out")


def test_a_second_writer_waits_for_the_first_to_leave():
    gate, log = WriteGate(1), []
    first_in, first_leaves = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold, args=(gate, first_in, first_leaves, log))
    holder.start()
    assert first_in.wait(DEADLINE_S)

    def second() -> None:
        with gate.held():
            log.append("second in")

    waiter = threading.Thread(target=second)
    waiter.start()
    time.sleep(0.2)
    assert log == ["in"]  # still waiting
    first_leaves.set()
    holder.join(DEADLINE_S)
    waiter.join(DEADLINE_S)
    assert log == ["in", "out", "second in"]


def test_two_slots_let_two_writers_in_at_once():
    gate, log = WriteGate(2), []
    both_in = threading.Barrier(3, timeout=DEADLINE_S)
    leave = threading.Event()

    def writer() -> None:
        with gate.held():
            log.append("in")
            both_in.wait()
            assert leave.wait(DEADLINE_S)

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for thread in threads:
        thread.start()
    both_in.wait()  # would time out if the second writer were kept out
    assert log == ["in", "in"]
    leave.set()
    for thread in threads:
        thread.join(DEADLINE_S)


def test_a_writer_kept_waiting_too_long_is_told_to_retry_and_the_slot_survives():
    gate, log = WriteGate(1, wait_s=0.05), []
    inside, leave = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold, args=(gate, inside, leave, log))
    holder.start()
    assert inside.wait(DEADLINE_S)
    with pytest.raises(Unavailable, match="retry"), gate.held():
        log.append("never")
    leave.set()
    holder.join(DEADLINE_S)
    with gate.held():  # the slot came back
        log.append("again")
    assert log == ["in", "out", "again"]


def test_a_gate_needs_a_slot():
    with pytest.raises(ValueError, match="at least one slot"):
        WriteGate(0)
