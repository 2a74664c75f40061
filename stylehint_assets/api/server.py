"""``stylehint serve``: the API on uvicorn, one process or several workers."""
from __future__ import annotations

import os
import shutil
import tempfile

import uvicorn

from ..config import ConfigError, Settings
from .app import MULTIPROCESS_DIR_ENV
from .auth import configured_tokens


def check_startable(settings: Settings, insecure_no_auth: bool) -> int:
    """Number of tokens; refuses (``ConfigError``) to start without one unless told to."""
    count = len(configured_tokens(settings))
    if not count and not insecure_no_auth:
        raise ConfigError("refusing to start without an API token: set STYLEHINT_API_TOKENS or "
                          "STYLEHINT_API_TOKENS_FILE (or pass --insecure-no-auth on a trusted network)")
    return count


LOG_FORMAT = '{"ts":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","msg":"%(message)s"}'   # as the CLI's


def log_config(level: str) -> dict:
    """One JSON line per record on stderr, in every worker (uvicorn applies it in each process);
    no access log."""
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"json": {"format": LOG_FORMAT}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {"uvicorn": {"level": level.upper()}, "uvicorn.access": {"level": "WARNING"}},
    }


def serve(host: str, port: int, workers: int, insecure_no_auth: bool, log_level: str = "warning") -> None:
    """Run until SIGINT/SIGTERM. Each worker builds its app from the environment; with several,
    request metrics are summed over the workers through a temporary directory removed at exit."""
    factory = "stylehint_assets.api.app:" + ("insecure_app_from_env" if insecure_no_auth else "app_from_env")
    metrics_dir = None
    if workers > 1:
        metrics_dir = tempfile.mkdtemp(prefix="stylehint-api-metrics-")
        os.environ[MULTIPROCESS_DIR_ENV] = metrics_dir
    try:
        uvicorn.run(factory, factory=True, host=host, port=port, workers=workers, log_config=log_config(log_level),
                    log_level=log_level, access_log=False, server_header=False, timeout_graceful_shutdown=10)
    finally:
        if metrics_dir:
            os.environ.pop(MULTIPROCESS_DIR_ENV, None)
            shutil.rmtree(metrics_dir, ignore_errors=True)
