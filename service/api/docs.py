"""OpenAPI notes on a view without wrapping it.

``flask_smorest.Blueprint.doc`` wraps the view in one more function per use, and each wrapper
costs a ``current_app.ensure_sync`` call on every request. ``document`` records the same manual
documentation (flask-smorest's ``_apidoc["manual_doc"]``) on the function itself.
"""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from typing import Any, TypeVar

from flask_smorest.utils import deepupdate

F = TypeVar("F", bound=Callable[..., Any])


def document(**kwargs: Any) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        apidoc = deepcopy(getattr(view, "_apidoc", {}))
        apidoc["manual_doc"] = deepupdate(apidoc.get("manual_doc", {}), kwargs)
        view._apidoc = apidoc  # type: ignore[attr-defined]
        return view

    return decorate
