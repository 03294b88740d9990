"""OpenAPI notes on a view without wrapping it.

``flask_smorest.Blueprint.doc`` wraps the view in one more function per use, and each wrapper
costs a ``current_app.ensure_sync`` call on every request. ``document`` records the same manual
documentation (flask-smorest's ``_apidoc["manual_doc"]``) on the function itself.
"""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from http import HTTPStatus
from typing import Any, TypeVar

from flask_smorest.utils import deepupdate

from service.api.problems import PROBLEM_CONTENT_TYPE
from service.api.schemas import ProblemSchema

F = TypeVar("F", bound=Callable[..., Any])


def document(**kwargs: Any) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        apidoc = deepcopy(getattr(view, "_apidoc", {}))
        apidoc["manual_doc"] = deepupdate(apidoc.get("manual_doc", {}), kwargs)
        view._apidoc = apidoc  # type: ignore[attr-defined]
        return view

    return decorate


def may_answer(*statuses: int) -> Callable[[F], F]:
    """List error statuses the view answers, each as the problem+json response registered under
    the status's name (``NOT_FOUND``...). ``default`` only gives the shape of errors; the
    document says which ones each operation has."""
    return document(responses={status: HTTPStatus(status).name for status in statuses})


def without_database(view: F) -> F:
    """Mark a view that answers from memory alone: unlike every other operation
    (``Blueprint.route``), it is not documented to answer 503 when the database is away."""
    view._without_database = True  # type: ignore[attr-defined]
    return view


def may_answer_database_away(view: F) -> F:
    """Document the 503 every operation that reads or writes the database answers while the
    database is away, unless the view is marked ``without_database`` or documents its own 503."""
    if getattr(view, "_without_database", False):
        return view
    responses = getattr(view, "_apidoc", {}).get("manual_doc", {}).get("responses", {})
    if 503 in responses or "503" in responses:
        return view
    away = problem_response("the database is unavailable; retry after Retry-After")
    return document(responses={503: away})(view)


def problem_response(description: str) -> dict[str, Any]:
    """An error response with its own description, for ``document(responses=...)``."""
    return {
        "description": description,
        "content": {PROBLEM_CONTENT_TYPE: {"schema": ProblemSchema}},
    }
