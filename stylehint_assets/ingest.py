"""Ingest orchestration: records in, batches committed, a report out (SPEC 1).

``ingest_records`` is the one entry point for a stream (the CLI, the runless events, a large
upload); ``ingest_group`` writes several small uploads validated by ``validate_upload`` in one
transaction (the HTTP service's group commit), from the same pieces. Around the write primitives of ``store.ingest`` it does the batching: this thread
decodes (or, for a live stream, a reader thread) and validates, a writer thread commits one
batch while the next is read. A batch is committed when it is full, or when it has waited
``ingest_commit_seconds`` (a slow stdin stream), or when ``stop`` is set (Ctrl-C): what was
read is committed first. Every record-level failure is a rejection with a one-line reason;
a batch the database refuses is split until the refused records are found and quarantined.
"""
from __future__ import annotations

import gc
import hashlib
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc

from .clock import utcnow
from .config import Settings
from .domain.events import Rejection, validate
from .domain.records import Record, one_line
from .domain.typed_events import validate_typed
from .store.ingest import (
    BatchResult, NewRows, assigned_event_id, new_rows, quarantine, refresh_planner_statistics, write_batch,
    write_parts,
)

log = logging.getLogger(__name__)

INGEST_GC_GEN0 = 50_000   # allocations between young collections while ingesting (Python's default: 700)
READ_AHEAD = 1_000        # decoded records the reader may hold beyond the batch being validated
READ_AHEAD_BYTES = 8 << 20   # ... and their raw text at most this much
MAX_BATCH_BYTES = 16 << 20   # a batch commits at this much raw text too: 5,000 records near 1 MiB are 5 GB
POLL_SECONDS = 0.25       # how often a waiting ingest looks at the clock and at ``stop``


@dataclass
class IngestReport:
    accepted: int = 0
    rejected: int = 0
    merged: int = 0
    rejected_by_reason: Counter = field(default_factory=Counter)
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    days: set = field(default_factory=set)
    interrupted: bool = False     # ``stop`` was set: what was read is committed, the rest is not read

    def as_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "rejected": self.rejected,
            "merged": self.merged,
            "rejected_by_reason": dict(sorted(self.rejected_by_reason.items())),
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "days": sorted(d.isoformat() for d in self.days),
        }

    def plus(self, other: IngestReport) -> IngestReport:
        total = IngestReport()
        total.absorb(self)
        total.absorb(other)
        return total

    def absorb(self, other: IngestReport) -> None:
        """Add the report of the rest of the same input."""
        self.accepted += other.accepted
        self.rejected += other.rejected
        self.merged += other.merged
        self.rejected_by_reason.update(other.rejected_by_reason)
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.days |= other.days

    def add(self, result: BatchResult, valid: int, rejected: list[tuple[Record, Rejection]]) -> None:
        self.accepted += valid
        self.rejected += len(rejected)
        self.rejected_by_reason.update(why.code for _, why in rejected)
        self.inserted += result.inserted
        self.updated += result.updated
        self.unchanged += result.unchanged
        self.merged += result.merged
        self.days |= result.days


def ingest_gc_threshold(before: tuple[int, ...]) -> tuple[int, ...]:
    """The collector's thresholds while ingesting: young objects collected every
    ``INGEST_GC_GEN0`` allocations at least, the older generations as ``before``."""
    return (max(INGEST_GC_GEN0, before[0]), *before[1:])


