"""Loading methodology files strictly: a file that is not exactly right is refused whole.

One TOML file per methodology version. Every error names the file and the field, so a typo is
found at start-up rather than in a rider's receipt. The schema:

    id = "sh-cycling-2025"            # lower-case, digits and dashes
    version = 1                       # a positive integer
    title = "..."
    mode = "bike"                     # bike | ebike | metro | bus
    unit = "g_per_pkm"                # g_per_pkm | g_per_ride
    status = "active"                 # trial | active | retired (retired needs valid_to)
    valid_from = 2025-01-01           # inclusive, in the scheme's local calendar
    valid_to = 2027-01-01             # exclusive; optional
    [scope]
    city = "shanghai"                 # or: class = "metro_city" | "no_metro_city"
    [factors]                         # grams of CO2 per unit, none negative
    reduction = 98                    # required; = baseline - project when both are given
    baseline = 61.03                  # optional
    project = 7.02                    # optional
    [pollutants]                      # optional: co, hc, nox, pm in grams per unit
    [source]
    citation = "..."                  # required
    quote = "..."                     # optional: the published sentence
    url = "..."                       # optional
    published = "2025"                # optional
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from methodologies.model import (
    CITY_CLASSES,
    MODES,
    POLLUTANTS,
    STATUSES,
    UNITS,
    Factors,
    Methodology,
    Scope,
    Source,
)

_TOP = {"id", "version", "title", "mode", "unit", "status", "valid_from", "valid_to", "scope",
        "factors", "pollutants", "source"}  # fmt: skip
_REQUIRED = {"id", "version", "title", "mode", "unit", "status", "valid_from", "scope",
             "factors", "source"}  # fmt: skip
_SCOPE = {"city", "class"}
_FACTORS = {"reduction", "baseline", "project"}
_SOURCE = {"citation", "quote", "url", "published"}
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


class MethodologyError(ValueError):
    """A methodology file is wrong; the message names the file and the field."""

    def __init__(self, file: str, field: str, problem: str) -> None:
        super().__init__(f"{file}: {field}: {problem}")
        self.file = file
        self.field = field
        self.problem = problem


def _check_keys(file: str, where: str, table: Mapping[str, Any], allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            name = f"{where}.{key}" if where else key
            raise MethodologyError(
                file, name, f"unknown key (allowed: {', '.join(sorted(allowed))})"
            )


def _table(file: str, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise MethodologyError(file, key, "must be a table")
    return value


def _grams(file: str, field: str, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MethodologyError(file, field, "must be a number of grams")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise MethodologyError(file, field, f"not a number: {value!r}") from exc
    if not amount.is_finite():
        raise MethodologyError(file, field, "must be finite")
    if amount < 0:
        raise MethodologyError(file, field, f"must not be negative, got {value}")
    return amount


def _date(file: str, field: str, value: Any) -> dt.date:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise MethodologyError(file, field, "must be a TOML date such as 2025-01-01")
    return value


def _choice(file: str, data: Mapping[str, Any], field: str, allowed: tuple[str, ...]) -> str:
    value = data.get(field)
    if value not in allowed:
        raise MethodologyError(file, field, f"must be one of {', '.join(allowed)}, got {value!r}")
    return value


def parse(file: str, data: Mapping[str, Any]) -> Methodology:
    """One methodology from its parsed TOML; raises ``MethodologyError`` naming the field."""
    _check_keys(file, "", data, _TOP)
    missing = sorted(_REQUIRED - set(data))
    if missing:
        raise MethodologyError(file, missing[0], "is required")
    methodology_id = data["id"]
    if not isinstance(methodology_id, str) or not _ID.match(methodology_id):
        raise MethodologyError(file, "id", "lower-case letters, digits and dashes")
    version = data["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise MethodologyError(file, "version", "must be a positive integer")
    title = data["title"]
    if not isinstance(title, str) or not title.strip():
        raise MethodologyError(file, "title", "must be a non-empty string")

    scope_table = _table(file, data, "scope")
    _check_keys(file, "scope", scope_table, _SCOPE)
    if len(scope_table) != 1:
        raise MethodologyError(file, "scope", "give exactly one of city or class")
    if "city" in scope_table:
        city = scope_table["city"]
        if not isinstance(city, str) or not _ID.match(city):
            raise MethodologyError(file, "scope.city", "lower-case city key, e.g. shanghai")
        scope = Scope(city=city)
    else:
        scope = Scope(city_class=_choice(file, scope_table, "class", CITY_CLASSES))

    factors_table = _table(file, data, "factors")
    _check_keys(file, "factors", factors_table, _FACTORS)
    if "reduction" not in factors_table:
        raise MethodologyError(file, "factors.reduction", "is required")
    amounts = {k: _grams(file, f"factors.{k}", v) for k, v in factors_table.items()}
    if ("baseline" in amounts) != ("project" in amounts):
        raise MethodologyError(file, "factors", "baseline and project go together")
    if "baseline" in amounts and amounts["baseline"] - amounts["project"] != amounts["reduction"]:
        raise MethodologyError(
            file,
            "factors.reduction",
            f"must equal baseline - project = {amounts['baseline'] - amounts['project']}",
        )
    factors = Factors(
        reduction=amounts["reduction"],
        baseline=amounts.get("baseline"),
        project=amounts.get("project"),
    )

    pollutant_table = _table(file, data, "pollutants")
    _check_keys(file, "pollutants", pollutant_table, set(POLLUTANTS))
    pollutants = {k: _grams(file, f"pollutants.{k}", v) for k, v in pollutant_table.items()}

    source_table = _table(file, data, "source")
    _check_keys(file, "source", source_table, _SOURCE)
    citation = source_table.get("citation")
    if not isinstance(citation, str) or not citation.strip():
        raise MethodologyError(file, "source.citation", "is required")
    for key in ("quote", "url", "published"):
        if key in source_table and not isinstance(source_table[key], str):
            raise MethodologyError(file, f"source.{key}", "must be a string")

    status = _choice(file, data, "status", STATUSES)
    valid_from = _date(file, "valid_from", data["valid_from"])
    valid_to = _date(file, "valid_to", data["valid_to"]) if "valid_to" in data else None
    if valid_to is not None and valid_to <= valid_from:
        raise MethodologyError(file, "valid_to", "must be after valid_from")
    if status == "retired" and valid_to is None:
        raise MethodologyError(file, "valid_to", "a retired methodology needs an end date")

    return Methodology(
        id=methodology_id,
        version=version,
        title=title.strip(),
        mode=_choice(file, data, "mode", MODES),
        unit=_choice(file, data, "unit", UNITS),
        scope=scope,
        factors=factors,
        pollutants=pollutants,
        status=status,
        valid_from=valid_from,
        valid_to=valid_to,
        source=Source(
            citation=citation.strip(),
            quote=source_table.get("quote"),
            url=source_table.get("url"),
            published=source_table.get("published"),
        ),
        file=file,
    )


def load_file(path: Path) -> Methodology:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise MethodologyError(path.name, "(file)", f"not valid TOML: {exc}") from exc
    return parse(path.name, data)


def load_directory(directory: Path) -> list[Methodology]:
    """Every ``*.toml`` in ``directory``, each validated; sorted by id and version."""
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise MethodologyError(str(directory), "(directory)", "holds no methodology files")
    return sorted((load_file(path) for path in files), key=lambda m: (m.id, m.version))
