"""Public: every methodology version with its factors, validity and source."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from methodologies.model import Methodology
from methodologies.model import decimal_text as _text
from service.api.blueprint import Blueprint
from service.api.context import services
from service.api.docs import may_answer, without_database
from service.errors import NotFound

blp = Blueprint(
    "methodologies", __name__, url_prefix="/v1/methodologies", description="Methodologies"
)


class FactorsSchema(ma.Schema):
    baseline_g = ma.fields.String(allow_none=True)
    project_g = ma.fields.String(allow_none=True)
    reduction_g = ma.fields.String(required=True)


class SourceSchema(ma.Schema):
    citation = ma.fields.String(required=True)
    quote = ma.fields.String(allow_none=True)
    url = ma.fields.String(allow_none=True)
    published = ma.fields.String(allow_none=True)


class MethodologySchema(ma.Schema):
    id = ma.fields.String(required=True)
    version = ma.fields.Integer(required=True)
    title = ma.fields.String(required=True)
    mode = ma.fields.String(required=True)
    unit = ma.fields.String(required=True, metadata={"description": "g_per_pkm or g_per_ride"})
    scope = ma.fields.Dict(required=True, metadata={"description": "{city} or {class}"})
    status = ma.fields.String(required=True, metadata={"description": "trial, active, retired"})
    valid_from = ma.fields.Date(required=True)
    valid_to = ma.fields.Date(allow_none=True)
    factors = ma.fields.Nested(FactorsSchema, required=True)
    pollutants_g = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())
    source = ma.fields.Nested(SourceSchema, required=True)
    in_use_for = ma.fields.List(
        ma.fields.String(), metadata={"description": "modes this deployment's city uses it for"}
    )


class MethodologyListSchema(ma.Schema):
    city = ma.fields.String(required=True)
    methodologies = ma.fields.List(ma.fields.Nested(MethodologySchema), required=True)


def _view(m: Methodology, in_use_for: list[str]) -> dict[str, Any]:
    return {
        "id": m.id,
        "version": m.version,
        "title": m.title,
        "mode": m.mode,
        "unit": m.unit,
        "scope": {"city": m.scope.city} if m.scope.city else {"class": m.scope.city_class},
        "status": m.status,
        "valid_from": m.valid_from,
        "valid_to": m.valid_to,
        "factors": {
            "baseline_g": _text(m.factors.baseline),
            "project_g": _text(m.factors.project),
            "reduction_g": _text(m.factors.reduction),
        },
        "pollutants_g": {k: _text(v) for k, v in sorted(m.pollutants.items())},
        "source": {
            "citation": m.source.citation,
            "quote": m.source.quote,
            "url": m.source.url,
            "published": m.source.published,
        },
        "in_use_for": in_use_for,
    }


def _listing(methodology_id: str | None = None) -> dict[str, Any]:
    context = services().methodologies
    uses: dict[str, list[str]] = {}
    for mode, used_id in context.city.methodologies.items():
        uses.setdefault(used_id, []).append(mode)
    chosen = context.registry.versions(methodology_id) if methodology_id else context.registry.all()
    return {
        "city": context.city.key,
        "methodologies": [_view(m, uses.get(m.id, [])) for m in chosen],
    }


@blp.route("", methods=["GET"])
@without_database
@blp.response(200, MethodologyListSchema)
def list_all() -> dict[str, Any]:
    """Every methodology version: factors, validity, status and published source."""
    return _listing()


@blp.route("/<string:methodology_id>", methods=["GET"])
@without_database
@blp.response(200, MethodologyListSchema)
@may_answer(404)
def versions(methodology_id: str) -> dict[str, Any]:
    """Every version of one methodology, oldest first."""
    listing = _listing(methodology_id)
    if not listing["methodologies"]:
        raise NotFound(f"no methodology {methodology_id}")
    return listing
