"""Stored strings as a terminal may show them: control and format characters escaped.

Hosts, schema hashes, style ids and segment keys come from the extension's events; an escape
sequence or a bidi override among them must not reach the operator's terminal raw in table
output (JSON output escapes through the JSON encoder instead)."""
from __future__ import annotations

import unicodedata
from typing import Any


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(value: Any) -> Any:
    """``value`` with every control (Cc), format (Cf) and line/paragraph separator character
    written as a Python-style escape; anything not a string is returned as it is."""
    if not isinstance(value, str):
        return value
    if value.isprintable():
        return value
    return "".join(_escape(ch) if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in value)
