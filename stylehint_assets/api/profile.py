"""The profile route's work: the served view of ``stylehint profile``, tagged by the published snapshot.

Views are memoised per published snapshot: the publish state is re-read at most every
``SNAPSHOT_RECHECK_SECONDS``, and a view is read from the store (with ``api_view``, as the CLI
does) once per snapshot and form. A new publish is therefore served within that interval.
"""
from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from ..domain.profiles import served_view
from ..store.reads import api_view, published_as_of

CACHE_CONTROL = "private, max-age=60"   # a snapshot is republished every six hours at most
SNAPSHOT_RECHECK_SECONDS = 1.0
MAX_CACHED_VIEWS = 50_000


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


class ServedViews:
    """Served views by (host, schema_hash) for the published snapshot; thread-safe."""

    def __init__(self, engine: Engine, profile_enabled: bool, recheck_seconds: float = SNAPSHOT_RECHECK_SECONDS):
        self.engine = engine
        self.profile_enabled = profile_enabled
        self.recheck_seconds = recheck_seconds
        self._lock = threading.Lock()
        self._snapshot: tuple[Any, Any] | None = None
        self._checked_at = float("-inf")
        self._views: OrderedDict[tuple[str, str], tuple[str | None, dict[str, Any]]] = OrderedDict()

    def cached(self, host: str, schema_hash: str, if_none_match: str | None) -> ProfileAnswer | None:
        """The answer without touching the store, or None (not cached, or the snapshot is due a re-check)."""
        with self._lock:
            if time.monotonic() - self._checked_at > self.recheck_seconds:
                return None
            hit = self._views.get((host, schema_hash))
        return None if hit is None else self._answer(*hit, if_none_match)

    def answer(self, host: str, schema_hash: str, if_none_match: str | None) -> ProfileAnswer:
        """Reads the publish state and, unless cached for it, the view, on one connection."""
        with self.engine.connect() as conn:
            _, published_at, run_id = published_as_of(conn)
            self._note_snapshot((published_at, run_id))
            with self._lock:
                hit = self._views.get((host, schema_hash))
            if hit is None:
                view = api_view(conn, host, schema_hash, self.profile_enabled)
                known = view != served_view(None, self.profile_enabled)
                etag = snapshot_etag(published_at, run_id, host, schema_hash, self.profile_enabled) if known else None
                hit = (etag, view)
                self._remember((host, schema_hash), hit, (published_at, run_id))
        return self._answer(*hit, if_none_match)

    @staticmethod
    def _answer(etag: str | None, view: dict[str, Any], if_none_match: str | None) -> ProfileAnswer:
        if etag is not None and matches(if_none_match, etag):
            return ProfileAnswer(etag, None)
        return ProfileAnswer(etag, view)

    def _note_snapshot(self, snapshot: tuple[Any, Any]) -> None:
        with self._lock:
            if snapshot != self._snapshot:
                self._snapshot = snapshot
                self._views.clear()
            self._checked_at = time.monotonic()

    def _remember(self, key: tuple[str, str], hit: tuple[str | None, dict[str, Any]], snapshot: tuple[Any, Any]) -> None:
        with self._lock:
            if snapshot != self._snapshot:     # a newer snapshot was seen meanwhile: do not keep this one
                return
            self._views[key] = hit
            if len(self._views) > MAX_CACHED_VIEWS:
                self._views.popitem(last=False)
