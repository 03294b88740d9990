"""The blueprint every API module uses: flask-smorest's, with two additions that belong to
reading arguments, so that each view gets them without saying so.

- Declared text arguments holding NUL are refused as invalid fields (``service.api.text``).
- A view that reads a JSON or form body is documented to answer 400 when the body cannot be
  read at all (not JSON, say), as webargs does before any field is looked at, and 413 when it
  is over ``MAX_REQUEST_BYTES``.
- Every view is documented to answer 503 while the database is away (the problem handlers
  answer so), except those marked ``docs.without_database``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import flask_smorest
import marshmallow as ma
from flask import Request
from webargs.flaskparser import FlaskParser

from service.api import text
from service.api.docs import may_answer, may_answer_database_away

BODY_LOCATIONS = ("json", "form", "json_or_form")


class TextParser(FlaskParser):
    """webargs' Flask parser, refusing NUL in the text of any argument the schema declares."""

    def pre_load(
        self, location_data: Any, *, schema: ma.Schema, req: Request, location: str
    ) -> Any:
        if not isinstance(location_data, Mapping) or not _may_hold_nul(req, location):
            return location_data
        declared = (field.data_key or name for name, field in schema.load_fields.items())
        found = [
            path
            for key in declared
            if key in location_data
            for path in text.nul_paths(location_data[key], key)
        ]
        if found:
            raise ma.ValidationError({path: [text.NUL_MESSAGE] for path in found})
        return location_data


def _may_hold_nul(req: Request, location: str) -> bool:
    if location in ("query", "querystring"):
        return text.query_may_hold_nul(req)
    return location in BODY_LOCATIONS and text.body_may_hold_nul(req)


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = TextParser()

    def route(self, rule: str, **options: Any) -> Callable:
        register = super().route(rule, **options)
        return lambda view: register(may_answer_database_away(view))

    def arguments(self, schema: Any, *, location: str = "json", **kwargs: Any) -> Callable:
        decorate = super().arguments(schema, location=location, **kwargs)
        if location not in BODY_LOCATIONS:
            return decorate
        return lambda view: may_answer(400, 413)(decorate(view))
