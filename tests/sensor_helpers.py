"""Evaluating the real sensors on crafted store states, and a behavioural fake Alertmanager."""
from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
from sqlalchemy import update

from resources import LearningStore
from stylehint_assets.definitions import build_definitions
from stylehint_assets.store import aggregates
from stylehint_assets.store.schema import publish_state


def tick(name: str, settings, instance, cursor: str | None = None, store_url: str | None = None):
    """One evaluation of sensor ``name`` with the project's resources."""
    store = LearningStore(database_url=store_url or settings.database_url)
    defs = build_definitions(store, settings)
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"store": store, "settings": settings},
                                      repository_def=defs.get_repository_def())
    return defs.get_repository_def().get_sensor_def(name).evaluate_tick(context)


def rebuild_days(engine, start: date, end: date, now: datetime) -> None:
    """What daily_event_partials does for a range: the partials and the partition state."""
    with engine.begin() as conn:
        aggregates.rebuild_daily_event_partials(conn, start, end, now)


def mark_published(engine, as_of: date, published_at: datetime, run_id: str | None = None) -> None:
    with engine.begin() as conn:
        conn.execute(update(publish_state).where(publish_state.c.id == 1)
                     .values(as_of=as_of, published_at=published_at, run_id=run_id))


class FakeAlertmanager:
    """Accepts ``POST /api/v2/alerts`` like Alertmanager and remembers what it got; ``down`` makes it answer 503."""

    def __init__(self):
        self.alerts: list[dict] = []
        self.down = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if fake.down or self.path != "/api/v2/alerts":
                    self.send_response(503 if fake.down else 404)
                    self.end_headers()
                    return
                fake.alerts.extend(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @contextmanager
    def running(self):
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
            thread.join(timeout=5)


def record_sensor_ticks(instance, sensor: str, statuses: list[str], start: float, step: float = 60.0) -> None:
    """Tick records of ``sensor`` as the sensor daemon stores them (its state, then one tick per
    status, ``step`` seconds apart from ``start``); a FAILURE carries an error like a raised one."""
    from dagster._core.definitions.run_request import InstigatorType
    from dagster._core.remote_origin import RemoteInstigatorOrigin, RemoteRepositoryOrigin
    from dagster._core.scheduler.instigation import (
        InstigatorState, InstigatorStatus, SensorInstigatorData, TickData, TickStatus,
    )
    from dagster._core.test_utils import InProcessCodeLocationOrigin, LoadableTargetOrigin
    from dagster_shared.error import SerializableErrorInfo

    repo = RemoteRepositoryOrigin(InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name="stylehint_assets.definitions"), location_name="stylehint"), "__repository__")
    origin = RemoteInstigatorOrigin(repo, sensor)
    existing = [s for s in instance.all_instigator_state() if s.instigator_name == sensor]
    state = existing[0] if existing else instance.add_instigator_state(InstigatorState(
        origin, InstigatorType.SENSOR, InstigatorStatus.DECLARED_IN_CODE, SensorInstigatorData(
            last_tick_timestamp=start, min_interval=30, sensor_type=None)))
    for i, status in enumerate(statuses):
        failed = status == "FAILURE"
        instance.create_tick(TickData(
            instigator_origin_id=state.instigator_origin_id, instigator_name=sensor,
            instigator_type=InstigatorType.SENSOR, status=TickStatus[status], timestamp=start + i * step,
            selector_id=state.selector_id, run_ids=[], run_keys=[],
            error=SerializableErrorInfo(f"OperationalError: store unreachable ({i})\nmore", [], "OperationalError")
            if failed else None))
