"""Catalog metadata of the table-backed assets, derived from the store's tables.

Table name, column schema, tags and code version come from ``store/schema.py`` and the
source of the modules that build each asset's SQL, so the Dagster catalog cannot drift
from the tables. Row counts are counted after each write (``row_count_metadata``).
"""
from __future__ import annotations

import hashlib
import inspect
from functools import cache
from types import ModuleType
from typing import Any

import dagster as dg
from sqlalchemy import Column, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import CompileError

from resources import LearningStore
from ..domain import impact as impact_rules, profiles as profile_rules, ranking
from ..store import (
    aggregates, empirical_priors, hint_choice, impact, profile_figures, schema, snapshot_basis, snapshot_refresh, snapshots,
)
from ..store.row_counts import day_column, row_counts
from .common import partition_days

# asset -> (the table it stands for, the modules whose SQL and rules produce its rows)
_WINDOW_STATS = (aggregates, snapshot_basis, snapshot_refresh)   # cold sums, or derived from a base snapshot
_TABLES: dict[str, tuple[Table, tuple[ModuleType, ...]]] = {
    "autofill_events": (schema.autofill_events, (aggregates,)),
    "daily_event_partials": (schema.daily_event_partials, (aggregates,)),
    "daily_field_map_counts": (schema.daily_field_map_counts, (aggregates,)),
    "daily_impact_partials": (schema.daily_impact_partials, (impact,)),
    "form_style_stats": (schema.form_style_stats, _WINDOW_STATS),
    "segment_style_stats": (schema.segment_style_stats, _WINDOW_STATS),
    "family_style_stats": (schema.family_style_stats, _WINDOW_STATS),
    "form_profiles": (schema.form_profile_snapshots, (profile_figures, snapshot_basis, snapshot_refresh, profile_rules)),
    "style_hints": (schema.style_hints, (hint_choice, empirical_priors, snapshot_refresh, ranking)),
    "served_form_profiles": (schema.form_profiles, (snapshots,)),
    "learning_impact": (schema.learning_impact, (impact, impact_rules)),
}
TABLE_BACKED = frozenset(_TABLES)
__all__ = ["TABLE_BACKED", "column_schema", "day_column", "header", "row_count_metadata", "table_of", "tags"]

# Columns that identify a person or their application: assets holding them are tagged `pii`.
PII_COLUMNS = frozenset({"user_id", "application_id"})
# Tables the extension reads: their assets are tagged `served`.
SERVED_TABLES = frozenset({schema.form_profiles.name})


def table_of(asset_name: str) -> Table:
    return _TABLES[asset_name][0]


def _column_type(column: Column) -> str:
    """The column's SQL type as PostgreSQL spells it (the production store)."""
    try:
        return column.type.compile(dialect=postgresql.dialect()).lower()
    except CompileError:   # a type without a PostgreSQL spelling keeps its generic name
        return type(column.type).__name__.lower()


def column_schema(table: Table) -> dg.TableSchema:
    """The table's columns in order, with type, comment and nullability."""
    return dg.TableSchema(columns=[
        dg.TableColumn(
            name=c.name, type=_column_type(c), description=c.comment,
            constraints=dg.TableColumnConstraints(
                nullable=bool(c.nullable),
                unique=c.primary_key and len(table.primary_key.columns) == 1,
                other=["primary key"] if c.primary_key else None),
        )
        for c in table.columns
    ])


def _source_hash(*modules: ModuleType) -> str:
    digest = hashlib.sha256()
    for module in (schema, *modules):
        digest.update(inspect.getsource(module).encode())
    return digest.hexdigest()[:12]


def tags(table: Table) -> dict[str, str]:
    out = {}
    if PII_COLUMNS & set(table.c.keys()):
        out["pii"] = ""
    if table.name in SERVED_TABLES:
        out["served"] = ""
    return out


@cache
def header(asset_name: str) -> dict[str, Any]:
    """The ``@dg.asset`` arguments the catalog owns: metadata, tags and code_version.

    The code version is a hash of the schema and of the SQL-building modules' source, so it
    changes exactly when the SQL (or the rules it applies) changes."""
    table, modules = _TABLES[asset_name]
    return {
        "metadata": {
            "dagster/table_name": table.name,
            "dagster/column_schema": column_schema(table),
        },
        "tags": tags(table),
        "code_version": _source_hash(*modules),
    }


def row_count_metadata(context: dg.AssetExecutionContext, store: LearningStore) -> dict[str, int]:
    """``dagster/row_count`` of the asset's table and, counted after the write, the rows of this
    run's partition (by event day or as-of day): ``dagster/partition_row_count`` when the run is
    one partition; a single-run range reports the same metadata on every day of the range, so
    it says ``partition_range_row_count`` instead of a per-day figure it cannot give."""
    table = table_of(context.assets_def.key.to_user_string())
    start, end = partition_days(context)
    with store.connect() as conn:
        total, within = row_counts(conn, table, start, end)
    out = {"dagster/row_count": total}
    if within is not None:
        out["dagster/partition_row_count" if start == end else "partition_range_row_count"] = within
    return out
