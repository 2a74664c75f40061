"""The ingest write primitives: merge by ``event_id``, store, quarantine, count (SPEC 1, 7).

Each batch is one transaction that also records the durable counter increments of the
events it stores (the batching around it is ``stylehint_assets.ingest``). Batches are serialised (an advisory lock on PostgreSQL, ``BEGIN
IMMEDIATE`` on SQLite), which makes the merge and the counters exact under concurrent ingests.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ARRAY, Connection, Engine, String, bindparam, func, select, text

from ..config import Settings
from ..domain.counters import CounterBatch, host_label
from ..domain.events import CLIENT_FIELDS, Rejection, derive, merge
from ..domain.records import Record, bounded, one_line
from .bulk import copy_in, copy_lines, insert_rows, json_columns, update_rows
from .counters import add_increments
from .planner_stats import analyze_after_write
from .schema import autofill_events, autofill_events_quarantine

log = logging.getLogger(__name__)

INGEST_LOCK_KEY = 0x5354594C  # "STYL": one advisory lock for all ingests
STORED_COLUMNS = [c.name for c in autofill_events.columns]
QUARANTINE_COLUMNS = ["received_at", "source", "line_no", "reason", "raw", "raw_bytes"]
UPDATED_COLUMNS = [c for c in STORED_COLUMNS if c not in ("event_id", "received_at")]
# The COPY of new events: ``updated_at`` (the change stamp, known under the lock) first, then the
# columns a ``NewRows`` line holds.
_PREPARED_COLUMNS = [c for c in STORED_COLUMNS if c != "updated_at"]
_COPY_COLUMNS = ["updated_at", *_PREPARED_COLUMNS]
ANALYZE_MIN_ROWS = 10_000   # a bulk load: at least this many new events, and 10 % of those known


@dataclass
class BatchResult:
    """What one committed batch changed; the caller adds it to its report after the commit."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    merged: int = 0
    days: set = field(default_factory=set)
    rejected: list = field(default_factory=list)   # (record, Rejection) found while deriving


@dataclass
class NewRows:
    """A batch's events derived, and on PostgreSQL COPY-encoded, as if each id were new, before the
    ingest lock is taken. The lock serialises every writer (all the service's workers), and most
    synced events are new: deriving and encoding them was the larger part of a group's time under
    it. ``write_parts`` uses a row only for an id that is new when it looks (stored nowhere, not
    earlier in the group) and a line only for a row nothing merged into since."""

    rows: list[dict[str, Any] | None]     # per event of the batch; None: deriving failed (the lock's path says why)
    lines: list[str | None]               # its COPY line without updated_at; None off PostgreSQL
    counters: CounterBatch                # the counter increments of the rows, all of them new
    days: set                             # their event days
    # Set for rows prepared in another process (``ingest_parallel``): the batch's events and rows are
    # then stand-ins holding only their event_id, and this returns the real (batch, NewRows), for a
    # batch that is not all new ids each seen once.
    full: Callable[[], tuple[list[tuple[Record, dict[str, Any]]], NewRows]] | None = None

    def usable(self, ids: list[str], stored: dict, latest: dict) -> bool:
        """Whether stand-in rows can be written as they are: every id new, and each seen once."""
        return (not any(i in stored or i in latest for i in ids)) and len(set(ids)) == len(ids)


def _count(counters: CounterBatch, old: dict[str, Any] | None, row: dict[str, Any], settings: Settings) -> None:
    """The counter increments of storing ``row`` over ``old`` (None: a new event)."""
    counters.add(old, row, host_label(row["host"], row["host_family"], settings.metrics_hosts, settings.families))


def new_rows(batch: list[tuple[Record, dict[str, Any]]], received_at: datetime, settings: Settings,
             copy: bool) -> NewRows:
    rows: list[dict[str, Any] | None] = []
    counters = CounterBatch()
    for _, event in batch:
        try:
            row = derive(dict(event, received_at=received_at), settings.families)
        except Exception:  # noqa: BLE001 - the same derive under the lock rejects it with its reason
            rows.append(None)
            continue
        rows.append(row)
        _count(counters, None, row, settings)
    lines: list[str | None] = [None] * len(rows)
    encoded = [r for r in rows if r is not None]
    if copy and encoded:
        order, text = copy_lines(encoded, _PREPARED_COLUMNS, json_columns(autofill_events))
        it = iter(text.split("\n"))      # COPY text escapes newlines inside fields: one line per row
        lines = [None if r is None else next(it) for r in rows]
    return NewRows(rows, lines, counters, {r["event_day"] for r in rows if r is not None})


