"""Real Prometheus, Pushgateway and exporter processes on loopback, for the e2e tests."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

STYLEHINT = Path(sys.executable).with_name("stylehint")


def binary(name: str) -> str:
    """The Debian package's binary (scripts/install-ops-tools.sh installs it); CI fails without it."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        message = f"{name} is not installed (run scripts/install-ops-tools.sh)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, b""


def wait_for(predicate, timeout: float, what: str, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Process:
    """A child process with its output in a log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, args: list[str], log: Path, env: dict | None = None) -> None:
        self.args, self.log = args, log
        self.handle = open(log, "ab")
        self.proc = subprocess.Popen(args, stdout=self.handle, stderr=subprocess.STDOUT, env=env,
                                     stdin=subprocess.DEVNULL)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.handle.close()
        return self.proc.returncode

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]


def start_exporter(database_url: str, port: int, log: Path) -> Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STYLEHINT_", "PROMETHEUS_"))}
    env["STYLEHINT_DATABASE_URL"] = database_url
    proc = Process([str(STYLEHINT), "metrics", "serve", "--host", "127.0.0.1", "--port", str(port)], log, env)
    wait_for(lambda: http_get(f"http://127.0.0.1:{port}/metrics")[0] == 200 or not proc.alive(), 30, "the exporter")
    assert proc.alive(), proc.tail()
    return proc


def start_prometheus(tmp: Path, targets: list[str], rule_files: list[Path]) -> tuple[Process, str]:
    port = free_port()
    config = tmp / "prometheus.yml"
    rules = "".join(f"\n  - {json.dumps(str(p))}" for p in rule_files)
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        + (f"rule_files:{rules}\n" if rule_files else "")
        + "scrape_configs:\n  - job_name: stylehint\n    static_configs:\n"
        + f"      - targets: {json.dumps(targets)}\n"
    )
    proc = Process([binary("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"], tmp / "prometheus.log")
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: http_get(f"{base}/-/ready")[0] == 200 or not proc.alive(), 60, "Prometheus to be ready")
    assert proc.alive(), proc.tail()
    return proc, base


def query(base: str, expr: str, at: float | None = None) -> list[dict]:
    """An instant query through Prometheus' HTTP API; raises with Prometheus' error text."""
    params = {"query": expr}
    if at is not None:
        params["time"] = f"{at:.3f}"
    status, body = http_get(f"{base}/api/v1/query?{urllib.parse.urlencode(params)}")
    payload = json.loads(body or b"{}")
    if status != 200 or payload.get("status") != "success":
        raise AssertionError(f"query failed ({status}): {expr}: {payload.get('error', body[:300])}")
    data = payload["data"]
    if data["resultType"] == "scalar":
        return [{"metric": {}, "value": data["result"]}]
    return data["result"]


def by_labels(result: list[dict], *labels: str) -> dict[tuple[str, ...], float]:
    return {tuple(r["metric"].get(k, "") for k in labels): float(r["value"][1]) for r in result}


def start_pushgateway(tmp: Path) -> tuple[Process, str]:
    port = free_port()
    # Debian's build persists to /var/lib/prometheus/pushgateway.data by default: keep it in memory.
    proc = Process([binary("prometheus-pushgateway"), f"--web.listen-address=127.0.0.1:{port}", "--persistence.file=",
                    "--log.level=warn"], tmp / "pushgateway.log")
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: http_get(f"{base}/-/ready")[0] == 200 or not proc.alive(), 30, "the Pushgateway")
    assert proc.alive(), proc.tail()
    return proc, base
