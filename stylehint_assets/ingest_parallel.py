"""A large NDJSON file decoded by worker processes, committed in order by this one (SPEC 1).

Ingest is Python-bound: reading, the rules, deriving, counting and COPY-encoding an event cost
about 100 µs of one core, under one GIL. Here the file is cut into batches of whole lines, which
worker processes decode, validate, derive, count and COPY-encode (``_prepare``); this process
only hands the batches out and commits them, in file order, through the writer of
``ingest_records``. The store, the quarantine, the counters and the report are the serial
ingest's, because:

- a batch's stand-in rows are written only when every id in it is new and seen once
  (``NewRows.usable``); otherwise (a re-ingest, a merge, a repeated id) its lines are decoded
  again in the writer and take the serial path;
- a batch with a record without event_id (whose content-derived id counts occurrences over the
  whole input) or one a worker could not derive is decoded here, in input order;
- a multi-line document, or a line over the record limit, cannot be cut at line boundaries:
  from the batch it is in, the rest of the file is read by ``ingest_records`` itself.
"""
from __future__ import annotations

import ctypes
import functools
import gc
import io
import logging
import os
import signal
import threading
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from multiprocessing import get_context
from typing import Any

from sqlalchemy import Engine

from .clock import utcnow
from .config import Settings
from .domain.counters import CounterBatch
from .domain.events import Rejection
from .domain.records import MAX_RECORD_BYTES, Record, Unsplittable, read_records
from .ingest import (
    MAX_BATCH_BYTES, IngestReport, Upload, _fewer_collections, _store, ingest_gc_threshold, ingest_records, validate_upload,
)
from .store.ingest import NewRows, refresh_planner_statistics

log = logging.getLogger(__name__)

PARALLEL_MIN_BYTES = 8 << 20   # below this a file is decoded here: starting the workers costs ~1 s
MAX_WORKERS = 8


def worker_count(settings: Settings) -> int:
    return settings.ingest_workers or min(MAX_WORKERS, os.cpu_count() or 1)


@dataclass
class _Piece:
    """Whole lines of the file: where they start, and the lines before them; ``data`` None for
    lines that hold one over the record limit (read on in this process from ``offset``)."""

    offset: int
    line_offset: int
    data: bytes | None
    received_at: datetime


@dataclass
class _Prepared:
    """What a worker made of a piece: the ids and COPY lines of its valid events, their counters
    and days, and its rejections; ``None`` of it when the piece is to be decoded here."""

    ids: list[str]
    lines: list[str]
    counters: CounterBatch
    days: set
    rejected: list[tuple[int, str, str, str]]    # line_no, raw, code, detail


@dataclass
class _Whole:
    """A piece's events themselves (not stand-ins), with their prepared rows."""

    valid: list[tuple[int, str, dict[str, Any]]]     # line_no, raw, event
    rejected: list[tuple[int, str, str, str]]
    new: NewRows


def _rejections(rejected: list[tuple[int, str, str, str]]) -> list[tuple[Record, Rejection]]:
    return [(Record(line_no, raw), Rejection(code, detail)) for line_no, raw, code, detail in rejected]


def _upload(piece: _Piece, settings: Settings, occurrences: Counter) -> Upload:
    """The piece's records validated, as ``ingest_records`` validates them; its rows not yet made."""
    records = list(read_records(io.BytesIO(piece.data), piece.line_offset, whole_lines=True))
    return validate_upload(records, settings=settings, received_at=piece.received_at, raw_bytes=len(piece.data),
                           occurrences=occurrences)


_settings: Settings | None = None


def _start_worker(settings: Settings) -> None:
    """A worker does nothing but decode, so it collects young objects as seldom as the ingest
    does while it runs (``_fewer_collections``): 50,000 real-shape lines prepared in 1.50 s at
    Python's default threshold, 1.36 s at this one, 1.37 s with the collector off."""
    global _settings
    _settings = settings
    gc.set_threshold(*ingest_gc_threshold(gc.get_threshold()))
    _steady_heap()
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the ingest process's to handle


