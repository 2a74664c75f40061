"""Reading uploads into records: NDJSON lines or the extension's sync payload (SPEC 1).

Nothing here raises on bad input: every problem becomes a ``Rejection`` attached to the
record, so one bad line never stops a batch.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from itertools import chain
from dataclasses import dataclass
from typing import Any, BinaryIO

from .events import Rejection, unstorable_text

MAX_RECORD_BYTES = 1 << 20          # one NDJSON line or one payload event
MAX_DOCUMENT_BYTES = 256 << 20      # a whole pretty-printed payload document
RAW_KEEP_CHARS = 8192               # raw text kept in quarantine


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:32]} is out of range")
    return value


# Strict JSON: Python would accept NaN/Infinity and 1e999 (inf), which no JSON column stores.
_loads = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite_float).decode


@dataclass(frozen=True)
class Record:
    line_no: int
    raw: str
    value: Any = None
    rejection: Rejection | None = None


def bounded(raw: str) -> str:
    """Raw text as quarantine keeps it: bounded, and without NUL (no database stores it in text)."""
    return raw[:RAW_KEEP_CHARS].replace("\x00", "\\x00")


def _expand(value: Any, line_no: int, raw: str) -> Iterator[Record]:
    """A sync payload yields its events (inheriting host/schema_hash); a list yields its items."""
    if isinstance(value, list):
        for item in value:
            yield from _expand(item, line_no, json.dumps(item, ensure_ascii=False, default=str))
        return
    if isinstance(value, dict) and "events" in value:
        events = value["events"]
        if not isinstance(events, list):
            yield Record(line_no, raw, rejection=Rejection("invalid_payload", "events must be a list"))
            return
        inherited = {k: value[k] for k in ("host", "schema_hash") if value.get(k) is not None}
        for event in events:
            text = json.dumps(event, ensure_ascii=False, default=str)
            if isinstance(event, dict):
                event = {**inherited, **{k: v for k, v in event.items() if v is not None or k not in inherited}}
            yield Record(line_no, text, value=event)
        return
    yield Record(line_no, raw, value=value)


def _decode(line_no: int, line: bytes) -> Record | None:
    if len(line) > MAX_RECORD_BYTES:
        raw = line[:RAW_KEEP_CHARS].decode("utf-8", "backslashreplace")
        return Record(line_no, raw, rejection=Rejection("too_large", f"record is {len(line)} bytes, limit {MAX_RECORD_BYTES}"))
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Record(line_no, line.decode("utf-8", "backslashreplace"), rejection=Rejection("not_utf8", str(exc)[:200]))
    text = text.strip().lstrip("\ufeff")
    if not text:
        return None
    try:
        value = _loads(text)
    except (ValueError, RecursionError) as exc:
        return Record(line_no, text, rejection=Rejection("bad_json", str(exc)[:200]))
    if "\\u" in text and unstorable_text(value):
        return Record(line_no, text, rejection=Rejection("invalid_text", "contains NUL or an unpaired surrogate"))
    return Record(line_no, text, value=value)


def read_records(stream: BinaryIO | Iterable[bytes]) -> Iterator[Record]:
    """Records of an NDJSON stream, or of one (possibly multi-line) JSON document."""
    lines = iter(stream)
    for line_no, line in enumerate(lines, start=1):
        record = _decode(line_no, line)
        if record is None:
            continue
        if record.rejection and record.rejection.code == "bad_json" and record.raw[:1] in "{[":
            # Perhaps the start of a pretty-printed document: try the whole input as one, if
            # it ends within MAX_DOCUMENT_BYTES (never buffering more than that of a long file).
            rest, size = [line], len(line)
            for more in lines:
                rest.append(more)
                size += len(more)
                if size > MAX_DOCUMENT_BYTES:
                    break
            else:
                document = _decode(line_no, b"".join(rest))
                if document is not None and document.rejection is None:
                    yield from _expand(document.value, line_no, document.raw)
                    return
            for offset, again in enumerate(chain(rest, lines)):
                retry = _decode(line_no + offset, again)
                if retry is not None:
                    yield from (retry,) if retry.rejection else _expand(retry.value, retry.line_no, retry.raw)
            return
        if record.rejection:
            yield record
        else:
            yield from _expand(record.value, line_no, record.raw)
