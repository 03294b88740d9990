"""City planner aggregates: hexagon maps, origin-destination flows, totals (privacy-safe)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Any

import marshmallow as ma
import orjson
from flask import Response

from geo.coords import cell_boundary_lnglat
from service.api.blueprint import Blueprint
from service.api.context import services
from service.api.guard import requires_scope
from service.errors import InvalidInput
from service.planner import queries

blp = Blueprint("aggregates", __name__, url_prefix="/v1/aggregates", description="Planners")

# A month of 1970 to 2999: month arithmetic near year 1 or 9999 would leave datetime's range.
MONTH = re.compile(r"^(19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])$")
MAX_MONTHS = 24
METRICS = ("trips", "co2_g", "distance_m", "riders", "ends", "parking_compliance")
MODES = ("bike", "ebike", "metro", "bus")
FORMATS = {
    "geojson": "application/geo+json",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
}


class SliceSchema(ma.Schema):
    mode = ma.fields.String(load_default=None, validate=ma.validate.OneOf(MODES))
    from_ = ma.fields.String(
        data_key="from", load_default=None, validate=ma.validate.Regexp(MONTH),
        metadata={"description": "first month, YYYY-MM (default: this one)"},
    )  # fmt: skip
    to = ma.fields.String(
        load_default=None, validate=ma.validate.Regexp(MONTH),
        metadata={"description": "last month, YYYY-MM, inclusive"},
    )  # fmt: skip
    hour = ma.fields.Integer(load_default=None, validate=ma.validate.Range(min=0, max=23),
                             metadata={"description": "local hour of day"})  # fmt: skip
    day_type = ma.fields.String(
        load_default=None, validate=ma.validate.OneOf(("weekday", "weekend"))
    )


class CellsQuerySchema(SliceSchema):
    res = ma.fields.Integer(load_default=8, validate=ma.validate.Range(min=5, max=9))
    metric = ma.fields.String(load_default="trips", validate=ma.validate.OneOf(METRICS))
    format = ma.fields.String(load_default="geojson", validate=ma.validate.OneOf(tuple(FORMATS)))


class FlowsQuerySchema(SliceSchema):
    res = ma.fields.Integer(
        load_default=7, validate=ma.validate.Range(min=5, max=8),
        metadata={"description": "flows are published at 8 or coarser"},
    )  # fmt: skip


class SummaryQuerySchema(SliceSchema):
    pass


def _slice(query: dict[str, Any]) -> queries.Slice:
    svc = services()
    this_month = dt.datetime.now(svc.policy.zone).strftime("%Y-%m")
    first = query["from_"] or query["to"] or this_month
    last = query["to"] or first
    if last < first:
        raise InvalidInput("'to' is before 'from'", errors={"to": ["before from"]})
    months = (int(last[:4]) - int(first[:4])) * 12 + int(last[5:]) - int(first[5:]) + 1
    if months > MAX_MONTHS:
        raise InvalidInput(f"at most {MAX_MONTHS} months at once", errors={"to": ["too far"]})
    return queries.Slice(first, last, query["mode"], query["hour"], query["day_type"],
                         svc.settings.planner_k)  # fmt: skip


@blp.route("/cells", methods=["GET"])
@requires_scope("aggregates:read")
@blp.arguments(CellsQuerySchema, location="query")
@blp.response(200, description="GeoJSON hexagons (default), CSV or GeoParquet")
def cells(query: dict[str, Any]) -> Response:
    """Per H3 cell: trips (started there), CO2, distance and riders, from published atoms;
    with ``metric=ends`` or ``parking_compliance`` also trip ends and parking (resolution 8
    or coarser). ``value`` is the chosen metric. Suppressed cells carry no figures."""
    view = _slice(query)
    with_ends = query["metric"] in ("ends", "parking_compliance")
    found = queries.cells(services().db, view, query["res"], with_ends=with_ends)
    for cell in found:
        cell["value"] = None if cell["suppressed"] else cell[query["metric"]]
    render = {"geojson": _geojson, "csv": _csv, "parquet": _parquet}[query["format"]]
    return Response(render(found), mimetype=FORMATS[query["format"]])


@blp.route("/od", methods=["GET"])
@requires_scope("aggregates:read")
@blp.arguments(FlowsQuerySchema, location="query")
@blp.response(200)
def od(query: dict[str, Any]) -> dict[str, Any]:
    """Origin-destination flows between cells, each of at least k riders."""
    view = _slice(query)
    flows = queries.flows(services().db, view, query["res"])
    return {"resolution": query["res"], "month_from": view.month_from,
            "month_to": view.month_to, "flows": flows}  # fmt: skip


@blp.route("/summary", methods=["GET"])
@requires_scope("aggregates:read")
@blp.arguments(SummaryQuerySchema, location="query")
@blp.response(200)
def summary(query: dict[str, Any]) -> dict[str, Any]:
    """Totals, mode share, reductions and parking compliance, from the same atoms as the map."""
    view = _slice(query)
    return {"month_from": view.month_from, "month_to": view.month_to, "k": view.k,
            **queries.summary(services().db, view)}  # fmt: skip


def _hexagon(cell: str) -> dict[str, Any]:
    ring = [[round(lng, 6), round(lat, 6)] for lng, lat in cell_boundary_lnglat(cell)]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def _geojson(found: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "id": c["cell"], "geometry": _hexagon(c["cell"]),
                      "properties": c} for c in found],
    })  # fmt: skip


COLUMNS = ("cell", "suppressed", "value", *METRICS, "parking_judged", "parking_valid")


def _csv(found: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(found)
    return out.getvalue().encode()


def _parquet(found: list[dict[str, Any]]) -> bytes:
    import geopandas  # loaded on first use: it is large
    from shapely.geometry import shape

    frame = geopandas.GeoDataFrame(
        [{name: c.get(name) for name in COLUMNS} for c in found],
        geometry=[shape(_hexagon(c["cell"])) for c in found],
        crs="EPSG:4326",
    )
    out = io.BytesIO()
    frame.to_parquet(out)
    return out.getvalue()
