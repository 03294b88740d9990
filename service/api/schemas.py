"""Marshmallow schemas shared by several blueprints (the OpenAPI document is built from them)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

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


class FlatLoader:
    """Loads a flat mapping (a query string) field by field with a schema's own fields and
    validators, without the per-call machinery of ``Schema.load``: for hot paths only. What
    each field needs is looked up once, when the loader is made. Keys the schema does not know
    are ignored."""

    def __init__(self, schema: ma.Schema) -> None:
        self._fields = [
            (name, field.data_key or name, field, tuple(field.validators))
            for name, field in schema.load_fields.items()
        ]

    def load(self, data: Mapping[str, Any]) -> dict[str, Any]:
        loaded: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        for name, key, field, validators in self._fields:
            raw = data.get(key)
            if raw is None:
                if field.required:
                    errors[name] = ["Missing data for required field."]
                else:
                    loaded[name] = field.load_default
                continue
            try:
                loaded[name] = _plain_value(field, validators, raw)
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


def _plain_value(field: ma.fields.Field, validators: tuple, raw: Any) -> Any:
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
    for validator in validators:
        validator(value)
    return value


def query_pairs(query_string: str) -> dict[str, str]:
    """A WSGI ``QUERY_STRING``'s name=value pairs as ``dict(parse_qsl(...))`` gives them (blank
    values dropped, the last of a repeated name kept, UTF-8 percent-decoding). The common plain
    query is split directly; one with any encoding goes through ``parse_qsl``."""
    if not query_string.isascii() or "%" in query_string or "+" in query_string:
        return dict(parse_qsl(query_string.encode("latin-1").decode("utf-8", "replace")))
    pairs: dict[str, str] = {}
    for part in query_string.split("&"):
        name, _, value = part.partition("=")
        if value:
            pairs[name] = value
    return pairs
