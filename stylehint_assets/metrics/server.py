"""``stylehint metrics serve``: ``/metrics`` in the Prometheus text format, on loopback by default.

The HTTP server is prometheus-client's WSGI app on a server of our own, because the library's
``start_http_server`` listens with a backlog of 5, never closes an idle connection and starts a
thread per connection (1,000 idle sockets held 1,003 threads). Here: a listen backlog of
``LISTEN_BACKLOG``, a socket timeout of ``IDLE_TIMEOUT_SECONDS`` on every connection (a client
that sends nothing is closed), and at most ``WORKERS`` threads with ``QUEUED`` accepted
connections waiting for one; beyond that a new connection is closed at once.
"""
from __future__ import annotations

import logging
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client import CollectorRegistry, make_wsgi_app
from sqlalchemy import Engine

from ..config import Settings
from .collector import StoreCollector

log = logging.getLogger(__name__)

LISTEN_BACKLOG = 128
IDLE_TIMEOUT_SECONDS = 5.0
WORKERS = 8
QUEUED = 32


def registry_for(engine: Engine, settings: Settings, cache_seconds: float = 1.0) -> CollectorRegistry:
    """A registry with the store collector only (no process or Python runtime series)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(engine, settings, cache_seconds))
    return registry


class _Handler(WSGIRequestHandler):
    timeout = IDLE_TIMEOUT_SECONDS   # StreamRequestHandler sets it on the socket: idle clients time out

    def log_message(self, format, *args):  # noqa: A002 - http.server API; scrapes are not news
        pass


class ExporterServer(WSGIServer):
    """A WSGI server with a real backlog and a bounded pool of worker threads."""

    request_queue_size = LISTEN_BACKLOG
    allow_reuse_address = True

    def __init__(self, address, workers: int = WORKERS, queued: int = QUEUED) -> None:
        super().__init__(address, _Handler)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="metrics-http")
        self.slots = threading.BoundedSemaphore(workers + queued)
        self.refused = 0

    def process_request(self, request, client_address) -> None:
        if not self.slots.acquire(blocking=False):   # every worker busy and the queue full
            self.refused += 1
            self.shutdown_request(request)
            return
        self.pool.submit(self._work, request, client_address)

    def _work(self, request, client_address) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - one broken connection never stops the server
            log.debug("connection from %s failed", client_address, exc_info=True)
        finally:
            self.shutdown_request(request)
            self.slots.release()

    def server_close(self) -> None:
        super().server_close()
        self.pool.shutdown(wait=False, cancel_futures=True)


def start_server(engine: Engine, settings: Settings, host: str, port: int, cache_seconds: float = 1.0
                 ) -> tuple[ExporterServer, threading.Thread]:
    server = ExporterServer((host, port))
    server.set_app(make_wsgi_app(registry_for(engine, settings, cache_seconds)))
    thread = threading.Thread(target=server.serve_forever, name="metrics-accept", daemon=True)
    thread.start()
    return server, thread


def serve(engine: Engine, settings: Settings, host: str = "127.0.0.1", port: int = 9108,
          cache_seconds: float = 1.0, ready=None) -> None:
    """Serve until SIGTERM or SIGINT. ``ready(address)`` is called once the socket listens."""
    server, thread = start_server(engine, settings, host, port, cache_seconds)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        address = f"http://{host}:{server.server_port}/metrics"
        log.info("serving %s", address)
        if ready:
            ready(address)
        while not stop.wait(1.0):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
