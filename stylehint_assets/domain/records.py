"""Reading uploads into records: NDJSON lines or the extension's sync payload (SPEC 1).

Nothing here raises on bad input: every problem becomes a ``Rejection`` attached to the
record, so one bad line never stops a batch. Memory follows the limits, not the input:
lines are read in bounded pieces, and a document above the per-record limit (a sync
payload on one long line, or pretty-printed over many) is parsed as a stream of events.
"""
from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

import ijson

from .events import Rejection
from .typed_events import TypedEvent, decode_typed

MAX_RECORD_BYTES = 1 << 20          # one NDJSON line or one payload event
MAX_DOCUMENT_BYTES = 256 << 20      # a whole payload document, on one line or pretty-printed
MAX_DEPTH = 64                      # nesting of objects and arrays in one record
RAW_KEEP_CHARS = 8192               # raw text kept in quarantine
CHUNK_BYTES = 1 << 16               # the pieces an oversize line or a document is read in
REPLAY_BYTES = 4 << 20              # a failed document is re-read line by line within this much


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:32]} is out of range")
    return value


# Strict JSON: Python would accept NaN/Infinity and 1e999 (inf), which no JSON column stores.
_loads = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite_float).decode


class Record:
    """One input record: its line, its raw text, and its decoded value or why it has none.

    The common event line is decoded by ``typed_events`` into ``typed`` instead; its ``value``
    is then decoded from ``raw`` the Python way when asked for (a rule failed, or a caller
    wants the plain value), so no event pays for both decodings."""

    __slots__ = ("line_no", "raw", "_value", "rejection", "typed")

    def __init__(self, line_no: int, raw: str, value: Any = None, rejection: Rejection | None = None,
                 typed: TypedEvent | None = None):
        self.line_no, self.raw, self._value, self.rejection, self.typed = line_no, raw, value, rejection, typed

    @property
    def value(self) -> Any:
        return self._value if self.typed is None else _loads(self.raw)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and (self.line_no, self.raw, self.value, self.rejection) == \
            (other.line_no, other.raw, other.value, other.rejection)

    __hash__ = None   # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Record(line_no={self.line_no!r}, raw={self.raw[:80]!r}, rejection={self.rejection!r})"


def bounded(raw: str) -> str:
    """Raw text as quarantine keeps it: bounded, and without NUL (no database stores it in text)."""
    return raw[:RAW_KEEP_CHARS].replace("\x00", "\\x00")


def one_line(exc: BaseException | str, limit: int = 200) -> str:
    """An error message as a rejection reason keeps it: its first line, bounded."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]


def inspect(value: Any) -> Rejection | None:
    """Rules a decoder does not check: nesting depth and text no database stores (NUL, an
    unpaired surrogate). Iterative, so no record is deep enough to exhaust the stack."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item or not item.isascii() and not _encodable(item):
                return Rejection("invalid_text", "contains NUL or an unpaired surrogate")
        elif isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                return Rejection("too_deep", f"nested deeper than {MAX_DEPTH} levels")
            if isinstance(item, dict):
                stack.extend((k, depth) for k in item)
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _event_record(line_no: int, event: Any, inherited: dict[str, Any], check: bool = True) -> Record:
    """One payload event with the payload's host/schema_hash; its raw text (which a content id
    is computed from) is the event as inherited, so equal events of two forms stay distinct.
    ``check=False`` skips the walk of ``inspect`` where the text showed it cannot find anything."""
    if isinstance(event, dict) and inherited:
        event = {**inherited, **{k: v for k, v in event.items() if v is not None or k not in inherited}}
    problem = inspect(event) if check else None
    try:
        raw = _dumps(event) if problem is None else ""
    except (ValueError, TypeError, RecursionError) as exc:
        return Record(line_no, "", rejection=Rejection("bad_json", one_line(exc)))
    if problem is not None:
        return Record(line_no, raw, rejection=problem)
    if len(raw) > MAX_RECORD_BYTES:
        return Record(line_no, raw[:RAW_KEEP_CHARS], rejection=Rejection(
            "too_large", f"record is {len(raw)} bytes, limit {MAX_RECORD_BYTES}"))
    return Record(line_no, raw, value=event)


def _suspicious(text: str) -> bool:
    """Whether ``inspect`` could find anything in this text (a walk costs a pass over the record)."""
    return "\\u" in text or text.count("{") + text.count("[") > MAX_DEPTH


