"""The ASGI app of ``stylehint serve``: routes, auth, CORS, error bodies, request metrics.

Error bodies are ``{"error": "<one line>"}``: never a traceback, SQL or the database URL.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

from ..config import ConfigError, Settings
from ..domain.hosts import normalize_host
from ..store.engine import get_engine
from .arrivals import ArrivalReporter
from .auth import BearerTokens, configured_tokens
from .body import BadContentLength, BodyTooLarge, read_bounded
from .faults import RETRY_AFTER_SECONDS, store_unavailable
from .profile import CACHE_CONTROL, ServedViews, encode
from .readiness import readiness
from .request_metrics import RequestMetrics, RequestMetricsMiddleware
from .group_commit import GroupCommitter
from .sync import SOURCE, SyncOutcome, is_ndjson, prepare
from .sync import outcome as sync_outcome

log = logging.getLogger(__name__)

SYNC_PATH = "/api/extension/learning/sync"
PROFILE_PATH = "/api/extension/learning/profile"
MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"   # set by `stylehint serve --workers N` (N > 1)

_ERROR = {"content": {"application/json": {"schema": {"type": "object", "properties": {"error": {"type": "string"}}}}}}
_SYNC_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "object", "description": "The sync payload {host, schema_hash, events: [...]} "
                                    "(SPEC 1), one event, or a JSON array of events."}},
    "application/x-ndjson": {"schema": {"type": "string", "description": "One event per line."}},
}}}
_PROFILE_QUERY = {"parameters": [
    {"name": "host", "in": "query", "required": True, "schema": {"type": "string"},
     "description": "The form's host (normalised as ingest does: a URL or host:port is accepted)"},
    {"name": "schema_hash", "in": "query", "required": True, "schema": {"type": "string"}},
]}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """JSON as the CLI prints it (``default=str``, UTF-8 kept), compact."""
    return Response(encode(body), status_code=status, headers=headers, media_type="application/json")


def error(status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> Response:
    return json_response({"error": message, **extra}, status, headers)


def _unavailable() -> Response:
    return error(503, "learning store unavailable; retry later", {"Retry-After": str(RETRY_AFTER_SECONDS)})


class StoreDown(Exception):
    """The learning store is unreachable (answered 503 with Retry-After)."""


async def _in_threadpool(func, *args):
    """``func(*args)`` off the event loop; a store that is unreachable raises ``StoreDown``."""
    return await _store_call(run_in_threadpool(func, *args))


async def _store_call(work):
    """Awaits ``work``; a store that is unreachable (SQLAlchemy's error, or the driver's own from
    the COPY path) raises ``StoreDown`` for the 503 handler."""
    try:
        return await work
    except Exception as exc:
        if store_unavailable(exc):
            raise StoreDown((str(getattr(exc, "orig", None) or exc).splitlines() or [""])[0]) from exc
        raise


def _first_look(views: ServedViews) -> None:
    """Read the publish state at start, so the snapshot's views are encoded before the first clients ask."""
    try:
        views.refresh()
    except Exception as exc:  # noqa: BLE001 - the store may be down at start: requests (and readyz) say so
        log.info("publish state not read at start: %s", (str(exc).splitlines() or [type(exc).__name__])[0])


