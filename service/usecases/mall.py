"""The points mall: catalog, redemptions (hold -> post, or void), donations.

A redemption is three steps. First, one transaction takes the stock (a conditional decrement,
so stock is never oversold) and holds the points. Then the item is fulfilled outside any
transaction (a coupon code is issued; a partner call would go here). Last, one transaction posts
the hold to the redemption or donation account, or voids it and gives the stock back. A hold
left behind by a crash is voided by ``settle_stale_redemptions`` (run with ``ledger mature``).
The ``Idempotency-Key`` is unique per account: a replay returns the redemption as it stands, the
same key with a different request is refused.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from service.errors import Conflict, InvalidInput, NotFound
from service.ledger import postings as P
from service.ledger.ledger import Ledger
from service.ledger.policy import LedgerPolicy
from service.persistence.database import Database
from service.persistence.mall_models import ITEM_KINDS, CatalogItem, Redemption
from service.usecases.accounts import account_id_of, newest_of, owned

STALE_AFTER = dt.timedelta(minutes=15)
TREE_POINTS = 17_900


class FulfilmentFailed(Exception):
    """The item could not be delivered; the hold is voided."""


class IdempotencyKeyReused(InvalidInput):
    code = "idempotency_key_reused"


class OutOfStock(Conflict):
    code = "out_of_stock"


Fulfiller = Callable[[Redemption, CatalogItem], dict[str, Any]]


def issue_locally(redemption: Redemption, item: CatalogItem) -> dict[str, Any]:
    """The built-in fulfilment: coupon codes for coupons and transit credit, a certificate
    number for donations."""
    if item.kind == "donation":
        return {"certificate": f"DON-{secrets.token_hex(6).upper()}"}
    return {"codes": [f"GP-{secrets.token_hex(5).upper()}" for _ in range(redemption.quantity)]}


@dataclasses.dataclass(frozen=True)
class NewItem:
    item_id: str
    kind: str
    title: str
    cost_points: int
    stock: int | None


def _item_view(item: CatalogItem) -> dict[str, Any]:
    return {
        "item_id": item.id,
        "kind": item.kind,
        "title": item.title,
        "cost_points": item.cost_points,
        "stock": item.stock,
        "active": item.active,
    }


def catalog(db: Database, *, include_inactive: bool = False) -> list[dict[str, Any]]:
    with db.transaction() as session:
        query = select(CatalogItem).order_by(CatalogItem.kind, CatalogItem.id)
        if not include_inactive:
            query = query.where(CatalogItem.active.is_(True))
        return [_item_view(item) for item in session.scalars(query)]


def add_item(db: Database, item: NewItem) -> dict[str, Any]:
    if item.kind not in ITEM_KINDS:
        raise InvalidInput("unknown kind", errors={"kind": [f"one of {', '.join(ITEM_KINDS)}"]})
    if item.cost_points <= 0:
        raise InvalidInput("cost must be positive", errors={"cost_points": ["must be > 0"]})
    if item.stock is not None and item.stock < 0:
        raise InvalidInput("stock must not be negative", errors={"stock": ["must be >= 0"]})
    try:
        with db.transaction() as session:
            row = CatalogItem(
                id=item.item_id,
                kind=item.kind,
                title=item.title,
                cost_points=item.cost_points,
                stock=item.stock,
                active=True,
                created_at=dt.datetime.now(dt.UTC),
            )
            session.add(row)
            session.flush()
            return _item_view(row)
    except IntegrityError as exc:
        raise Conflict(f"item {item.item_id} exists", errors={"item_id": ["taken"]}) from exc


def change_item(db: Database, item_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Restock, reprice, retitle or (de)activate an item."""
    with db.transaction() as session:
        row = session.get(CatalogItem, item_id, with_for_update=True)
        if row is None:
            raise NotFound(f"no item {item_id}")
        for name in ("title", "cost_points", "stock", "active"):
            if name in changes:
                setattr(row, name, changes[name])
        session.flush()
        return _item_view(row)


def redemption_view(redemption: Redemption) -> dict[str, Any]:
    return {
        "redemption_id": redemption.id,
        "item_id": redemption.item_id,
        "quantity": redemption.quantity,
        "points": redemption.points,
        "status": redemption.status,
        "fulfilment": redemption.fulfilment,
        "created_at": redemption.created_at,
    }


