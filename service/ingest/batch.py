"""A batch of trips from decoding to answer: every readable trip ends credited, rejected (with
reasons) or duplicate; every unreadable one is a failure with its index. Nothing is half-written:
the batch's writes are one database transaction, retried whole on a lost race."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import logging
import re
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import Select
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from geo.parking import ParkingJudge, ParkingVerdict
from methodologies.context import MethodologyContext
from service.geofence.catalog import ZoneCatalog
from service.ingest import store
from service.ingest.contract import (
    MDS_DECODER,
    TRIP_DECODER,
    LatLng,
    TripIn,
    UnsupportedVehicle,
    canonical,
    from_mds,
)
from service.ingest.evaluate import BatchContext, Candidate, Consent, evaluate, trip_uid
from service.ingest.gate import WriteGate
from service.ingest.plausibility import PlausibilityRules
from service.ledger.ledger import Ledger
from service.ledger.policy import LedgerPolicy
from service.persistence import bulk, direct
from service.persistence.database import Database
from service.persistence.rider_models import Trip
from service.planner import store as planner
from service.planner.journal import Folding
from service.usecases.parking import ParkingRules

log = logging.getLogger(__name__)

WRITE_ATTEMPTS = 3
# unique violation, serialization failure, deadlock detected
RETRYABLE_SQLSTATES = ("23505", "40001", "40P01")
# Batches up to this size are judged inside their write transaction, bigger ones before it.
JUDGE_FIRST_ABOVE = 20
_PATH = re.compile(r" - at `\$\.?(.*)`$")
_MISSING = re.compile(r"missing required field `([^`]+)`")


@dataclasses.dataclass(frozen=True)
class ItemFailure:
    index: int
    trip_id: str | None
    error: str
    error_description: str
    field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "trip_id": self.trip_id, "error": self.error,
                "error_description": self.error_description, "field": self.field}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Outcome:
    """A batch's results and failures, each by the index of its item."""

    results: dict[int, dict[str, Any]]
    failures: list[ItemFailure]

    def answer(self, total: int) -> dict[str, Any]:
        """The answer API.md gives: ``total``, ``success``, ``results``, ``failures``."""
        return {
            "total": total,
            "success": len(self.results),
            "results": [self.results[i] for i in sorted(self.results)],
            "failures": [f.as_dict() for f in sorted(self.failures, key=lambda f: f.index)],
        }

    def part(self, start: int, stop: int) -> Outcome:
        """The items ``start`` to ``stop`` (exclusive) of this batch, indexed from 0."""
        return Outcome(
            {i - start: result for i, result in self.results.items() if start <= i < stop},
            [dataclasses.replace(f, index=f.index - start)
             for f in self.failures if start <= f.index < stop],
        )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class _Writing:
    """One attempt at writing a batch: its transaction, and where its answers go."""

    session: Session
    operator_id: str
    now: dt.datetime
    zones: ParkingJudge
    results: dict[int, dict[str, Any]]
    failures: list[ItemFailure]


class _Envelope(msgspec.Struct):
    trips: list[msgspec.Raw]


_ENVELOPE = msgspec.json.Decoder(_Envelope)


def decode_envelope(body: bytes) -> list[msgspec.Raw]:
    """The raw items of ``{"trips": [...]}``; raises ``msgspec.ValidationError`` or
    ``msgspec.DecodeError`` when the envelope itself is bad."""
    return _ENVELOPE.decode(body).trips


def decode_items(raws: Sequence[msgspec.Raw], *, mds: bool = False) -> list[TripIn | ItemFailure]:
    """Each item decoded on its own, so one bad item fails alone, naming its field."""
    items: list[TripIn | ItemFailure] = []
    for index, raw in enumerate(raws):
        try:
            items.append(from_mds(MDS_DECODER.decode(raw)) if mds else TRIP_DECODER.decode(raw))
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            message = str(exc)
            items.append(ItemFailure(index, _trip_id_of(raw), "invalid_trip", message,
                                     field_of(message)))  # fmt: skip
        except UnsupportedVehicle as exc:
            items.append(ItemFailure(index, _trip_id_of(raw), "unsupported_vehicle", str(exc),
                                     "vehicle_type"))  # fmt: skip
    return items


def field_of(message: str) -> str | None:
    """The failing field of a msgspec error as a dotted path (``start.lat``, ``trips[3]``)."""
    at = _PATH.search(message)
    path = at.group(1) if at else ""
    missing = _MISSING.search(message)
    if missing:
        path = f"{path}.{missing.group(1)}" if path else missing.group(1)
    return path or None


