"""No endpoint is reachable without a token unless it is meant to be public."""

from __future__ import annotations

import re

PUBLIC = {
    ("/health", "GET"),
    ("/v1/openapi.json", "GET"),
    ("/v1/oauth/token", "POST"),
    ("/static/<path:filename>", "GET"),
    ("/v1/methodologies", "GET"),
    ("/v1/methodologies/<string:methodology_id>", "GET"),
    ("/v1/fences", "GET"),
    ("/v1/fences/gbfs", "GET"),
    # The dashboard page and its script and style: the data behind them needs a token.
    ("/planner", "GET"),
    ("/planner/static/<path:name>", "GET"),
}


def _concrete(rule: str) -> str:
    return re.sub(r"<[^>]+>", "x", rule)


def test_every_non_public_route_answers_401_without_a_token(app, client):
    checked = 0
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if (rule.rule, method) in PUBLIC:
                continue
            answer = client.open(_concrete(rule.rule), method=method)
            assert answer.status_code == 401, f"{method} {rule.rule} -> {answer.status_code}"
            assert answer.content_type == "application/problem+json"
            checked += 1
    assert checked >= 30
