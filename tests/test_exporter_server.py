"""The exporter's HTTP server holds up against idle and piled-up connections."""
from __future__ import annotations

import socket
import subprocess
import threading
import time
import urllib.request

import pytest

from stylehint_assets.metrics.server import IDLE_TIMEOUT_SECONDS, LISTEN_BACKLOG, QUEUED, WORKERS, start_server


@pytest.fixture
def exporter(engine, settings):
    server, thread = start_server(engine, settings, "127.0.0.1", 0)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def scrape(server) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10) as response:
        assert response.status == 200
        return response.read().decode()


def test_the_listen_backlog_is_real(exporter):
    listing = subprocess.run(["ss", "-ltnH", f"sport = :{exporter.server_port}"], capture_output=True, text=True,
                             check=True).stdout.split()
    assert listing[0] == "LISTEN" and int(listing[2]) == LISTEN_BACKLOG   # Send-Q of a listener is its backlog
    assert "applylens_autofill_agg_runs_total" in scrape(exporter)


def test_an_idle_connection_is_closed_after_the_timeout(exporter):
    with socket.create_connection(("127.0.0.1", exporter.server_port)) as idle:
        idle.settimeout(IDLE_TIMEOUT_SECONDS + 10)
        started = time.monotonic()
        assert idle.recv(1) == b""   # the server closed it
        assert IDLE_TIMEOUT_SECONDS - 0.5 <= time.monotonic() - started <= IDLE_TIMEOUT_SECONDS + 5


def test_a_thousand_idle_sockets_hold_a_bounded_pool_and_scrapes_resume(exporter):
    before = threading.active_count()
    started = time.monotonic()
    idle = [socket.create_connection(("127.0.0.1", exporter.server_port)) for _ in range(1000)]

    def beyond_queue() -> int:
        """Connections that must have been refused by now: all but the pool and its queue, and the
        WORKERS more admitted each time the held ones time out (on a busy machine the accept loop
        may still be working through the backlog then)."""
        timeouts = int((time.monotonic() - started) // IDLE_TIMEOUT_SECONDS)
        return 1000 - WORKERS - QUEUED - 5 - WORKERS * timeouts

    try:
        deadline = time.monotonic() + 15   # the accept loop works through the backlog; slower on a busy machine
        while exporter.refused < beyond_queue() and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = [t for t in threading.enumerate() if t.name.startswith("metrics-http")]
        assert len(workers) <= WORKERS and threading.active_count() <= before + WORKERS
        assert exporter.refused >= beyond_queue()   # beyond the queue: closed at once
        time.sleep(IDLE_TIMEOUT_SECONDS * ((WORKERS + QUEUED) // WORKERS + 1) + 1)   # the held ones time out
        assert "applylens_autofill_agg_runs_total" in scrape(exporter)
    finally:
        for s in idle:
            s.close()
