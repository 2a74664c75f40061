"""Reading a request body without ever holding more than the configured limit."""
from __future__ import annotations

from starlette.requests import Request


class BodyTooLarge(Exception):
    def __init__(self, limit: int, seen: int, declared: bool):
        super().__init__(f"body is {'declared as ' if declared else 'over '}{seen} bytes, limit {limit}")


class BadContentLength(Exception):
    pass


async def read_bounded(request: Request, limit: int) -> bytes:
    """The whole body, or ``BodyTooLarge`` as soon as it is known to exceed ``limit``: from
    ``Content-Length`` before reading anything, else while streaming (chunked uploads)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise BadContentLength(f"Content-Length {declared[:40]!r} is not a number")
        if int(declared) > limit:
            raise BodyTooLarge(limit, int(declared), declared=True)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit, size, declared=False)
        chunks.append(chunk)
    return b"".join(chunks)
