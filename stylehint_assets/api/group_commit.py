"""Group commit of the sync route: uploads that arrive while a transaction is in flight share the next one.

Every upload is validated in its request's thread, then queued; one writer thread takes what is
queued (in arrival order, at most ``MAX_GROUP_EVENTS`` records or ``MAX_GROUP_BYTES`` of raw
text, at least one upload) and writes it with ``ingest_group``: one lock, change stamp, id lookup
and counter upsert for the group instead of per upload, each request still answered with its
own report, as if ingested alone in that order. Nothing waits to fill a group: an upload that
finds the writer idle is written at once, so a lone client pays no latency for it.
"""
from __future__ import annotations

import queue
import threading
from concurrent.futures import Future

from sqlalchemy import Engine

from ..config import Settings
from ..ingest import IngestReport, Upload, ingest_group

MAX_GROUP_EVENTS = 5_000          # as a batch of ``stylehint ingest`` (STYLEHINT_INGEST_BATCH_SIZE's default)
MAX_GROUP_BYTES = 4 << 20
_STOP = object()


class GroupCommitter:
    def __init__(self, engine: Engine, settings: Settings, source: str,
                 max_events: int = MAX_GROUP_EVENTS, max_bytes: int = MAX_GROUP_BYTES):
        self.engine, self.settings, self.source = engine, settings, source
        self.max_events, self.max_bytes = max_events, max_bytes
        self._queue: queue.SimpleQueue = queue.SimpleQueue()   # (upload, future) pairs, then _STOP
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self.groups = 0                   # transactions written (tests read it)

    def submit(self, upload: Upload) -> Future:
        """The upload's ``IngestReport`` (or the exception that failed it), once its group is committed."""
        future: Future = Future()
        with self._start:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="stylehint-sync-writer", daemon=True)
                self._thread.start()
            self._queue.put((upload, future))
        return future

    def close(self) -> None:
        """Write what is queued, then stop the writer (at shutdown)."""
        with self._start:
            if self._thread is None:
                return
            self._queue.put(_STOP)
            thread, self._thread = self._thread, None
        thread.join()

    def _run(self) -> None:
        carried = None
        while True:
            item = carried if carried is not None else self._queue.get()
            carried = None
            if item is _STOP:
                return
            group = [item]
            events, size = item[0].records, item[0].raw_bytes
            while True:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP or events + nxt[0].records > self.max_events or size + nxt[0].raw_bytes > self.max_bytes:
                    carried = nxt          # the next group's first (or the stop, after this group)
                    break
                group.append(nxt)
                events += nxt[0].records
                size += nxt[0].raw_bytes
            self._write(group)

    def _write(self, group: list[tuple[Upload, Future]]) -> None:
        # Running futures cannot be cancelled any more (a request whose client went away cancels
        # its future): an upload taken into a group is written whatever happens to its request.
        waiting = [future.set_running_or_notify_cancel() for _, future in group]
        try:
            outcomes: list[IngestReport | Exception] = ingest_group(
                self.engine, [u for u, _ in group], settings=self.settings, source=self.source)
        except Exception as exc:  # noqa: BLE001 - the group's failure is each of its requests'
            outcomes = [exc] * len(group)
        self.groups += 1
        for (_, future), outcome, answer in zip(group, outcomes, waiting):
            if not answer:
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