@contextmanager
def _fewer_collections():
    """Collect young objects less often while ingesting, then restore the thresholds.

    Decoding makes about ten containers per event and keeps a batch or two of them alive, so
    at the default threshold the collector runs every 70 events and mostly re-visits the same
    live batch; none of it is cyclic garbage. On 100,000 benchmark events this took ingest
    from 6.9-7.3 s to 6.7 s (A/B, same machine, two runs each)."""
    before = gc.get_threshold()
    gc.set_threshold(*ingest_gc_threshold(before))
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _occurrence_key(raw: str) -> int:
    """A fixed-size, deterministic key for counting identical raw records (keeping the raw text of
    every record without event_id would hold the whole input in memory)."""
    return int.from_bytes(hashlib.blake2b(raw.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


# PEP 249 classes of errors that a value can cause, by name: the COPY path raises the driver's
# own (psycopg2 or psycopg 3) exceptions, not SQLAlchemy's wrappers.
_VALUE_ERRORS = frozenset({"DataError", "IntegrityError", "InternalError", "ProgrammingError", "NotSupportedError",
                           "InterfaceError"})


def _record_level(exc: BaseException) -> bool:
    """Errors that one record's values can cause (the database refused a value, or it cannot be
    encoded); a lost connection or a full disk is not one, and stops the ingest."""
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return False
        exc = exc.orig or exc
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "OperationalError" in names:
        return False
    return bool(names & _VALUE_ERRORS) or isinstance(
        exc, (sa_exc.StatementError, ValueError, TypeError, OverflowError, RecursionError))


_END = object()


class _Direct:
    """Records pulled in this thread: for inputs that never block for long (a file, a list)."""

    def __init__(self, records: Iterable[Record]):
        self.iterator = iter(records)

    def get(self, timeout: float) -> Any:
        return next(self.iterator, _END)


class _ReadAhead:
    """Records decoded by a daemon thread into a queue (ending with ``_END``, or the exception
    the input raised), at most about READ_AHEAD records or READ_AHEAD_BYTES ahead of ``get``."""

    def __init__(self, records: Iterable[Record], halt: threading.Event):
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.put_bytes = self.got_bytes = 0     # each written by one thread only
        self.records, self.halt = records, halt
        threading.Thread(target=self._run, name="stylehint-ingest-reader", daemon=True).start()

    def get(self, timeout: float) -> Any:
        item = self.queue.get(timeout=timeout)
        if isinstance(item, Record):
            self.got_bytes += len(item.raw)
        return item

    def _full(self) -> bool:
        return self.queue.qsize() > READ_AHEAD or self.put_bytes - self.got_bytes > READ_AHEAD_BYTES

    def _run(self) -> None:
        out = self.queue
        try:
            for n, record in enumerate(self.records):
                self.put_bytes += len(record.raw)
                out.put(record)
                if n % 64 == 0 or len(record.raw) > 65536:
                    while self._full() and not self.halt.is_set():
                        time.sleep(0.002)
                    if self.halt.is_set():
                        return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            out.put(exc)
            return
        out.put(_END)


def _store(engine: Engine, valid: list[tuple[Record, dict[str, Any]]], rejected: list[tuple[Record, Rejection]],
           batch_received: datetime, settings: Settings, source: str, report: IngestReport,
           prepared: NewRows | None = None) -> None:
    """Commit one batch and add it to ``report``; a batch the database refuses is split until the
    refused records are found and quarantined with the database's reason. ``prepared``: the batch's
    rows made before (``NewRows``)."""
    try:
        with engine.begin() as conn:
            result = write_batch(conn, valid, batch_received, settings, prepared) if valid else BatchResult()
            quarantine(conn, rejected + result.rejected, batch_received, source)
    except Exception as exc:  # noqa: BLE001 - sorted into record-level or not just below
        if not valid or not _record_level(exc):
            raise
        if prepared is not None and prepared.full is not None:   # stand-ins: split the real events
            valid = prepared.full()[0]
        if len(valid) == 1:   # the culprit: quarantined with the database's reason
            log.info("record refused by the store", extra={"line_no": valid[0][0].line_no})
            _store(engine, [], rejected + [(valid[0][0], Rejection("unstorable", one_line(exc)))], batch_received,
                   settings, source, report)
            return
        half = len(valid) // 2
        _store(engine, valid[:half], rejected, batch_received, settings, source, report)
        _store(engine, valid[half:], [], batch_received, settings, source, report)
        return
    report.add(result, len(valid) - len(result.rejected), rejected + result.rejected)


def _validated(record: Record, batch_received: datetime, settings: Settings, occurrences: Counter) -> dict[str, Any]:
    """The record's event, or its ``Rejection``; records without event_id get a content-derived id,
    counted per input in ``occurrences``."""
    if record.rejection:
        raise record.rejection
    max_selectors = settings.max_selectors_per_map
    try:
        event = None if record.typed is None else validate_typed(record.typed, batch_received, max_selectors)
        if event is None:   # not typed, or a rule failed: the Python rules decide, and word the reason
            event = validate(record.value, batch_received, max_selectors)
    except Rejection:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of one record is that record's rejection
        raise Rejection("invalid_record", one_line(exc)) from None
    if event["event_id"] is None:
        key = _occurrence_key(record.raw)
        occurrences[key] += 1
        event["event_id"] = assigned_event_id(record.raw, occurrences[key])
    return event


def ingest_records(
    engine: Engine,
    records: Iterable[Record],
    *,
    settings: Settings | None = None,
    received_at: datetime | None = None,
    source: str = "",
    progress: Callable[[IngestReport], None] | None = None,
    stop: threading.Event | None = None,
    live: bool = False,
    occurrences: Counter | None = None,
) -> IngestReport:
    """Validate and store records in batches; rejected ones go to quarantine with a reason.

    Each batch has its own receipt time (``received_at`` fixes one for all, as tests do). At
    most one batch is in flight. A failure that is not a record's (the database went away)
    raises here; the batches before it stay committed. ``live`` is for a stream that may wait
    for its producer (stdin): a reader thread then decodes it, so a batch commits on time while
    a read blocks (a file is read in this thread: the hand-over costs 20-30 % of the time).
    ``occurrences``: the identical records counted in the part of the same input read before these
    (for their content-derived ids). Returns the report, whose ``days`` are the event days that changed."""
    settings = settings or Settings.from_env()
    report = IngestReport()
    occurrences = Counter() if occurrences is None else occurrences
    halt = threading.Event()
    incoming = _ReadAhead(records, halt) if live else _Direct(records)

    try:
        with _fewer_collections(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="stylehint-ingest") as writer:
            pending: Future | None = None
            ended = False
            while not ended:
                valid: list[tuple[Record, dict[str, Any]]] = []
                rejected: list[tuple[Record, Rejection]] = []
                batch_received = received_at
                deadline = None
                size = 0
                while len(valid) + len(rejected) < settings.ingest_batch_size and size < MAX_BATCH_BYTES:
                    if stop is not None and stop.is_set():
                        ended = True
                        break
                    now = time.monotonic() if deadline is not None else 0.0
                    if deadline is not None and now >= deadline:
                        break               # a slow input: commit what has waited long enough
                    wait = POLL_SECONDS if deadline is None else min(POLL_SECONDS, deadline - now)
                    try:
                        item = incoming.get(wait if wait > 0.0 else 0.0)
                    except queue.Empty:
                        if deadline is not None and time.monotonic() >= deadline:
                            break           # a slow stream: commit what has waited long enough
                        continue
                    if item is _END:
                        ended = True
                        break
                    if isinstance(item, BaseException):
                        raise item
                    size += len(item.raw)
                    if deadline is None:   # the batch's first record: its receipt time and commit time
                        batch_received = batch_received or utcnow()
                        deadline = time.monotonic() + settings.ingest_commit_seconds
                    try:
                        valid.append((item, _validated(item, batch_received, settings, occurrences)))
                    except Rejection as why:
                        rejected.append((item, why))
                if pending is not None:
                    pending.result()
                    pending = None
                    if progress:
                        progress(report)
                if valid or rejected:
                    pending = writer.submit(_store, engine, valid, rejected, batch_received, settings, source, report)
            if pending is not None:
                pending.result()
                if progress:
                    progress(report)
    finally:
        halt.set()
    report.interrupted = stop is not None and stop.is_set()
    refresh_planner_statistics(engine, report.inserted)
    log.info("ingest done", extra={"report": report.as_json(), "interrupted": report.interrupted})
    return report


@dataclass
class Upload:
    """One input validated on its own, as ``ingest_records`` would (its receipt time, its own
    content-derived ids), waiting to be written together with others by ``ingest_group``."""

    valid: list[tuple[Record, dict[str, Any]]]
    rejected: list[tuple[Record, Rejection]]
    received_at: datetime
    raw_bytes: int
    new: NewRows | None = None     # the valid events as new rows, prepared outside the ingest lock

    def prepare_rows(self, settings: Settings, copy: bool) -> None:
        """Derive (and for COPY, encode) the valid events before the group is written (``NewRows``)."""
        self.new = new_rows(self.valid, self.received_at, settings, copy)

    @property
    def records(self) -> int:
        return len(self.valid) + len(self.rejected)


def validate_upload(records: Iterable[Record], *, settings: Settings, received_at: datetime | None = None,
                    raw_bytes: int | None = None, occurrences: Counter | None = None) -> Upload:
    """Decode and validate a whole (bounded) input without writing it. ``raw_bytes``: the input's
    size when known (a request body), instead of the records' raw text summed (a typed payload's
    records build theirs only when asked). ``occurrences``: as for ``ingest_records``, for a
    piece of a larger input."""
    upload = Upload([], [], received_at or utcnow(), raw_bytes or 0)
    occurrences = Counter() if occurrences is None else occurrences
    for record in records:
        if raw_bytes is None:
            upload.raw_bytes += len(record.raw)
        try:
            upload.valid.append((record, _validated(record, upload.received_at, settings, occurrences)))
        except Rejection as why:
            upload.rejected.append((record, why))
    return upload


def ingest_group(engine: Engine, uploads: list[Upload], *, settings: Settings,
                 source: str = "") -> list[IngestReport | Exception]:
    """Write several uploads in one transaction (group commit), each with the report it would have
    had if ingested alone in this order (``write_parts``), the same rows, quarantine and counters.

    A failure that is not a record's (the database went away) is every upload's, with nothing
    written. When the database refuses a record, the uploads are written one by one instead, in
    order, each split like a batch of ``ingest_records`` until the refused records are
    quarantined; an upload that then fails on its own gets its exception, the others their report."""
    reports = [IngestReport() for _ in uploads]
    try:
        with engine.begin() as conn:
            if any(u.valid for u in uploads):
                results = write_parts(conn, [(u.valid, u.received_at) for u in uploads], settings,
                                      [u.new for u in uploads])
            else:
                results = [BatchResult() for _ in uploads]
            for upload, result in zip(uploads, results):
                quarantine(conn, upload.rejected + result.rejected, upload.received_at, source)
    except Exception as exc:  # noqa: BLE001 - sorted into record-level or not just below
        if not any(u.valid for u in uploads) or not _record_level(exc):
            raise
        outcomes: list[IngestReport | Exception] = []
        for upload, report in zip(uploads, reports):
            try:
                _store(engine, upload.valid, upload.rejected, upload.received_at, settings, source, report)
                outcomes.append(report)
            except Exception as alone:  # noqa: BLE001 - this upload's failure, answered to its request
                outcomes.append(alone)
        refresh_planner_statistics(engine, sum(r.inserted for r in outcomes if isinstance(r, IngestReport)))
        return outcomes
    for upload, result, report in zip(uploads, results, reports):
        report.add(result, len(upload.valid) - len(result.rejected), upload.rejected + result.rejected)
    refresh_planner_statistics(engine, sum(r.inserted for r in reports))
    return list(reports)
