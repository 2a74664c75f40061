"""The ``stylehint`` command line. Errors are one line on stderr and a non-zero exit."""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pandas as pd

from .config import ConfigError, Settings, configuration_table
from .domain.coverage import coverage, coverage_table
from .domain.hosts import normalize_host

log = logging.getLogger("stylehint")


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from None


def _today() -> date:
    return datetime.now(timezone.utc).date()


def _engine(settings: Settings):
    from .store.engine import get_engine, upgrade

    engine = get_engine(settings.database_url)
    upgrade(engine)
    return engine


def _progress(label: str) -> Callable[[Any], None]:
    def show(report) -> None:
        if sys.stderr.isatty() or os.environ.get("STYLEHINT_PROGRESS"):
            print(f"\r{label}: {report.accepted + report.rejected:,} records "
                  f"({report.rejected:,} rejected)", end="", file=sys.stderr, flush=True)
    return show


def _print_rows(rows: list[dict[str, Any]], fmt: str, columns: list[str]) -> None:
    if fmt == "json":
        print(json.dumps(rows, indent=2, default=str, ensure_ascii=False))
        return
    if not rows:
        print("(no rows)")
        return
    frame = pd.DataFrame(rows)
    print(frame[[c for c in columns if c in frame.columns]].to_string(index=False))


def cmd_db_upgrade(args, settings: Settings) -> None:
    from .store.engine import safe_url

    _engine(settings)
    print(f"learning store ready: {safe_url(settings.database_url)}")


def cmd_ingest(args, settings: Settings) -> None:
    from .domain.records import read_records
    from .ingest import ingest_records

    engine = _engine(settings)
    try:
        # stdin through a reader of its own: after Ctrl-C the reader thread may still be blocked
        # in it, and the interpreter's shutdown must not wait for sys.stdin's lock.
        stream = open(sys.stdin.fileno(), "rb", closefd=False) if args.path == "-" else open(args.path, "rb")
    except OSError as exc:
        raise CliError(f"cannot open {args.path}: {exc.strerror}") from None
    stop = threading.Event()   # Ctrl-C: commit what was read, then exit 130
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        report = ingest_records(engine, read_records(stream), settings=settings, stop=stop, live=args.path == "-",
                                source="stdin" if args.path == "-" else args.path, progress=_progress("ingest"))
    finally:
        signal.signal(signal.SIGINT, previous)
        if args.path != "-":   # stdin stays open: after Ctrl-C its reader may still be blocked in it
            stream.close()
    if sys.stderr.isatty():
        print(file=sys.stderr)
    if args.json:
        print(json.dumps({k: report.as_json()[k] for k in ("accepted", "rejected", "merged", "rejected_by_reason")}))
    else:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(report.rejected_by_reason.items())) or "none"
        print(f"accepted {report.accepted} (new {report.inserted}, changed {report.updated}, "
              f"unchanged {report.unchanged}), merged {report.merged}, rejected {report.rejected} ({reasons})")
    if report.interrupted:
        raise KeyboardInterrupt(f"interrupted: committed the {report.accepted + report.rejected} records read so far")


def _materialize(settings: Settings, as_of: date):
    from .definitions import defs
    from .runner import RunFailed, get_instance, materialize_as_of

    try:
        return materialize_as_of(defs, get_instance(), as_of, settings)
    except RunFailed as exc:
        raise CliError(str(exc)) from None


def _print_coverage(settings: Settings, as_of: date) -> dict:
    from .store.reads import hints_as_of

    with _engine(settings).connect() as conn:
        cov = coverage(h["source"] for h in hints_as_of(conn, as_of))
    print(f"coverage as of {as_of} ({settings.lookback_days}-day window):")
    print(coverage_table(cov))
    return cov


def cmd_materialize(args, settings: Settings) -> None:
    runs = _materialize(settings, args.as_of)
    print(f"materialized as of {args.as_of}: window {runs.window[0]}..{runs.window[1]}, runs {', '.join(runs.run_ids)}")
    _print_coverage(settings, args.as_of)


def cmd_demo(args, settings: Settings) -> None:
    from .domain.records import Record
    from .ingest import ingest_records
    from .synthetic import generate_events

    end = args.end_day or _today()
    engine = _engine(settings)
    print(f"generating {args.events:,} deterministic events for {end - timedelta(days=29)}..{end}", file=sys.stderr)
    records = (Record(i, "", value=e) for i, e in enumerate(generate_events(args.events, end, days=30, seed=args.seed)))
    report = ingest_records(engine, records, settings=settings, source="demo", progress=_progress("ingest"))
    print(f"\ningested: {report.accepted:,} accepted, {report.rejected} rejected", file=sys.stderr)
    print("materializing the snapshot through Dagster ...", file=sys.stderr)
    runs = _materialize(settings, end)
    print(f"snapshot as of {end}: runs {', '.join(runs.run_ids)}")
    _print_coverage(settings, end)
    print(f"\nopen the UI on this instance:  DAGSTER_HOME={os.environ['DAGSTER_HOME']} dagster dev -w workspace.yaml"
          f"\n(or `stylehint ui`), then see Assets > style_hints and Runs.")


