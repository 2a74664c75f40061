"""Every tuning knob, read and validated in one place.

An invalid value fails at load with a message naming the variable. The README's
configuration table is this list (``stylehint config`` prints it).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from .domain.hosts import parse_families
from .domain.profiles import GuardPolicy, QualityGuard, parse_guard_overrides
from .domain.ranking import RANKINGS, Thresholds


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the variable."""


DEFAULT_DATABASE_URL = "sqlite:///var/learning.db"   # the embedded default, in the working tree


@dataclass(frozen=True)
class Knob:
    env: str
    attr: str
    parse: Callable[[str], Any]
    safe_range: str
    doc: str
    check: Callable[[Any], bool] = lambda v: True


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected 0/1, true/false, yes/no or on/off")


def _within(lo: float, hi: float) -> Callable[[Any], bool]:
    return lambda v: lo <= v <= hi


def _choice(*options: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text.strip() not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return text.strip()
    return parse


def _url(text: str) -> str:
    """An http(s) endpoint. Credentials are refused, never masked: these URLs appear in logs,
    alerts and Dagster's run records, so a secret must not be part of them."""
    value = text.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http(s):// URL")
    if "@" in parts.netloc or parts.query or parts.fragment:
        raise ValueError("credentials are not accepted in the URL (no user:password@, no query string): "
                         "put a proxy that adds them in front of the service")
    return value


def _csv(text: str) -> tuple[str, ...]:
    return tuple(sorted({p.strip().lower() for p in text.split(",") if p.strip()}))


MIN_TOKEN_CHARS = 16


def parse_tokens(text: str) -> tuple[str, ...]:
    """Comma-separated bearer tokens; never echoed back (an error names only the position)."""
    tokens = tuple(p.strip() for p in text.split(",") if p.strip())
    for i, token in enumerate(tokens, start=1):
        if len(token) < MIN_TOKEN_CHARS or any(c.isspace() or not c.isprintable() for c in token):
            raise ValueError(f"token {i} must be at least {MIN_TOKEN_CHARS} printable characters without spaces")
    return tokens


def _origins(text: str) -> tuple[str, ...]:
    """Exact origins (scheme://host[:port]); a wildcard would open the API to every web page."""
    origins = _csv(text)
    for origin in origins:
        scheme, sep, rest = origin.partition("://")
        if origin == "*" or not sep or not scheme or not rest or "/" in rest or "*" in origin:
            raise ValueError(f"{origin!r} is not an origin like chrome-extension://<id> or https://host")
    return origins


KNOBS: tuple[Knob, ...] = (
    Knob("STYLEHINT_DATABASE_URL", "database_url", str, "any SQLAlchemy URL",
         "Learning store. PostgreSQL: postgresql://user@host:5432/db (password via PGPASSWORD or ~/.pgpass, never in files)."),
    Knob("STYLEHINT_START_DATE", "start_date", date.fromisoformat, "a past date",
         "First daily partition (event day, UTC). Events before it are stored but not aggregated."),
    Knob("AGG_LOOKBACK_DAYS", "lookback_days", int, "1-365", "Lookback window L: as of D uses days D-(L-1)..D.",
         _within(1, 365)),
    Knob("STYLEHINT_SNAPSHOT_RETENTION_DAYS", "snapshot_retention_days", int, "1-3650",
         "Snapshots (profiles, hints, style stats, impact) as of a day older than this are removed by the daily "
         "publish; the published snapshot and the current window are always kept.", _within(1, 3650)),
    Knob("MIN_FORM_RUNS", "min_form_runs", int, "1-10000", "Runs a style needs on a form to be a form-level candidate.",
         _within(1, 10000)),
    Knob("MIN_SEGMENT_RUNS", "min_segment_runs", int, "1-10000", "Runs a style needs in (family, segment).",
         _within(1, 10000)),
    Knob("MIN_FAMILY_RUNS", "min_family_runs", int, "1-100000", "Runs a style needs in a family.",
         _within(1, 100000)),
    Knob("COMPANION_AUTOFILL_QUALITY_MIN_SUCCESS", "quality_min_success", float, "0.0-1.0",
         "A profile is served only with success_rate at least this.", _within(0.0, 1.0)),
    Knob("COMPANION_AUTOFILL_QUALITY_MAX_EDIT", "quality_max_edit", float, "0-1000000",
         "A profile is served only with avg_edit_chars null or at most this.", _within(0.0, 1e6)),
    Knob("STYLEHINT_QUALITY_OVERRIDES", "quality_overrides", str, "key:min_success=0-1,max_edit=0-1e6;...",
         "Per family or host (a key with a dot) quality guard, e.g. `workday:max_edit=800;jobs.lever.co:min_success=0.7`; "
         "a host beats its family, unset figures inherit the defaults above."),
    Knob("COMPANION_AUTOFILL_PROFILE_ENABLED", "profile_enabled", _bool, "0 or 1",
         "0 = shadow mode: everything computed and stored, the served view returns an empty map and no hint."),
    Knob("COMPANION_AUTOFILL_AGG_ENABLED", "agg_enabled", _bool, "0 or 1",
         "0 stops scheduled and sensor-driven aggregation (they skip with a reason); nothing is torn down."),
    Knob("STYLEHINT_HOST_FAMILIES", "host_families", str, "name=suffix[,suffix];...",
         "Extra ATS families (or overrides) on top of greenhouse, lever, workday, ashby, bamboohr."),
    Knob("STYLEHINT_METRICS_HOSTS", "metrics_hosts", _csv, "a few dozen hosts",
         "Hosts exported as their own `host` label; other ATS hosts become their family domain, the rest `other`."),
    Knob("STYLEHINT_RANKING", "ranking", _choice(*RANKINGS), "ratio, wilson, beta, empirical_bayes or bayes_ucb",
         "ratio: SPEC 5 raw helpful ratio. wilson: lower bound of the 95% Wilson interval. beta: Beta posterior mean, "
         "prior from the segment for forms, else the level pooled (100 pseudo-runs). empirical_bayes: Beta posterior "
         "mean, segment over the segment pooled across families, form over its segment, strengths fitted on the "
         "snapshot; segment styles the form ran under its threshold compete. bayes_ucb: empirical_bayes plus an exploration bonus of "
         "0.75 standard errors on the segment's figures. Then SPEC tie-breaks."),
    Knob("STYLEHINT_IMPACT_MIN_RUNS", "impact_min_runs", int, "2-100000",
         "learning_impact: a comparison is `sufficient` only with at least this many runs (values) on each side.",
         _within(2, 100000)),
    Knob("STYLEHINT_NEW_EVENTS_THRESHOLD", "new_events_threshold", int, "1-1000000",
         "New-events sensor: request a run once this many events arrived since the last request.", _within(1, 10**6)),
    Knob("STYLEHINT_NEW_EVENTS_MAX_AGE_MINUTES", "new_events_max_age_minutes", int, "1-1440",
         "New-events sensor: request a run when the oldest unprocessed event waited this long.", _within(1, 1440)),
    Knob("STYLEHINT_SENSOR_INTERVAL_SECONDS", "sensor_interval_seconds", int, "10-3600",
         "How often the daemon evaluates the new-events, late-events and alert sensors (read at code load).",
         _within(10, 3600)),
    Knob("STYLEHINT_DEAD_RUN_MINUTES", "dead_run_minutes", int, "5-1440",
         "The sensors mark a running aggregation run failed when it wrote no event for this long "
         "(at once when its process on this host is gone), so no sensor waits for a killed run.", _within(5, 1440)),
    Knob("STYLEHINT_FRESHNESS_MAX_LAG_HOURS", "freshness_max_lag_hours", int, "1-720",
         "WARN check: the newest event of a snapshot's window is at most this old at the end of its day (or now).",
         _within(1, 720)),
    Knob("STYLEHINT_GATE_MAX_COVERAGE_DROP", "gate_max_coverage_drop", float, "0-100",
         "Publish gate (ERROR): block when the covered share falls by more than this many points against the "
         "published snapshot.", _within(0, 100)),
    Knob("STYLEHINT_GATE_MAX_PROFILE_DROP", "gate_max_profile_drop", float, "0-100",
         "Publish gate (ERROR): block when the profile count falls by more than this percent against the "
         "published snapshot.", _within(0, 100)),
    Knob("STYLEHINT_KPI_MIN_COVERAGE", "kpi_min_coverage", float, "0.0-1.0",
         "WARN check (alerts, publishes): share of profiles with a recommendation (form+segment+family) at least this.",
         _within(0, 1)),
    Knob("STYLEHINT_KPI_MAX_NONE", "kpi_max_none", float, "0.0-1.0",
         "WARN check (alerts, publishes): share of profiles with source none below this (1 turns it off).",
         _within(0, 1)),
    Knob("STYLEHINT_KPI_SEGMENT_RANGE", "kpi_segment_range", lambda t: tuple(float(x) for x in t.split("-", 1)), "lo-hi within 0-1",
         "WARN check: share of profiles with source segment inside this range.",
         lambda v: len(v) == 2 and 0 <= v[0] <= v[1] <= 1),
    Knob("STYLEHINT_EXECUTOR", "executor", _choice("in_process", "multiprocess"), "in_process or multiprocess",
         "How a run executes its steps: in_process (one process per run, see docs/operations.md) or multiprocess "
         "(a process per step, independent steps in parallel)."),
    Knob("STYLEHINT_INGEST_BATCH_SIZE", "ingest_batch_size", int, "100-50000",
         "Records per ingest transaction.", _within(100, 50000)),
    Knob("STYLEHINT_INGEST_COMMIT_SECONDS", "ingest_commit_seconds", float, "0.5-60",
         "A slow stream (stdin) commits what it has read at least this often, even below a full batch.",
         _within(0.5, 60)),
    Knob("STYLEHINT_INGEST_WORKERS", "ingest_workers", int, "0-32",
         "Processes that decode a large NDJSON file for `stylehint ingest PATH` on PostgreSQL (0: one per core, "
         "at most 8; 1: decode in the ingest process itself).", _within(0, 32)),
    Knob("STYLEHINT_MAX_SELECTORS_PER_MAP", "max_selectors_per_map", int, "10-100000",
         "A record whose suggested_map or final_map has more selectors is rejected (too_many_selectors).",
         _within(10, 100000)),
    Knob("STYLEHINT_ALERTMANAGER_URL", "alertmanager_url", _url, "http://127.0.0.1:9093",
         "Alertmanager for failed checks and runs; empty disables alert posting. No credentials in the URL (refused)."),
    Knob("STYLEHINT_ALERT_ACTIVE_MINUTES", "alert_active_minutes", int, "5-10080",
         "An alert posted for a failed check or run stays active in Alertmanager this long (endsAt).",
         _within(5, 10080)),
    Knob("PROMETHEUS_PUSHGATEWAY_URL", "pushgateway_url", _url, "http://127.0.0.1:9091",
         "When set, each aggregation run also pushes its run-level series. No credentials in the URL (refused)."),
    Knob("STYLEHINT_UI_URL", "ui_url", _url, "a URL", "Base URL of the Dagster UI, for links in alerts."),
    Knob("STYLEHINT_API_TOKENS", "api_tokens", parse_tokens, "token[,token...], each >= 16 chars",
         "`stylehint serve`: bearer tokens the extension may send (any one is accepted); from your secret store, never in files here."),
    Knob("STYLEHINT_API_TOKENS_FILE", "api_tokens_file", str, "a readable file path",
         "`stylehint serve`: a file with one bearer token per line (`#` comments), read at start, on top of STYLEHINT_API_TOKENS."),
    Knob("STYLEHINT_API_ALLOWED_ORIGINS", "api_allowed_origins", _origins, "origin[,origin...]",
         "`stylehint serve`: browser origins allowed by CORS, e.g. `chrome-extension://<id>`; empty = no CORS headers at all."),
    Knob("STYLEHINT_API_MAX_BODY_BYTES", "api_max_body_bytes", int, "1024-268435456",
         "`stylehint serve`: largest sync body accepted; a larger one gets 413 before it is read whole.",
         _within(1024, 256 << 20)),
)


def _shown(knob: Knob, raw: str) -> str:
    """The value as an error may print it: URLs can carry credentials, so they are never echoed."""
    if knob.env.endswith("_TOKENS"):
        return "<tokens hidden>"
    return "<url hidden>" if knob.env.endswith("_URL") else repr(raw)


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    start_date: date = date(2025, 1, 1)
    lookback_days: int = 30
    snapshot_retention_days: int = 90
    min_form_runs: int = 5
    min_segment_runs: int = 5
    min_family_runs: int = 10
    quality_min_success: float = 0.6
    quality_max_edit: float = 500.0
    profile_enabled: bool = True
    agg_enabled: bool = True
    quality_overrides: str = ""
    host_families: str = ""
    metrics_hosts: tuple[str, ...] = ()
    ranking: str = "ratio"
    impact_min_runs: int = 30
    new_events_threshold: int = 500
    new_events_max_age_minutes: int = 60
    sensor_interval_seconds: int = 60
    dead_run_minutes: int = 60
    freshness_max_lag_hours: int = 36
    gate_max_coverage_drop: float = 10.0
    gate_max_profile_drop: float = 50.0
    kpi_min_coverage: float = 0.8
    kpi_max_none: float = 0.2
    kpi_segment_range: tuple[float, float] = (0.25, 0.35)
    executor: str = "in_process"
    ingest_batch_size: int = 5000
    ingest_commit_seconds: float = 2.0
    ingest_workers: int = 0
    max_selectors_per_map: int = 500
    alertmanager_url: str = ""
    alert_active_minutes: int = 240
    pushgateway_url: str = ""
    ui_url: str = "http://127.0.0.1:3000"
    api_tokens: tuple[str, ...] = field(default=(), repr=False)
    api_tokens_file: str = ""
    api_allowed_origins: tuple[str, ...] = ()
    api_max_body_bytes: int = 1 << 20

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> "Settings":
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for knob in KNOBS:
            raw = env.get(knob.env)
            if raw is None or raw.strip() == "":
                continue
            try:
                value = knob.parse(raw)
            except ValueError as exc:
                raise ConfigError(f"{knob.env}={_shown(knob, raw)} is invalid: {exc} (safe range: {knob.safe_range})") from None
            if not knob.check(value):
                raise ConfigError(f"{knob.env}={_shown(knob, raw)} is out of range (safe range: {knob.safe_range})")
            values[knob.attr] = value
        values.update(overrides)
        settings = cls(**values)
        try:
            settings.families
        except ValueError as exc:
            raise ConfigError(f"STYLEHINT_HOST_FAMILIES is invalid: {exc}") from None
        try:
            settings.guard_policy
        except ValueError as exc:
            raise ConfigError(f"STYLEHINT_QUALITY_OVERRIDES is invalid: {exc}") from None
        return settings

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(self.min_form_runs, self.min_segment_runs, self.min_family_runs)

    @property
    def guard(self) -> QualityGuard:
        return QualityGuard(self.quality_min_success, self.quality_max_edit)

    @cached_property
    def families(self) -> Mapping[str, tuple[str, ...]]:
        """The default ATS families with STYLEHINT_HOST_FAMILIES on top (derived, so a
        ``replace(settings, host_families=...)`` cannot leave a stale copy)."""
        return parse_families(self.host_families)

    @cached_property
    def guard_policy(self) -> GuardPolicy:
        families, hosts = parse_guard_overrides(self.quality_overrides, self.guard)
        return GuardPolicy(self.guard, families, hosts)


def configuration_table() -> str:
    rows = ["| variable | default | safe range | meaning |", "|---|---|---|---|"]
    defaults = {f.name: f.default for f in fields(Settings)}   # the one place defaults are written
    for k in KNOBS:
        value = defaults[k.attr]
        default = value if not isinstance(value, tuple) else "-".join(map(str, value)) or "(empty)"
        rows.append(f"| `{k.env}` | `{default if default != '' else '(empty)'}` | {k.safe_range} | {k.doc} |")
    return "\n".join(rows)
