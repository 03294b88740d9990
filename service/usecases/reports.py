"""Reductions report for regulators: what was credited in a month, per methodology version,
with a digest anyone can recompute from the export.

The export has one line per credited trip that ended in the month (local time), sorted by trip
uid: ``trip_uid,methodology_id,methodology_version,co2_g,receipt_sha256``, where
``receipt_sha256`` is the SHA-256 of the trip's receipt as canonical JSON (sorted keys, no
spaces, UTF-8). The report's ``digest`` is the SHA-256 of the export's lines (each ending in a
newline, no header), and each methodology's ``digest`` the same over its own lines.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from typing import Any

import orjson
from sqlalchemy import select

from service.persistence.database import Database
from service.persistence.rider_models import Trip

HEADER = "trip_uid,methodology_id,methodology_version,co2_g,receipt_sha256\n"
PAGE = 5_000


def month_range(period: str, zone: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    """The UTC bounds of a local calendar month ``YYYY-MM``."""
    year, month = int(period[:4]), int(period[5:7])
    start = dt.datetime(year, month, 1, tzinfo=zone)
    end = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def export_lines(db: Database, period: str, zone: dt.tzinfo) -> Iterator[str]:
    """The export's lines, in trip uid order, read page by page. The month is worked out at
    once, not at the first line: a bad one is an error before a streamed answer has begun."""
    start, end = month_range(period, zone)
    return _lines(db, start, end)


def _lines(db: Database, start: dt.datetime, end: dt.datetime) -> Iterator[str]:
    query = (
        select(Trip.uid, Trip.methodology_id, Trip.methodology_version, Trip.co2_g, Trip.receipt)
        .where(Trip.status == "credited", Trip.ended_at >= start, Trip.ended_at < end)
        .order_by(Trip.uid)
    )
    last = ""
    for _ in range(100_000_000 // PAGE):  # bounded: one pass over the month's trips
        with db.reading() as session:
            rows = session.execute(query.where(Trip.uid > last).limit(PAGE)).all()
        if not rows:
            return
        last = rows[-1].uid
        for uid, methodology_id, version, co2_g, receipt in rows:
            receipt_hash = hashlib.sha256(
                orjson.dumps(receipt or {}, option=orjson.OPT_SORT_KEYS)
            ).hexdigest()
            yield f"{uid},{methodology_id or ''},{version or ''},{co2_g},{receipt_hash}\n"


def reductions(db: Database, period: str, zone: dt.tzinfo) -> dict[str, Any]:
    """Trips and grams credited per methodology version in the month, with digests."""
    total = hashlib.sha256()
    per: dict[tuple[str, str], dict[str, Any]] = {}
    trips = grams = 0
    for line in export_lines(db, period, zone):
        _, methodology_id, version, co2_g, _ = line.rstrip("\n").split(",")
        entry = per.setdefault((methodology_id, version),
                               {"trips": 0, "co2_g": 0, "hash": hashlib.sha256()})  # fmt: skip
        entry["trips"] += 1
        entry["co2_g"] += int(co2_g)
        entry["hash"].update(line.encode())
        total.update(line.encode())
        trips += 1
        grams += int(co2_g)
    return {
        "period": period,
        "trips": trips,
        "co2_g": grams,
        "digest": total.hexdigest(),
        "methodologies": [
            {
                "methodology_id": m,
                "version": int(v) if v else None,
                "trips": e["trips"],
                "co2_g": e["co2_g"],
                "digest": e["hash"].hexdigest(),
            }
            for (m, v), e in sorted(per.items())
        ],
    }
