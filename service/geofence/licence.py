"""Operator licence areas as H3 cell sets.

An admin gives the cells directly, or a polygon that is filled at a stated resolution. The fill
rule is H3's own: a cell belongs to the area when its centre lies inside the polygon
(``h3.polygon_to_cells``), so a boundary is followed to within half a cell (res 9 cells are
about 174 m across, res 8 about 461 m). A trip of the operator must start and end in one of
its cells; a point is checked by mapping it to a cell at the area's resolution.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import h3
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from geo.coords import lnglat_to_cell, polygon_to_h3
from service.errors import InvalidInput, NotFound
from service.persistence import direct
from service.persistence.database import Database
from service.persistence.geo_models import LicenceCell
from service.persistence.models import ApiClient

MAX_CELLS = 200_000
RESOLUTIONS = range(5, 12)


def _fill(geometry: BaseGeometry, resolution: int) -> set[str]:
    polygons = geometry.geoms if isinstance(geometry, MultiPolygon) else [geometry]
    cells: set[str] = set()
    for polygon in polygons:
        cells |= set(h3.polygon_to_cells(polygon_to_h3(polygon), resolution))
    return cells


def set_area(
    db: Database,
    operator_id: str,
    *,
    resolution: int,
    cells: Sequence[str] | None = None,
    polygon: BaseGeometry | None = None,
) -> dict:
    """Replace an operator's licence area with ``cells``, or ``polygon`` filled at
    ``resolution``."""
    if resolution not in RESOLUTIONS:
        raise InvalidInput("resolution must be 5 to 11", errors={"resolution": ["5 to 11"]})
    if (cells is None) == (polygon is None):
        raise InvalidInput("give cells or polygon", errors={"cells": ["give cells or polygon"]})
    if cells is not None:
        bad = [c for c in cells if not h3.is_valid_cell(c) or h3.get_resolution(c) != resolution]
        if bad:
            raise InvalidInput(
                f"not H3 cells at resolution {resolution}: {', '.join(bad[:5])}",
                errors={"cells": [f"invalid or wrong resolution: {bad[0]}"]},
            )
        chosen = set(cells)
    else:
        assert polygon is not None
        if not isinstance(polygon, Polygon | MultiPolygon) or not polygon.is_valid:
            raise InvalidInput("polygon must be a valid Polygon or MultiPolygon",
                               errors={"polygon": ["not a valid polygon"]})  # fmt: skip
        chosen = _fill(polygon, resolution)
    if not chosen or len(chosen) > MAX_CELLS:
        raise InvalidInput(f"an area needs 1 to {MAX_CELLS} cells, got {len(chosen)}",
                           errors={"cells": [f"{len(chosen)} cells"]})  # fmt: skip
    with db.transaction() as session:
        operator = session.get(ApiClient, operator_id)
        if operator is None or operator.kind != "operator":
            raise NotFound(f"no operator {operator_id}")
        session.execute(delete(LicenceCell).where(LicenceCell.operator_id == operator_id))
        session.add_all(
            LicenceCell(operator_id=operator_id, cell=cell, resolution=resolution)
            for cell in sorted(chosen)
        )
    return {"operator_id": operator_id, "resolution": resolution, "cells": sorted(chosen)}


def get_area(db: Database, operator_id: str) -> dict:
    with db.transaction() as session:
        rows = session.execute(
            select(LicenceCell.cell, LicenceCell.resolution)
            .where(LicenceCell.operator_id == operator_id)
            .order_by(LicenceCell.cell)
        ).all()
    if not rows:
        raise NotFound(f"no licence area for {operator_id}")
    return {"operator_id": operator_id, "resolution": rows[0][1], "cells": [c for c, _ in rows]}


_RESOLUTION = direct.Statement(
    lambda dialect: (
        select(LicenceCell.resolution)
        .where(LicenceCell.operator_id == bindparam("operator_id"))
        .limit(1)
    )
)
_HELD = direct.Statement(
    lambda dialect: select(LicenceCell.cell).where(
        LicenceCell.operator_id == bindparam("operator_id"),
        direct.one_of_param(dialect, LicenceCell.cell, "cells"),
    )
)


def licence_cells_at(
    session: Session, operator_id: str, points: Iterable[tuple[float, float]]
) -> tuple[int, set[str]] | None:
    """The operator's licence resolution and which of the (lng, lat) points' cells its area
    holds, in two queries however many points; None when it has no licence area."""
    return send_licence_lookup(session, operator_id)(points)


def send_licence_lookup(
    session: Session, operator_id: str
) -> Callable[[Iterable[tuple[float, float]]], tuple[int, set[str]] | None]:
    """``licence_cells_at`` whose first query (the operator's resolution) is sent now, inside
    ``direct.pipelined`` with the statements around it; called with the points, it reads that
    answer and, for an operator with a licence area, asks for the points' cells."""
    sent = _RESOLUTION.send(session, operator_id=operator_id)

    def cells_at(points: Iterable[tuple[float, float]]) -> tuple[int, set[str]] | None:
        found = sent.rows()
        if not found:
            return None
        resolution = found[0][0]
        wanted = sorted({lnglat_to_cell(lng, lat, resolution) for lng, lat in points})
        held = _HELD.scalars(session, operator_id=operator_id, cells=wanted)
        return resolution, set(held)

    return cells_at


def licensed(db: Database, operator_id: str, points: Sequence[tuple[float, float]]) -> list[bool]:
    """For each (lng, lat): inside the operator's licence area? (True for all if it has none.)"""
    with db.reading() as session:
        found = licence_cells_at(session, operator_id, points)
    if found is None:
        return [True] * len(points)
    resolution, cells = found
    return [lnglat_to_cell(lng, lat, resolution) in cells for lng, lat in points]
