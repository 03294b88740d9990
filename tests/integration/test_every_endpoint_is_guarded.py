"""No endpoint is reachable without a token unless it is meant to be public."""

from __future__ import annotations

import re

PUBLIC = {
    "/health",
    "/v1/openapi.json",
    "/v1/oauth/token",
    "/static/<path:filename>",
    "/v1/methodologies",
    "/v1/methodologies/<string:methodology_id>",
}


def _concrete(rule: str) -> str:
    return re.sub(r"<[^>]+>", "x", rule)


def test_every_non_public_route_answers_401_without_a_token(app, client):
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.rule in PUBLIC:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            answer = client.open(_concrete(rule.rule), method=method)
            assert answer.status_code == 401, f"{method} {rule.rule} -> {answer.status_code}"
            assert answer.content_type == "application/problem+json"
            checked += 1
    assert checked >= 4  # whoami, clients list/create/revoke at least
