"""A rider's carbon account: open it, read it, export it, erase the person behind it."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import secrets
from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.errors import InvalidInput, NotFound
from service.ledger.ledger import Ledger
from service.ledger.policy import LedgerPolicy
from service.persistence import direct
from service.persistence.database import Database
from service.persistence.ledger_models import Account, LedgerEntry, LedgerTransaction
from service.persistence.mall_models import Redemption
from service.persistence.rider_models import Consent, Dispute, Rider, Trip

TREE_G = 17_900  # one saxaul tree's lifetime uptake (Ant Forest), METHODOLOGIES.md
POLLUTANTS = ("co", "hc", "nox", "pm")
COUNTED_STATUSES = ("credited",)
MAX_PAGE = 200
NO_ACCOUNT = "no carbon account; open one with POST /v1/me/account"
# Per mode: CO2, trips, then each co-pollutant in POLLUTANTS order.
_TOTALS = (
    Trip.mode,
    func.sum(Trip.co2_g),
    func.count(),
    *(func.sum(Trip.pollutants_mg[name].as_integer()) for name in POLLUTANTS),
)


# The rider app's most frequent reads, each prepared once per connection (``direct``).
_ACCOUNT_ID_OF_USER = direct.Statement(
    lambda dialect: select(Rider.account_id).where(Rider.user_id == bindparam("user_id"))
)
_ACCOUNT_OF_USER = direct.Statement(
    lambda dialect: select(Account.id, Account.pending, Account.available, Account.held)
    .join(Rider, Rider.account_id == Account.id)
    .where(Rider.user_id == bindparam("user_id"))
)  # fmt: skip
_TOTALS_BY_MODE = direct.Statement(
    lambda dialect: select(*_TOTALS)
    .where(Trip.account_id == bindparam("account_id"),
           direct.one_of_param(dialect, Trip.status, "statuses"))
    .group_by(Trip.mode)
)  # fmt: skip


def new_account_id() -> str:
    return f"acc_{secrets.token_hex(12)}"


def account_id_of(session: Session, user_id: str) -> str:
    """The account of ``user_id``; NotFound if they have none (or erased themselves)."""
    found = _ACCOUNT_ID_OF_USER.scalars(session, user_id=user_id)
    if not found or found[0] is None:
        raise NotFound(NO_ACCOUNT)
    return found[0]  # type: ignore[no-any-return]


class _Owned(Protocol):
    account_id: str | None


OwnedRow = TypeVar("OwnedRow", bound=_Owned)


def owned(row: OwnedRow | None, account_id: str, what: str) -> OwnedRow:
    """``row`` if it belongs to the account. Anyone else's answers exactly like a missing
    one, so ids cannot be probed."""
    if row is None or row.account_id != account_id:
        raise NotFound(f"no {what}")
    return row


def newest_of(db: Database, user_id: str, model: Any, *, limit: int = MAX_PAGE) -> list[Any]:
    """The rider's own rows of ``model`` (one with ``account_id`` and ``created_at``), newest
    first."""
    with db.reading() as session:
        account_id = account_id_of(session, user_id)
        return list(
            session.scalars(
                select(model)
                .where(model.account_id == account_id)
                .order_by(model.created_at.desc())
                .limit(limit)
            )
        )


def open_account(db: Database, policy: LedgerPolicy, user_id: str) -> tuple[str, bool]:
    """Open the rider's account if needed. Returns (account id, whether it was created)."""
    for _ in range(2):  # a concurrent open may win the race; then read what it made
        try:
            with db.transaction() as session:
                existing = session.get(Rider, user_id)
                if existing is not None:
                    return existing.account_id, False
                now = dt.datetime.now(dt.UTC)
                account_id = new_account_id()
                Ledger(session, policy).open_personal_account(account_id, now)
                session.add(Rider(user_id=user_id, account_id=account_id, created_at=now))
                return account_id, True
        except IntegrityError:
            continue
    raise RuntimeError("could not open the account")  # unreachable but for a broken database


