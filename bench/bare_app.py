"""The baseline for HTTP benchmarks: a bare Flask endpoint returning a constant."""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/constant")
def constant() -> dict[str, bool]:
    return {"allowed": True}
