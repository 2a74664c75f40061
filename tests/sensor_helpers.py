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
