"""What each kind of ledger transaction moves, as plain data (no database here).

Every function returns postings that sum to zero. Personal accounts have three buckets:
``pending`` (inside the fraud window), ``available`` (spendable; may go negative after a fraud
reversal) and ``held`` (reserved by a redemption in progress). System accounts use ``available``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

ISSUANCE = "sys:issuance"
REDEMPTIONS = "sys:redemptions"
DONATIONS = "sys:donations"
PENALTIES = "sys:penalties"
SYSTEM_ACCOUNTS = (ISSUANCE, REDEMPTIONS, DONATIONS, PENALTIES)


class Posting(NamedTuple):
    """One side of a movement. A named tuple: every credit makes two, and a tuple is built in
    half the time of a frozen dataclass."""

    account_id: str
    bucket: str
    amount: int


def _pair(source: tuple[str, str], target: tuple[str, str], points: int) -> tuple[Posting, Posting]:
    if points <= 0:
        raise ValueError("a movement of points must be positive")
    return Posting(*source, -points), Posting(*target, points)


def credit(account_id: str, points: int) -> tuple[Posting, Posting]:
    """Issue points into the rider's pending bucket."""
    return _pair((ISSUANCE, "available"), (account_id, "pending"), points)


def mature(account_id: str, points: int) -> tuple[Posting, Posting]:
    """The fraud window has passed: pending becomes available."""
    return _pair((account_id, "pending"), (account_id, "available"), points)


def hold(account_id: str, points: int) -> tuple[Posting, Posting]:
    """Reserve points for a redemption in progress."""
    return _pair((account_id, "available"), (account_id, "held"), points)


def post_hold(account_id: str, points: int, sink: str) -> tuple[Posting, Posting]:
    """The redemption went through: held points leave for the redemption or donation sink."""
    return _pair((account_id, "held"), (sink, "available"), points)


def void_hold(account_id: str, points: int) -> tuple[Posting, Posting]:
    """The redemption failed: held points return to available."""
    return _pair((account_id, "held"), (account_id, "available"), points)


def reverse_credit(account_id: str, points: int, bucket: str) -> tuple[Posting, Posting]:
    """Take a fraudulent credit back from ``bucket`` (pending, or available if it matured)."""
    return _pair((account_id, bucket), (ISSUANCE, "available"), points)


def adjust_down(account_id: str, points: int) -> tuple[Posting, Posting]:
    """A correction that lowers an earlier credit (e.g. a revised methodology) takes the
    difference from available, which may go negative until later credits pay it off."""
    return _pair((account_id, "available"), (ISSUANCE, "available"), points)


def penalty(account_id: str, points: int) -> tuple[Posting, Posting]:
    """A penalty (bad parking): available points go to the penalties account."""
    return _pair((account_id, "available"), (PENALTIES, "available"), points)


def effect_on(postings: Iterable[Posting], account_id: str) -> dict[str, int]:
    """How ``postings`` change each bucket of one account."""
    deltas = {"pending": 0, "available": 0, "held": 0}
    for posting in postings:
        if posting.account_id == account_id:
            deltas[posting.bucket] += posting.amount
    return deltas
