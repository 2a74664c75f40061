"""Real services for the end-to-end test: Alertmanager, the production Dagster topology (a gRPC
code server, dagster-webserver and dagster-daemon on deploy/workspace.yaml), Chromium.

Every process is started on a free loopback port with its own temp dirs, waited for with a
bounded deadline, and stopped (terminate, then kill) when its context exits. Logs go to files
whose tails are shown when something does not come up.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALERTMANAGER_BIN = os.environ.get("STYLEHINT_ALERTMANAGER_BIN", "/usr/bin/prometheus-alertmanager")
CHROMIUM_BIN = os.environ.get("STYLEHINT_CHROMIUM_BIN", "/usr/bin/chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - loopback test URL
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_json(url: str, body: dict | None = None, timeout: float = 30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"},
                                 method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - loopback test URL
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{url}: HTTP {exc.code}: {exc.read()[:2000]!r}") from None


def wait_for(what: str, probe, timeout: float, interval: float = 1.0, log: Path | None = None):
    """Poll ``probe`` until it returns a truthy value; fail with the log tail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - a service that is still starting
            last_error = exc
        time.sleep(interval)
    detail = f"; last error: {last_error}" if last_error else ""
    raise TimeoutError(f"{what} not reached within {timeout:.0f}s{detail}" + (f"\n--- {log}:\n{tail(log)}" if log else ""))


@contextmanager
def process(name: str, args: list[str], log_dir: Path, env: dict[str, str] | None = None, cwd: Path = ROOT):
    """A child process in its own process group, stopped with its children on exit."""
    log = log_dir / f"{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env,
                                start_new_session=True)
    try:
        yield proc, log
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@contextmanager
def alertmanager(work: Path):
    """A real Alertmanager (Debian prometheus-alertmanager), clustering off, one null receiver."""
    work.mkdir(parents=True, exist_ok=True)
    config = work / "alertmanager.yml"
    config.write_text("route:\n  receiver: 'null'\n  group_wait: 1s\nreceivers:\n  - name: 'null'\n")
    port = free_port()
    args = [ALERTMANAGER_BIN, f"--config.file={config}", f"--storage.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"]
    with process("alertmanager", args, work) as (proc, log):
        url = f"http://127.0.0.1:{port}"
        wait_for("Alertmanager ready", lambda: proc.poll() is None and http_get(url + "/-/ready")[0] == 200,
                 timeout=30, log=log)
        yield url


def _code_server_serving(bin_dir: Path, port: int, env: dict[str, str]) -> bool:
    return subprocess.run([str(bin_dir / "dagster"), "api", "grpc-health-check", "-h", "127.0.0.1", "-p", str(port)], env=env,
                          capture_output=True, timeout=30).returncode == 0


@contextmanager
def dagster_services(home: Path, env: dict[str, str], work: Path):
    """The production topology on the instance in ``home`` (DAGSTER_HOME): a gRPC code server for
    the stylehint location, and dagster-webserver and dagster-daemon loading it through
    deploy/workspace.yaml, three processes."""
    work.mkdir(parents=True, exist_ok=True)
    bin_dir = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin"
    grpc_port = free_port()
    env = {**env, "DAGSTER_HOME": str(home), "DAGSTER_CODE_SERVER_HOST": "127.0.0.1",
           "DAGSTER_CODE_SERVER_PORT": str(grpc_port)}
    port = int(env.get("STYLEHINT_UI_URL", "").rsplit(":", 1)[-1] or free_port())
    workspace = str(ROOT / "deploy/workspace.yaml")
    code_args = [str(bin_dir / "dagster"), "code-server", "start", "-h", "127.0.0.1", "-p", str(grpc_port),
                 "-m", "stylehint_assets.definitions", "--location-name", "stylehint"]
    web_args = [str(bin_dir / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-w", workspace]
    daemon_args = [str(bin_dir / "dagster-daemon"), "run", "-w", workspace]
    with process("code-server", code_args, work, env) as (code, code_log):
        wait_for("code server serving", lambda: code.poll() is None and _code_server_serving(bin_dir, grpc_port, env),
                 timeout=120, interval=2, log=code_log)
        with process("webserver", web_args, work, env) as (web, web_log), \
                process("daemon", daemon_args, work, env) as (daemon, daemon_log):
            url = f"http://127.0.0.1:{port}"
            wait_for("webserver answering", lambda: web.poll() is None and http_get(url + "/server_info")[0] == 200,
                     timeout=120, log=web_log)
            if daemon.poll() is not None:
                raise RuntimeError(f"dagster-daemon exited:\n{tail(daemon_log)}")
            yield url, web_log, daemon_log


def chromium(url: str, work: Path, screenshot: Path | None = None, budget_ms: int = 15000,
             window: str = "2400,1500") -> str:
    """Headless Chromium on ``url``: the DOM after ``budget_ms`` of virtual time, and a screenshot."""
    base = [CHROMIUM_BIN, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", f"--user-data-dir={work / 'chromium-profile'}", f"--window-size={window}",
            f"--virtual-time-budget={budget_ms}"]
    dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, timeout=120, check=True).stdout.decode(
        errors="replace")
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([*base, f"--screenshot={screenshot}", url], capture_output=True, timeout=120, check=True)
    return dom


def have(binary: str) -> bool:
    return bool(shutil.which(binary)) or Path(binary).exists()
