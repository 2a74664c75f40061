"""``stylehint metrics serve``: ``/metrics`` in the Prometheus text format, on loopback by default."""
from __future__ import annotations

import logging
import signal
import threading

from prometheus_client import CollectorRegistry, start_http_server
from sqlalchemy import Engine

from ..config import Settings
from .collector import StoreCollector

log = logging.getLogger(__name__)


def registry_for(engine: Engine, settings: Settings, cache_seconds: float = 1.0) -> CollectorRegistry:
    """A registry with the store collector only (no process or Python runtime series)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(engine, settings, cache_seconds))
    return registry


def serve(engine: Engine, settings: Settings, host: str = "127.0.0.1", port: int = 9108,
          cache_seconds: float = 1.0, ready=None) -> None:
    """Serve until SIGTERM or SIGINT. ``ready(address)`` is called once the socket listens."""
    server, thread = start_http_server(port, addr=host, registry=registry_for(engine, settings, cache_seconds))
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