class _ContentId(Exception):
    pass


class _NoContentIds(Counter):
    """Occurrences that refuse to count: a content-derived id is the ingest process's to assign."""

    def __setitem__(self, key, value):
        raise _ContentId


def _prepare(piece: _Piece, whole: bool) -> _Prepared | _Whole | str:
    """In a worker: the piece prepared (``whole``: with its events, for a batch that is likely
    to merge), or why it is to be decoded in the ingest process."""
    try:
        upload = _upload(piece, _settings, _NoContentIds())
    except Unsplittable:
        return "unsplittable"
    except _ContentId:
        return "content ids"
    upload.prepare_rows(_settings, copy=True)
    new = upload.new
    rejected = [(r.line_no, r.raw, why.code, why.detail) for r, why in upload.rejected]
    if whole:
        return _Whole([(r.line_no, r.raw, e) for r, e in upload.valid], rejected, new)
    if any(row is None for row in new.rows):
        return "not derivable"
    return _Prepared([e["event_id"] for _, e in upload.valid], new.lines, new.counters, new.days, rejected)


def _pieces(stream: io.BufferedReader, settings: Settings, received_at: datetime | None):
    """Pieces of at most a batch of lines and MAX_BATCH_BYTES, the last one without data when it
    holds a line over the record limit."""
    offset, line_offset = stream.tell(), 0
    while True:
        lines: list[bytes] = []
        size = 0
        while len(lines) < settings.ingest_batch_size and size < MAX_BATCH_BYTES:
            line = stream.readline(MAX_RECORD_BYTES + 1)
            if not line:
                break
            if len(line) > MAX_RECORD_BYTES and not line.endswith(b"\n"):
                yield _Piece(offset, line_offset, None, received_at or utcnow())
                return
            lines.append(line)
            size += len(line)
        if not lines:
            return
        yield _Piece(offset, line_offset, b"".join(lines), received_at or utcnow())
        offset, line_offset = offset + size, line_offset + len(lines)


def _stand_ins(piece: _Piece, prepared: _Prepared, settings: Settings) -> tuple[list, list, NewRows]:
    rows = [{"event_id": i} for i in prepared.ids]
    valid = [(None, row) for row in rows]
    rejected = _rejections(prepared.rejected)

    def full() -> tuple[list, NewRows]:
        upload = _upload(piece, settings, Counter())   # every event has its own id here
        upload.prepare_rows(settings, copy=True)
        return upload.valid, upload.new

    return valid, rejected, NewRows(rows, prepared.lines, prepared.counters, prepared.days, full=full)


def ingest_file(engine: Engine, stream: io.BufferedReader, *, settings: Settings, received_at: datetime | None = None,
                source: str = "", progress: Callable[[IngestReport], None] | None = None,
                stop: threading.Event | None = None) -> IngestReport:
    """``ingest_records`` of a regular file opened for reading in binary, with its decoding in
    worker processes when the store is PostgreSQL and the rest of the file is large enough to pay
    for starting them."""
    workers = worker_count(settings)
    if workers < 2 or engine.dialect.name != "postgresql" or \
            os.fstat(stream.fileno()).st_size - stream.tell() < PARALLEL_MIN_BYTES:
        return ingest_records(engine, read_records(stream), settings=settings, received_at=received_at,
                              source=source, progress=progress, stop=stop)
    return _ingest_parallel(engine, stream, workers, settings, received_at, source, progress, stop)


M_ARENA_MAX = -8         # glibc's mallopt parameters
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1 << 20   # blocks from 1 MiB on are mapped, and unmapped when freed


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def _glibc(function: str, *args: int) -> None:
    """Call one of glibc's allocator functions; a no-op where there is no glibc."""
    call = getattr(_libc(), function, None)
    if call is not None:
        call(*args)


