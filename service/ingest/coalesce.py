"""Small trip requests of one operator that arrive together share one batch (group commit).

A request of one trip costs about as many statements and round trips as a batch of dozens:
consents, licence, locks, stored trips, neighbours, day totals, the ledger and the trip rows
are each one set-based statement whatever the batch's size. So, within a process, while a batch
of an operator is being written, that operator's small requests wait and then go together as
the next batch. Nothing waits when nothing is in flight, and the next group forms while one is
written.

Each request gets the answer it would have had on its own, with its own indexes: requests
that share a ``trip_id`` never go in the same batch (the later one then finds the trip stored,
as it would have), and a request over ``SMALL_REQUEST`` trips goes alone, as before. A batch
that fails fails every request in it; none of its trips was written.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections import deque
from collections.abc import Callable, Sequence

from service.ingest.batch import ItemFailure, Outcome
from service.ingest.contract import TripIn

SMALL_REQUEST = 100  # trips; bigger requests are batches already and go alone
GROUP_LIMIT = 1000  # trips in one shared batch, as in one request
WAIT_S = 300.0  # a request never waits longer for the batches before it and its own

Item = TripIn | ItemFailure
Run = Callable[[str, Sequence[Item], dt.datetime], Outcome]


@dataclasses.dataclass(eq=False)
class _Request:
    items: Sequence[Item]
    now: dt.datetime
    trip_ids: frozenset[str]
    settled: threading.Event = dataclasses.field(default_factory=threading.Event)
    leads: bool = False
    outcome: Outcome | None = None
    error: BaseException | None = None


class Coalescer:
    """Runs small requests of an operator together, one batch at a time per operator."""

    def __init__(self, run: Run, *, small: int = SMALL_REQUEST, limit: int = GROUP_LIMIT) -> None:
        self._run = run
        self._small = small
        self._limit = limit
        self._lock = threading.Lock()
        # Requests waiting, per operator; an operator has an entry, empty or not, from when a
        # request starts a batch until the last batch in line is written.
        self._queues: dict[str, deque[_Request]] = {}

    def ingest(self, operator_id: str, items: Sequence[Item], now: dt.datetime) -> Outcome:
        """The outcome of this request's items, by their index in ``items``."""
        if len(items) > self._small:
            return self._run(operator_id, items, now)
        trip_ids = frozenset(item.trip_id for item in items if isinstance(item, TripIn))
        me = _Request(items, now, trip_ids)
        with self._lock:
            me.leads = operator_id not in self._queues
            self._queues.setdefault(operator_id, deque()).append(me)
        if not me.leads:
            self._wait(operator_id, me)
            if not me.leads:
                return self._settled(me)
        return self._lead(operator_id, me)

    def waiting(self, operator_id: str) -> int:
        """How many of this operator's requests wait for a batch now."""
        with self._lock:
            return len(self._queues.get(operator_id, ()))

    def _wait(self, operator_id: str, me: _Request) -> None:
        """Until a batch answered this request or made it the next leader."""
        if me.settled.wait(WAIT_S):
            return
        with self._lock:
            queue = self._queues.get(operator_id)
            # Still waiting, neither answered nor made leader (both happen under this lock).
            if not me.settled.is_set() and queue is not None and me in queue:
                queue.remove(me)
                raise TimeoutError(
                    f"trips of {operator_id} waited over {WAIT_S:.0f} s to be written"
                )
        if not me.settled.wait(WAIT_S):  # taken into a batch now being written
            raise TimeoutError(f"a batch of {operator_id} took over {WAIT_S:.0f} s")

    def _lead(self, operator_id: str, me: _Request) -> Outcome:
        """Write the next group (this request first), then hand over to the next in line."""
        with self._lock:
            group = self._take(self._queues[operator_id])
        assert group[0] is me
        try:
            items: list[Item] = []
            starts = []
            for request in group:
                starts.append(len(items))
                items.extend(_shifted(request.items, len(items)))
            outcome = self._run(operator_id, items, max(r.now for r in group))
            for request, start in zip(group, starts, strict=True):
                request.outcome = outcome.part(start, start + len(request.items))
        except BaseException as exc:
            for request in group:
                request.error = exc
        finally:
            with self._lock:
                queue = self._queues[operator_id]
                if queue:
                    queue[0].leads = True
                    queue[0].settled.set()
                else:
                    del self._queues[operator_id]
            for request in group[1:]:
                request.settled.set()
        return self._settled(me)

    def _take(self, queue: deque[_Request]) -> list[_Request]:
        """The requests at the head of the queue that fit one batch together, in order."""
        group = [queue.popleft()]
        size = len(group[0].items)
        trip_ids = set(group[0].trip_ids)
        while queue:
            request = queue[0]
            if size + len(request.items) > self._limit or not trip_ids.isdisjoint(request.trip_ids):
                break
            group.append(queue.popleft())
            size += len(request.items)
            trip_ids |= request.trip_ids
        return group

    @staticmethod
    def _settled(me: _Request) -> Outcome:
        if me.error is not None:
            raise me.error
        assert me.outcome is not None
        return me.outcome


def _shifted(items: Sequence[Item], offset: int) -> list[Item]:
    """A request's items as part of a bigger batch: its unreadable items' indexes moved on."""
    if not offset:
        return list(items)
    return [
        dataclasses.replace(item, index=item.index + offset)
        if isinstance(item, ItemFailure)
        else item
        for item in items
    ]
