"""The profile route's work: the served view of ``stylehint profile``, tagged by the published snapshot."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from ..domain.profiles import served_view
from ..store.reads import api_view, published_as_of

CACHE_CONTROL = "private, max-age=60"   # a snapshot is republished every six hours at most


@dataclass(frozen=True)
class ProfileAnswer:
    etag: str | None             # None for an unknown form (nothing to revalidate)
    view: dict[str, Any] | None  # None when the client's copy is current (304)

    @property
    def known(self) -> bool:
        return self.etag is not None


def snapshot_etag(published_at: Any, run_id: str | None, host: str, schema_hash: str, profile_enabled: bool) -> str:
    """Changes whenever a snapshot is published (or shadow mode flips), stable in between."""
    key = "\x1f".join([str(published_at), str(run_id), host, schema_hash, "1" if profile_enabled else "0"])
    return '"' + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32] + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison against a list of entity tags (or ``*``)."""
    if not if_none_match:
        return False
    tags = [t.strip() for t in if_none_match.split(",")]
    return "*" in tags or any(t.removeprefix("W/") == etag for t in tags)


def profile_answer(engine: Engine, host: str, schema_hash: str, profile_enabled: bool,
                   if_none_match: str | None) -> ProfileAnswer:
    """``host`` is already normalised. Reads the publish state and, unless the client's copy is
    current, the served row, on one connection."""
    with engine.connect() as conn:
        _, published_at, run_id = published_as_of(conn)
        etag = snapshot_etag(published_at, run_id, host, schema_hash, profile_enabled)
        if matches(if_none_match, etag):
            return ProfileAnswer(etag, None)
        view = api_view(conn, host, schema_hash, profile_enabled)
    if view == served_view(None, profile_enabled):
        return ProfileAnswer(None, view)
    return ProfileAnswer(etag, view)
