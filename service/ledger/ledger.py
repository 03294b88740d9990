"""Ledger operations inside one database transaction (the caller's session).

Every operation on a personal account first locks that account's row (``SELECT ... FOR NO KEY
UPDATE`` on PostgreSQL, in sorted order when there are several; SQLite serialises writers with
``BEGIN IMMEDIATE``). Under that lock it checks, by the transaction's deterministic id, whether
the work was already done, so retries and concurrent duplicates find it done, and the primary
key on that id is the last word if anything slips through. Entries and the cached balances on
the account row are written together, so the cache always equals the sum of entries.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import and_, func, literal, select, update
from sqlalchemy.orm import Session, aliased

from service.errors import Conflict, InvalidInput, NotFound
from service.ledger import postings as P
from service.ledger.policy import LedgerPolicy
from service.persistence import bulk, direct
from service.persistence.ledger_models import Account, DailyCredit, LedgerEntry, LedgerTransaction

MATURE_BATCH = 500
# Accounts this session has locked (row locks last as long as the session's transaction).
LOCKED_ACCOUNTS = "greenpoints.locked_accounts"
# The tables themselves, for multi-row statements (the ORM would update row by row).
_ACCOUNTS = Account.__table__
_DAILY = DailyCredit.__table__
_TRANSACTIONS = LedgerTransaction.__table__
_ENTRIES = LedgerEntry.__table__
# FOR NO KEY UPDATE: writers of an account wait for each other, while rows that merely refer
# to it go in meanwhile (a foreign key takes FOR KEY SHARE: a consent's, the day totals');
# a batch's trips go in before it takes its riders' locks.
_LOCK = direct.Statement(
    lambda dialect: (
        select(_ACCOUNTS.c.id)
        .where(direct.one_of_param(dialect, _ACCOUNTS.c.id, "ids"))
        .order_by(_ACCOUNTS.c.id)
        .with_for_update(key_share=True)
    )
)
_DONE = direct.Statement(
    lambda dialect: select(_TRANSACTIONS.c.id, _TRANSACTIONS.c.details).where(
        direct.one_of_param(dialect, _TRANSACTIONS.c.id, "ids")
    )
)
_DAY_TOTALS = direct.Statement(
    lambda dialect: select(_DAILY.c.account_id, _DAILY.c.day, _DAILY.c.points).where(
        direct.one_of_param(dialect, _DAILY.c.account_id, "accounts"),
        direct.one_of_param(dialect, _DAILY.c.day, "days"),
    )
)


class Balances(NamedTuple):
    pending: int
    available: int
    held: int


class CreditOutcome(NamedTuple):
    """What one credit request came to (a named tuple, as each credited trip makes one)."""

    transaction_id: str
    points: int
    requested: int
    duplicate: bool
    capped: bool


@dataclasses.dataclass(frozen=True)
class Discrepancy:
    account_id: str
    bucket: str
    cached: int | None
    summed: int


class CreditRequest(NamedTuple):
    """Points to credit to one account, once per (purpose, ref); a named tuple, as each trip
    makes one."""

    account_id: str
    purpose: str
    ref: str
    points: int
    occurred_at: dt.datetime
    trip_uid: str | None = None
    details: dict | None = None


def credit_id(purpose: str, ref: str) -> str:
    return f"credit:{purpose}:{ref}"


@dataclasses.dataclass(frozen=True)
class CreditState:
    """What ``credit_many`` reads before it decides: the credits already written, by id, and
    the day totals of the accounts and days concerned. Sent ahead (``Ledger.send_credit_state``)
    it shares a round trip with other reads; it must be sent under the accounts' locks, and it
    is read once (the credits written after that are not in it)."""

    ids: frozenset[str]
    accounts: frozenset[str]
    days: frozenset[dt.date]
    read: Callable[[], tuple[dict[str, dict], dict[tuple[str, dt.date], int]]]

    def covers(self, ids: Iterable[str], keys: Iterable[tuple[str, dt.date]]) -> bool:
        return self.ids.issuperset(ids) and all(
            account in self.accounts and day in self.days for account, day in keys
        )


class Ledger:
    def __init__(self, session: Session, policy: LedgerPolicy) -> None:
        self.session = session
        self.policy = policy

    # -- accounts -----------------------------------------------------------------------------

    def open_personal_account(self, account_id: str, now: dt.datetime) -> None:
        self.session.add(
            Account(id=account_id, kind="personal", created_at=now, pending=0, available=0, held=0)
        )
        self.session.flush()

    def lock(self, account_ids: Iterable[str]) -> None:
        """Lock personal accounts in sorted order (no deadlocks between concurrent batches).
        Only ids are read: a batch may lock a thousand accounts."""
        self.send_lock(account_ids)()

    def send_lock(self, account_ids: Iterable[str]) -> Callable[[], None]:
        """``lock`` sent now: inside ``direct.pipelined``, the statements sent after it run
        once the locks are held, in the same round trip. Call what it returns to confirm
        (``NotFound`` for an account that does not exist)."""
        held = self.session.info.setdefault(LOCKED_ACCOUNTS, set())
        ids = sorted(set(account_ids) - held)
        if not ids:
            return lambda: None
        sent = _LOCK.send(self.session, ids=ids)

        def confirm() -> None:
            found = {row[0] for row in sent.rows()}
            missing = [i for i in ids if i not in found]
            if missing:
                raise NotFound(f"no account {missing[0]}")
            held.update(ids)

        return confirm

    def balances(self, account_id: str) -> Balances:
        row = self.session.get(Account, account_id, populate_existing=True)
        if row is None or row.kind != "personal":
            raise NotFound(f"no account {account_id}")
        return Balances(row.pending or 0, row.available or 0, row.held or 0)

    # -- writing ------------------------------------------------------------------------------

    def _write(
        self,
        *,
        transaction_id: str,
        kind: str,
        account_id: str,
        now: dt.datetime,
        moves: Sequence[P.Posting],
        matures_at: dt.datetime | None = None,
        reverses_id: str | None = None,
        trip_uid: str | None = None,
        details: dict | None = None,
    ) -> None:
        if sum(p.amount for p in moves) != 0:
            raise ValueError(f"transaction {transaction_id} does not balance")
        self.session.add(
            LedgerTransaction(
                id=transaction_id,
                kind=kind,
                account_id=account_id,
                created_at=now,
                matures_at=matures_at,
                reverses_id=reverses_id,
                trip_uid=trip_uid,
                details=details or {},
            )
        )
        self.session.flush()
        if moves:
            self.session.add_all(
                LedgerEntry(
                    transaction_id=transaction_id,
                    account_id=p.account_id,
                    bucket=p.bucket,
                    amount=p.amount,
                    created_at=now,
                )
                for p in moves
            )
        touched = {p.account_id for p in moves} - set(P.SYSTEM_ACCOUNTS)
        for touched_id in sorted(touched):
            delta = P.effect_on(moves, touched_id)
            self.session.execute(
                update(Account)
                .where(Account.id == touched_id)
                .values(
                    pending=Account.pending + delta["pending"],
                    available=Account.available + delta["available"],
                    held=Account.held + delta["held"],
                )
            )
        self.session.flush()

    def _write_once(self, *, transaction_id: str, account_id: str, **transaction: Any) -> bool:
        """Under the account's lock, write the transaction unless its id exists already."""
        self.lock([account_id])
        if self._exists(transaction_id) is not None:
            return False
        self._write(transaction_id=transaction_id, account_id=account_id, **transaction)
        return True

    def has_transaction(self, transaction_id: str) -> bool:
        return self._exists(transaction_id) is not None

    def _exists(self, transaction_id: str) -> LedgerTransaction | None:
        return self.session.get(LedgerTransaction, transaction_id)

    def credit(
        self,
        account_id: str,
        *,
        purpose: str,
        ref: str,
        points: int,
        occurred_at: dt.datetime,
        now: dt.datetime,
        trip_uid: str | None = None,
        details: dict | None = None,
    ) -> CreditOutcome:
        """Credit ``points`` once per (purpose, ref), pending for the fraud window, capped per day.

        Over the cap, what is left under it is credited (possibly nothing); the decision is
        recorded as the transaction, so a retry gets the same answer.
        """
        request = CreditRequest(account_id, purpose, ref, points, occurred_at, trip_uid, details)
        return self.credit_many([request], now)[0]

    def send_credit_state(
        self, requests: Sequence[CreditRequest], *, unwritten: bool = False
    ) -> CreditState:
        """What ``credit_many`` will read for these requests (or some of them), sent now:
        inside ``direct.pipelined`` with the statements around it. Send it after the lock.

        ``unwritten``: the caller will use it only for credits it knows were never written
        (those of trips it found new under the same locks, whose credit goes in with the trip),
        so only the day totals are read. A credit written all the same would be refused by its
        primary key, failing the transaction; it is never written twice."""
        ids = frozenset(credit_id(r.purpose, r.ref) for r in requests)
        accounts = frozenset(r.account_id for r in requests)
        days = frozenset(self.policy.local_day(r.occurred_at) for r in requests)
        if not ids:
            return CreditState(ids, accounts, days, lambda: ({}, {}))
        with direct.pipelined(self.session):  # the reads in one round trip
            done_sent = None if unwritten else _DONE.send(self.session, ids=sorted(ids))
            totals_sent = _DAY_TOTALS.send(self.session, accounts=sorted(accounts),
                                           days=sorted(days))  # fmt: skip
        used: list[bool] = []

        def state() -> tuple[dict[str, dict], dict[tuple[str, dt.date], int]]:
            if used:  # the credits written after the first use would be missing from it
                raise RuntimeError("a credit state is read once")
            used.append(True)
            done: dict[str, dict] = {} if done_sent is None else dict(done_sent.rows())  # type: ignore[arg-type]
            return done, {(account, day): points for account, day, points in totals_sent.rows()}

        return CreditState(ids, accounts, days, state)

    def credit_many(
        self,
        requests: Sequence[CreditRequest],
        now: dt.datetime,
        ahead: CreditState | None = None,
    ) -> list[CreditOutcome]:
        """``credit`` for many at once, set-based: one lock query, one read of the earlier
        credits and day totals (none when ``ahead`` holds them for these requests), and one
        multi-row write per table. Requests are decided in the order given."""
        for request in requests:
            if request.points < 0:
                raise InvalidInput("points must not be negative", errors={"points": ["negative"]})
        if not requests:
            return []
        self.lock(r.account_id for r in requests)
        ids = [credit_id(r.purpose, r.ref) for r in requests]
        days = [self.policy.local_day(r.occurred_at) for r in requests]
        keys = [(r.account_id, day) for r, day in zip(requests, days, strict=True)]
        if ahead is None or not ahead.covers(ids, keys):
            ahead = self.send_credit_state(requests)
        done, totals = ahead.read()
        before = dict(totals)
        outcomes: list[CreditOutcome] = []
        transactions: list[dict[str, Any]] = []
        entries: list[dict[str, Any]] = []
        pending_delta: dict[str, int] = {}
        # The same for every credit of the call: worked out once.
        matures_at = now + self.policy.fraud_window
        day_texts = {day: day.isoformat() for day in set(days)}
        cap = self.policy.daily_cap_points
        for request, transaction_id, day in zip(requests, ids, days, strict=True):
            if transaction_id in done:
                outcomes.append(_outcome(transaction_id, done[transaction_id], duplicate=True))
                continue
            key = (request.account_id, day)
            already = totals.get(key, 0)
            granted = max(0, min(request.points, cap - already))
            totals[key] = already + granted
            details = {
                **(request.details or {}),
                "purpose": request.purpose,
                "ref": request.ref,
                "requested": request.points,
                "granted": granted,
                "day": day_texts[day],
                "capped": granted < request.points,
            }
            transactions.append(
                {"id": transaction_id, "kind": "credit", "account_id": request.account_id,
                 "created_at": now, "matures_at": matures_at, "reverses_id": None,
                 "trip_uid": request.trip_uid, "details": details}
            )  # fmt: skip
            if granted:
                for posting in P.credit(request.account_id, granted):
                    entries.append(
                        {"transaction_id": transaction_id, "account_id": posting.account_id,
                         "bucket": posting.bucket, "amount": posting.amount, "created_at": now}
                    )  # fmt: skip
                pending_delta[request.account_id] = (
                    pending_delta.get(request.account_id, 0) + granted
                )
            done[transaction_id] = details
            outcomes.append(CreditOutcome(transaction_id, granted, request.points, False,
                                          details["capped"]))  # fmt: skip
        changed = {k: v for k, v in totals.items() if v != before.get(k, 0)}
        with bulk.writes_together(self.session, len(transactions) + len(entries)):
            bulk.put_totals(self.session, _DAILY, ("account_id", "day"), "points", changed,
                            ("text", "date"))  # fmt: skip
            bulk.insert_rows(self.session, _TRANSACTIONS, transactions)
            bulk.insert_rows(self.session, _ENTRIES, entries)
            bulk.add_to(self.session, _ACCOUNTS, "id", "pending", pending_delta)
        return outcomes

    def debit(
        self,
        account_id: str,
        *,
        purpose: str,
        ref: str,
        points: int,
        now: dt.datetime,
        trip_uid: str | None = None,
        details: dict | None = None,
    ) -> tuple[str, bool]:
        """Take ``points`` back once per (purpose, ref) as a compensating entry.

        Returns (transaction id, whether it was new).
        """
        if points <= 0:
            raise InvalidInput("points must be positive", errors={"points": ["not positive"]})
        transaction_id = f"debit:{purpose}:{ref}"
        new = self._write_once(
            transaction_id=transaction_id,
            kind="adjustment",
            account_id=account_id,
            now=now,
            moves=P.adjust_down(account_id, points),
            trip_uid=trip_uid,
            details={**(details or {}), "purpose": purpose, "ref": ref, "points": points},
        )
        return transaction_id, new

    def penalize(
        self, account_id: str, *, ref: str, points: int, now: dt.datetime, details: dict
    ) -> bool:
        """A penalty (bad parking), once per ``ref``; available may go negative."""
        return self._write_once(
            transaction_id=f"penalty:{ref}",
            kind="penalty",
            account_id=account_id,
            now=now,
            moves=P.penalty(account_id, points),
            details=details,
        )

    def mature_due(self, now: dt.datetime, *, limit: int = MATURE_BATCH) -> int:
        """Move up to ``limit`` due pending credits to available; returns how many moved."""
        due = self._due_credits(now, limit)
        if not due:
            return 0
        self.lock(account for _, account, _ in due)
        still_due = {tx for tx, _, _ in self._due_credits(now, limit, only=[t for t, _, _ in due])}
        moved = 0
        for transaction_id, account_id, points in due:
            if transaction_id not in still_due:
                continue  # a concurrent run matured or a reversal took it first
            self._write(
                transaction_id=f"mature:{transaction_id}",
                kind="mature",
                account_id=account_id,
                now=now,
                moves=P.mature(account_id, points),
                details={"credit": transaction_id},
            )
            moved += 1
        return moved

    def _due_credits(
        self, now: dt.datetime, limit: int, only: list[str] | None = None
    ) -> list[tuple[str, str, int]]:
        """(credit id, account, points) of credits past their window, not matured or reversed."""
        follow = aliased(LedgerTransaction)
        pending_entry = aliased(LedgerEntry)
        query = (
            select(LedgerTransaction.id, LedgerTransaction.account_id, pending_entry.amount)
            .join(
                pending_entry,
                and_(
                    pending_entry.transaction_id == LedgerTransaction.id,
                    pending_entry.bucket == "pending",
                ),
            )
            .outerjoin(
                follow,
                follow.id.in_(
                    [
                        literal("mature:") + LedgerTransaction.id,
                        literal("reverse:") + LedgerTransaction.id,
                    ]
                ),
            )
            .where(
                LedgerTransaction.kind == "credit",
                LedgerTransaction.matures_at <= now,
                follow.id.is_(None),
            )
            .order_by(LedgerTransaction.matures_at, LedgerTransaction.id)
            .limit(limit)
        )
        if only is not None:
            query = query.where(LedgerTransaction.id.in_(only))
        return [(row[0], row[1], row[2]) for row in self.session.execute(query)]

    def reverse_credit(
        self, credit_transaction_id: str, *, reason: str, now: dt.datetime
    ) -> tuple[str, int, bool]:
        """Compensate a credit. Returns (reversal id, points taken back, whether it was new).

        Points still pending come back from pending; points already matured come back from
        available, which may go negative: later credits then pay that debt off first.
        """
        credit = self._exists(credit_transaction_id)
        if credit is None or credit.kind != "credit":
            raise NotFound(f"no credit {credit_transaction_id}")
        reversal_id = f"reverse:{credit_transaction_id}"
        self.lock([credit.account_id])
        done = self._exists(reversal_id)
        if done is not None:
            return reversal_id, int(done.details.get("points", 0)), False
        points = int(credit.details.get("granted", 0))
        matured = self._exists(f"mature:{credit_transaction_id}") is not None
        bucket = "available" if matured else "pending"
        self._write(
            transaction_id=reversal_id,
            kind="reversal",
            account_id=credit.account_id,
            now=now,
            moves=P.reverse_credit(credit.account_id, points, bucket) if points else (),
            reverses_id=credit_transaction_id,
            trip_uid=credit.trip_uid,
            details={"reason": reason, "points": points, "from": bucket},
        )
        return reversal_id, points, True

    def hold(self, account_id: str, ref: str, points: int, now: dt.datetime) -> None:
        """Reserve points for redemption ``ref``; refuses if available would go below zero."""
        self.lock([account_id])
        account = self.session.get(Account, account_id, populate_existing=True)
        assert account is not None
        if self._exists(f"hold:{ref}") is not None:
            raise Conflict(f"redemption {ref} already holds points")
        if (account.available or 0) < points:
            raise InsufficientPoints(
                f"{points} points needed, {account.available or 0} available",
                errors={"quantity": ["not enough available points"]},
            )
        self._write(
            transaction_id=f"hold:{ref}",
            kind="hold",
            account_id=account_id,
            now=now,
            moves=P.hold(account_id, points),
        )

    def settle_hold(self, ref: str, *, outcome: str, sink: str, now: dt.datetime) -> bool:
        """Post (``outcome='post'``) or void (``'void'``) a hold, once. False if already settled."""
        held = self._exists(f"hold:{ref}")
        if held is None:
            raise NotFound(f"no hold for {ref}")
        self.lock([held.account_id])
        if self._exists(f"post:{ref}") or self._exists(f"void:{ref}"):
            return False
        points = next(e.amount for e in self._entries_of(held.id) if e.bucket == "held")
        moves = (
            P.post_hold(held.account_id, points, sink)
            if outcome == "post"
            else P.void_hold(held.account_id, points)
        )
        self._write(
            transaction_id=f"{outcome}:{ref}",
            kind=outcome,
            account_id=held.account_id,
            now=now,
            moves=moves,
            reverses_id=held.id if outcome == "void" else None,
        )
        return True

    def _entries_of(self, transaction_id: str) -> list[LedgerEntry]:
        return list(
            self.session.scalars(
                select(LedgerEntry).where(LedgerEntry.transaction_id == transaction_id)
            )
        )

    # -- checking -----------------------------------------------------------------------------

    def flows(self) -> dict[str, dict[str, int]]:
        """For each system account, the net points it has sent out, per transaction kind:
        what was issued (and taken back), redeemed, donated and fined, from the entries."""
        rows = self.session.execute(
            select(LedgerEntry.account_id, LedgerTransaction.kind, func.sum(LedgerEntry.amount))
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .where(LedgerEntry.account_id.in_(P.SYSTEM_ACCOUNTS))
            .group_by(LedgerEntry.account_id, LedgerTransaction.kind)
        )
        flows: dict[str, dict[str, int]] = {account: {} for account in P.SYSTEM_ACCOUNTS}
        for account, kind, total in rows:
            flows[account][kind] = -int(total)
        return flows

    def personal_totals(self) -> dict[str, int]:
        """What all riders hold together, per bucket, from the entries."""
        totals = {"pending": 0, "available": 0, "held": 0}
        rows = self.session.execute(
            select(LedgerEntry.bucket, func.sum(LedgerEntry.amount))
            .where(LedgerEntry.account_id.not_in(P.SYSTEM_ACCOUNTS))
            .group_by(LedgerEntry.bucket)
        )
        for bucket, total in rows:
            totals[bucket] = int(total)
        return totals

    def verify(self) -> tuple[list[Discrepancy], list[str]]:
        """Cached balances that differ from the sums of entries, and unbalanced transactions."""
        sums: dict[tuple[str, str], int] = {
            (account, bucket): int(total)
            for account, bucket, total in self.session.execute(
                select(
                    LedgerEntry.account_id, LedgerEntry.bucket, func.sum(LedgerEntry.amount)
                ).group_by(LedgerEntry.account_id, LedgerEntry.bucket)
            )
        }
        discrepancies = []
        for account in self.session.scalars(select(Account).where(Account.kind == "personal")):
            for bucket in ("pending", "available", "held"):
                cached = getattr(account, bucket)
                summed = sums.get((account.id, bucket), 0)
                if cached != summed:
                    discrepancies.append(Discrepancy(account.id, bucket, cached, summed))
        unbalanced = list(
            self.session.scalars(
                select(LedgerEntry.transaction_id)
                .group_by(LedgerEntry.transaction_id)
                .having(func.sum(LedgerEntry.amount) != 0)
            )
        )
        return discrepancies, unbalanced


class InsufficientPoints(InvalidInput):
    code = "insufficient_points"


def _outcome(transaction_id: str, details: dict, *, duplicate: bool) -> CreditOutcome:
    return CreditOutcome(
        transaction_id=transaction_id,
        points=int(details["granted"]),
        requested=int(details["requested"]),
        duplicate=duplicate,
        capped=bool(details["capped"]),
    )
