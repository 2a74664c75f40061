"""The sync route's work: one upload through exactly the ingest path of ``stylehint ingest`` (validation
and quarantine rules, merge by event_id, counters), written in a group commit with its neighbours."""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Engine

from ..config import Settings
from ..domain.events import Rejection
from ..domain.records import Record, read_records
from ..domain.typed_payload import read_payload
from ..ingest_json import ingest_json
from ..ingest import IngestReport, Upload, ingest_records, validate_upload
from .group_commit import MAX_GROUP_BYTES

SOURCE = "api"                      # autofill_events_quarantine.source of rejected uploads
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson")
UNDECODABLE = {"bad_json", "not_utf8"}


@dataclass(frozen=True)
class SyncOutcome:
    status: int
    body: dict[str, Any]
    days: frozenset[date] = field(default_factory=frozenset)   # event days the upload changed


def is_ndjson(content_type: str | None) -> bool:
    return (content_type or "").split(";", 1)[0].strip().lower() in NDJSON_TYPES


def _not_json(body: bytes) -> str | None:
    """Why a JSON body is not JSON at all (one line), or None when it parses."""
    try:
        json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return f"not UTF-8 ({exc.reason} at byte {exc.start})"
    except (ValueError, RecursionError) as exc:
        return str(exc).splitlines()[0][:200] or type(exc).__name__
    return None


def prepare(engine: Engine, settings: Settings, body: bytes, ndjson: bool) -> SyncOutcome | Upload:
    """The upload validated, for the group commit; or the answer already: 400 when the body is not
    JSON (quarantined first), or, for an upload too large to hold validated, its ``ingest_records``
    outcome (streamed in batches, alone). Bad events inside a good payload are the ingest's to reject."""
    if not body.strip():
        return SyncOutcome(400, {"error": "empty body: expected the sync payload (JSON) or NDJSON"})
    if len(body) <= MAX_GROUP_BYTES and not ndjson and (records := read_payload(body)) is not None:
        # the common payload, decoded once
        return _prepared(engine, settings, validate_upload(records, settings=settings, raw_bytes=len(body)))
    if not ndjson:
        reason = _not_json(body)
        if reason is not None:
            raw = body.decode("utf-8", "backslashreplace")
            report = ingest_records(engine, [Record(1, raw, rejection=Rejection("bad_json", reason))],
                                    settings=settings, source=SOURCE)
            return SyncOutcome(400, {"error": f"body is not JSON: {reason}", "quarantined": report.rejected})
    if len(body) > MAX_GROUP_BYTES:
        return outcome(ingest_records(engine, read_records(io.BytesIO(body)), settings=settings, source=SOURCE), ndjson)
    return _prepared(engine, settings, validate_upload(read_records(io.BytesIO(body)), settings=settings))


def _prepared(engine: Engine, settings: Settings, upload: Upload) -> Upload:
    """``upload`` with its new rows derived (and COPY-encoded on PostgreSQL) before the ingest lock."""
    upload.prepare_rows(settings, copy=engine.dialect.name == "postgresql")
    return upload


def outcome(report: IngestReport, ndjson: bool) -> SyncOutcome:
    """202 with the ``ingest --json`` object; 400 when no NDJSON line is a JSON value (quarantined)."""
    if ndjson and report.accepted == 0 and report.rejected and set(report.rejected_by_reason) <= UNDECODABLE:
        return SyncOutcome(400, {"error": "body is not NDJSON: no line is a JSON value", "quarantined": report.rejected})
    return SyncOutcome(202, ingest_json(report), frozenset(report.days))
