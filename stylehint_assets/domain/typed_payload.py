"""Typed decoding of the common sync payload: one body, decoded once by msgspec in C.

``read_records`` reads ``{"host": ..., "schema_hash": ..., "events": [...]}`` with the Python
decoder, then walks and re-encodes every event. For the payload the extension sends (one line,
known keys only, events in which ``inspect`` could find nothing) ``read_payload`` returns the
same records from one msgspec pass: each event is a ``TypedEvent`` with the payload's
host/schema_hash inherited, and its raw text (what quarantine keeps and a content id is derived
from) is built the Python way only when asked for, so it is exactly the text ``read_records``
makes. An event msgspec refuses is decoded the Python way on its own; a body whose decoding
could differ from the Python path's in any way answers ``None``, and the caller reads it with
``read_records``, so every rejection and its reason stay that path's.
"""
from __future__ import annotations

from typing import Any

import msgspec

from .records import MAX_DEPTH, MAX_RECORD_BYTES, Record, _dumps, _event_record, _loads
from .typed_events import TypedEvent, decode_typed

# An event longer than this may re-encode past MAX_RECORD_BYTES (``json.dumps`` adds a space
# after every separator), which ``read_records`` rejects as too large: such a body is left to it.
_MAX_EVENT_BYTES = MAX_RECORD_BYTES // 2
_replace = msgspec.structs.replace


class _Payload(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    events: list[msgspec.Raw]
    host: str | None = None
    schema_hash: str | None = None


_decode_payload = msgspec.json.Decoder(_Payload).decode


class PayloadEventRecord(Record):
    """A typed payload event whose raw text is built on first use, as ``_event_record`` builds it."""

    __slots__ = ("_source", "_inherited", "_raw")

    def __init__(self, line_no: int, source: bytes, inherited: dict[str, Any], typed: TypedEvent):
        self.line_no, self._value, self.rejection, self.typed = line_no, None, None, typed
        self._source, self._inherited, self._raw = source, inherited, None

    @property
    def raw(self) -> str:   # type: ignore[override]
        if self._raw is None:
            event = _loads(self._source.decode("utf-8"))
            if self._inherited:
                inherited = self._inherited
                event = {**inherited, **{k: v for k, v in event.items() if v is not None or k not in inherited}}
            self._raw = _dumps(event)
        return self._raw


def _plain(raw: bytes) -> bool:
    """Whether ``inspect`` cannot find anything in this event (no escape that could make a NUL or
    a lone surrogate, too few brackets to be too deep) and it cannot re-encode over the limit."""
    return b"\\u" not in raw and raw.count(b"{") + raw.count(b"[") <= MAX_DEPTH and len(raw) <= _MAX_EVENT_BYTES


def read_payload(body: bytes) -> list[Record] | None:
    """The records ``read_records`` yields for this body, or None when it is not a one-line sync
    payload this decoder reads exactly as that path does (then ask ``read_records``)."""
    line, _, rest = body.partition(b"\n")
    if rest.strip() or len(line) >= MAX_RECORD_BYTES:
        return None          # several lines, or a line over the per-record limit: not this decoder's
    try:
        line.decode("utf-8")
        payload = _decode_payload(line)
    except (UnicodeDecodeError, msgspec.DecodeError):
        return None
    host, schema_hash = payload.host, payload.schema_hash
    inherited = {k: v for k, v in (("host", host), ("schema_hash", schema_hash)) if v is not None}
    records: list[Record] = []
    for event in payload.events:
        raw = bytes(event)
        if not _plain(raw):
            return None
        typed = decode_typed(raw)
        if typed is None:    # not the common event: the Python decoding of this event alone
            try:
                value = _loads(raw.decode("utf-8"))
            except (ValueError, RecursionError):
                return None      # the Python path refuses the whole document
            records.append(_event_record(1, value, inherited, check=False))
            continue
        if typed.host is None and host is not None or typed.schema_hash is None and schema_hash is not None:
            typed = _replace(typed, host=typed.host if typed.host is not None else host,
                             schema_hash=typed.schema_hash if typed.schema_hash is not None else schema_hash)
        records.append(PayloadEventRecord(1, raw, inherited, typed))
    return records
