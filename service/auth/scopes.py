"""Who may do what: the scopes each kind of caller is granted (API.md, "Auth")."""

from __future__ import annotations

OPERATOR_SCOPES = ("trips:write", "vehicles:write", "parking:read", "fleet:read")
PLANNER_SCOPES = ("aggregates:read",)
ADMIN_SCOPES = ("admin",)
RIDER_SCOPES = ("account",)

SCOPES_BY_KIND: dict[str, tuple[str, ...]] = {
    "operator": OPERATOR_SCOPES,
    "planner": PLANNER_SCOPES,
    "admin": ADMIN_SCOPES,
    "rider": RIDER_SCOPES,
}


def parse_scope(raw: str | None) -> tuple[str, ...]:
    """A space-separated OAuth scope string as a tuple, duplicates removed, order kept."""
    return tuple(dict.fromkeys((raw or "").split()))


def format_scope(scopes: tuple[str, ...] | list[str]) -> str:
    return " ".join(scopes)
