"""Validation, normalisation, merge and derived fields of learning events (SPEC 1, 2).

A record is validated into a flat ``dict`` of stored fields. Rejections carry a short
``code`` (what the ingest report counts by) and a one-line ``detail``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .hosts import DEFAULT_FAMILIES, host_family, normalize_host
from .segments import derive_segment

FEEDBACK = ("helpful", "unhelpful")
STATUSES = ("ok", "validation_error", "cancelled", "error")
POLICIES = ("exploit", "explore", "fallback")
PROFILE_SOURCES = ("server_only", "local_only", "merged", "heuristics_only")
MAX_FUTURE = timedelta(hours=24)
MAX_COUNT = 2**31 - 1  # bounds sums in the database; larger counts are not plausible edits or durations
MAX_SELECTORS = 500    # selectors per map: a served map stays small (one form's once reached 60 MB)

# Client fields as stored; derived fields are added by ``derive``.
STRING_FIELDS = {"event_id": 128, "schema_hash": 256, "gen_style_id": 128, "user_id": None, "application_id": None}
ENUM_FIELDS = {"feedback_status": FEEDBACK, "status": STATUSES, "policy": POLICIES, "profile_source": PROFILE_SOURCES}
COUNT_FIELDS = ("edit_chars", "duration_ms")
MAP_FIELDS = ("suggested_map", "final_map")
OBJECT_FIELDS = ("validation_errors",)
CLIENT_FIELDS = (
    "event_id", "host", "schema_hash", "created_at", "gen_style_id", "feedback_status", "edit_chars",
    "edit_stats", "duration_ms", "status", "suggested_map", "final_map", "validation_errors", "job",
    "client_segment_key", "policy", "profile_used", "profile_source", "user_id", "application_id", "extra",
)
KNOWN_KEYS = frozenset(CLIENT_FIELDS) - {"client_segment_key", "extra"} | {"segment_key"}


@dataclass(frozen=True)
class Rejection(Exception):
    """A record that cannot be stored as an event; ``code`` groups, ``detail`` explains."""

    code: str
    detail: str

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


def _reject(field: str, detail: str) -> Rejection:
    return Rejection(f"invalid_{field}", f"{field} {detail}")


def _count(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _reject(field, f"must be an integer >= 0, got {type(value).__name__}")
    if isinstance(value, float) and not value.is_integer():
        raise _reject(field, f"must be an integer >= 0, got {value!r}")
    if value < 0 or value > MAX_COUNT:
        raise _reject(field, f"must be between 0 and {MAX_COUNT}, got {value!r}")
    return int(value)


def _utc_naive(value: datetime, text: str) -> datetime:
    if value.tzinfo is not None:
        try:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        except OverflowError:   # e.g. 0001-01-01T00:00:00+05:00 lies before year 1 in UTC
            raise _reject("created_at", f"is out of range in UTC: {text[:64]!r}") from None
    return value


def parse_created_at(value: Any, received_at: datetime) -> datetime:
    if not isinstance(value, str):
        raise _reject("created_at", f"must be an ISO-8601 string, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _reject("created_at", f"is not an ISO-8601 timestamp: {value[:64]!r}") from None
    parsed = _utc_naive(parsed, value)
    if parsed - received_at > MAX_FUTURE:
        raise Rejection("created_at_in_future", f"created_at {value[:64]!r} is more than 24 h after receipt")
    return parsed


def _string_map(value: Any, field: str, max_selectors: int) -> dict[str, str | None]:
    if not isinstance(value, dict):
        raise _reject(field, f"must be an object of selector -> semantic name, got {type(value).__name__}")
    if len(value) > max_selectors:
        raise Rejection("too_many_selectors", f"{field} has {len(value)} selectors, limit {max_selectors}")
    for selector, semantic in value.items():
        if semantic is not None and not isinstance(semantic, str):
            raise _reject(field, f"semantic for selector {selector[:64]!r} must be a string or null")
    return value


def _edit_stats(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _reject("edit_stats", f"must be an object, got {type(value).__name__}")
    for key in ("total_chars_added", "total_chars_deleted"):
        _count(value.get(key), "edit_stats")
    if value.get("per_field") is not None and not isinstance(value["per_field"], dict):
        raise _reject("edit_stats", "per_field must be an object")
    return value


def validate(record: Any, received_at: datetime, max_selectors: int = MAX_SELECTORS) -> dict[str, Any]:
    """Validate one decoded record into stored client fields; raise ``Rejection`` otherwise.

    ``received_at`` is naive UTC; a map with more than ``max_selectors`` selectors is refused. ``created_at`` absent means ``received_at``; the returned
    ``created_at_explicit`` says which, so a merge never moves an event to its retry's time.
    """
    if not isinstance(record, dict):
        raise Rejection("not_an_object", f"expected a JSON object, got {type(record).__name__}")
    out: dict[str, Any] = {}

    host = record.get("host")
    if host is None or host == "":
        raise Rejection("missing_host", "host is required")
    if not isinstance(host, str):
        raise _reject("host", f"must be a string, got {type(host).__name__}")
    normalized = normalize_host(host)
    if normalized is None:
        raise _reject("host", f"is not a valid DNS name: {host[:80]!r}")
    out["host"] = normalized

    schema_hash = record.get("schema_hash")
    if schema_hash is None or isinstance(schema_hash, str) and not schema_hash.strip():
        raise Rejection("missing_schema_hash", "schema_hash is required and non-empty")
    for field, limit in STRING_FIELDS.items():
        value = record.get(field)
        if value is None:
            out[field] = None
            continue
        if not isinstance(value, str):
            raise _reject(field, f"must be a string, got {type(value).__name__}")
        if limit is not None and len(value) > limit:
            raise _reject(field, f"must be at most {limit} characters, got {len(value)}")
        if field == "event_id" and not value:
            raise _reject(field, "must not be empty")
        out[field] = value

    for field, allowed in ENUM_FIELDS.items():
        value = record.get(field)
        if value is not None and value not in allowed:
            raise _reject(field, f"must be one of {', '.join(allowed)} or null, got {str(value)[:64]!r}")
        out[field] = value

    for field in COUNT_FIELDS:
        out[field] = _count(record.get(field), field)
    for field in MAP_FIELDS:
        value = record.get(field)
        out[field] = None if value is None else _string_map(value, field, max_selectors)
    for field in OBJECT_FIELDS:
        value = record.get(field)
        if value is not None and not isinstance(value, dict):
            raise _reject(field, f"must be an object, got {type(value).__name__}")
        out[field] = value
    value = record.get("edit_stats")
    out["edit_stats"] = None if value is None else _edit_stats(value)

    job = record.get("job")
    if job is not None:
        if not isinstance(job, dict):
            raise _reject("job", f"must be an object, got {type(job).__name__}")
        for key in ("title", "normalized_title"):
            if job.get(key) is not None and not isinstance(job[key], str):
                raise _reject("job", f"{key} must be a string")
    out["job"] = job
    segment = record.get("segment_key")
    if segment is not None and not isinstance(segment, str):
        raise _reject("segment_key", f"must be a string or null, got {type(segment).__name__}")
    out["client_segment_key"] = segment
    used = record.get("profile_used")
    if used is not None and not isinstance(used, bool):
        raise _reject("profile_used", f"must be true, false or null, got {str(used)[:32]!r}")
    out["profile_used"] = used

    created = record.get("created_at")
    out["created_at_explicit"] = created is not None
    out["created_at"] = received_at if created is None else parse_created_at(created, received_at)

    extra = {k: v for k, v in record.items() if k not in KNOWN_KEYS}
    out["extra"] = extra or None
    return out


def effective_edit_chars(edit_chars: int | None, edit_stats: Mapping[str, Any] | None) -> int | None:
    """``edit_chars`` when set; else added + deleted when edit_stats has either; else None."""
    if edit_chars is not None:
        return edit_chars
    if edit_stats:
        added, deleted = edit_stats.get("total_chars_added"), edit_stats.get("total_chars_deleted")
        if added is not None or deleted is not None:
            return int(added or 0) + int(deleted or 0)
    return None


def derive(event: dict[str, Any], families: Mapping[str, tuple[str, ...]] = DEFAULT_FAMILIES) -> dict[str, Any]:
    """Add the derived fields (SPEC 2) to a validated or merged event, in place."""
    if event.get("status") is None:
        event["status"] = "ok"
    event["host_family"] = host_family(event["host"], families)
    event["segment_key"] = derive_segment(event.get("job"), event.get("client_segment_key"))
    event["effective_edit_chars"] = effective_edit_chars(event.get("edit_chars"), event.get("edit_stats"))
    event["event_day"] = event["created_at"].date()
    return event


def merge(stored: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """The stored event updated with the update's non-null client fields.

    ``created_at`` moves only when the update states it explicitly; a retry without it keeps
    the original time. ``extra`` merges key by key.
    """
    merged = dict(stored)
    for field in CLIENT_FIELDS:
        value = update.get(field)
        if value is None or field == "created_at" and not update.get("created_at_explicit", True):
            continue
        if field == "extra" and stored.get("extra"):
            value = {**stored["extra"], **value}
        merged[field] = value
    return merged
