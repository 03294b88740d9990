"""The atoms tables: atoms as rows, and adding rows to what the tables hold.

On PostgreSQL one upsert per table adds the rows (counters add up, rider bitmaps OR together,
``bit_count`` keeps the lower bound). On SQLite, a single writer, the rows' atoms are read,
merged in Python and written back.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Select, Table, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import Insert
from sqlalchemy.orm import Session

from service.persistence.planner_models import PlannerCell, PlannerFlow
from service.planner.atoms import CellKey, CellTotals, FlowKey, FlowTotals, parents, riders_at_least

CELLS: Table = PlannerCell.__table__  # type: ignore[assignment]
FLOWS: Table = PlannerFlow.__table__  # type: ignore[assignment]
CELL_KEY = ("cell", "month", "mode", "hour", "day_type")
FLOW_KEY = ("origin", "month", "mode", "hour", "day_type", "destination")
CELL_SUMS = ("starts", "co2_g", "distance_m")
FLOW_SUMS = ("trips", "parking_judged", "parking_valid")
CHUNK = 500


def cell_rows(cells: Mapping[CellKey, CellTotals]) -> list[dict[str, Any]]:
    return [_cell_row(key, totals) for key, totals in cells.items()]


def flow_rows(flows: Mapping[FlowKey, FlowTotals]) -> list[dict[str, Any]]:
    return [_flow_row(key, totals) for key, totals in flows.items()]


def add_cells(session: Session, rows: list[dict[str, Any]]) -> None:
    """Add start-atom rows (``cell_rows``) to ``planner_cells``."""
    _add(session, CELLS, CELL_KEY, CELL_SUMS, rows)


def add_flows(session: Session, rows: list[dict[str, Any]]) -> None:
    """Add flow-atom rows (``flow_rows``) to ``planner_flows``."""
    _add(session, FLOWS, FLOW_KEY, FLOW_SUMS, rows)


def cell_totals(row: Mapping[str, Any]) -> CellTotals:
    return CellTotals(**{name: int(row[name]) for name in CELL_SUMS}, riders=row["riders"])


def flow_totals(row: Mapping[str, Any]) -> FlowTotals:
    return FlowTotals(**{name: int(row[name]) for name in FLOW_SUMS}, riders=row["riders"])


def summed(
    session: Session,
    cells_table: Table,
    flows_table: Table,
    cells: dict[CellKey, CellTotals] | None = None,
    flows: dict[FlowKey, FlowTotals] | None = None,
) -> tuple[dict[CellKey, CellTotals], dict[FlowKey, FlowTotals]]:
    """The rows of a start-atom and a flow-atom table (the atoms, or their journals) summed per
    atom, added to ``cells`` and ``flows`` when given."""
    cells = {} if cells is None else cells
    flows = {} if flows is None else flows
    for row in session.execute(select(cells_table)).mappings():
        cells.setdefault(key_of(row, CELL_KEY), CellTotals()).add(cell_totals(row))
    for row in session.execute(select(flows_table)).mappings():
        flows.setdefault(key_of(row, FLOW_KEY), FlowTotals()).add(flow_totals(row))
    return cells, flows


def key_of(row: Mapping[str, Any], names: Iterable[str]) -> tuple:
    return tuple(row[n] for n in names)


def chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _add(
    session: Session,
    table: Table,
    key: tuple[str, ...],
    sums: tuple[str, ...],
    rows: list[dict[str, Any]],
) -> None:
    # One order for every writer, so two of them never wait on each other's rows in a cycle.
    rows.sort(key=lambda row: key_of(row, key))
    if session.bind.dialect.name == "postgresql":  # type: ignore[union-attr]
        connection = session.connection()
        for chunk in chunks(rows):
            connection.execute(_postgres_upsert(table, key, sums), chunk)
        return
    session.flush()
    for chunk in chunks(rows):
        wanted = [key_of(row, key) for row in chunk]
        stored = {
            key_of(row, key): row
            for row in session.execute(
                select(table).where(tuple_(*(table.c[k] for k in key)).in_(wanted))
            ).mappings()
        }
        for row in chunk:
            old = stored.get(key_of(row, key))
            if old is not None:
                for name in sums:
                    row[name] += old[name]
                row["riders"] |= old["riders"]
                row["riders_at_least"] = riders_at_least(row["riders"])
        statement = sqlite.insert(table)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=list(key),
                set_={c.name: statement.excluded[c.name] for c in table.columns},
            ),
            chunk,
        )


@functools.cache
def _postgres_upsert(table: Table, key: tuple[str, ...], sums: tuple[str, ...]) -> Any:
    """Built once: this runs in every transaction that adds rows."""
    return postgres_upsert(table, key, sums)


def postgres_upsert(
    table: Table, key: tuple[str, ...], sums: tuple[str, ...], source: Select | None = None
) -> Insert:
    """Insert rows (given, or ``source``'s, in the table's column order) into atoms:
    counters add up, bitmaps OR together, the lower bound follows."""
    statement = postgresql.insert(table)
    if source is not None:
        statement = statement.from_select([c.name for c in table.columns], source)
    merged = table.c.riders.op("|")(statement.excluded.riders)
    return statement.on_conflict_do_update(
        index_elements=list(key),
        set_={
            **{name: table.c[name] + statement.excluded[name] for name in sums},
            "riders": merged,
            "riders_at_least": func.bit_count(merged),
        },
    )


def _cell_row(key: CellKey, totals: CellTotals) -> dict[str, Any]:
    cell, month, mode, hour, day_type = key
    coarse = parents(cell)
    return {"cell": cell, "month": month, "mode": mode, "hour": hour, "day_type": day_type,
            **{f"c{r}": coarse[r] for r in (5, 6, 7, 8)},
            **{name: getattr(totals, name) for name in CELL_SUMS},
            "riders": totals.riders, "riders_at_least": riders_at_least(totals.riders)}  # fmt: skip


def _flow_row(key: FlowKey, totals: FlowTotals) -> dict[str, Any]:
    origin, month, mode, hour, day_type, destination = key
    o = parents(origin)
    d = parents(destination) if destination else dict.fromkeys((5, 6, 7), "")
    return {"origin": origin, "month": month, "mode": mode, "hour": hour, "day_type": day_type,
            "destination": destination, **{f"o{r}": o[r] for r in (5, 6, 7, 8)},
            **{f"d{r}": d[r] for r in (5, 6, 7)},
            **{name: getattr(totals, name) for name in FLOW_SUMS},
            "riders": totals.riders, "riders_at_least": riders_at_least(totals.riders)}  # fmt: skip
