"""The roll-up journal: what ingestion adds to the planner atoms, appended now, folded later.

Why: many trips share an atom (one corral at one hour is one atom), so if every crediting
transaction added to the atoms tables itself, concurrent batches would queue on the same few
rows until each commits. Instead a crediting transaction appends its additions to a journal
(plain inserts, nothing to wait for) and a fold, in a short transaction of its own, moves the
journal into ``planner_cells`` and ``planner_flows``.

The rules that keep every trip counted exactly once:

* Journal rows commit with the trips they count, and a fold deletes the rows it adds, in one
  transaction: a row is folded once or not at all.
* Every read of the atoms folds first (``fold_now``), so planners see every trip committed
  before they asked. Ingestion folds after its commits, at most once a second per process
  (``Folding``), so the journal stays short.
* Whatever recounts atoms from raw trips (a reversal, a rebuild) first ``hold``s the journal:
  appends wait until it commits, and what was journalled is folded first, so no trip is both
  in the recount and still in the journal. Crediting appends last in its transaction, after
  taking its ledger locks, so a holder never waits on a writer that waits on it.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Table, delete, func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from service.persistence import bulk, direct
from service.persistence.database import Database
from service.persistence.planner_models import CELL_JOURNAL, FLOW_JOURNAL, RiderBits
from service.planner.atoms import CellKey, CellTotals, FlowKey, FlowTotals
from service.planner.tables import (
    CELL_KEY,
    CELL_SUMS,
    CELLS,
    FLOW_KEY,
    FLOW_SUMS,
    FLOWS,
    add_cells,
    add_flows,
    cell_rows,
    flow_rows,
    postgres_upsert,
    summed,
)

log = logging.getLogger(__name__)

FOLD_LOCK = 0x67705F666F6C64  # the advisory lock folds take on PostgreSQL ("gp_fold")
FOLD_INTERVAL_S = 1.0
JOURNALS = ((CELLS, CELL_JOURNAL, CELL_KEY, CELL_SUMS), (FLOWS, FLOW_JOURNAL, FLOW_KEY, FLOW_SUMS))


def append(
    session: Session, cells: dict[CellKey, CellTotals], flows: dict[FlowKey, FlowTotals]
) -> None:
    """Journal additions to the atoms, in the caller's transaction (call it last there: see
    the module docstring)."""
    journals = [(journal, rows)
                for journal, rows in ((CELL_JOURNAL, cell_rows(cells)),
                                      (FLOW_JOURNAL, flow_rows(flows)))
                if rows]  # fmt: skip
    if not journals:
        return
    for _, rows in journals:
        for row in rows:
            del row["riders_at_least"]
    if sum(len(rows) for _, rows in journals) <= bulk.FEW_ROWS or direct.pipelining(session):
        with direct.pipelined(session):  # a few rows: one round trip for both journals
            for journal, rows in journals:
                direct.insert(session, journal, rows)
        return
    for journal, rows in journals:  # many: one multi-row VALUES statement each, through
        session.execute(insert(journal), rows)  # SQLAlchemy (never inside a pipeline)


def fold(session: Session) -> None:
    """Move every journal row this transaction can see into the atoms tables."""
    if session.bind.dialect.name == "postgresql":  # type: ignore[union-attr]
        for atoms, journal, key, sums in JOURNALS:
            session.execute(_postgres_fold(atoms, journal, key, sums))
        return
    # SQLite: this write transaction is the only writer, so what it reads is all there is.
    cells, flows = pending(session)
    add_cells(session, cell_rows(cells))
    add_flows(session, flow_rows(flows))
    for _, journal, _, _ in JOURNALS:
        session.execute(delete(journal))


def hold(session: Session) -> None:
    """Make appends wait until the caller's transaction ends, then fold: from here on the atoms
    tables hold every credited trip this transaction sees, and only those."""
    if session.bind.dialect.name == "postgresql":  # type: ignore[union-attr]
        # EXCLUSIVE lets reads through and stops inserts and deletes (appends, other folds).
        session.execute(
            text(f"LOCK TABLE {CELL_JOURNAL.name}, {FLOW_JOURNAL.name} IN EXCLUSIVE MODE")
        )
    # On SQLite the caller's write transaction already is the only writer.
    fold(session)


def pending(session: Session) -> tuple[dict[CellKey, CellTotals], dict[FlowKey, FlowTotals]]:
    """What the journal holds, merged per atom."""
    return summed(session, CELL_JOURNAL, FLOW_JOURNAL)


def fold_now(db: Database) -> None:
    """Fold whatever is journalled, after any fold under way: call it before reading atoms."""
    with db.reading() as session:
        if all(session.scalar(select(j.c.id).limit(1)) is None for _, j, _, _ in JOURNALS):
            return
    with db.transaction() as session:
        if session.bind.dialect.name == "postgresql":  # type: ignore[union-attr]
            session.execute(select(func.pg_advisory_xact_lock(FOLD_LOCK)))
        fold(session)


class Folding:
    """Folds after one process's ingestion commits, at most once every ``interval_s`` and only
    when no other fold is under way, so the journal stays short without a fold per batch."""

    def __init__(
        self,
        db: Database,
        *,
        interval_s: float = FOLD_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._interval_s = interval_s
        self._clock = clock
        self._last = float("-inf")

    def after_commit(self) -> None:
        """Never raises: the trips are committed, and a later fold takes what this one left."""
        started = self._clock()
        if started - self._last < self._interval_s:
            return
        self._last = started
        try:
            with self._db.transaction() as session:
                postgres = session.bind.dialect.name == "postgresql"  # type: ignore[union-attr]
                if postgres and not session.scalar(
                    select(func.pg_try_advisory_xact_lock(FOLD_LOCK))
                ):
                    return
                fold(session)
        except SQLAlchemyError:
            log.warning("the roll-up journal was not folded; the next fold takes it", exc_info=True)


@functools.cache
def _postgres_fold(
    atoms: Table, journal: Table, key: tuple[str, ...], sums: tuple[str, ...]
) -> Any:
    """One statement: delete the journal's rows and add them, merged per atom, to ``atoms``
    (in key order, like every writer of the atoms)."""
    moved = delete(journal).returning(*(c for c in journal.columns if c.name != "id")).cte("moved")
    riders = func.bit_or(moved.c.riders, type_=RiderBits())

    def merged(name: str) -> Any:
        if name in key:
            return moved.c[name]
        if name in sums:
            return func.sum(moved.c[name])
        if name == "riders":
            return riders
        if name == "riders_at_least":
            return func.bit_count(riders)
        return func.min(moved.c[name])  # a parent cell: the same for every row of the atom

    keys = [moved.c[name] for name in key]
    source = select(*(merged(c.name) for c in atoms.columns)).group_by(*keys).order_by(*keys)
    return postgres_upsert(atoms, key, sums, source).add_cte(moved)
