"""The planner dashboard: one page and its script and style, served by the service itself
(no CDN, no map tiles), so it works without internet. It signs in with a planner client and
reads the aggregates API like any other client."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory

PAGE_DIR = Path(__file__).resolve().parent.parent / "planner_ui"

blp = Blueprint("planner_page", __name__)


@blp.route("/planner", methods=["GET"])
def page() -> Response:
    return send_from_directory(PAGE_DIR, "index.html", mimetype="text/html", max_age=60)


@blp.route("/planner/static/<path:name>", methods=["GET"])
def static_file(name: str) -> Response:
    return send_from_directory(PAGE_DIR, name, max_age=60)
