"""Running the real asset graph against a test store."""
from __future__ import annotations

import io
import json
from datetime import date, datetime

import numpy as np
import pandas as pd
from sqlalchemy import select

from resources import LearningStore
from stylehint_assets.definitions import build_definitions
from stylehint_assets.domain.records import read_records
from stylehint_assets.runner import materialize_as_of
from stylehint_assets.ingest import ingest_records
from stylehint_assets.store.hint_choice import assemble_hints
from stylehint_assets.store.schema import form_profile_snapshots, form_profiles, style_hints


def ingest_events(engine, settings, events, received_at=datetime(2025, 4, 30)):
    data = b"".join(json.dumps(e).encode() + b"\n" for e in events)
    return ingest_records(engine, read_records(io.BytesIO(data)), settings=settings, received_at=received_at)


def snapshot(instance, settings, as_of: date, **kw):
    defs = build_definitions(LearningStore(database_url=settings.database_url), settings)
    return materialize_as_of(defs, instance, as_of, settings, **kw)


def table_rows(engine, table, as_of=None, exclude=()):
    q = select(table)
    if as_of is not None:
        q = q.where(table.c.as_of == as_of)
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(q).mappings()]
    rows = [{k: v for k, v in r.items() if k not in exclude} for r in rows]
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))


def hints(engine, as_of):
    """The stored hint rows as of ``as_of``, each with its full hint as the read path assembles it."""
    with engine.connect() as conn:
        full = assemble_hints(conn, as_of)
    return {(r["host"], r["schema_hash"]): {**r, "hint": full[(r["host"], r["schema_hash"])]}
            for r in table_rows(engine, style_hints, as_of)}


def profiles(engine, as_of):
    return {(r["host"], r["schema_hash"]): r for r in table_rows(engine, form_profile_snapshots, as_of)}


def served(engine):
    return {(r["host"], r["schema_hash"]): r for r in table_rows(engine, form_profiles)}


def effective_edit_reference(row) -> float:
    """SPEC 2 effective edit chars recomputed from a raw events row, for the pandas references."""
    if pd.notna(row.edit_chars):
        return row.edit_chars
    stats = row.edit_stats if isinstance(row.edit_stats, dict) else None
    if stats and (stats.get("total_chars_added") is not None or stats.get("total_chars_deleted") is not None):
        return (stats.get("total_chars_added") or 0) + (stats.get("total_chars_deleted") or 0)
    return np.nan
