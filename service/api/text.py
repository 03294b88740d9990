"""Text that a request carries may not hold NUL (U+0000).

PostgreSQL cannot store NUL in text or JSONB, nor even take it as a query parameter, and no
identifier, name or reference of this API needs it. Requests are checked where they are read,
so that such text is refused as invalid input naming its field rather than failing deep down.
Each check first looks for the encoded form (``%00`` in a URL, ``\\u0000`` in JSON), so the
common request pays one byte search; a form's few fields are looked at directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask import Request

from service.errors import InvalidInput

NUL = "\x00"
NUL_MESSAGE = "text may not contain NUL (U+0000) characters"
_IN_JSON = b"\\u0000"
_IN_URL = b"%00"
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def nul_paths(value: Any, path: str = "") -> list[str]:
    """Dotted paths (``moves.0.to_unit``) of the strings and keys in ``value`` that hold NUL.
    Walked with an explicit stack: a deeply nested document cannot exhaust the call stack."""
    found: list[str] = []
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                found.append(where or "body")
        elif isinstance(item, Mapping):
            for key, child in item.items():
                child_path = f"{where}.{key}" if where else str(key)
                if NUL in str(key):
                    found.append(child_path)
                stack.append((child_path, child))
        elif isinstance(item, list | tuple):
            stack.extend((f"{where}.{i}" if where else str(i), c) for i, c in enumerate(item))
    return sorted(found)


def body_may_hold_nul(request: Request) -> bool:
    """Whether the body could carry NUL: as ``\\u0000`` in JSON, in the decoded fields of a
    form (whose raw bytes are gone once the form is parsed)."""
    if request.mimetype in _FORMS:
        return any(NUL in value for _, values in request.form.lists() for value in values)
    return _IN_JSON in request.get_data(cache=True)


def query_may_hold_nul(request: Request) -> bool:
    return _IN_URL in request.query_string


def refuse_nul(
    fields: Iterable[tuple[str, Any]], *, error: type[InvalidInput] = InvalidInput
) -> None:
    """Raise ``error`` naming every field of ``fields`` (name, value) whose text holds NUL."""
    found = [p for name, value in fields for p in nul_paths(value, name)]
    if found:
        raise error(NUL_MESSAGE + ": " + ", ".join(found),
                    errors={p: [NUL_MESSAGE] for p in found})  # fmt: skip
