"""The sync route's data-arrival markers: changed event days reported to Dagster in the background.

``stylehint ingest`` reports its changed days once, at its end. The service ingests many small
uploads, so it collects their days and reports each changed partition at most once per
``FLUSH_SECONDS`` from one thread: a burst of syncs costs the Dagster instance a handful of
writes, never a write per request, and a request never waits on it. The markers are not data:
an instance that cannot be reached costs a one-line warning, never a sync.
"""
from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import date

log = logging.getLogger("stylehint.api")

FLUSH_SECONDS = 5.0
Report = Callable[[set[date]], object]


def report_to_dagster(days: set[date]) -> list[str]:
    from ..data_arrival import report_event_arrival

    return report_event_arrival(_instance_here(), days, "api")


def _instance_here():
    from ..runner import embedded_dagster_home

    return _instance(str(embedded_dagster_home()))


@functools.lru_cache(maxsize=4)
def _instance(home: str):
    """The Dagster instance of ``home``, opened once per process (one per flush cost 40 ms of CPU)."""
    import dagster as dg

    return dg.DagsterInstance.get()


def warm_dagster() -> None:
    """Import Dagster and open the instance now: about 1.4 s of CPU per worker that would
    otherwise land on the first flush, in the middle of the first syncs."""
    try:
        _instance_here()
    except Exception as exc:  # noqa: BLE001 - markers only: the first flush tries again and warns
        log.info("Dagster instance not opened at start: %s", (str(exc).splitlines() or [type(exc).__name__])[0])


class ArrivalReporter:
    def __init__(self, report: Report = report_to_dagster, flush_seconds: float = FLUSH_SECONDS):
        self._report, self._every = report, flush_seconds
        self._days: set[date] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, days: Iterable[date]) -> None:
        with self._lock:
            self._days.update(days)
            if self._thread is None and self._days:
                self._thread = threading.Thread(target=self._run, name="stylehint-arrivals", daemon=True)
                self._thread.start()

    def flush(self) -> None:
        with self._lock:
            days, self._days = self._days, set()
        if not days:
            return
        try:
            self._report(days)
        except Exception as exc:  # noqa: BLE001 - markers only: any instance failure is a warning
            log.warning("events stored, but not reported to the Dagster instance: %s",
                        (str(exc).splitlines() or [type(exc).__name__])[0])

    def warm(self) -> None:
        """Before the first request: open what the default report needs (another report needs nothing)."""
        if self._report is report_to_dagster:
            warm_dagster()

    def close(self) -> None:
        """Stop the thread and report what is pending (at shutdown)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * self._every)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self.flush()
