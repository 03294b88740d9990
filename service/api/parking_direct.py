"""The parking check answered straight from WSGI, in front of Flask.

``GET /v1/parking/check`` is the busiest endpoint, and once the zones are indexed its own work
(token, query, verdict) costs a fraction of what Flask's per-request set-up does (contexts, URL
matching, signals, the response object). This layer answers a well-formed, authorised check
itself, with the view's own functions (``guard.authorise``, ``parking.answer``), so both paths
give the same answer byte for byte. Every other request, and every check that would end in an
error of any kind, goes to Flask untouched, which answers it as it always has (problem+json).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from service.api.guard import authorise
from service.api.parking import SCOPE, answer, blp

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from flask import Flask

    from service.container import Services

PATH = f"{blp.url_prefix}/check"


class DirectParkingCheck:
    """WSGI middleware: answers good parking checks, hands everything else to ``app``."""

    def __init__(self, app: WSGIApplication, services: Services) -> None:
        self.app = app
        self._services = services

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == PATH and environ.get("REQUEST_METHOD") == "GET":
            body = self._answer(environ)
            if body is not None:
                headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
                start_response("200 OK", headers)
                return [body]
        return self.app(environ, start_response)

    def _answer(self, environ: WSGIEnvironment) -> bytes | None:
        """The answer, or None when Flask is to answer: the check only reads, so Flask may
        simply do it again and word whatever went wrong as it words every error."""
        svc = self._services
        try:
            principal = authorise(svc.tokens, environ.get("HTTP_AUTHORIZATION", ""), (SCOPE,))
            return answer(svc, principal.subject, environ.get("QUERY_STRING", ""))
        except Exception:  # any failure is Flask's to answer, see above
            return None


def install(flask_app: Flask, services: Services) -> None:
    """Put the direct parking check in front of ``flask_app``'s WSGI application."""
    flask_app.wsgi_app = DirectParkingCheck(flask_app.wsgi_app, services)