def _request_hash(item_id: str, quantity: int) -> str:
    canonical = json.dumps({"item_id": item_id, "quantity": quantity}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def redeem(
    db: Database,
    policy: LedgerPolicy,
    user_id: str,
    *,
    item_id: str,
    quantity: int,
    idempotency_key: str,
    fulfil: Fulfiller = issue_locally,
) -> tuple[dict[str, Any], bool]:
    """Redeem ``quantity`` of an item. Returns (redemption, whether this call created it)."""
    if quantity <= 0:
        raise InvalidInput("quantity must be positive", errors={"quantity": ["must be > 0"]})
    request_hash = _request_hash(item_id, quantity)
    for _ in range(2):  # a concurrent request with the same key may commit first
        try:
            started = _hold(db, policy, user_id, item_id, quantity, idempotency_key, request_hash)
            break
        except IntegrityError:
            continue
    else:
        raise Conflict("the redemption could not be recorded; retry")
    redemption, item, created = started
    if not created:
        return redemption_view(redemption), False
    try:
        fulfilment = fulfil(redemption, item)
    except FulfilmentFailed as exc:
        return redemption_view(_settle(db, policy, redemption.id, None, str(exc))), True
    return redemption_view(_settle(db, policy, redemption.id, fulfilment, None)), True


def _hold(
    db: Database,
    policy: LedgerPolicy,
    user_id: str,
    item_id: str,
    quantity: int,
    key: str,
    request_hash: str,
) -> tuple[Redemption, CatalogItem, bool]:
    now = dt.datetime.now(dt.UTC)
    with db.transaction() as session:
        account_id = account_id_of(session, user_id)
        ledger = Ledger(session, policy)
        ledger.lock([account_id])
        existing = session.scalar(
            select(Redemption).where(
                Redemption.account_id == account_id, Redemption.idempotency_key == key
            )
        )
        if existing is not None:
            if existing.request_hash != request_hash:
                raise IdempotencyKeyReused(
                    "this Idempotency-Key was used for a different redemption",
                    errors={"Idempotency-Key": ["already used with another body"]},
                )
            return existing, session.get(CatalogItem, existing.item_id), False  # type: ignore[return-value]
        item = session.get(CatalogItem, item_id)
        if item is None or not item.active:
            raise NotFound(f"no item {item_id}")
        if item.stock is not None:
            taken = session.execute(
                update(CatalogItem)
                .where(CatalogItem.id == item_id, CatalogItem.stock >= quantity)
                .values(stock=CatalogItem.stock - quantity)
            ).rowcount
            if taken != 1:
                raise OutOfStock(f"{item_id} is out of stock", errors={"quantity": ["no stock"]})
        redemption = Redemption(
            id=f"red_{secrets.token_hex(12)}",
            account_id=account_id,
            item_id=item_id,
            quantity=quantity,
            points=item.cost_points * quantity,
            status="held",
            idempotency_key=key,
            request_hash=request_hash,
            fulfilment={},
            created_at=now,
            updated_at=now,
        )
        session.add(redemption)
        session.flush()
        ledger.hold(account_id, redemption.id, redemption.points, now)
        return redemption, item, True


def _settle(
    db: Database,
    policy: LedgerPolicy,
    redemption_id: str,
    fulfilment: dict[str, Any] | None,
    failure: str | None,
) -> Redemption:
    """Post the hold (fulfilled) or void it and restock (failed); once, whoever comes first."""
    now = dt.datetime.now(dt.UTC)
    with db.transaction() as session:
        redemption = session.get(Redemption, redemption_id, with_for_update=True)
        assert redemption is not None
        item = session.get(CatalogItem, redemption.item_id)
        assert item is not None
        sink = P.DONATIONS if item.kind == "donation" else P.REDEMPTIONS
        outcome = "post" if fulfilment is not None else "void"
        settled = Ledger(session, policy).settle_hold(
            redemption.id, outcome=outcome, sink=sink, now=now
        )
        if settled:
            if outcome == "void" and item.stock is not None:
                session.execute(
                    update(CatalogItem)
                    .where(CatalogItem.id == item.id)
                    .values(stock=CatalogItem.stock + redemption.quantity)
                )
            redemption.status = "completed" if outcome == "post" else "failed"
            redemption.fulfilment = fulfilment or {"failure": failure}
            redemption.updated_at = now
        session.flush()
        return redemption


def settle_stale_redemptions(
    db: Database, policy: LedgerPolicy, now: dt.datetime | None = None
) -> int:
    """Void holds a crash left between hold and settle (older than ``STALE_AFTER``)."""
    cutoff = (now or dt.datetime.now(dt.UTC)) - STALE_AFTER
    with db.transaction() as session:
        stale = session.scalars(
            select(Redemption.id)
            .where(Redemption.status == "held", Redemption.created_at < cutoff)
            .limit(1000)
        ).all()
    for redemption_id in stale:
        _settle(db, policy, redemption_id, None, "not fulfilled in time")
    return len(stale)


def my_redemption(db: Database, user_id: str, redemption_id: str) -> dict[str, Any]:
    with db.transaction() as session:
        account_id = account_id_of(session, user_id)
        redemption = session.get(Redemption, redemption_id)
        return redemption_view(owned(redemption, account_id, f"redemption {redemption_id}"))


def my_redemptions(db: Database, user_id: str) -> list[dict[str, Any]]:
    return [redemption_view(r) for r in newest_of(db, user_id, Redemption)]
