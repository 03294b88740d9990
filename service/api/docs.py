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


def problem_response(description: str) -> dict[str, Any]:
    """An error response with its own description, for ``document(responses=...)``."""
    return {
        "description": description,
        "content": {PROBLEM_CONTENT_TYPE: {"schema": ProblemSchema}},
    }