def create_app(settings: Settings, *, require_auth: bool = True, engine: Engine | None = None,
               arrivals: ArrivalReporter | None = None) -> FastAPI:
    """Raises ``ConfigError`` when auth is required and no token is configured."""
    tokens = BearerTokens(configured_tokens(settings))
    if require_auth and not len(tokens):
        raise ConfigError("no API token configured: set STYLEHINT_API_TOKENS or STYLEHINT_API_TOKENS_FILE "
                          "(or start with --insecure-no-auth on a trusted network)")
    if not require_auth:
        log.warning("authentication is OFF (--insecure-no-auth): every client that reaches this port can sync and read")
    engine = engine or get_engine(settings.database_url)
    metrics = RequestMetrics(CollectorRegistry(auto_describe=False))
    views = ServedViews(engine, settings.profile_enabled)
    arrivals = arrivals or ArrivalReporter()
    groups = GroupCommitter(engine, settings, SOURCE)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        threading.Thread(target=_first_look, args=(views,), name="stylehint-profile-start", daemon=True).start()
        await run_in_threadpool(arrivals.warm)
        # What is loaded by now (FastAPI, SQLAlchemy, Dagster: ~200,000 objects) lives as long as
        # the worker: out of the collector's sight, a full collection costs nothing instead of
        # ~95 ms of a core, which under load stalled every request of that moment (profile GETs'
        # p99 ~150 ms in one 5 s run of three, ~8 ms in the others).
        gc.freeze()
        yield
        await run_in_threadpool(groups.close)     # write the uploads still queued
        await run_in_threadpool(arrivals.close)   # report the days still pending before exit

    app = FastAPI(lifespan=lifespan, title="stylehint", version="1", docs_url=None, redoc_url=None, openapi_url="/openapi.json",
                  description="The Companion's learning sync in, served form profiles out. Every route under "
                              "/api needs `Authorization: Bearer <token>`.")

    async def authorized(request: Request) -> None:
        if require_auth and not tokens.accepts(request.headers.get("authorization")):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error(exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error(400, f"{where}: {first.get('msg', 'invalid request')}".strip(": "))

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, exc: BodyTooLarge) -> Response:
        return error(413, str(exc), {"Connection": "close"})

    @app.exception_handler(BadContentLength)
    async def _bad_length(request: Request, exc: BadContentLength) -> Response:
        return error(400, str(exc))

    @app.exception_handler(StoreDown)
    async def _store_down(request: Request, exc: StoreDown) -> Response:
        log.warning("learning store unavailable: %s", exc)
        return _unavailable()

    @app.exception_handler(SQLAlchemyError)
    async def _store_error(request: Request, exc: SQLAlchemyError) -> Response:
        log.error("learning store error on %s", request.url.path, exc_info=exc)
        return error(500, "internal error")

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s", request.url.path, exc_info=exc)
        return error(500, "internal error")

    @app.post(SYNC_PATH, status_code=202, dependencies=[Depends(authorized)], openapi_extra=_SYNC_BODY,
              responses={202: {"description": "Stored: the object `stylehint ingest --json` prints "
                                              "({accepted, rejected, merged, rejected_by_reason})."},
                         400: {"description": "Empty body, or not JSON (quarantined)", **_ERROR},
                         401: {"description": "Missing or wrong bearer token", **_ERROR},
                         413: {"description": "Body over STYLEHINT_API_MAX_BODY_BYTES", **_ERROR},
                         503: {"description": "Learning store unavailable (Retry-After)", **_ERROR}})
    async def learning_sync(request: Request) -> Response:
        """Ingest one upload exactly as `stylehint ingest` does: bad events are quarantined and counted."""
        body = await read_bounded(request, settings.api_max_body_bytes)
        ndjson = is_ndjson(request.headers.get("content-type"))
        prepared = await _in_threadpool(prepare, engine, settings, body, ndjson)
        if isinstance(prepared, SyncOutcome):
            outcome = prepared
        else:
            outcome = sync_outcome(await _store_call(asyncio.wrap_future(groups.submit(prepared))), ndjson)
        arrivals.add(outcome.days)   # runless materializations of the changed days, in the background
        return json_response(outcome.body, outcome.status)

    @app.get(PROFILE_PATH, openapi_extra=_PROFILE_QUERY,
             responses={200: {"description": "The served view, exactly what `stylehint profile HOST SCHEMA_HASH` prints"},
                        304: {"description": "Unchanged since the ETag sent in If-None-Match"},
                        400: {"description": "Missing or invalid host / schema_hash", **_ERROR},
                        401: {"description": "Missing or wrong bearer token", **_ERROR},
                        404: {"description": "Form not in the published snapshot (the served view for an unknown "
                                             "form, plus `error`)", **_ERROR},
                        503: {"description": "Learning store unavailable (Retry-After)", **_ERROR}})
    async def learning_profile(request: Request) -> Response:
        """The served form profile (quality guard and shadow mode applied); the host is normalised as ingest does."""
        # The hottest route: auth and the query are read here, not through FastAPI's dependency and
        # parameter solving, which took half of its time when every answer comes from the memo.
        await authorized(request)
        query = request.query_params
        host, schema_hash = query.get("host"), query.get("schema_hash")
        if not host or not schema_hash:
            return error(400, "query parameters host and schema_hash are required")
        normalized = normalize_host(host)
        if normalized is None:
            return error(400, f"not a valid host: {host[:100]!r}")
        if_none_match = request.headers.get("if-none-match")
        answer = (views.cached(normalized, schema_hash, if_none_match)
                  or await _in_threadpool(views.answer, normalized, schema_hash, if_none_match))
        if not answer.known:
            return Response(answer.body, status_code=404, media_type="application/json")
        headers = {"ETag": answer.etag, "Cache-Control": CACHE_CONTROL}
        if answer.body is None:
            return Response(status_code=304, headers=headers)
        return Response(answer.body, status_code=200, headers=headers, media_type="application/json")

    @app.get("/healthz", responses={200: {"description": "The process is up"}})
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    @app.get("/readyz", responses={200: {"description": "Store answers, schema current"},
                                   503: {"description": "Store unreachable or schema not current", **_ERROR}})
    def readyz() -> Response:
        ready, reason = readiness(engine)
        if ready:
            return json_response({"status": "ready"})
        return error(503, reason, {"Retry-After": str(RETRY_AFTER_SECONDS)})

    @app.get("/metrics", responses={200: {"description": "Prometheus text format: stylehint_api_requests_total, "
                                                        "stylehint_api_request_duration_seconds"}})
    def prometheus_metrics() -> Response:
        return Response(generate_latest(_exposed(metrics.registry)), media_type=CONTENT_TYPE_LATEST)

    if settings.api_allowed_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.api_allowed_origins),
                           allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type", "If-None-Match"],
                           expose_headers=["ETag", "Retry-After"], max_age=600)
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    return app


def _exposed(own: CollectorRegistry) -> CollectorRegistry:
    """With several workers, every worker's samples (prometheus_client's multiprocess files);
    with one, the app's own registry."""
    directory = os.environ.get(MULTIPROCESS_DIR_ENV)
    if not directory:
        return own
    from prometheus_client import multiprocess

    merged = CollectorRegistry(auto_describe=False)
    multiprocess.MultiProcessCollector(merged, path=directory)
    return merged


def app_from_env() -> FastAPI:
    """uvicorn factory: settings from the environment, bearer tokens required."""
    return create_app(Settings.from_env())


def insecure_app_from_env() -> FastAPI:
    """uvicorn factory for ``--insecure-no-auth``."""
    return create_app(Settings.from_env(), require_auth=False)