HINT_COLUMNS = ["host", "schema_hash", "source", "segment_key", "host_family", "preferred_style_id"]
PROFILE_COLUMNS = ["host", "schema_hash", "runs", "success_rate", "avg_edit_chars", "avg_duration_ms", "served"]


def cmd_hints(args, settings: Settings) -> None:
    from .store.reads import hints_as_of

    with _engine(settings).connect() as conn:
        _print_rows(hints_as_of(conn, args.as_of), args.format, HINT_COLUMNS)


def cmd_profiles(args, settings: Settings) -> None:
    from .store.reads import profiles_as_of

    with _engine(settings).connect() as conn:
        _print_rows(profiles_as_of(conn, args.as_of), args.format, PROFILE_COLUMNS)


def _form(args) -> tuple[str, str]:
    host = normalize_host(args.host)
    if host is None:
        raise CliError(f"not a valid host: {args.host!r}")
    return host, args.schema_hash


def cmd_profile(args, settings: Settings) -> None:
    from .store.reads import api_view

    host, schema = _form(args)
    with _engine(settings).connect() as conn:
        print(json.dumps(api_view(conn, host, schema, settings.profile_enabled), indent=2, default=str, ensure_ascii=False))


def cmd_explain(args, settings: Settings) -> None:
    from .store.reads import hint_detail

    host, schema = _form(args)
    with _engine(settings).connect() as conn:
        hint = hint_detail(conn, host, schema, args.as_of)
    if hint is None:
        raise CliError(f"no hint for {host} {schema}" + (f" as of {args.as_of}" if args.as_of else " in the published snapshot"))
    if args.format == "json":
        print(json.dumps(hint, indent=2, ensure_ascii=False))
        return
    print(f"{host} {schema} as of {hint['as_of']} (family {hint['host_family']}, segment {hint['segment_key']})")
    print(f"-> {hint['preferred_style_id'] or 'no recommendation'} [{hint['source']}]: {hint['explanation']}")
    for level in hint["levels_tried"]:
        head = f"  {level['level']:<8} {level['scope']} (min {level['min_runs']} runs)"
        print(head + (f": skipped, {level['skipped']}" if level.get("skipped") else ""))
        for style, s in level["styles"].items():
            mark = "*" if style in level["candidates"] else " "
            print(f"    {mark} {style:<28} runs {s['total_runs']:>5}  helpful {s['helpful']:>4}  "
                  f"ratio {s['helpful_ratio']:.3f}  edit {s['avg_edit_chars'] if s['avg_edit_chars'] is not None else '-'}")


def _fmt(value, low=None, high=None, digits=3) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    text = f"{value:.{digits}f}"
    return text if low is None or high is None else f"{text} [{low:.{digits}f}, {high:.{digits}f}]"


def cmd_impact(args, settings: Settings) -> None:
    from .store.impact import impact_as_of

    with _engine(settings).connect() as conn:
        rows = [_jsonable_row(r) for r in impact_as_of(conn, args.as_of)]
    if not rows:
        raise CliError(f"no learning_impact rows as of {args.as_of}: run `stylehint materialize --as-of {args.as_of}`")
    if args.format == "json":
        print(json.dumps(rows, indent=2, default=str))
        return
    table = []
    for r in rows:
        digits = 3 if r["metric"] == "success_ratio" else 1
        table.append({
            "dimension": r["dimension"], "group": r["group_key"], "metric": r["metric"],
            "with (95% CI)": _fmt(r["with_value"], r["with_low"], r["with_high"], digits), "n_with": r["with_n"],
            "without (95% CI)": _fmt(r["without_value"], r["without_low"], r["without_high"], digits),
            "n_without": r["without_n"],
            "with - without (95% CI)": _fmt(r["diff"], r["diff_low"], r["diff_high"], digits),
            "verdict": r["verdict"],
        })
    print(f"impact of profiles as of {args.as_of} ({settings.lookback_days}-day window; "
          f"insufficient = fewer than {settings.impact_min_runs} on a side)")
    print(pd.DataFrame(table).to_string(index=False))


def _jsonable_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


