"""Access to the process's services and the authenticated caller from inside a view."""

from __future__ import annotations

from flask import current_app, g

from service.auth.tokens import Principal
from service.container import Services


def services() -> Services:
    return current_app.extensions["greenpoints"]


def caller() -> Principal:
    """The principal set by ``requires_scope``; only valid inside a guarded view."""
    return g.principal
