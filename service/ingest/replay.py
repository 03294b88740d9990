"""Whole-request idempotency: the first answer to an ``Idempotency-Key`` is replayed for 24 h.

The same key with a different body is refused (422). Two requests racing with one key both do
the work (trips are exactly-once on their own), and the one that stores its answer second
replays the first's answer instead of its own, so a key only ever has one answer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from service.errors import InvalidInput
from service.persistence.database import Database
from service.persistence.rider_models import RequestReplay

REPLAY_FOR = dt.timedelta(hours=24)
HEADER = "Idempotency-Key"


@dataclasses.dataclass(frozen=True)
class Answer:
    status_code: int
    body: bytes


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def find(db: Database, client_id: str, key: str, digest: str, now: dt.datetime) -> Answer | None:
    """The stored answer for this key, if it is still replayable; 422 for another body."""
    with db.reading() as session:
        row = session.get(RequestReplay, (client_id, key))
        if row is None or row.created_at < now - REPLAY_FOR:
            return None
        if row.body_digest != digest:
            raise InvalidInput(
                f"this {HEADER} was used with a different request body",
                errors={HEADER: ["already used with another body"]},
            )
        return Answer(row.status_code, row.body)


def remember(
    db: Database, client_id: str, key: str, digest: str, answer: Answer, now: dt.datetime
) -> Answer:
    """Store the answer unless another request stored one first; returns the key's answer."""
    try:
        with db.transaction() as session:
            session.execute(
                delete(RequestReplay).where(
                    RequestReplay.client_id == client_id,
                    RequestReplay.key == key,
                    RequestReplay.created_at < now - REPLAY_FOR,
                )
            )
            session.add(RequestReplay(client_id=client_id, key=key, body_digest=digest,
                                      status_code=answer.status_code, body=answer.body,
                                      created_at=now))  # fmt: skip
        return answer
    except IntegrityError:
        with db.reading() as session:
            row = session.scalar(
                select(RequestReplay).where(
                    RequestReplay.client_id == client_id, RequestReplay.key == key
                )
            )
        return answer if row is None else Answer(row.status_code, row.body)