def cmd_experiments(args, settings: Settings) -> None:
    from .domain.experiments import experiment_report
    from .domain.ranking import segment_preferences
    from .runner import window_for
    from .store import aggregates
    from .store.impact import explore_counts
    from .store.snapshots import stats_by_key

    start, end = window_for(args.as_of, settings)
    with _engine(settings).connect() as conn:
        stats = aggregates.style_stats_frame(conn, "segment", args.as_of)
        counts = explore_counts(conn, start, end)
    if stats.empty and not counts:
        raise CliError(f"no segment statistics or explore runs as of {args.as_of}: "
                       f"run `stylehint materialize --as-of {args.as_of}` first")
    prefs = segment_preferences(stats_by_key(stats, ("host_family", "segment_key")), settings.thresholds,
                                settings.ranking)
    preferred = {(fam, seg): style for fam, segs in prefs.items() for seg, style in segs.items()}
    report = experiment_report(counts, preferred)
    if args.format == "json":
        print(json.dumps({"as_of": args.as_of.isoformat(), "window": [start.isoformat(), end.isoformat()],
                          "ranking": settings.ranking, "experiments": report}, indent=2))
        return
    print(f"style experiments as of {args.as_of}: explore runs {start}..{end}, preferred style = segment level "
          f"({settings.ranking} ranking); * = preferred")
    for e in report:
        print(f"\n{e['host_family']}/{e['segment_key']}: preferred {e['preferred_style_id'] or '-'}; "
              f"{'BEATEN' if e['beaten'] else 'kept'}: {e['decision']}")
        for s in e["styles"]:
            mark = "*" if s["preferred"] else " "
            print(f"  {mark} {s['gen_style_id']:<28} runs {s['runs']:>5}  helpful {s['helpful']:>4}  "
                  f"ratio {_fmt(s['helpful_ratio'], s['wilson_low'], s['wilson_high'])}")


def cmd_config(args, settings: Settings) -> None:
    print(configuration_table())


def cmd_ui(args, settings: Settings) -> None:
    from .runner import embedded_dagster_home

    home = embedded_dagster_home()
    os.execvp("dagster", ["dagster", "dev", "-w", "workspace.yaml", "-h", args.host, "-p", str(args.port)])
    raise CliError(f"could not start dagster dev with DAGSTER_HOME={home}")


def cmd_metrics_serve(args, settings: Settings) -> None:
    from .metrics.server import serve
    from .store.engine import safe_url

    serve(_engine(settings), settings, args.host, args.port,
          ready=lambda url: print(f"serving {url} (store {safe_url(settings.database_url)})", file=sys.stderr, flush=True))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stylehint", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="synthetic events for the last 30 days, then the newest snapshot")
    p.add_argument("--events", type=int, default=30000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--end-day", type=_day, help="last day of the demo window (default: today, UTC)")
    p.set_defaults(func=cmd_demo)

    db = sub.add_parser("db", help="learning store schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="create missing tables and indexes (idempotent)").set_defaults(func=cmd_db_upgrade)

    p = sub.add_parser("ingest", help="ingest NDJSON or a sync payload (- for stdin)")
    p.add_argument("path")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("materialize", help="materialize the snapshot as of a day through Dagster")
    p.add_argument("--as-of", type=_day, required=True)
    p.set_defaults(func=cmd_materialize)

    for name, func, help_ in (("hints", cmd_hints, "style hints as of a day"),
                              ("profiles", cmd_profiles, "form profiles as of a day"),
                              ("impact", cmd_impact, "runs with vs without a profile, with 95% intervals, as of a day"),
                              ("experiments", cmd_experiments, "explore runs: is the preferred style beaten?")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--as-of", type=_day, required=True)
        p.add_argument("--format", choices=("json", "table"), default="table")
        p.set_defaults(func=func)

    p = sub.add_parser("profile", help="the served view of one form, as the extension's API returns it")
    p.add_argument("host")
    p.add_argument("schema_hash")
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser("explain", help="why that style: the levels tried and their candidates")
    p.add_argument("host")
    p.add_argument("schema_hash")
    p.add_argument("--as-of", type=_day, help="default: the published snapshot")
    p.add_argument("--format", choices=("json", "table"), default="table")
    p.set_defaults(func=cmd_explain)

    sub.add_parser("config", help="print every setting with default and safe range").set_defaults(func=cmd_config)

    metrics = sub.add_parser("metrics", help="Prometheus exporter").add_subparsers(dest="metrics_command", required=True)
    p = metrics.add_parser("serve", help="serve /metrics over the durable counters (Prometheus text format)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    p.add_argument("--port", type=int, default=9108)
    p.set_defaults(func=cmd_metrics_serve)

    p = sub.add_parser("ui", help="start the Dagster UI and daemon on the embedded instance")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3000)
    p.set_defaults(func=cmd_ui)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.verbose:  # beta/preview notices from Dagster's own modules are not for CLI users
        warnings.filterwarnings("ignore", module=r"dagster(\.|$)")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format='{"ts":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","msg":"%(message)s"}')
    try:
        settings = Settings.from_env()
        args.func(args, settings)
    except (CliError, ConfigError) as exc:
        print(f"stylehint: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print(f"stylehint: {exc or 'interrupted'}", file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line, no traceback, unless -v
        if args.verbose:
            raise
        print(f"stylehint: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} (rerun with -v for details)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