def assigned_event_id(raw: str, occurrence: int) -> str:
    """A content-derived id for records without ``event_id``: re-ingesting a file is idempotent,
    and identical records within one input stay distinct events."""
    digest = hashlib.sha256(f"{occurrence}\x1f{raw}".encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return f"sha-{digest}"


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": INGEST_LOCK_KEY})


# One primary-key probe per id, whatever the statistics say: ``event_id = ANY(:ids)`` was planned
# as a sequential scan while the table had no statistics yet (a fresh store filling faster than
# autovacuum analyzes it: 5.4 ms at 50,000 rows for 200 ids, growing with the table, under the
# ingest lock), and ``LIMIT 1`` keeps the planner from flattening the probe into a hash join.
_STORED_BY_PROBE = text(
    f"SELECT e.* FROM unnest(CAST(:ids AS varchar[])) AS i(id) CROSS JOIN LATERAL "
    f"(SELECT * FROM {autofill_events.name} WHERE event_id = i.id LIMIT 1) AS e"   # identifier from the schema
).bindparams(bindparam("ids", type_=ARRAY(String))).columns(*autofill_events.c)


def _stored(conn: Connection, ids: list[str]) -> dict[str, dict[str, Any]]:
    if conn.dialect.name == "postgresql":   # one array parameter, not thousands of bound values
        rows = conn.execute(_STORED_BY_PROBE, {"ids": ids}).mappings()
    else:
        match = autofill_events.c.event_id.in_(bindparam("ids", expanding=True))
        rows = conn.execute(select(autofill_events).where(match), {"ids": ids}).mappings()
    return {r["event_id"]: dict(r) for r in rows}


def _unchanged(old: dict[str, Any], event: dict[str, Any]) -> bool:
    """Same client fields (so the same derived ones, event day included): nothing to write."""
    return all(old.get(f) == event.get(f) for f in CLIENT_FIELDS)


def _change_stamp(conn: Connection, received_at: datetime) -> datetime:
    """``updated_at`` for this batch: its receipt time, but later than any stored change. Taken under
    the ingest lock, so updated_at follows commit order and a partials rebuild that recorded
    ``max_updated_at`` never misses a batch committed after it (the late-events sensor relies on it)."""
    newest = conn.execute(select(func.max(autofill_events.c.updated_at))).scalar()
    return received_at if newest is None or received_at > newest else newest + timedelta(microseconds=1)


def write_batch(conn: Connection, batch: list[tuple[Record, dict[str, Any]]], received_at: datetime,
                settings: Settings, prepared: NewRows | None = None) -> BatchResult:
    """Merge and store one batch of validated records (all in ``conn``'s transaction).

    A record merges when its id is stored (by an earlier ingest, or an earlier batch of this
    one: batches commit in order) or came earlier in this batch; no set of ids grows with the input."""
    return write_parts(conn, [(batch, received_at)], settings, [prepared])[0]


def write_parts(conn: Connection, parts: list[tuple[list[tuple[Record, dict[str, Any]]], datetime]],
                settings: Settings, prepared: list[NewRows | None] | None = None) -> list[BatchResult]:
    """Merge and store several batches in one transaction (and one lock, change stamp, id lookup
    and counter upsert), with each batch's result as if it had been written alone, in order: an
    id an earlier part stored or changed is that part's version for the later one (so it merges,
    and counts as updated or unchanged against it), and its counter increments are the later
    part's. Each part keeps its own receipt time. ``prepared``: each part's ``NewRows``, if made."""
    _lock(conn)
    changed_at = _change_stamp(conn, max(received_at for _, received_at in parts))
    stored = _stored(conn, list({e["event_id"] for batch, _ in parts for _, e in batch}))
    latest: dict[str, dict[str, Any]] = {}     # what the parts so far made of an id
    counters = CounterBatch()   # summed per series here, not per event in SQL
    results = []
    lines: dict[str, tuple[dict[str, Any], str | None]] = {}   # id -> the prepared row and its COPY line
    for p, (batch, received_at) in enumerate(parts):
        result = BatchResult()
        final: dict[str, dict[str, Any]] = {}
        new = prepared[p] if prepared else None
        if new is not None and new.full is not None and not new.usable([e["event_id"] for _, e in batch], stored, latest):
            batch, new = new.full()     # a merge or a repeated id: the real events, decoded again here
        taken = 0             # events of this part written as their prepared row
        for i, (record, event) in enumerate(batch):
            eid = event["event_id"]
            base = final.get(eid) or latest.get(eid) or stored.get(eid)
            try:
                if base is None and new is not None and new.rows[i] is not None:
                    final[eid] = new.rows[i]
                    lines[eid] = (new.rows[i], new.lines[i])
                    taken += 1
                    continue
                merged = dict(event, received_at=received_at) if base is None else merge(base, event)
                final[eid] = derive(merged, settings.families)
            except Exception as exc:  # noqa: BLE001 - any failure of one record is that record's rejection
                result.rejected.append((record, Rejection("not_derivable", one_line(exc))))
                continue
            if base is not None:
                result.merged += 1
        if new is not None and taken == len(batch) == len(final):
            # Every event new, each id once: the prepared days and counts are this part's.
            for eid, event in final.items():
                event["updated_at"] = changed_at
                latest[eid] = event
            result.inserted = taken
            result.days |= new.days
            counters.absorb(new.counters)
            results.append(result)
            continue
        for eid, event in final.items():
            old = latest.get(eid) or stored.get(eid)
            if old is not None and _unchanged(old, event):
                result.unchanged += 1
                continue
            event["updated_at"] = changed_at
            result.days.add(event["event_day"])
            _count(counters, old, event, settings)
            if old is None:
                result.inserted += 1
            else:
                result.days.add(old["event_day"])
                result.updated += 1
            latest[eid] = event
        results.append(result)
    inserted = [e for eid, e in latest.items() if eid not in stored]
    if lines and conn.dialect.name == "postgresql":
        _copy_new(conn, inserted, lines, changed_at)
    else:
        insert_rows(conn, autofill_events, inserted, STORED_COLUMNS)
    update_rows(conn, autofill_events, "event_id", [e for eid, e in latest.items() if eid in stored], UPDATED_COLUMNS)
    add_increments(conn, counters.increments())
    return results


def _copy_new(conn: Connection, rows: list[dict[str, Any]], lines: dict[str, tuple[dict[str, Any], str | None]],
              changed_at: datetime) -> None:
    """COPY the new rows: a prepared line with the change stamp put in front, the others encoded here."""
    ready, rest = [], []
    for row in rows:
        line = lines.get(row["event_id"])
        if line is not None and line[0] is row and line[1] is not None:
            ready.append(line[1])
        else:
            rest.append(row)
    order, data = copy_lines(rest, _COPY_COLUMNS, json_columns(autofill_events))
    if rows:
        copy_in(conn, autofill_events, order, _stamped(f"{changed_at}\t", ready, data))


COPY_CHUNK_LINES = 64   # ~64 KB of real-shape events: below glibc's mmap threshold, so reused


def _stamped(stamp: str, ready: list[str], rest: str):
    """The prepared lines with the change stamp in front, in chunks of whole lines; then ``rest``."""
    for i in range(0, len(ready), COPY_CHUNK_LINES):
        yield stamp + f"\n{stamp}".join(ready[i:i + COPY_CHUNK_LINES]) + "\n"
    yield rest


def quarantine(conn: Connection, rejected: list[tuple[Record, Rejection]], received_at: datetime, source: str) -> None:
    """Store rejected records with their one-line reason (in ``conn``'s transaction)."""
    insert_rows(conn, autofill_events_quarantine, [
        {"received_at": received_at, "source": source, "line_no": r.line_no, "reason": str(why)[:1000],
         "raw": bounded(r.raw), "raw_bytes": len(r.raw.encode("utf-8", "surrogatepass"))}
        for r, why in rejected
    ], QUARANTINE_COLUMNS)


def refresh_planner_statistics(engine: Engine, inserted: int) -> bool:
    """ANALYZE the events after a bulk load (PostgreSQL), instead of waiting for autovacuum.

    The planner would otherwise plan the next aggregation for the table it last sampled: right
    after loading a million events into an empty store it expected 1,635 rows in the window,
    chose a plan without parallel workers, and the field-map aggregation took 5.1 s instead
    of 2.2 s. A bulk load: ``ANALYZE_MIN_ROWS`` new events and a tenth of those known. Returns
    whether it analyzed."""
    if engine.dialect.name != "postgresql" or inserted < ANALYZE_MIN_ROWS:
        return False
    with engine.begin() as conn:
        if not analyze_after_write(conn, autofill_events, inserted, share=0.1):
            return False
    log.info("analyzed autofill_events after a bulk load", extra={"inserted": inserted})
    return True