def _trip_id_of(raw: msgspec.Raw) -> str | None:
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    trip_id = value.get("trip_id") if isinstance(value, dict) else None
    return trip_id if isinstance(trip_id, str) else None


@dataclasses.dataclass(frozen=True)
class Ingestor:
    """Ingests batches for any operator with the deployment's rules."""

    db: Database
    policy: LedgerPolicy
    methodologies: MethodologyContext
    zones: ZoneCatalog
    parking_rules: ParkingRules
    rules: PlausibilityRules
    cell_resolution: int
    folding: Folding
    batch_writes: WriteGate
    # How old a trip rejected for want of a consent may be and still be credited when it comes.
    consent_grace: dt.timedelta

    def ingest(
        self,
        operator_id: str,
        items: Sequence[TripIn | ItemFailure],
        now: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """The answer API.md gives: ``total``, ``success``, ``results``, ``failures``."""
        outcome = self.ingest_indexed(operator_id, items, now)
        self.folding.after_commit()
        return outcome.answer(len(items))

    def ingest_indexed(
        self,
        operator_id: str,
        items: Sequence[TripIn | ItemFailure],
        now: dt.datetime | None = None,
    ) -> Outcome:
        """Every item's result or failure, by its index in ``items``. The roll-up journal is
        left to the caller to fold (``Folding.after_commit``), once the answer is out."""
        now = now or dt.datetime.now(dt.UTC)
        unread = [item for item in items if isinstance(item, ItemFailure)]
        trips = [(i, t) for i, t in enumerate(items) if isinstance(t, TripIn)]
        for attempt in range(WRITE_ATTEMPTS):
            failures = list(unread)
            candidates, echoes = self._distinct(operator_id, trips, failures)
            try:
                results = self._ingest_once(operator_id, candidates, failures, now)
                break
            except (IntegrityError, OperationalError, store.StoredMeanwhile) as exc:
                # A concurrent request stored one of these trips first, or the database chose
                # this transaction as a deadlock victim: nothing was written; judge again.
                # Anything else (the database away) is not retried here.
                if attempt == WRITE_ATTEMPTS - 1 or not _lost_race(exc):
                    raise
        self._credit_consents_granted_meanwhile(operator_id, items, results, now)
        for index, first in echoes:
            if first in results:
                results[index] = {**results[first], "status": "duplicate",
                                  "original_status": results[first]["status"]}  # fmt: skip
        return Outcome(results, failures)

    def _credit_consents_granted_meanwhile(
        self,
        operator_id: str,
        items: Sequence[TripIn | ItemFailure],
        results: dict[int, dict[str, Any]],
        now: dt.datetime,
    ) -> None:
        """Credit the trips this batch rejected for want of a consent that is there now.

        A consent granted while the batch was judged looks for the trips waiting for it before
        the batch has committed them, and finds none. So the batch looks for the consents again
        once committed: each side commits, then looks, so whichever looks last sees both.
        The answer keeps the batch's own verdict; the trip reads as credited from now on.
        Never raises: the batch is committed, and its answer is due."""
        waiting = {trip.rider_ref for index, result in results.items()
                   if result["status"] == "rejected" and result["reasons"] == ["no_consent"]
                   and isinstance(trip := items[index], TripIn)}  # fmt: skip
        if not waiting:
            return
        try:
            with self.db.reading() as session:
                granted = store.consents_for(session, operator_id, waiting)
            for rider_ref, consent in sorted(granted.items()):
                self._credit_waiting(operator_id, rider_ref, consent, now)
        except SQLAlchemyError:
            log.warning("trips of riders who consented while their batch was written were "
                        "not credited; the rider's next consent credits them",
                        exc_info=True)  # fmt: skip

    def _distinct(
        self, operator_id: str, trips: list[tuple[int, TripIn]], failures: list[ItemFailure]
    ) -> tuple[list[Candidate], list[tuple[int, int]]]:
        """One candidate per trip_id; a repeat with the same content echoes the first, a
        repeat with other content is a failure."""
        first: dict[str, Candidate] = {}
        echoes: list[tuple[int, int]] = []
        for index, trip in trips:
            digest = hashlib.sha256(canonical(trip)).hexdigest()
            seen = first.get(trip.trip_id)
            if seen is None:
                first[trip.trip_id] = Candidate(
                    index, trip, digest, trip_uid(operator_id, trip.trip_id)
                )
            elif seen.digest == digest:
                echoes.append((index, seen.index))
            else:
                failures.append(_conflict(index, trip.trip_id, "earlier in this batch"))
        return list(first.values()), echoes

    def _ingest_once(
        self,
        operator_id: str,
        candidates: list[Candidate],
        failures: list[ItemFailure],
        now: dt.datetime,
    ) -> dict[int, dict[str, Any]]:
        results: dict[int, dict[str, Any]] = {}
        judge_first = len(candidates) > JUDGE_FIRST_ABOVE
        # The zones first: refreshing them may read the database, never while a session is open.
        zones = self.zones.judge()
        if judge_first:
            # A big batch is judged before its write transaction, so locks are held briefly;
            # a trip stored meanwhile is found by its unique key when the trips go in.
            with self.db.reading() as session:
                stored = store.stored_trips(session, (c.uid for c in candidates))
                context = self._context(session, operator_id, candidates, now, zones)
            fresh = self._answer_stored(candidates, stored, results, failures)
            evaluate(fresh, context)
        # Big batches are written in turn within the process; a few trips go straight in.
        turn = self.batch_writes.held() if judge_first else contextlib.nullcontext()
        with turn, self.db.transaction() as session:
            writing = _Writing(session, operator_id, now, zones, results, failures)
            if judge_first:
                fresh, inserted = self._settle_judged(writing, fresh)
            else:
                fresh, inserted = self._settle_few(writing, candidates)
        for candidate in fresh:
            answer = _result(candidate)
            if candidate.uid not in inserted:  # stored meanwhile by a request without locks
                answer = {**answer, "status": "duplicate", "original_status": answer["status"]}
            results[candidate.index] = answer
        return results

    def _settle_judged(
        self, writing: _Writing, fresh: list[Candidate]
    ) -> tuple[list[Candidate], set[str]]:
        """Write a judged batch: its trips first, then its credits under the riders' locks.

        Concurrent batches share riders, so the stretch from the locks to the commit runs one
        batch at a time. The trips' COPY, a batch's biggest write, goes in before the locks
        (other transactions see none of it before the commit), each accepted trip as credited
        in full; under the locks only the credits are written, and the few trips settled
        otherwise are updated. A trip stored meanwhile by another request is not inserted
        (the unique key waits for that request's commit): it is answered as stored."""
        session, operator_id, now = writing.session, writing.operator_id, writing.now
        provisional = {c.uid: store.provisional_row(c, self.policy, operator_id, now)
                       for c in fresh}  # fmt: skip
        inserted = store.insert_new(session, list(provisional.values()))
        taken = [c for c in fresh if c.uid not in inserted]
        if taken:
            stored = store.stored_trips(session, (c.uid for c in taken))
            if self._answer_stored(taken, stored, writing.results, writing.failures):
                raise store.StoredMeanwhile(taken[0].uid)  # refused, yet not found: judge again
            fresh = [c for c in fresh if c.uid in inserted]
        crediting = [(c.account_id, c) for c in fresh if not c.reasons and c.account_id]
        _, around = self._lock(session, operator_id, crediting, look_again=())  # type: ignore[arg-type]
        store.settle_accepted(session, self.policy, self.rules, self.parking_rules,
                              [c for _, c in crediting], operator_id, now, around,
                              writing.zones.index)  # fmt: skip
        rows = store.settle_rows(session, fresh, provisional, operator_id, now)
        planner.add_trips(session, rows, self.policy.zone)
        return fresh, inserted

    def _settle_few(
        self, writing: _Writing, candidates: list[Candidate]
    ) -> tuple[list[Candidate], set[str]]:
        """Judge and write a few trips inside the transaction: fewer round trips, and the
        riders' locks come first."""
        session, operator_id, now = writing.session, writing.operator_id, writing.now
        direct.plan_generically(session)  # with BEGIN, in the consents' round trip
        context = self._context(session, operator_id, candidates, now, writing.zones)
        consents = context.consents
        crediting = [(consents[c.trip.rider_ref].account_id, c) for c in candidates
                     if c.trip.rider_ref in consents]  # fmt: skip
        stored, around = self._lock(session, operator_id, crediting, look_again=candidates)
        fresh = self._answer_stored(candidates, stored, writing.results, writing.failures)
        evaluate(fresh, context)
        accepted = [c for c in fresh if not c.reasons and c.account_id]
        # On PostgreSQL, when settling needs no ORM write, the credits, the trips and COMMIT
        # share one round trip (``_insert_and_commit``).
        together = (len(fresh) <= bulk.FEW_ROWS and direct.is_postgres(session)
                    and store.settles_directly(accepted, around))  # fmt: skip
        with direct.pipelined(session) if together else contextlib.nullcontext():
            store.settle_accepted(
                session, self.policy, self.rules, self.parking_rules, accepted, operator_id, now,
                around, writing.zones.index,
            )  # fmt: skip
            rows = [store.trip_row(c, operator_id, now) for c in fresh]
            if together:
                return fresh, self._insert_and_commit(rows, session)
        return fresh, self._insert(rows, session)

    def _insert_and_commit(self, rows: list[dict[str, Any]], session: Session) -> set[str]:
        """Inside ``_settle_few``'s pipeline, after its credits: the trips, their journal rows,
        then COMMIT, all sent without waiting. The trips go in with a plain INSERT, so a trip
        stored meanwhile by a request holding none of these locks fails the transaction on its
        unique key before the COMMIT, and the batch is judged again (as ``StoredMeanwhile``
        has it in ``_insert``). Returns the uids inserted: all of them."""
        bulk.insert_rows(session, store.TRIPS, rows)
        planner.add_trips(session, rows, self.policy.zone)
        direct.commit_sent(session)
        return {row["uid"] for row in rows}

    def _lock(
        self,
        session: Session,
        operator_id: str,
        crediting: list[tuple[str, Candidate]],
        look_again: Sequence[Candidate],
    ) -> tuple[dict[str, store.StoredTrip], store.Surroundings]:
        """The riders' locks, then what is read under them (the trips ``look_again`` names
        among the stored ones, and what settling needs), in one round trip: the database runs
        them in order, so the reads see everything committed before the locks were granted."""
        with direct.pipelined(session):
            locked = Ledger(session, self.policy).send_lock(a for a, _ in crediting)
            stored = store.send_stored_trips(session, (c.uid for c in look_again))
            around = store.send_surroundings(session, self.policy, operator_id, crediting)
        locked()
        return stored(), around

    def _insert(self, rows: list[dict[str, Any]], session: Session) -> set[str]:
        """Store a few new trips (``_settle_few``) and journal those inserted for the
        roll-ups; returns their uids.

        On PostgreSQL they go in one round trip with their journal rows, which assume every
        trip goes in: should one have been stored meanwhile, ``StoredMeanwhile`` undoes the
        lot and the batch is judged again. Otherwise the journal follows what went in.
        """
        if len(rows) > bulk.FEW_ROWS or not direct.is_postgres(session):
            inserted = store.insert_new(session, rows)
            planner.add_trips(session, [r for r in rows if r["uid"] in inserted], self.policy.zone)
            return inserted
        with direct.pipelined(session):
            sent = store.send_new(session, rows)
            planner.add_trips(session, rows, self.policy.zone)
        inserted = sent()
        if len(inserted) < len(rows):
            raise store.StoredMeanwhile(sorted({r["uid"] for r in rows} - inserted)[0])
        return inserted

    def _context(
        self,
        session: Session,
        operator_id: str,
        candidates: list[Candidate],
        now: dt.datetime,
        zones: ParkingJudge,
    ) -> BatchContext:
        """What judging the batch needs from the database: consents and licence cells."""
        consents, licence = store.consents_and_licence(
            session, operator_id, [c.trip for c in candidates]
        )
        return BatchContext(
            operator_id=operator_id, now=now, rules=self.rules, methodologies=self.methodologies,
            judge=zones, consents=consents, licence=licence, cell_resolution=self.cell_resolution,
        )  # fmt: skip

    @staticmethod
    def _answer_stored(
        candidates: list[Candidate],
        stored: dict[str, store.StoredTrip],
        results: dict[int, dict[str, Any]],
        failures: list[ItemFailure],
    ) -> list[Candidate]:
        """Answer the candidates already stored (duplicate, or a conflict when the content
        differs); returns the others."""
        fresh = []
        for candidate in candidates:
            found = stored.get(candidate.trip.trip_id)
            if found is None:
                fresh.append(candidate)
            elif found.digest in (None, candidate.digest):
                results[candidate.index] = {
                    "trip_id": found.trip_id, "trip_uid": found.uid, "status": "duplicate",
                    "original_status": found.status, "points": found.points,
                    "co2_g": found.co2_g, "reasons": list(found.reasons),
                }  # fmt: skip
            else:
                failures.append(_conflict(candidate.index, found.trip_id, "already stored"))
        return fresh

    def credit_after_consent(
        self, operator_id: str, rider_ref: str, now: dt.datetime | None = None
    ) -> int:
        """Credit the operator's trips of this rider that were rejected only for want of a
        consent, if they arrived within ``consent_grace``. Returns how many were credited;
        running it again credits nothing more (it reads the trips again under the account's
        lock)."""
        now = now or dt.datetime.now(dt.UTC)
        with self.db.reading() as session:
            consents = store.consents_for(session, operator_id, [rider_ref])
            # Most consents find nothing waiting: they write nothing and lock no account.
            rejected = self._rejected_in_grace(operator_id, rider_ref, now)
            anything_waiting = session.scalars(rejected.limit(1)).first() is not None
        consent = consents.get(rider_ref)
        if consent is None or not anything_waiting:
            return 0
        return self._credit_waiting(operator_id, rider_ref, consent, now)

    def _rejected_in_grace(
        self, operator_id: str, rider_ref: str, now: dt.datetime
    ) -> Select[tuple[Trip]]:
        return store.rejected_of_rider(operator_id, rider_ref, now - self.consent_grace)

    def _credit_waiting(
        self, operator_id: str, rider_ref: str, consent: Consent, now: dt.datetime
    ) -> int:
        """Credit this rider's trips rejected only for want of ``consent``, read under the
        rider's account lock (so that two runs at once credit them once)."""
        zones = self.zones.judge()
        with self.db.transaction() as session:
            Ledger(session, self.policy).lock([consent.account_id])
            rows = session.scalars(self._rejected_in_grace(operator_id, rider_ref, now)).all()
            waiting = [row for row in rows if list(row.reasons or []) == ["no_consent"]]
            candidates = []
            for row in waiting:
                candidate = _candidate_of(row)
                if row.mode in consent.scenarios:
                    candidate.account_id = consent.account_id
                    candidates.append((row, candidate))
                else:
                    row.reasons = ["scenario_not_consented"]
            accepted = [c for _, c in candidates]
            store.settle_accepted(session, self.policy, self.rules, self.parking_rules,
                                  accepted, operator_id, now,
                                  store.send_surroundings(session, self.policy, operator_id,
                                                          [(consent.account_id, c)
                                                           for c in accepted]),
                                  zones.index)  # fmt: skip
            for row, candidate in candidates:
                row.account_id = candidate.account_id
                row.status = candidate.status
                row.points = candidate.points
                row.reasons = list(candidate.reasons)
                if candidate.consequence is not None and row.parking is not None:
                    row.parking = {**row.parking, "consequence": candidate.consequence}
            planner.add_trips(session, [planner.row_of(row) for row, _ in candidates],
                              self.policy.zone)  # fmt: skip
        return sum(1 for _, c in candidates if c.status == "credited")


def _candidate_of(row: Trip) -> Candidate:
    """A stored trip as a candidate again (for crediting it once its consent arrives)."""
    trip = TripIn(
        trip_id=row.operator_trip_id, mode=row.mode, rider_ref=row.rider_ref or "",  # type: ignore[arg-type]
        start_time=store.as_utc(row.started_at), end_time=store.as_utc(row.ended_at),
        start=None if row.start_lat is None else LatLng(row.start_lat, row.start_lng),  # type: ignore[arg-type]
        end=None if row.end_lat is None else LatLng(row.end_lat, row.end_lng),  # type: ignore[arg-type]
        distance_m=row.distance_m, vehicle_id=row.vehicle_id, vehicle_type=row.vehicle_type,
    )  # fmt: skip
    parking = ParkingVerdict.from_dict(row.parking) if row.parking else None
    return Candidate(0, trip, row.content_digest or "", row.uid, co2_g=row.co2_g,
                     receipt=row.receipt, parking=parking)  # fmt: skip


def _lost_race(error: IntegrityError | OperationalError | store.StoredMeanwhile) -> bool:
    """A unique key taken meanwhile, or a transaction the database rolled back to break a
    deadlock or a serialisation conflict."""
    if isinstance(error, store.StoredMeanwhile):
        return True
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate in RETRYABLE_SQLSTATES
    return isinstance(error, IntegrityError) and "UNIQUE constraint failed" in str(error.orig)


def _conflict(index: int, trip_id: str, where: str) -> ItemFailure:
    return ItemFailure(index, trip_id, "conflict",
                       f"trip_id {trip_id} was sent {where} with different content; "
                       "a trip is never overwritten")  # fmt: skip


def _result(candidate: Candidate) -> dict[str, Any]:
    result = {
        "trip_id": candidate.trip.trip_id,
        "trip_uid": candidate.uid,
        "status": candidate.status,
        "points": candidate.points,
        "co2_g": candidate.co2_g,
        "reasons": list(candidate.reasons),
    }
    if candidate.bonus_points:
        result["bonus_points"] = candidate.bonus_points
    return result
