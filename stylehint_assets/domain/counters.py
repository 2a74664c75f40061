"""Which durable Prometheus counters an ingested event moves (SPEC 7).

Counters never go down, so an event is counted once: when it is first stored, and a field
that a later merge fills in for the first time (late feedback, late edit counts, a late
duration) is counted then. A value that changes later is not counted again.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from functools import lru_cache
from typing import Any

from .hosts import DEFAULT_FAMILIES, OTHER

TIME_MS_BUCKETS = (100, 250, 500, 1000, 2500, 5000, 10000, 20000, 30000, 60000, 120000)

RUNS = "applylens_autofill_runs_total"
EDIT_CHARS = "applylens_autofill_edit_chars_total"
TIME_MS = "applylens_autofill_time_ms"
POLICY = "applylens_autofill_policy_total"
PROFILE_USAGE = "applylens_autofill_profile_usage_total"
STYLE_CHOICE = "applylens_autofill_style_choice_total"
PROFILES_UPDATED = "applylens_autofill_profiles_updated_total"
PROFILES_REJECTED = "applylens_autofill_profiles_rejected_total"
AGG_RUNS = "applylens_autofill_agg_runs_total"
# Outcomes with vs without a profile (not in SPEC 7's table; additive, for the ops question
# "does the Companion help?"): counted once the event says whether a profile was applied.
PROFILE_RUNS = "applylens_autofill_profile_runs_total"
PROFILE_EDIT_CHARS = "applylens_autofill_profile_edit_chars_total"
PROFILE_EDITED_RUNS = "applylens_autofill_profile_edited_runs_total"
PROFILE_TIME_MS = "applylens_autofill_profile_time_ms"

Increment = tuple[str, tuple[tuple[str, str], ...], float]


def host_label(host: str, family: str, allowlist: Collection[str] = (),
               families: Mapping[str, tuple[str, ...]] = DEFAULT_FAMILIES) -> str:
    """Bounded ``host`` label: allow-listed hosts as themselves, other ATS hosts as their family's
    domain (``myworkdayjobs.com``), everything else ``other``."""
    if host in allowlist:
        return host
    if family != OTHER and family in families:
        return families[family][0]
    return OTHER


def _labels(**labels: Any) -> tuple[tuple[str, str], ...]:
    return _label_pairs(*labels.items())


@lru_cache(maxsize=65536)
def _label_pairs(*pairs: tuple[str, Any]) -> tuple[tuple[str, str], ...]:
    """Canonical (sorted, stringified) label pairs; cached, since label values are bounded (the
    ingest builds about twenty series per event, and this was most of its time)."""
    return tuple(sorted((k, "" if v is None else str(v).lower() if isinstance(v, bool) else str(v))
                        for k, v in pairs))


def event_increments(old: Mapping[str, Any] | None, new: Mapping[str, Any], host: str) -> list[Increment]:
    """Counter increments for storing ``new`` where ``old`` was stored before (None: a new event).

    ``host`` is the already-bounded host label.
    """
    out: list[Increment] = []
    if old is None:
        out.append((RUNS, _labels(status=new["status"], host=host), 1))
    first = (lambda f: new.get(f) is not None and (old is None or old.get(f) is None))
    if first("effective_edit_chars"):
        out.append((EDIT_CHARS, _labels(host=host), new["effective_edit_chars"]))
    if first("duration_ms"):
        out.extend(_observe(TIME_MS, new["duration_ms"], host=host))
    if first("policy"):
        out.append((POLICY, _labels(policy=new["policy"], host_family=new["host_family"],
                                    segment_key=new.get("segment_key")), 1))
    if first("profile_used"):
        out.append((PROFILE_USAGE, _labels(profile_used=new["profile_used"],
                                           profile_source=new.get("profile_source")), 1))
    # With vs without a profile: a figure is counted the first time both it and profile_used are known.
    profile = {"profile_used": new.get("profile_used"), "profile_source": new.get("profile_source")}
    both = (lambda f: new.get(f) is not None and new.get("profile_used") is not None
            and (old is None or old.get(f) is None or old.get("profile_used") is None))
    if first("profile_used"):
        out.append((PROFILE_RUNS, _labels(status=new["status"], **profile), 1))
    if both("effective_edit_chars"):
        out.append((PROFILE_EDIT_CHARS, _labels(**profile), new["effective_edit_chars"]))
        out.append((PROFILE_EDITED_RUNS, _labels(**profile), 1))
    if both("duration_ms"):
        out.extend(_observe(PROFILE_TIME_MS, new["duration_ms"], **profile))
    return out


def _observe(name: str, ms: float, **labels: Any) -> list[Increment]:
    """One observation of a histogram: every cumulative bucket with ``le >= ms``, count and sum."""
    out: list[Increment] = [(name + "_bucket", _labels(**labels, le=str(le)), 1) for le in TIME_MS_BUCKETS if ms <= le]
    out.append((name + "_bucket", _labels(**labels, le="+Inf"), 1))
    out.append((name + "_count", _labels(**labels), 1))
    out.append((name + "_sum", _labels(**labels), ms))
    return out
