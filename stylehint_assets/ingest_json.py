"""The ingest report as ``stylehint ingest --json`` prints it and the API's sync route answers it."""
from __future__ import annotations

from typing import Any

INGEST_JSON_FIELDS = ("accepted", "rejected", "merged", "rejected_by_reason")


def ingest_json(report) -> dict[str, Any]:
    """The contract object (the report has more figures; these four are the public shape)."""
    summary = report.as_json()
    return {k: summary[k] for k in INGEST_JSON_FIELDS}
