"""Marshmallow schemas shared by several blueprints (the OpenAPI document is built from them)."""

from __future__ import annotations

import marshmallow as ma


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details, as every non-2xx answer carries them."""

    type = ma.fields.String(required=True, metadata={"description": "problem type URI"})
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String(required=True)
    code = ma.fields.String(metadata={"description": "stable machine-readable code"})
    error = ma.fields.String(metadata={"description": "OAuth 2.0 error code (token endpoint)"})
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={"description": "field -> messages, for validation failures"},
    )
