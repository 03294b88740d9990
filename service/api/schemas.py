"""Marshmallow schemas shared by several blueprints (the OpenAPI document is built from them)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

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


def load_flat(schema: ma.Schema, data: Mapping[str, Any]) -> dict[str, Any]:
    """Load a flat mapping (a query string) field by field with ``schema``'s own fields and
    validators, without the per-call machinery of ``Schema.load``. For hot paths only;
    keys the schema does not know are ignored."""
    loaded: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, field in schema.load_fields.items():
        raw = data.get(field.data_key or name)
        if raw is None:
            if field.required:
                errors[name] = ["Missing data for required field."]
            else:
                loaded[name] = field.load_default
            continue
        try:
            loaded[name] = _plain_value(field, raw)
        except (TypeError, ValueError, ma.ValidationError):
            pass
        else:
            continue
        try:
            loaded[name] = field.deserialize(raw, name, data)
        except ma.ValidationError as exc:
            messages = exc.messages
            errors[name] = list(messages) if isinstance(messages, list) else [str(messages)]
    if errors:
        raise ma.ValidationError(errors)
    return loaded


def _plain_value(field: ma.fields.Field, raw: Any) -> Any:
    """A plain float or string checked by the field's own validators: the common, valid case
    without the field's deserialisation machinery. Anything else raises, and the caller lets the
    field itself decide (and word the error)."""
    kind = type(field)
    if kind is ma.fields.Float and isinstance(raw, str):
        value: Any = float(raw)
        if not math.isfinite(value):
            raise ValueError(raw)
    elif kind is ma.fields.String and isinstance(raw, str):
        value = raw
    else:
        raise TypeError(kind)
    for validator in field.validators:
        validator(value)
    return value
