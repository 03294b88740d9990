"""The ledger against a reference model, on SQLite and PostgreSQL.

The example-based ledger tests pin one rule each; the bugs that matter come from orderings
nobody wrote down. Here Hypothesis interleaves credits (duplicate refs, the daily cap), maturing,
holds, settlements, reversals and mall redemptions (replays included) and checks after every step
that balances and stock equal those of a plain-Python model of the rules and that the books still
balance.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from service.ledger import postings as P
from service.ledger.ledger import InsufficientPoints, Ledger, credit_id
from service.ledger.policy import LedgerPolicy
from service.persistence.database import Database
from service.persistence.mall_models import CatalogItem
from service.usecases import accounts, ledger_ops, mall
from service.usecases.mall import IdempotencyKeyReused, NewItem, OutOfStock

START = dt.datetime(2026, 11, 2, 0, 15, tzinfo=dt.UTC)  # 08:15 in Shanghai
SHANGHAI_OFFSET = dt.timedelta(hours=8)  # no daylight saving time in China
DAILY_CAP = 3000
FRAUD_WINDOW = dt.timedelta(hours=48)
ITEM_COST = 100
ITEM_STOCK = 8
REF_POOL = 6  # few enough refs that the same credit is often sent again

RIDERS = st.sampled_from([0, 1])


@dataclasses.dataclass
class Buckets:
    pending: int = 0
    available: int = 0
    held: int = 0

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.pending, self.available, self.held)


@dataclasses.dataclass
class ModelCredit:
    rider: int
    requested: int
    granted: int
    created_at: dt.datetime
    matured: bool = False
    reversed: bool = False


@dataclasses.dataclass
class ModelHold:
    rider: int
    points: int
    settled: bool = False


@dataclasses.dataclass(frozen=True)
class ModelRedemption:
    rider: int
    key: str
    quantity: int
    redemption_id: str


def local_day(moment: dt.datetime) -> dt.date:
    return (moment.astimezone(dt.UTC) + SHANGHAI_OFFSET).date()


class LedgerMachine(RuleBasedStateMachine):
    db: ClassVar[Database]
    policy: ClassVar[LedgerPolicy]

    credits = Bundle("credits")
    holds = Bundle("holds")
    redemptions = Bundle("redemptions")

    def __init__(self) -> None:
        super().__init__()
        self.tag = uuid.uuid4().hex[:12]
        self.serial = 0
        self.now = START
        self.user_ids: list[str] = []
        self.account_ids: list[str] = []
        for n in range(2):
            user_id = f"u-{self.tag}-{n}"
            account_id, created = accounts.open_account(self.db, self.policy, user_id)
            assert created
            self.user_ids.append(user_id)
            self.account_ids.append(account_id)
        self.item_id = f"coupon-{self.tag}"
        mall.add_item(
            self.db, NewItem(self.item_id, "coupon", "Metro ride coupon", ITEM_COST, ITEM_STOCK)
        )
        self.buckets = [Buckets(), Buckets()]
        self.daily: dict[tuple[int, dt.date], int] = {}
        self.model_credits: dict[str, ModelCredit] = {}
        self.model_holds: dict[str, ModelHold] = {}
        self.stock = ITEM_STOCK

    def fresh(self, what: str) -> str:
        self.serial += 1
        return f"{self.tag}-{what}-{self.serial}"

    def credit_once(self, rider: int, ref: str, points: int, at: dt.datetime) -> bool:
        """Credit through the ledger and the model; whether the ref was new."""
        with self.db.transaction() as session:
            outcome = Ledger(session, self.policy).credit(
                self.account_ids[rider],
                purpose="trip",
                ref=ref,
                points=points,
                occurred_at=at,
                now=at,
            )
        known = self.model_credits.get(ref)
        if known is not None:
            assert outcome.duplicate
            assert (outcome.points, outcome.requested) == (known.granted, known.requested)
            return False
        day = (rider, local_day(at))
        already = self.daily.get(day, 0)
        granted = min(points, DAILY_CAP - already)
        assert not outcome.duplicate
        assert outcome.transaction_id == credit_id("trip", ref)
        assert (outcome.points, outcome.requested, outcome.capped) == (
            granted,
            points,
            granted < points,
        )
        self.daily[day] = already + granted
        self.model_credits[ref] = ModelCredit(rider, points, granted, at)
        self.buckets[rider].pending += granted
        return True

    def mature_until(self, now: dt.datetime) -> None:
        moved = ledger_ops.mature_due(self.db, self.policy, now)
        due = [
            credit
            for credit in self.model_credits.values()
            if credit.granted > 0
            and not credit.matured
            and not credit.reversed
            and credit.created_at + FRAUD_WINDOW <= now
        ]
        assert moved >= len(due)  # earlier examples' credits share the database
        for credit in due:
            credit.matured = True
            self.buckets[credit.rider].pending -= credit.granted
            self.buckets[credit.rider].available += credit.granted

    # -- rules --------------------------------------------------------------------------------

    @initialize(
        target=credits,
        opening=st.lists(
            st.tuples(st.integers(0, DAILY_CAP), st.integers(0, 96)), min_size=2, max_size=2
        ),
    )
    def earlier_credits(self, opening: list[tuple[int, int]]):
        """One credit per rider from before the clock starts (points, hours earlier): some
        already spendable, some still in the fraud window, so spending and maturing both
        happen early in a run."""
        refs = []
        for rider, (points, hours_earlier) in enumerate(opening):
            ref = f"{self.tag}-earlier-{rider}"
            assert self.credit_once(rider, ref, points, START - dt.timedelta(hours=hours_earlier))
            refs.append(ref)
        self.mature_until(self.now)
        return multiple(*refs)

    @rule(
        target=credits,
        rider=RIDERS,
        slot=st.integers(0, REF_POOL - 1),
        points=st.integers(0, 2500),
    )
    def credit(self, rider: int, slot: int, points: int):
        ref = f"{self.tag}-trip-{slot}"
        return ref if self.credit_once(rider, ref, points, self.now) else multiple()

    @rule(hours=st.integers(0, 60))
    def advance_clock(self, hours: int) -> None:
        self.now += dt.timedelta(hours=hours)

    @rule()
    def mature(self) -> None:
        self.mature_until(self.now)

    @rule(target=holds, rider=RIDERS, points=st.integers(1, 3000))
    def hold(self, rider: int, points: int):
        ref = self.fresh("hold")
        buckets = self.buckets[rider]
        try:
            with self.db.transaction() as session:
                Ledger(session, self.policy).hold(self.account_ids[rider], ref, points, self.now)
        except InsufficientPoints:
            assert buckets.available < points
            return multiple()
        assert buckets.available >= points
        buckets.available -= points
        buckets.held += points
        self.model_holds[ref] = ModelHold(rider, points)
        return ref

    @rule(ref=holds, outcome=st.sampled_from(["post", "void"]))
    def settle(self, ref: str, outcome: str) -> None:
        with self.db.transaction() as session:
            settled = Ledger(session, self.policy).settle_hold(
                ref, outcome=outcome, sink=P.REDEMPTIONS, now=self.now
            )
        hold = self.model_holds[ref]
        assert settled == (not hold.settled)
        if not settled:
            return
        hold.settled = True
        buckets = self.buckets[hold.rider]
        buckets.held -= hold.points
        if outcome == "void":
            buckets.available += hold.points

    @rule(ref=credits)
    def reverse(self, ref: str) -> None:
        with self.db.transaction() as session:
            reversal_id, points, new = Ledger(session, self.policy).reverse_credit(
                credit_id("trip", ref), reason="fraud", now=self.now
            )
        credit = self.model_credits[ref]
        assert reversal_id == f"reverse:{credit_id('trip', ref)}"
        assert (points, new) == (credit.granted, not credit.reversed)
        if not new:
            return
        credit.reversed = True
        buckets = self.buckets[credit.rider]
        if credit.matured:
            buckets.available -= credit.granted
        else:
            buckets.pending -= credit.granted

    @rule(target=redemptions, rider=RIDERS, quantity=st.integers(1, 4))
    def redeem(self, rider: int, quantity: int):
        key = self.fresh("key")
        cost = ITEM_COST * quantity
        buckets = self.buckets[rider]
        try:
            view, created = mall.redeem(
                self.db,
                self.policy,
                self.user_ids[rider],
                item_id=self.item_id,
                quantity=quantity,
                idempotency_key=key,
            )
        except OutOfStock:
            assert self.stock < quantity
            return multiple()
        except InsufficientPoints:
            assert self.stock >= quantity
            assert buckets.available < cost
            return multiple()
        assert self.stock >= quantity
        assert buckets.available >= cost
        assert created
        assert (view["status"], view["quantity"], view["points"]) == ("completed", quantity, cost)
        buckets.available -= cost
        self.stock -= quantity
        return ModelRedemption(rider, key, quantity, view["redemption_id"])

    @rule(redemption=redemptions)
    def replay_redemption(self, redemption: ModelRedemption) -> None:
        view, created = mall.redeem(
            self.db,
            self.policy,
            self.user_ids[redemption.rider],
            item_id=self.item_id,
            quantity=redemption.quantity,
            idempotency_key=redemption.key,
        )
        assert not created
        assert (view["redemption_id"], view["status"]) == (redemption.redemption_id, "completed")

    @rule(redemption=redemptions, extra=st.integers(1, 3))
    def reuse_key_for_another_quantity(self, redemption: ModelRedemption, extra: int) -> None:
        with pytest.raises(IdempotencyKeyReused):
            mall.redeem(
                self.db,
                self.policy,
                self.user_ids[redemption.rider],
                item_id=self.item_id,
                quantity=redemption.quantity + extra,
                idempotency_key=redemption.key,
            )

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def balances_match_the_model(self) -> None:
        with self.db.transaction() as session:
            ledger = Ledger(session, self.policy)
            actual = [tuple(ledger.balances(account_id)) for account_id in self.account_ids]
        assert actual == [buckets.as_tuple() for buckets in self.buckets]

    @invariant()
    def stock_matches_the_model(self) -> None:
        with self.db.transaction() as session:
            item = session.get(CatalogItem, self.item_id)
            assert item is not None
            assert item.stock == self.stock

    @invariant()
    def books_balance(self) -> None:
        assert ledger_ops.verify(self.db, self.policy) == ([], [])


def test_ledger_agrees_with_the_model(database_url):
    db = Database.from_url(database_url)
    policy = LedgerPolicy(daily_cap_points=DAILY_CAP, fraud_window=FRAUD_WINDOW)
    machine = type("LedgerMachine", (LedgerMachine,), {"db": db, "policy": policy})
    try:
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=50,
                stateful_step_count=40,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
            ),
        )
    finally:
        db.dispose()
