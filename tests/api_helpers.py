"""A real ``stylehint serve`` on loopback (a subprocess on a free port) and a small HTTP client."""
from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "test-token-0123456789abcdef"
SYNC = "/api/extension/learning/sync"
PROFILE = "/api/extension/learning/profile"
DAGSTER_HOME = tempfile.mkdtemp(prefix="stylehint-api-dagster-")   # this test session's instance


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STYLEHINT_", "DAGSTER_", "COMPANION_"))}
    env.update(STYLEHINT_DATABASE_URL=database_url, PYTHONWARNINGS="ignore", **extra)
    env.setdefault("DAGSTER_HOME", DAGSTER_HOME)   # arrival markers go to a scratch instance, not the tree's
    return env


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


class ApiServer:
    """``python -m stylehint_assets.cli serve`` with the given environment; ``stop()`` ends it."""

    def __init__(self, database_url: str, *args: str, token: str | None = TOKEN, **env: str):
        self.port = free_port()
        extra = {"STYLEHINT_API_TOKENS": token} if token else {}
        self.env = clean_env(database_url, **extra, **env)
        self.args = ["serve", "--port", str(self.port), *args]
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> "ApiServer":
        self.proc = subprocess.Popen([sys.executable, "-m", "stylehint_assets.cli", *self.args], cwd=ROOT,
                                     env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"stylehint serve exited {self.proc.returncode}: {self.proc.stderr.read()}")
            try:
                if self.request("GET", "/healthz", token=None).status == 200:
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("stylehint serve did not answer /healthz in time")

    def stop(self) -> str:
        """Ends the server; returns what it wrote on stderr."""
        if self.proc is None:
            return ""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        err = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        self.proc = None
        return err

    def __enter__(self) -> "ApiServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def request(self, method: str, path: str, body: bytes | None = None, token: str | None = TOKEN,
                headers: dict[str, str] | None = None, timeout: float = 30.0) -> Answer:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            sent = dict(headers or {})
            if token is not None:
                sent.setdefault("Authorization", f"Bearer {token}")
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            conn.close()

    def sync(self, payload, ndjson: bool = False, **kw) -> Answer:
        if isinstance(payload, (bytes, str)):
            body = payload.encode() if isinstance(payload, str) else payload
        elif ndjson:
            body = b"".join(json.dumps(e).encode() + b"\n" for e in payload)
        else:
            body = json.dumps(payload).encode()
        kind = "application/x-ndjson" if ndjson else "application/json"
        return self.request("POST", SYNC, body, headers={"Content-Type": kind, **kw.pop("headers", {})}, **kw)

    def profile(self, host: str, schema_hash: str, **kw) -> Answer:
        from urllib.parse import urlencode
        return self.request("GET", f"{PROFILE}?{urlencode({'host': host, 'schema_hash': schema_hash})}", **kw)
