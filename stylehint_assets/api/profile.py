"""The profile route's work: the served view of ``stylehint profile``, tagged by the published snapshot.

Answers are memoised per published snapshot as the response bytes: a view is read from the store
(with ``api_view``, as the CLI does) and encoded once per snapshot and form. The publish state is
re-read at most every ``SNAPSHOT_RECHECK_SECONDS``, by one request at a time: the request that
finds the check due re-reads it (so a new publish is served within that interval), and the
requests that arrive while it does are answered from the memo instead of all queueing on the
threadpool and the store at the same moment (that stampede, once a second, was the p99). When a
new snapshot is seen, one background thread encodes the views of its forms, so the first clients
after a publish (or a start) find them memoised instead of each reading the store.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from ..domain.profiles import served_view
from ..store.reads import api_view, published_as_of
from ..store.schema import form_profiles

log = logging.getLogger(__name__)

CACHE_CONTROL = "private, max-age=60"   # a snapshot is republished every six hours at most
SNAPSHOT_RECHECK_SECONDS = 1.0
MAX_CACHED_VIEWS = 50_000
UNKNOWN = "unknown form"


def encode(body: Any) -> bytes:
    """JSON as the CLI prints it (``default=str``, UTF-8 kept), compact."""
    return json.dumps(body, default=str, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class ProfileAnswer:
    etag: str | None             # None for an unknown form (nothing to revalidate)
    body: bytes | None           # the encoded view (200) or error (404); None when the client's copy is current (304)

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
    """Encoded answers by (host, schema_hash) for the published snapshot; thread-safe."""

    def __init__(self, engine: Engine, profile_enabled: bool, recheck_seconds: float = SNAPSHOT_RECHECK_SECONDS,
                 warm: bool = True):
        self.engine = engine
        self.profile_enabled = profile_enabled
        self.recheck_seconds = recheck_seconds
        self.warm = warm
        self._lock = threading.Lock()
        self._snapshot: tuple[Any, Any] | None = None
        self._checked_at = float("-inf")
        self._views: OrderedDict[tuple[str, str], tuple[str | None, bytes]] = OrderedDict()

    def cached(self, host: str, schema_hash: str, if_none_match: str | None) -> ProfileAnswer | None:
        """The answer without touching the store, or None: not memoised, or the publish state is due a
        re-check and this request is the one to make it (in ``answer``). Claiming the check moves its
        clock, so the others keep the memo meanwhile; a claimant that fails (store down) or is
        cancelled only delays the next check by one interval."""
        with self._lock:
            now = time.monotonic()
            if now - self._checked_at > self.recheck_seconds:
                self._checked_at = now
                return None
            hit = self._views.get((host, schema_hash))
        return None if hit is None else self._answer(*hit, if_none_match)

    def answer(self, host: str, schema_hash: str, if_none_match: str | None) -> ProfileAnswer:
        """Reads the publish state and, unless memoised for it, the view, on one connection."""
        with self.engine.connect() as conn:
            snapshot = self._note_snapshot(conn)
            with self._lock:
                hit = self._views.get((host, schema_hash))
            if hit is None:
                hit = self._read(conn, host, schema_hash, snapshot)
        return self._answer(*hit, if_none_match)

    def refresh(self) -> None:
        """Re-read the publish state now (at start: the snapshot's views are then encoded in the background)."""
        with self.engine.connect() as conn:
            self._note_snapshot(conn)

    def _read(self, conn, host: str, schema_hash: str, snapshot: tuple[Any, Any]) -> tuple[str | None, bytes]:
        view = api_view(conn, host, schema_hash, self.profile_enabled)
        if view != served_view(None, self.profile_enabled):
            hit = (snapshot_etag(*snapshot, host, schema_hash, self.profile_enabled), encode(view))
        else:
            hit = (None, encode({"error": UNKNOWN, **view}))
        self._remember((host, schema_hash), hit, snapshot)
        return hit

    @staticmethod
    def _answer(etag: str | None, body: bytes, if_none_match: str | None) -> ProfileAnswer:
        if etag is not None and matches(if_none_match, etag):
            return ProfileAnswer(etag, None)
        return ProfileAnswer(etag, body)

    def _note_snapshot(self, conn) -> tuple[Any, Any]:
        _, published_at, run_id = published_as_of(conn)
        snapshot = (published_at, run_id)
        with self._lock:
            new = snapshot != self._snapshot
            if new:
                self._snapshot = snapshot
                self._views.clear()
            self._checked_at = time.monotonic()
        if new and self.warm and published_at is not None:
            threading.Thread(target=self._warm, args=(snapshot,), name="stylehint-profile-warm", daemon=True).start()
        return snapshot

    def _warm(self, snapshot: tuple[Any, Any]) -> None:
        """Encode every published form's view, until done or a newer snapshot is seen."""
        try:
            with self.engine.connect() as conn:
                forms = conn.execute(select(form_profiles.c.host, form_profiles.c.schema_hash)
                                     .limit(MAX_CACHED_VIEWS)).all()
                for host, schema_hash in forms:
                    with self._lock:
                        if snapshot != self._snapshot:
                            return
                        known = (host, schema_hash) in self._views
                    if not known:
                        self._read(conn, host, schema_hash, snapshot)
                    conn.rollback()   # one short read transaction per form, as a request's
        except Exception as exc:  # noqa: BLE001 - only a head start: requests read what is missing
            log.warning("profile views not warmed: %s", (str(exc).splitlines() or [type(exc).__name__])[0])

    def _remember(self, key: tuple[str, str], hit: tuple[str | None, bytes], snapshot: tuple[Any, Any]) -> None:
        with self._lock:
            if snapshot != self._snapshot:     # a newer snapshot was seen meanwhile: do not keep this one
                return
            self._views[key] = hit
            if len(self._views) > MAX_CACHED_VIEWS:
                self._views.popitem(last=False)