def summary(db: Database, user_id: str) -> dict[str, Any]:
    """Balances, CO2 totals by mode, co-pollutants and trees equivalent.

    The most frequent read of the rider app: two indexed queries in a read-only transaction
    (so on SQLite it never waits for a writer), the sums done by the database."""
    with db.reading() as session:
        found = _ACCOUNT_OF_USER.rows(session, user_id=user_id)
        if not found:
            raise NotFound(NO_ACCOUNT)
        account_id, pending, available, held = found[0]
        rows = _TOTALS_BY_MODE.rows(session, account_id=account_id,
                                    statuses=list(COUNTED_STATUSES))  # fmt: skip
    by_mode = {row[0]: int(row[1] or 0) for row in rows}
    co2_g = sum(by_mode.values())
    pollutants_mg = {
        name: sum(int(row[3 + i] or 0) for row in rows) for i, name in enumerate(POLLUTANTS)
    }
    return {
        "account_id": account_id,
        "balance": {"available": available or 0, "pending": pending or 0, "held": held or 0},
        "totals": {
            "co2_g": co2_g,
            "by_mode": by_mode,
            "trips": sum(int(row[2]) for row in rows),
            "pollutants_g": {k: v / 1000 for k, v in pollutants_mg.items()},
        },
        "trees_equivalent": round(co2_g / TREE_G, 2),
    }