def _expand(value: Any, line_no: int, raw: str, check: bool = True) -> Iterator[Record]:
    """A sync payload yields its events (inheriting host/schema_hash); a list yields its items.
    Each record is inspected on its own, so one deep event rejects that event, not its payload."""
    if isinstance(value, list):
        for item in value:
            yield from _expand(item, line_no, _dumps(item), check)
        return
    if isinstance(value, dict) and "events" in value:
        events = value["events"]
        if not isinstance(events, list):
            yield Record(line_no, raw, rejection=Rejection("invalid_payload", "events must be a list"))
            return
        inherited = {k: value[k] for k in ("host", "schema_hash") if value.get(k) is not None}
        for event in events:
            yield _event_record(line_no, event, inherited, check)
        return
    problem = inspect(value) if check else None
    yield Record(line_no, raw, value=value) if problem is None else Record(line_no, raw, rejection=problem)


def _decode(line_no: int, line: bytes) -> Record | None:
    if len(line) > MAX_RECORD_BYTES:
        raw = line[:RAW_KEEP_CHARS].decode("utf-8", "backslashreplace")
        return Record(line_no, raw, rejection=Rejection("too_large", f"record is {len(line)} bytes, limit {MAX_RECORD_BYTES}"))
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Record(line_no, line.decode("utf-8", "backslashreplace"), rejection=Rejection("not_utf8", one_line(exc)))
    text = text.strip().lstrip("\ufeff")
    if not text:
        return None
    if not _suspicious(text) and (typed := decode_typed(text)) is not None:
        return Record(line_no, text, typed=typed)
    try:
        value = _loads(text)
    except RecursionError:
        return Record(line_no, text, rejection=Rejection("too_deep", f"nested deeper than {MAX_DEPTH} levels"))
    except ValueError as exc:
        return Record(line_no, text, rejection=Rejection("bad_json", one_line(exc)))
    return Record(line_no, text, value=value)


class _Lines:
    """Lines of a stream read in bounded pieces: ``next_line`` returns at most
    ``MAX_RECORD_BYTES + 1`` bytes; ``rest_of_line`` the remaining pieces of a longer one."""

    def __init__(self, stream: BinaryIO | Iterable[bytes]):
        self._readline = getattr(stream, "readline", None)
        self._iter = None if self._readline else iter(stream)
        self._pending: list[bytes] = []      # lines read ahead and given back

    def next_line(self) -> bytes:
        if self._pending:
            return self._pending.pop()
        if self._readline is not None:
            return self._readline(MAX_RECORD_BYTES + 1)
        return next(self._iter, b"")

    def piece(self) -> bytes:
        """The next piece of the stream, up to a line end or CHUNK_BYTES."""
        if self._pending:
            return self._pending.pop()
        if self._readline is not None:
            return self._readline(CHUNK_BYTES)
        return next(self._iter, b"")

    def give_back(self, lines: list[bytes]) -> None:
        self._pending.extend(reversed(lines))


class _Document:
    """A file-like view of one document for the streaming parser: ``head`` then pieces of the
    stream, up to the end of the line (``one_line_only``) or of the input. It refuses to read
    past MAX_DOCUMENT_BYTES, or more than a record's limit past the last record boundary
    (``mark``), so no single value is ever buffered whole; it keeps the first REPLAY_BYTES for
    a line-by-line retry."""

    def __init__(self, lines: _Lines, head: bytes, one_line_only: bool):
        self.lines, self.one_line_only = lines, one_line_only
        self.head: bytes | None = head
        self.size = 0
        self.boundary = 0
        self.done = False
        self.at_line_end = head.endswith(b"\n")
        self.replay: list[bytes] | None = []

    def mark(self) -> None:
        self.boundary = self.size

    def read(self, n: int = -1) -> bytes:
        if n == 0:      # the parser asks whether this is a byte stream
            return b""
        if self.head is not None:
            piece, self.head = self.head, None
        elif self.done:
            return b""
        else:
            piece = self.lines.piece()
            if not piece:
                self.done = True
                return b""
            self.at_line_end = piece.endswith(b"\n")
            if self.one_line_only and self.at_line_end:
                self.done = True
        self.size += len(piece)
        if self.replay is not None:
            self.replay.append(piece)
            if self.size > REPLAY_BYTES:
                self.replay = None
        if self.size > MAX_DOCUMENT_BYTES:
            raise _DocumentTooLarge(f"document is over {MAX_DOCUMENT_BYTES} bytes")
        if self.size - self.boundary > MAX_RECORD_BYTES + 2 * CHUNK_BYTES:
            raise _DocumentTooLarge(f"a record in this document is over {MAX_RECORD_BYTES} bytes")
        return piece

    def skip_line(self) -> int:
        """Discard the rest of the current line; returns the bytes discarded."""
        skipped = 0
        while not self.at_line_end:
            piece = self.lines.piece()
            if not piece:
                break
            skipped += len(piece)
            self.at_line_end = piece.endswith(b"\n")
        self.done = True
        return skipped


