"""A request body the answer did not need is read to its end before the answer goes out.

An error found before the body is read (an expired token, a rate limit) leaves the body on the
socket. gunicorn then discards at most 64 KiB of it; past that it closes the connection it has
just answered with ``Connection: keep-alive``. A client that reuses the connection, as HTTP
clients do, finds it closed on its next request, and a POST is not retried: the caller sees a
dropped connection instead of the answer to its previous request. A 1000-trip batch is about
half a megabyte. Reading the rest, within the request size limit, keeps the connection usable.
Bodies over the limit (413) and bodies without a ``Content-Length`` are left to the server.
"""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.exceptions import ClientDisconnected

CHUNK_BYTES = 64 * 1024


def read_unread_body(response: Response) -> Response:
    """``after_request``: discard what is left of a body of known length within the limit."""
    length = request.content_length
    if not length:
        return response
    limit = request.max_content_length
    if limit is not None and length > limit:
        return response
    stream = request.stream
    try:
        for _ in range(length // CHUNK_BYTES + 1):
            if not stream.read(CHUNK_BYTES):
                break
    except (ClientDisconnected, OSError):
        pass  # the client went away: nothing is left to keep
    return response


def install(app: Flask) -> None:
    app.after_request(read_unread_body)