def encode_cursor(position: int | str) -> str:
    """An opaque page cursor for a position (an entry id, or any text)."""
    return base64.urlsafe_b64encode(str(position).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The entry id a cursor of ``encode_cursor`` holds (one a BIGINT column can hold)."""
    try:
        position = int(decode_text_cursor(cursor))
    except ValueError as exc:
        raise invalid_cursor() from exc
    if not 0 < position <= NO_ENTRY_ABOVE:
        raise invalid_cursor()
    return position


def decode_text_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.urlsafe_b64decode(padded.encode()).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise invalid_cursor() from exc


def invalid_cursor() -> InvalidInput:
    return InvalidInput(
        "the cursor is not one this service gave out", errors={"cursor": ["invalid"]}
    )


def entries_page(
    db: Database, user_id: str, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The rider's ledger entries, newest first; a cursor continues after the last one seen.
    Columns, not ORM objects: a page is read often and its rows are only ever shown."""
    limit = max(1, min(limit, MAX_PAGE))
    with db.reading() as session:
        account_id = account_id_of(session, user_id)
        before = decode_cursor(cursor) if cursor else NO_ENTRY_ABOVE
        rows = _ENTRIES_BEFORE.mappings(session, account_id=account_id, before=before,
                                        limit=limit + 1)  # fmt: skip
    page = [_entry_view(row) for row in rows[:limit]]
    next_cursor = encode_cursor(rows[limit - 1]["entry_id"]) if len(rows) > limit else None
    return page, next_cursor


_ENTRY_COLUMNS = (
    LedgerEntry.id.label("entry_id"),
    LedgerTransaction.id.label("transaction_id"),
    LedgerTransaction.kind,
    LedgerEntry.bucket,
    LedgerEntry.amount,
    LedgerTransaction.trip_uid,
    LedgerTransaction.details,
    LedgerEntry.created_at,
)


# Above every entry id (a BIGINT): the first page's bound.
NO_ENTRY_ABOVE = 2**63 - 1
# A page of a rider's entries, newest first, below an entry id.
_ENTRIES_BEFORE = direct.Statement(
    lambda dialect: select(*_ENTRY_COLUMNS)
    .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
    .where(LedgerEntry.account_id == bindparam("account_id"),
           LedgerEntry.id < bindparam("before"))
    .order_by(LedgerEntry.id.desc())
    .limit(bindparam("limit"))
)  # fmt: skip


def _entry_view(row: Mapping[str, Any]) -> dict[str, Any]:
    details = row["details"] or {}
    return {
        "entry_id": row["entry_id"],
        "transaction_id": row["transaction_id"],
        "kind": row["kind"],
        "bucket": row["bucket"],
        "amount": row["amount"],
        "trip_uid": row["trip_uid"],
        "purpose": details.get("purpose"),
        "reason": details.get("reason"),
        "created_at": row["created_at"],
    }


def trip_view(trip: Trip, session: Session) -> dict[str, Any]:
    """A trip with its receipt, parking verdict and what the ledger did with it."""
    credits = session.scalars(
        select(LedgerTransaction).where(LedgerTransaction.trip_uid == trip.uid)
    ).all()
    return {
        "trip_uid": trip.uid,
        "operator_id": trip.operator_id,
        "trip_id": trip.operator_trip_id,
        "mode": trip.mode,
        "start_time": trip.started_at,
        "end_time": trip.ended_at,
        "distance_m": trip.distance_m,
        "status": trip.status,
        "reasons": list(trip.reasons or []),
        "co2_g": trip.co2_g,
        "points": trip.points,
        "pollutants_g": {k: int(v) / 1000 for k, v in (trip.pollutants_mg or {}).items()},
        "receipt": trip.receipt,
        "parking": trip.parking,
        "ledger": [
            {"transaction_id": tx.id, "kind": tx.kind, "created_at": tx.created_at}
            for tx in sorted(credits, key=lambda tx: (tx.created_at, tx.id))
        ],
    }


def my_trip(db: Database, user_id: str, trip_uid: str) -> dict[str, Any]:
    with db.transaction() as session:
        account_id = account_id_of(session, user_id)
        trip = owned(session.get(Trip, trip_uid), account_id, f"trip {trip_uid}")
        return trip_view(trip, session)


def export(db: Database, user_id: str) -> dict[str, Any]:
    """Everything the service holds about the rider, as one JSON document (PIPL access right)."""
    account = summary(db, user_id)
    with db.transaction() as session:
        account_id = account_id_of(session, user_id)
        consents = session.scalars(select(Consent).where(Consent.account_id == account_id)).all()
        trips = session.scalars(
            select(Trip).where(Trip.account_id == account_id).order_by(Trip.started_at)
        ).all()
        trip_views = [
            {
                **trip_view(trip, session),
                "rider_ref": trip.rider_ref,
                "start": _point(trip.start_lat, trip.start_lng),
                "end": _point(trip.end_lat, trip.end_lng),
            }
            for trip in trips
        ]
        redemptions = session.scalars(
            select(Redemption).where(Redemption.account_id == account_id)
        ).all()
        disputes = session.scalars(select(Dispute).where(Dispute.account_id == account_id)).all()
        entries = session.execute(
            select(*_ENTRY_COLUMNS)
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .where(LedgerEntry.account_id == account_id)
            .order_by(LedgerEntry.id)
        ).all()
        return {
            "user_id": user_id,
            "account": account,
            "consents": [
                {
                    "operator_id": c.operator_id,
                    "rider_ref": c.rider_ref,
                    "scenarios": list(c.scenarios),
                    "granted_at": c.granted_at,
                }
                for c in consents
            ],
            "trips": trip_views,
            "entries": [_entry_view(row._mapping) for row in entries],
            "redemptions": [
                {
                    "redemption_id": r.id,
                    "item_id": r.item_id,
                    "quantity": r.quantity,
                    "points": r.points,
                    "status": r.status,
                    "created_at": r.created_at,
                }
                for r in redemptions
            ],
            "disputes": [
                {
                    "dispute_id": d.id,
                    "operator_id": d.operator_id,
                    "trip_id": d.operator_trip_id,
                    "description": d.description,
                    "status": d.status,
                    "created_at": d.created_at,
                }
                for d in disputes
            ],
        }


def _point(lat: float | None, lng: float | None) -> dict[str, float] | None:
    return None if lat is None or lng is None else {"lat": lat, "lng": lng}


def erase(db: Database, user_id: str) -> None:
    """Erase the person: consents, trip locations and references, dispute texts, the link
    from user id to account. Ledger entries stay, against the now pseudonymous account id."""
    with db.transaction() as session:
        account_id = account_id_of(session, user_id)
        session.execute(delete(Consent).where(Consent.account_id == account_id))
        session.execute(
            update(Trip)
            .where(Trip.account_id == account_id)
            .values(rider_ref=None, start_lat=None, start_lng=None, end_lat=None, end_lng=None)
        )
        session.execute(
            update(Dispute).where(Dispute.account_id == account_id).values(description=None)
        )
        session.execute(delete(Rider).where(Rider.user_id == user_id))