class _DocumentTooLarge(Exception):
    pass


def _number(value: Any) -> Any:
    return float(value) if not isinstance(value, (int, float)) else value


class _Builder:
    """Builds one JSON value from parser events, or stops at the depth limit."""

    def __init__(self):
        self.stack: list[Any] = []
        self.keys: list[Any] = []
        self.value: Any = None
        self.problem: Rejection | None = None

    def _put(self, value: Any) -> None:
        if not self.stack:
            self.value = value
            return
        top = self.stack[-1]
        if isinstance(top, list):
            top.append(value)
        else:
            top[self.keys[-1]] = value

    def event(self, kind: str, value: Any) -> None:
        if self.problem is not None:
            return
        if kind in ("start_map", "start_array"):
            if len(self.stack) >= MAX_DEPTH:
                self.problem = Rejection("too_deep", f"nested deeper than {MAX_DEPTH} levels")
                return
            container: Any = {} if kind == "start_map" else []
            self._put(container)
            self.stack.append(container)
            if kind == "start_map":
                self.keys.append(None)
        elif kind == "map_key":
            self.keys[-1] = value
        elif kind in ("end_map", "end_array"):
            self.stack.pop()
            if kind == "end_map":
                self.keys.pop()
        else:
            self._put(_number(value) if kind == "number" else value)


def _scalar(kind: str, value: Any) -> Any:
    return _number(value) if kind == "number" else value


def _stream_document(line_no: int, doc: _Document) -> Iterator[Record]:
    """The records of one large document, value by value: the events of a sync payload, the
    items of a list, or the one object. A payload whose host or schema_hash follows its events
    spools the events to a temporary file until it knows what they inherit."""
    inherited: dict[str, Any] = {}
    top: dict[str, Any] = {}
    top_kind = None
    spool = None
    builder: _Builder | None = None
    depth = 0          # nesting after this parser event
    item_depth = 1     # depth of the values that are records: 1 for a list, 2 inside "events"
    in_events = False
    key = None

    def emit(record: Record) -> Iterator[Record]:
        doc.mark()
        if spool is None:
            yield record
        else:
            problem = record.rejection
            line = {"r": [problem.code, problem.detail]} if problem else {"v": record.value}
            spool.write(json.dumps(line, ensure_ascii=False).encode("utf-8", "surrogatepass") + b"\n")

    for _prefix, kind, value in ijson.parse(doc, use_float=True, buf_size=CHUNK_BYTES):
        opening, closing = kind in ("start_map", "start_array"), kind in ("end_map", "end_array")
        depth += opening - closing
        if top_kind is None:
            top_kind = kind
            if not opening:
                yield Record(line_no, _dumps(_scalar(kind, value)), value=_scalar(kind, value))
                return
            continue
        if builder is not None:       # inside one record or one top-level value
            builder.event(kind, value)
            if closing and depth == item_depth:
                finished, builder = builder, None
                if top_kind == "start_array" or in_events:
                    record = (Record(line_no, "", rejection=finished.problem) if finished.problem
                              else _event_record(line_no, finished.value, inherited))
                    yield from emit(record)
                elif finished.problem is None:
                    top[key] = finished.value
            continue
        if top_kind == "start_array" or in_events:
            if closing and depth == item_depth - 1:       # the list (or the events) ended
                if in_events:
                    in_events, item_depth = False, 1
                    top["events"] = []
                continue
            if opening:
                builder = _Builder()
                builder.event(kind, value)
            else:                                         # a scalar record
                yield from emit(Record(line_no, _dumps(_scalar(kind, value)), value=_scalar(kind, value)))
            continue
        # the top-level object: its keys, its events, its other values
        if kind == "map_key":
            key = value
        elif kind == "start_array" and key == "events" and "events" not in top:
            in_events, item_depth = True, 2
            doc.mark()
            if not {"host", "schema_hash"} <= top.keys():
                spool = tempfile.TemporaryFile()
        elif opening:
            builder = _Builder()
            builder.event(kind, value)
        elif closing:
            break
        else:
            top[key] = _scalar(kind, value)
        if key in ("host", "schema_hash") and top.get(key) is not None:
            inherited[key] = top[key]
    if top_kind == "start_map" and "events" not in top:
        yield _event_record(line_no, top, {})
        return
    if top_kind == "start_map" and not isinstance(top["events"], list):
        yield Record(line_no, "", rejection=Rejection("invalid_payload", "events must be a list"))
    if spool is not None:
        spool.seek(0)
        for text in spool:
            line = json.loads(text)
            yield (Record(line_no, "", rejection=Rejection(*line["r"])) if "r" in line
                   else _event_record(line_no, line["v"], inherited))
        spool.close()


