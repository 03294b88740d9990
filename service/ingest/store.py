"""The database side of ingestion: what is read before a batch is judged, and the one write
transaction that settles it.

Exactly-once: a trip's uid follows from (operator, trip_id), trips are inserted with ON
CONFLICT DO NOTHING, and a credit's id follows from the trip's uid. Accepted trips are settled
under their riders' account locks (taken in sorted order). Only the request that inserted a
trip credits it: a few trips are looked for again under the locks before they go in, a batch's
trips go in before the locks, and of two requests carrying the same trip the later one finds
it stored (its insert waits for the first one's commit) and answers ``duplicate``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Select, Table, bindparam, select, update
from sqlalchemy.orm import Session

from geo.index import ZoneIndex
from service.geofence.licence import send_licence_lookup
from service.ingest.bonuses import credit_bonuses, send_incentive_maps
from service.ingest.contract import TripIn
from service.ingest.evaluate import Candidate, Consent, Licence
from service.ingest.plausibility import PlausibilityRules, Span, check_against
from service.ledger.ledger import CreditRequest, CreditState, Ledger
from service.ledger.policy import LedgerPolicy
from service.persistence import bulk, direct
from service.persistence.rider_models import TRIP_REJECTED, Trip
from service.persistence.rider_models import Consent as ConsentRow
from service.usecases.crediting import TRIP_PURPOSE, reasons_after_credit, trip_credit
from service.usecases.parking import ParkingRules, record_offence
from service.usecases.rebalancing import IncentiveMapView

TRIPS: Table = Trip.__table__  # type: ignore[assignment]
# How far around a batch the rider's other trips are read for overlaps and teleports: at the
# teleport speed (150 km/h) two hours cover 300 km, more than any city's span.
NEIGHBOUR_HORIZON = dt.timedelta(hours=2)
IN_LIST_CHUNK = 900


@dataclasses.dataclass(frozen=True)
class StoredTrip:
    uid: str
    trip_id: str
    digest: str | None
    status: str
    points: int
    co2_g: int
    reasons: list[str]


_STORED = direct.Statement(
    lambda dialect: select(TRIPS.c.uid, TRIPS.c.operator_trip_id, TRIPS.c.content_digest,
                           TRIPS.c.status, TRIPS.c.points, TRIPS.c.co2_g, TRIPS.c.reasons)
    .where(direct.one_of_param(dialect, TRIPS.c.uid, "uids"))
)  # fmt: skip
_CONSENTS = direct.Statement(
    lambda dialect: select(ConsentRow.rider_ref, ConsentRow.account_id, ConsentRow.scenarios)
    .where(ConsentRow.operator_id == bindparam("operator_id"),
           direct.one_of_param(dialect, ConsentRow.rider_ref, "refs"))
)  # fmt: skip
_NEIGHBOURS = direct.Statement(
    lambda dialect: select(TRIPS.c.account_id, TRIPS.c.started_at, TRIPS.c.ended_at,
                           TRIPS.c.start_lng, TRIPS.c.start_lat, TRIPS.c.end_lng, TRIPS.c.end_lat)
    .where(direct.one_of_param(dialect, TRIPS.c.account_id, "accounts"),
           direct.none_of_param(dialect, TRIPS.c.uid, "own"),
           TRIPS.c.status == "credited",
           TRIPS.c.started_at < bindparam("hi"), TRIPS.c.ended_at > bindparam("lo"))
)  # fmt: skip


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), IN_LIST_CHUNK):
        yield values[start : start + IN_LIST_CHUNK]


def stored_trips(session: Session, uids: Iterable[str]) -> dict[str, StoredTrip]:
    """The trips already stored under these uids (``trip_uid``: one operator's trip_ids), by
    trip_id."""
    return send_stored_trips(session, uids)()


def send_stored_trips(session: Session, uids: Iterable[str]) -> Callable[[], dict[str, StoredTrip]]:
    """``stored_trips`` sent now (inside ``direct.pipelined``, with the statements around it)
    and read when called. Looked up by the trips' derived uids: the primary key, so the cost
    does not grow with the trips stored."""
    sent = [_STORED.send(session, uids=chunk) for chunk in _chunks(sorted(set(uids)))]

    def read() -> dict[str, StoredTrip]:
        found: dict[str, StoredTrip] = {}
        for rows in sent:
            for uid, trip_id, digest, status, points, co2_g, reasons in rows.rows():
                found[trip_id] = StoredTrip(uid, trip_id, digest, status, points, co2_g,
                                            reasons or [])  # fmt: skip
        return found

    return read


def consents_for(
    session: Session, operator_id: str, rider_refs: Iterable[str]
) -> dict[str, Consent]:
    return _send_consents(session, operator_id, rider_refs)()


def _send_consents(
    session: Session, operator_id: str, rider_refs: Iterable[str]
) -> Callable[[], dict[str, Consent]]:
    sent = [_CONSENTS.send(session, operator_id=operator_id, refs=chunk)
            for chunk in _chunks(sorted(set(rider_refs)))]  # fmt: skip

    def read() -> dict[str, Consent]:
        found: dict[str, Consent] = {}
        for rows in sent:
            for rider_ref, account_id, scenarios in rows.rows():
                found[rider_ref] = Consent(account_id, tuple(scenarios))
        return found

    return read


def consents_and_licence(
    session: Session, operator_id: str, trips: Sequence[TripIn]
) -> tuple[dict[str, Consent], Licence | None]:
    """The riders' consents for this operator, and its licence cells that the trip ends fall
    in (None: no licence area, so everywhere is licensed), in one round trip where the
    operator has no licence area."""
    with direct.pipelined(session):
        consents = _send_consents(session, operator_id, [t.rider_ref for t in trips])
        licence = send_licence_lookup(session, operator_id)
    ends = [(p.lng, p.lat) for trip in trips for p in (trip.start, trip.end) if p is not None]
    found = licence(ends)
    return consents(), None if found is None else Licence(found[0], frozenset(found[1]))


def rejected_of_rider(operator_id: str, rider_ref: str, since: dt.datetime) -> Select[tuple[Trip]]:
    """The operator's trips of this rider rejected and received since ``since``, by start time
    (a consent arrived: those rejected for want of it may be credited now)."""
    return (
        select(Trip)
        .where(Trip.operator_id == operator_id, Trip.rider_ref == rider_ref, TRIP_REJECTED,
               Trip.created_at >= since)
        .order_by(Trip.started_at)
    )  # fmt: skip


def settle_accepted(
    session: Session,
    policy: LedgerPolicy,
    rules: PlausibilityRules,
    parking_rules: ParkingRules,
    candidates: Sequence[Candidate],
    operator_id: str,
    now: dt.datetime,
    around: Surroundings,
    zones: ZoneIndex | None = None,
) -> None:
    """Check each accepted candidate against its rider's other trips and credit those that
    pass, in one set-based ledger write, with any rebalancing bonus they earned (``zones``
    places trip ends in parking-zone dispatch units). ``around`` was sent under the riders'
    account locks, which the caller holds, for these candidates or more."""
    if not candidates:
        return
    others = around.neighbours()
    passed: list[Candidate] = []
    for candidate in sorted(candidates, key=lambda c: (c.account_id, c.trip.start_time, c.uid)):
        mine = others[candidate.account_id]
        span = candidate.span
        reasons = check_against(span, mine, rules)
        if reasons:
            candidate.reasons.extend(reasons)
            candidate.status = "rejected"
            continue
        mine.append(span)
        passed.append(candidate)
    passed.sort(key=lambda c: (c.trip.end_time, c.uid))
    requests = [
        trip_credit(policy, account_id=c.account_id, trip_uid=c.uid, co2_g=c.co2_g,  # type: ignore[arg-type]
                    mode=c.trip.mode, receipt=c.receipt, ended_at=c.trip.end_time,
                    withheld=c.withheld)
        for c in passed
    ]  # fmt: skip
    outcomes = Ledger(session, policy).credit_many(requests, now, around.credits)
    for candidate, outcome in zip(passed, outcomes, strict=True):
        candidate.status = "credited"
        candidate.points = outcome.points
        candidate.reasons = reasons_after_credit(
            candidate.reasons, candidate.withheld, outcome.capped
        )
        verdict = candidate.parking
        if verdict is not None and not verdict.allowed:
            offence = _OffenceTrip(candidate.uid, candidate.account_id, operator_id,
                                   candidate.trip.end_time)  # fmt: skip
            candidate.consequence = record_offence(session, policy, parking_rules, offence, verdict)
    bonuses = credit_bonuses(session, policy, operator_id, passed, now, around.incentive_maps,
                             zones)  # fmt: skip
    for candidate in passed:
        candidate.bonus_points = bonuses.get(candidate.uid, 0)


def settles_directly(candidates: Sequence[Candidate], around: Surroundings) -> bool:
    """Whether ``settle_accepted`` writes these candidates through direct statements only, so
    that its writes can go in a pipeline: a bad parking's offence and a reversed rebalancing
    bonus go through the ORM. With no incentive map in force there is no bonus at all."""
    if any(c.parking is not None and not c.parking.allowed for c in candidates):
        return False
    return not candidates or not around.incentive_maps()


@dataclasses.dataclass(frozen=True)
class _OffenceTrip:
    uid: str
    account_id: str | None
    operator_id: str
    ended_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class Surroundings:
    """What settling a batch reads besides its own trips (``send_surroundings``)."""

    neighbours: Callable[[], dict[str | None, list[Span]]]
    incentive_maps: Callable[[], dict[dt.datetime, IncentiveMapView]]
    credits: CreditState


def send_surroundings(
    session: Session,
    policy: LedgerPolicy,
    operator_id: str,
    crediting: Sequence[tuple[str, Candidate]],
) -> Surroundings:
    """For the candidates that may be credited, each with the account it would go to: the
    riders' neighbouring trips, the operator's incentive maps and the ledger's day totals,
    sent now (inside ``direct.pipelined``, after the accounts' lock)."""
    trips = [c.trip for _, c in crediting]
    # What the state is read for: each credit's id, account and day (not its points).
    probes = [CreditRequest(account, TRIP_PURPOSE, c.uid, 0, c.trip.end_time)
              for account, c in crediting]  # fmt: skip
    return Surroundings(
        send_neighbours(session, crediting),
        send_incentive_maps(session, operator_id, trips),
        # Only trips found new under these locks, or inserted by this transaction, are
        # credited, and a trip's credit goes in with it: none can have been written before.
        Ledger(session, policy).send_credit_state(probes, unwritten=True),
    )


def send_neighbours(
    session: Session, crediting: Sequence[tuple[str, Candidate]]
) -> Callable[[], dict[str | None, list[Span]]]:
    """The other credited trips (any operator) of the riders of ``crediting`` around its trips'
    time range, sent now (inside ``direct.pipelined``, with the statements around it); what it
    returns reads them as spans by account. The candidates' own trips are left out in the
    query: a big batch's are stored by then, and would come back as half of what it reads."""
    own: dict[str, list[str]] = defaultdict(list)
    for account, candidate in crediting:
        if account:
            own[account].append(candidate.uid)
    if not own:
        return lambda: defaultdict(list)
    lo = min(c.trip.start_time for _, c in crediting) - NEIGHBOUR_HORIZON
    hi = max(c.trip.end_time for _, c in crediting) + NEIGHBOUR_HORIZON
    sent = [
        _NEIGHBOURS.send(session, accounts=chunk, own=[u for a in chunk for u in own[a]],
                         lo=lo, hi=hi)
        for chunk in _chunks(sorted(own))
    ]  # fmt: skip

    @functools.cache
    def rows() -> list[tuple[Any, ...]]:
        return [row for chunk in sent for row in chunk.rows()]

    def spans() -> dict[str | None, list[Span]]:
        found: dict[str | None, list[Span]] = defaultdict(list)
        for account, started, ended, slng, slat, elng, elat in rows():
            start = None if slng is None else (slng, slat)
            end = None if elng is None else (elng, elat)
            found[account].append(Span(as_utc(started), as_utc(ended), start, end))
        return found

    return spans


def as_utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def trip_row(candidate: Candidate, operator_id: str, now: dt.datetime) -> dict[str, Any]:
    trip = candidate.trip
    methodology = (candidate.receipt or {}).get("methodology") or {}
    verdict = candidate.parking
    parking = None
    if verdict is not None:
        parking = verdict.as_dict()
        if candidate.consequence is not None:
            parking["consequence"] = candidate.consequence
    return {
        "uid": candidate.uid, "operator_id": operator_id, "operator_trip_id": trip.trip_id,
        "account_id": candidate.account_id, "rider_ref": trip.rider_ref, "mode": trip.mode,
        "started_at": trip.start_time.astimezone(dt.UTC),
        "ended_at": trip.end_time.astimezone(dt.UTC),
        "start_lat": trip.start.lat if trip.start else None,
        "start_lng": trip.start.lng if trip.start else None,
        "end_lat": trip.end.lat if trip.end else None,
        "end_lng": trip.end.lng if trip.end else None,
        "distance_m": trip.distance_m, "status": candidate.status,
        "reasons": list(candidate.reasons), "co2_g": candidate.co2_g, "points": candidate.points,
        "pollutants_mg": candidate.pollutants_mg, "receipt": candidate.receipt,
        "methodology_id": methodology.get("id"), "methodology_version": methodology.get("version"),
        "parking": parking,
        "parking_category": verdict.parking_category if verdict else None,
        "parking_zone_id": verdict.zone_id if verdict else None,
        "created_at": now, "content_digest": candidate.digest, "vehicle_id": trip.vehicle_id,
        "vehicle_type": trip.vehicle_type, "entry_station": trip.entry_station,
        "exit_station": trip.exit_station, "line_id": trip.line_id,
        "start_cell": candidate.start_cell, "end_cell": candidate.end_cell,
    }  # fmt: skip


# What settling a trip under its rider's lock may change in its stored row.
VERDICT_COLUMNS = ("status", "reasons", "points", "parking")
_SET_VERDICT = (
    update(TRIPS)
    .where(TRIPS.c.uid == bindparam("b_uid"))
    .values({name: bindparam(f"b_{name}") for name in VERDICT_COLUMNS})
)


def provisional_row(
    candidate: Candidate, policy: LedgerPolicy, operator_id: str, now: dt.datetime
) -> dict[str, Any]:
    """The trip's row as it goes in before its rider's lock is taken: an accepted trip as
    credited in full, which it is unless settling it (``settle_accepted``: the checks against
    the rider's other trips, the daily cap, a parking consequence) decides otherwise."""
    row = trip_row(candidate, operator_id, now)
    if not candidate.reasons and candidate.account_id:
        withheld = candidate.withheld
        row["status"] = "credited"
        row["points"] = 0 if withheld else policy.points_for(candidate.co2_g)
        row["reasons"] = reasons_after_credit(list(candidate.reasons), withheld, capped=False)
    return row


def settle_rows(
    session: Session,
    candidates: Sequence[Candidate],
    provisional: dict[str, dict[str, Any]],
    operator_id: str,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """The candidates' rows as settled: those whose verdict differs from their provisional
    row are updated (a few at most: a rider's overlapping trip, a capped day, a bad
    parking); returns every row as it now stands."""
    rows, changed = [], []
    for candidate in candidates:
        row = provisional[candidate.uid]
        settled = (candidate.status, candidate.points, candidate.reasons, candidate.consequence)
        if settled != (row["status"], row["points"], row["reasons"], None):
            row = trip_row(candidate, operator_id, now)
            changed.append({f"b_{name}": row[name] for name in ("uid", *VERDICT_COLUMNS)})
        rows.append(row)
    if changed:
        session.execute(_SET_VERDICT, changed)
    return rows


def insert_new(session: Session, rows: list[dict[str, Any]]) -> set[str]:
    """Insert trips that are not stored yet; returns the uids this call inserted."""
    return bulk.insert_missing(session, TRIPS, rows, "uid")


def send_new(session: Session, rows: list[dict[str, Any]]) -> Callable[[], set[str]]:
    """``insert_new`` for a few trips, sent now (inside ``direct.pipelined``, with the
    statements after it); call what it returns for the uids inserted."""
    return direct.send_new(session, TRIPS, sorted(rows, key=lambda r: r["uid"]), "uid")


class StoredMeanwhile(Exception):
    """A trip judged new was stored by a concurrent request while this one was writing (one
    that held none of its locks): the transaction is rolled back and the batch judged again."""