def _steady_heap() -> None:
    """Keep this process's heap at the size of the batches in flight, not of the input (for the
    rest of the process: these are process-wide settings).

    One glibc arena: the pool's result thread makes the workers' COPY lines and the writer
    thread frees them, and across per-thread arenas the freed space was not reused.

    A fixed mmap threshold: glibc raises it to the size of every large block freed, so the
    batches' megabyte buffers (lines read, pickled pieces and results, COPY text) came from the
    heap and fragmented it, and the peak crept up with the input. Mapped and unmapped each time,
    they cost page faults instead (2-3 s of system CPU at 1M lines; docs/performance.md has the
    figures of both)."""
    _glibc("mallopt", M_ARENA_MAX, 1)
    _glibc("mallopt", M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def _release_freed_memory() -> None:
    """Give the batches' freed heap back to the system (glibc keeps it for reuse): what runs next
    in the process, such as the command's report to the Dagster instance, then starts from the
    live size instead of the ingest's peak."""
    _glibc("malloc_trim", 0)


def _ingest_parallel(engine: Engine, stream, workers: int, settings: Settings, received_at: datetime | None,
                     source: str, progress, stop: threading.Event | None) -> IngestReport:
    _steady_heap()
    report = IngestReport()
    occurrences: Counter = Counter()
    rest: _Piece | None = None     # the piece from which on the file is read in this process
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_start_worker,
                               initargs=(settings,))
    try:
        with _fewer_collections(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="stylehint-ingest") as writer:
            inflight: deque[tuple[_Piece, Future | None]] = deque()
            pieces = _pieces(stream, settings, received_at)
            pending: Future | None = None
            more = True
            merging, merged = False, 0
            while more or inflight:
                while more and len(inflight) < workers + 1 and not (stop is not None and stop.is_set()):
                    piece = next(pieces, None)
                    if piece is None:
                        more = False
                        break
                    inflight.append((piece, None if piece.data is None else pool.submit(_prepare, piece, merging)))
                    more = piece.data is not None
                if not inflight:
                    break
                piece, future = inflight.popleft()
                prepared = future.result() if future is not None else "a line over the record limit"
                if future is None or prepared == "unsplittable":
                    rest = piece
                    log.info("ingest reads on in one process", extra={"line_offset": piece.line_offset, "why": prepared})
                    for _, later in inflight:
                        if later is not None:
                            later.cancel()
                    inflight.clear()
                    break
                if isinstance(prepared, _Prepared):
                    valid, rejected, new = _stand_ins(piece, prepared, settings)
                elif isinstance(prepared, _Whole):
                    valid = [(Record(line_no, raw), event) for line_no, raw, event in prepared.valid]
                    rejected, new = _rejections(prepared.rejected), prepared.new
                else:   # content ids or a failed derive: this piece the serial way, in input order
                    upload = _upload(piece, settings, occurrences)
                    valid, rejected, new = upload.valid, upload.rejected, None
                if pending is not None:
                    pending.result()
                    # A batch that merged (a re-ingest, say) makes the next ones come whole: stand-ins
                    # would be decoded again, in the writer.
                    merging, merged = report.merged > merged, report.merged
                    if progress:
                        progress(report)
                pending = writer.submit(_store, engine, valid, rejected, piece.received_at, settings, source,
                                        report, new)
            if pending is not None:
                pending.result()
                if progress:
                    progress(report)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _release_freed_memory()
    refresh_planner_statistics(engine, report.inserted)
    if rest is not None and not (stop is not None and stop.is_set()):
        stream.seek(rest.offset)
        report.absorb(ingest_records(engine, read_records(stream, rest.line_offset), settings=settings, received_at=received_at,
                                     source=source, stop=stop, occurrences=occurrences,
                                     progress=progress and (lambda part: progress(report.plus(part)))))
    report.interrupted = stop is not None and stop.is_set()
    log.info("ingest done", extra={"report": report.as_json(), "workers": workers, "interrupted": report.interrupted})
    return report