class Unsplittable(Exception):
    """A piece of a file read with ``whole_lines`` holds a document whose records depend on what follows the piece."""


def _documents(line_no: int, lines: _Lines, head: bytes, one_line_only: bool,
               whole_lines: bool = False) -> Iterator[Record]:
    """Records of a document that starts at ``head``. On a parse error: when nothing of it was
    yielded and it was short, its lines again one by one (it was a broken NDJSON line, not a
    document); otherwise one rejection for the rest of the line the error is on. ``whole_lines``
    (a piece of a file): ``Unsplittable`` when the outcome depends on what follows the piece."""
    doc = _Document(lines, head, one_line_only)
    emitted = 0
    try:
        for record in _stream_document(line_no, doc):
            emitted += 1
            yield record
        if one_line_only:
            doc.skip_line()
        else:
            while trailing := doc.read():     # the document must end the input
                if trailing.strip():
                    raise ijson.JSONError("trailing data after the document")
        if whole_lines and not one_line_only:
            raise Unsplittable(f"line {line_no} starts a document that ends the piece")
        return
    except (_DocumentTooLarge, ijson.JSONError, ValueError, UnicodeDecodeError) as exc:
        if whole_lines and doc.done:
            raise Unsplittable(f"line {line_no} starts a document the piece ends inside") from None
        if emitted == 0 and doc.replay is not None and not one_line_only:
            # Not a document after all (a broken NDJSON line): read its lines again one by one.
            parts = b"".join(doc.replay).splitlines(keepends=True)
            lines.give_back(parts[1:])
            record = _decode(line_no, parts[0])
            if record is not None:
                yield record
            return
        size = doc.size + doc.skip_line()
        if isinstance(exc, _DocumentTooLarge):
            reason = Rejection("too_large", f"{exc} ({size} bytes read)")
        elif one_line_only and emitted == 0:   # a line over the limit that is no payload
            reason = Rejection("too_large", f"record is {size} bytes, limit {MAX_RECORD_BYTES} ({one_line(exc, 120)})")
        else:
            reason = Rejection("bad_json", f"{one_line(exc)} (document of {size} bytes)")
    yield Record(line_no, head[:RAW_KEEP_CHARS].decode("utf-8", "backslashreplace"), rejection=reason)


def read_records(stream: BinaryIO | Iterable[bytes], line_offset: int = 0, whole_lines: bool = False) -> Iterator[Record]:
    """Records of an NDJSON stream, or of one (possibly multi-line) JSON document.

    ``line_offset``: lines before this stream (a piece of a larger file). ``whole_lines``: raise
    ``Unsplittable`` where a document's records depend on what follows the piece, so that the
    piece's records are those the whole file has at these lines."""
    lines = _Lines(stream)
    line_no = line_offset
    while line := lines.next_line():
        line_no += 1
        if len(line) > MAX_RECORD_BYTES and not line.endswith(b"\n"):
            # Longer than any record: only a sync payload (or a list) on one line can be valid.
            yield from _documents(line_no, lines, line, one_line_only=True)
            continue
        record = _decode(line_no, line)
        if record is None:
            continue
        if record.rejection and record.rejection.code == "bad_json" and record.raw[:1] in "{[":
            # Perhaps the start of a pretty-printed document: parse the rest of the input as one.
            yield from _documents(line_no, lines, line, one_line_only=False, whole_lines=whole_lines)
            continue
        if record.rejection or record.typed is not None:
            yield record
        else:
            yield from _expand(record.value, line_no, record.raw, _suspicious(record.raw))
