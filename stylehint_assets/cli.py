"""The ``stylehint`` command line. Errors are one line on stderr and a non-zero exit."""
from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import signal
import stat
import sys
import threading
import warnings
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .config import DEFAULT_DATABASE_URL, ConfigError, Settings, configuration_table
from .domain.coverage import coverage, coverage_table
from .domain.hosts import normalize_host
from .domain.ranking import RANKINGS
from .ingest_json import ingest_json
from .terminal_text import printable

log = logging.getLogger("stylehint")


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from None


def _bounded(kind, low, high):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is outside {low}-{high}")
        return value
    return parse


def _today() -> date:
    return datetime.now(timezone.utc).date()


def _program(name: str) -> Path:
    """A program of this project, from the running interpreter's environment: the README runs
    ``.venv/bin/stylehint`` without activating the environment, so ``PATH`` may hold none of them."""
    path = Path(sys.executable).parent / name
    if not os.access(path, os.X_OK):
        raise CliError(f"{name} is not installed beside {sys.executable}: run scripts/setup.sh")
    return path


def _shown(path: Path) -> str:
    """A program path as a hint prints it: relative to the working directory when inside it."""
    try:
        text = str(path.relative_to(Path.cwd()))
        text = text if text.startswith(".") else f"./{text}" if os.sep in text else text
    except ValueError:
        text = str(path)
    return shlex.quote(text)


def command(*args: str) -> str:
    """A stylehint command line that works as printed, from the working directory."""
    return " ".join([_shown(Path(sys.executable).parent / "stylehint"), *args])


def _check_day(day: date, settings: Settings) -> None:
    """Days outside the daily partitions have no snapshot and never will (or not yet)."""
    if day < settings.start_date:
        raise CliError(f"{day} is before the first partition {settings.start_date} (STYLEHINT_START_DATE)")
    today = _today()
    if day > today:
        raise CliError(f"{day} is after today ({today}, UTC): its partition does not exist yet")


def _no_snapshot(as_of: date) -> CliError:
    return CliError(f"no snapshot as of {as_of} in the learning store: build it with "
                    f"`{command('materialize', '--as-of', as_of.isoformat())}`")


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


def _frame(rows):
    """``rows`` as a pandas DataFrame, for the commands that print tables. pandas is imported
    here, not with the module: ingest's spawned workers import the CLI module, and with pandas
    each peaked at 135 MB instead of 89-92 MB."""
    import pandas as pd

    return pd.DataFrame(rows)


def _print_rows(rows: list[dict[str, Any]], fmt: str, columns: list[str]) -> None:
    if fmt == "json":
        print(json.dumps(rows, indent=2, default=str, ensure_ascii=False))
        return
    if not rows:
        print("(no rows)")
        return
    frame = _frame(rows)
    print(frame[[c for c in columns if c in frame.columns]].map(printable).to_string(index=False))


def cmd_db_upgrade(args, settings: Settings) -> None:
    from .store.engine import safe_url
    from .store.migrate import revision_of

    revision = revision_of(_engine(settings))
    print(f"learning store ready at revision {revision}: {safe_url(settings.database_url)}")


def cmd_db_current(args, settings: Settings) -> None:
    from .store.engine import get_engine
    from .store.migrate import head_revision, is_legacy_store, revision_of

    engine = get_engine(settings.database_url)
    revision = revision_of(engine)
    if revision is None:
        with engine.connect() as conn:
            legacy = is_legacy_store(conn)
        print("(none: made before migrations; stylehint db upgrade stamps it)" if legacy
              else "(none: empty store; stylehint db upgrade creates it)")
        return
    print(f"{revision}{' (head)' if revision == head_revision() else f' (head is {head_revision()})'}")


def cmd_ingest(args, settings: Settings) -> None:
    from .domain.records import read_records
    from .ingest import ingest_records
    from .ingest_parallel import ingest_file

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
        if args.path == "-" or not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            report = ingest_records(engine, read_records(stream), settings=settings, stop=stop, live=True,
                                    source="stdin" if args.path == "-" else args.path, progress=_progress("ingest"))
        else:
            report = ingest_file(engine, stream, settings=settings, stop=stop, source=args.path,
                                 progress=_progress("ingest"))
    finally:
        signal.signal(signal.SIGINT, previous)
        if args.path != "-":   # stdin stays open: after Ctrl-C its reader may still be blocked in it
            stream.close()
    if sys.stderr.isatty():
        print(file=sys.stderr)
    _report_arrival(report.days, "stdin" if args.path == "-" else args.path)
    if args.json:
        print(json.dumps(ingest_json(report)))
    else:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(report.rejected_by_reason.items())) or "none"
        print(f"accepted {report.accepted} (new {report.inserted}, changed {report.updated}, "
              f"unchanged {report.unchanged}), merged {report.merged}, rejected {report.rejected} ({reasons})")
    if report.interrupted:
        raise KeyboardInterrupt(f"interrupted: committed the {report.accepted + report.rejected} records read so far")


def _report_arrival(days, source: str) -> None:
    """The events are committed whatever happens here: an instance that cannot be reached
    costs the UI's arrival markers, not data, so it warns and the command still succeeds."""
    from .data_arrival import report_event_arrival
    from .runner import get_instance

    try:
        report_event_arrival(get_instance(), days, source)
    except Exception as exc:  # noqa: BLE001 - any instance failure (RunFailed included) is only a warning
        print(f"warning: events stored, but not reported to the Dagster instance: {str(exc).splitlines()[0]}",
              file=sys.stderr)


def _materialize(args, settings: Settings, as_of: date):
    from .definitions import defs
    from .runner import RunFailed, get_instance, materialize_as_of

    try:
        return materialize_as_of(defs, get_instance(), as_of, settings, verbose=args.verbose)
    except RunFailed as exc:
        raise CliError(str(exc)) from None


def _print_coverage(settings: Settings, as_of: date) -> dict:
    from collections import Counter

    from .store.hint_choice import hint_summary

    with _engine(settings).connect() as conn:   # counted in the database: no hint is assembled
        cov = coverage(Counter(hint_summary(conn, as_of, top=0)[0]).elements())
    print(f"coverage as of {as_of} ({settings.lookback_days}-day window):")
    print(coverage_table(cov))
    return cov


def cmd_materialize(args, settings: Settings) -> None:
    runs = _materialize(args, settings, args.as_of)
    print(f"materialized as of {args.as_of}: window {runs.window[0]}..{runs.window[1]}, runs {', '.join(runs.run_ids)}")
    _print_coverage(settings, args.as_of)


def _operator() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):   # no user name in this environment (containers)
        return "unknown"


def cmd_publish(args, settings: Settings) -> None:
    from resources import LearningStore
    from .clock import utcnow
    from .definitions import defs
    from .manual_publish import PublishRefused, publish_by_hand
    from .runner import get_instance

    _engine(settings)
    day = args.as_of.isoformat()
    try:
        done = publish_by_hand(LearningStore(database_url=settings.database_url), get_instance(), defs, settings,
                               args.as_of, _operator(), utcnow())
    except PublishRefused as exc:
        raise CliError(f"{exc}: nothing was published; rebuild it with `{command('materialize', '--as-of', day)}`") from None
    r = done.result
    print(f"published the snapshot as of {day} by hand (was {done.previous_as_of or 'nothing'}): "
          f"{r.profiles} profiles, {r.served} served; alert {done.alert}")


def _embedded_store(url: str) -> bool:
    """Whether ``url`` is the embedded default store (``var/learning.db`` under the project root)."""
    from sqlalchemy.engine import make_url

    if url == DEFAULT_DATABASE_URL:
        return True
    parsed, default = make_url(url), make_url(DEFAULT_DATABASE_URL)
    return (parsed.get_backend_name() == "sqlite" and bool(parsed.database)
            and Path(parsed.database).resolve() == Path(default.database).resolve())


def cmd_demo(args, settings: Settings) -> None:
    from .domain.records import Record
    from .ingest import ingest_records
    from .store.engine import safe_url
    from .synthetic import generate_events

    if not _embedded_store(settings.database_url) and not args.force:
        raise CliError(f"demo writes synthetic events, a published snapshot and counters: it runs only on the "
                       f"embedded default store ({DEFAULT_DATABASE_URL}), not {safe_url(settings.database_url)} "
                       f"(unset STYLEHINT_DATABASE_URL, or pass --force)")
    end = args.end_day or _today()
    engine = _engine(settings)
    print(f"generating {args.events:,} deterministic events for {end - timedelta(days=29)}..{end}", file=sys.stderr)
    records = (Record(i, "", value=e) for i, e in enumerate(generate_events(args.events, end, days=30, seed=args.seed)))
    report = ingest_records(engine, records, settings=settings, source="demo", progress=_progress("ingest"))
    print(f"\ningested: {report.accepted:,} accepted, {report.rejected} rejected", file=sys.stderr)
    print("materializing the snapshot through Dagster ...", file=sys.stderr)
    runs = _materialize(args, settings, end)
    print(f"snapshot as of {end}: runs {', '.join(runs.run_ids)}")
    _print_coverage(settings, end)
    print(f"\nopen the UI on this instance:  {command('ui')}"
          f"\n(the same as: DAGSTER_HOME={shlex.quote(os.environ['DAGSTER_HOME'])} {_shown(_program('dagster'))} dev "
          f"-w workspace.yaml), then see Assets > style_hints and Runs.")


HINT_COLUMNS = ["host", "schema_hash", "source", "segment_key", "host_family", "preferred_style_id"]
PROFILE_COLUMNS = ["host", "schema_hash", "runs", "success_rate", "avg_edit_chars", "avg_duration_ms", "served"]


def _snapshot_rows(settings: Settings, as_of: date, read) -> list[dict[str, Any]]:
    from .store.reads import snapshot_exists

    with _engine(settings).connect() as conn:
        rows = read(conn, as_of)
        if not rows and not snapshot_exists(conn, as_of):
            raise _no_snapshot(as_of)
    return rows


def cmd_hints(args, settings: Settings) -> None:
    from .store.reads import hints_as_of

    _print_rows(_snapshot_rows(settings, args.as_of, hints_as_of), args.format, HINT_COLUMNS)


def cmd_profiles(args, settings: Settings) -> None:
    from .store.reads import profiles_as_of

    _print_rows(_snapshot_rows(settings, args.as_of, profiles_as_of), args.format, PROFILE_COLUMNS)


def _form(args) -> tuple[str, str]:
    host = normalize_host(args.host)
    if host is None:
        raise CliError(f"not a valid host: {args.host!r}")
    return host, args.schema_hash


def cmd_profile(args, settings: Settings) -> None:
    from .store.reads import api_view, published_as_of

    host, schema = _form(args)
    with _engine(settings).connect() as conn:
        view = api_view(conn, host, schema, settings.profile_enabled)
        published = published_as_of(conn)[0]
    print(json.dumps(view, indent=2, default=str, ensure_ascii=False))   # stdout stays JSON, for scripts
    if view.get("reason") == "unknown form":
        where = f"the published snapshot (as of {published})" if published else "any snapshot: nothing is published yet"
        raise CliError(f"unknown form: {printable(host)} {printable(schema)} is not in {where}")


def cmd_explain(args, settings: Settings) -> None:
    from .store.reads import hint_detail, published_as_of, snapshot_exists

    host, schema = _form(args)
    with _engine(settings).connect() as conn:
        hint = hint_detail(conn, host, schema, args.as_of)
        if hint is None and args.as_of is not None and not snapshot_exists(conn, args.as_of):
            raise _no_snapshot(args.as_of)
        if hint is None and args.as_of is None and published_as_of(conn)[0] is None:
            raise CliError(f"nothing is published yet: build a snapshot with `{command('materialize', '--as-of', 'YYYY-MM-DD')}`")
    if hint is None:
        raise CliError(f"no hint for {printable(host)} {printable(schema)}" + (f" as of {args.as_of}" if args.as_of else " in the published snapshot"))
    if args.format == "json":
        print(json.dumps(hint, indent=2, ensure_ascii=False))
        return
    p = printable
    print(f"{p(host)} {p(schema)} as of {hint['as_of']} (family {p(hint['host_family'])}, segment {p(hint['segment_key'])})")
    print(f"-> {p(hint['preferred_style_id']) or 'no recommendation'} [{hint['source']}]: {p(hint['explanation'])}")
    for level in hint["levels_tried"]:
        head = f"  {level['level']:<8} {p(level['scope'])} (min {level['min_runs']} runs)"
        print(head + (f": skipped, {level['skipped']}" if level.get("skipped") else ""))
        for style, s in level["styles"].items():
            mark = "*" if style in level["candidates"] else " "
            print(f"    {mark} {p(style):<28} runs {s['total_runs']:>5}  helpful {s['helpful']:>4}  "
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
        raise CliError(f"no learning_impact rows as of {args.as_of} in the learning store: build them with "
                       f"`{command('materialize', '--as-of', args.as_of.isoformat())}`")
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
    print(_frame(table).map(printable).to_string(index=False))


def _jsonable_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


def cmd_experiments(args, settings: Settings) -> None:
    from .domain.experiments import experiment_report
    from .runner import window_for
    from .store.hint_choice import level_stats, segment_choices
    from .store.impact import explore_counts

    start, end = window_for(args.as_of, settings)
    with _engine(settings).connect() as conn:
        stats = level_stats(conn, "segment", args.as_of)
        counts = explore_counts(conn, start, end)
        prefs = segment_choices(conn, args.as_of, settings.thresholds, settings.ranking)
    if not stats and not counts:
        raise CliError(f"no segment statistics or explore runs as of {args.as_of}: "
                       f"build them with `{command('materialize', '--as-of', args.as_of.isoformat())}`")
    preferred = {(fam, seg): style for fam, segs in prefs.items() for seg, style in segs.items()}
    report = experiment_report(counts, preferred)
    if args.format == "json":
        print(json.dumps({"as_of": args.as_of.isoformat(), "window": [start.isoformat(), end.isoformat()],
                          "ranking": settings.ranking, "experiments": report}, indent=2))
        return
    print(f"style experiments as of {args.as_of}: explore runs {start}..{end}, preferred style = segment level "
          f"({settings.ranking} ranking); * = preferred")
    for e in report:
        print(f"\n{printable(e['host_family'])}/{printable(e['segment_key'])}: "
              f"preferred {printable(e['preferred_style_id']) or '-'}; "
              f"{'BEATEN' if e['beaten'] else 'kept'}: {e['decision']}")
        for s in e["styles"]:
            mark = "*" if s["preferred"] else " "
            print(f"  {mark} {printable(s['gen_style_id']):<28} runs {s['runs']:>5}  helpful {s['helpful']:>4}  "
                  f"ratio {_fmt(s['helpful_ratio'], s['wilson_low'], s['wilson_high'])}")


def _estimate(e: dict[str, Any]) -> str:
    return "-" if e["value"] is None else f"{_fmt(e['value'], e['low'], e['high'])} (n {e['n']})"


def cmd_evaluate(args, settings: Settings) -> None:
    from .evaluation import NoSnapshot, evaluate

    try:
        with _engine(settings).connect() as conn:
            report = evaluate(conn, args.as_of, settings)
    except NoSnapshot as exc:
        raise CliError(str(exc)) from None
    if args.format == "json":
        print(json.dumps(report, indent=2))
        return
    start, end = report["window"]
    print(f"off-policy estimates as of {args.as_of}: explore runs {start}..{end} over {report['styles']} styles "
          f"(uniform propensity); helpful rate with 95% intervals; configured ranking {report['configured_ranking']}")
    table = [{"ranking": name, "IPS": _estimate(v["ips"]), "SNIPS": _estimate(v["snips"]),
              "explore runs covered": f"{v['covered_runs']}/{v['explore_runs']}"}
             for name, v in report["rankings"].items()]
    print(_frame(table).to_string(index=False))
    print("\nactually served (non-explore runs with a style), helpful rate with Wilson 95% intervals:")
    for policy, rate in report["served"].items():
        print(f"  {policy:<9} {_estimate(rate)}")
    print(f"  {'uniform':<9} {_estimate(report['uniform_explore'])}  (the explore runs themselves)")


def cmd_tune(args, settings: Settings) -> None:
    from dataclasses import replace

    from .whatif import NothingToCompute, tune

    knobs = {k: getattr(args, k) for k in ("min_form_runs", "min_segment_runs", "min_family_runs",
                                            "quality_min_success", "quality_max_edit", "ranking")
             if getattr(args, k) is not None}
    tuned_settings = replace(settings, **knobs)
    try:
        report = tune(_engine(settings), args.as_of, tuned_settings)
    except NothingToCompute as exc:
        raise CliError(str(exc)) from None
    if args.format == "json":
        print(json.dumps(report, indent=2))
        return
    s = report["settings"]
    print(f"what-if snapshot as of {args.as_of} (nothing stored or published): min runs form {s['min_form_runs']}, "
          f"segment {s['min_segment_runs']}, family {s['min_family_runs']}; quality min success "
          f"{s['quality_min_success']}, max edit {s['quality_max_edit']}; ranking {s['ranking']}")
    sides = [("stored", report["stored"]), ("what-if", report["tuned"])]
    rows = []
    for source in ("form", "segment", "family", "none"):
        rows.append({"": source, **{name: (f"{side['coverage'][source]} ({side['coverage'][source + '_share']:.1%})"
                                           if side else "-") for name, side in sides}})
    rows.append({"": "covered", **{name: f"{side['coverage']['covered_share']:.1%}" if side else "-" for name, side in sides}})
    rows.append({"": "served", **{name: side["served"] if side else "-" for name, side in sides}})
    rows.append({"": "rejected", **{name: side["rejected"] if side else "-" for name, side in sides}})
    for kind in ("ips", "snips"):
        rows.append({"": f"{kind.upper()} helpful rate",
                     **{name: _estimate(side["off_policy"][kind]) if side else "-" for name, side in sides}})
    print(_frame(rows).to_string(index=False))
    c = report["vs_published"]
    print(f"hints vs the published snapshot ({report['published_as_of'] or 'none published'}): {c['changed']} changed, "
          f"{c['unchanged']} unchanged, {c['only_tuned']} new profiles, {c['only_published']} no longer in the window")


def cmd_config(args, settings: Settings) -> None:
    print(configuration_table())


def cmd_ui(args, settings: Settings) -> None:
    from .runner import embedded_dagster_home

    home = embedded_dagster_home()
    if not Path("workspace.yaml").exists():
        raise CliError(f"no workspace.yaml in {Path.cwd()}: run from the project root")
    dagster = _program("dagster")
    sys.stdout.flush()
    sys.stderr.flush()
    # exec: the UI's process is this process, so a signal to it (or its group) reaches dagster dev directly
    os.execv(dagster, [str(dagster), "dev", "-w", "workspace.yaml", "-h", args.host, "-p", str(args.port)])
    raise CliError(f"could not start dagster dev with DAGSTER_HOME={home}")


def cmd_metrics_serve(args, settings: Settings) -> None:
    from .metrics.server import serve
    from .store.engine import safe_url

    serve(_engine(settings), settings, args.host, args.port,
          ready=lambda url: print(f"serving {url} (store {safe_url(settings.database_url)})", file=sys.stderr, flush=True))


def cmd_serve(args, settings: Settings) -> None:
    from .api.server import check_startable, serve
    from .store.engine import safe_url

    if args.workers < 1:
        raise CliError("--workers must be at least 1")
    tokens = check_startable(settings, args.insecure_no_auth)
    auth = "OFF (--insecure-no-auth)" if args.insecure_no_auth else f"{tokens} bearer token(s)"
    print(f"serving http://{args.host}:{args.port} (store {safe_url(settings.database_url)}, "
          f"{args.workers} worker(s), auth {auth})", file=sys.stderr, flush=True)
    serve(args.host, args.port, args.workers, args.insecure_no_auth, log_level="info" if args.verbose else "warning")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stylehint", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="synthetic events for the last 30 days, then the newest snapshot")
    p.add_argument("--events", type=int, default=30000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--end-day", type=_day, help="last day of the demo window (default: today, UTC)")
    p.add_argument("--force", action="store_true",
                   help="write the demo into a store other than the embedded default (never into production)")
    p.set_defaults(func=cmd_demo)

    db = sub.add_parser("db", help="learning store schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply pending schema revisions (idempotent)").set_defaults(func=cmd_db_upgrade)
    db.add_parser("current", help="print the store's schema revision").set_defaults(func=cmd_db_current)

    p = sub.add_parser("ingest", help="ingest NDJSON or a sync payload (- for stdin)")
    p.add_argument("path")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("materialize", help="materialize the snapshot as of a day through Dagster")
    p.add_argument("--as-of", type=_day, required=True)
    p.set_defaults(func=cmd_materialize)

    for name, func, help_ in (("hints", cmd_hints, "style hints as of a day"),
                              ("profiles", cmd_profiles, "form profiles as of a day"),
                              ("impact", cmd_impact, "runs with vs without a profile, with 95%% intervals, as of a day"),
                              ("experiments", cmd_experiments, "explore runs: is the preferred style beaten?")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--as-of", type=_day, required=True)
        p.add_argument("--format", choices=("json", "table"), default="table")
        p.set_defaults(func=func)

    p = sub.add_parser("publish", help="re-publish a stored snapshot that passed its checks (a rollback)")
    p.add_argument("--as-of", type=_day, required=True)
    p.set_defaults(func=cmd_publish)

    p = sub.add_parser("evaluate", help="off-policy estimates from explore runs: each ranking's helpful rate, as of a day")
    p.add_argument("--as-of", type=_day, required=True)
    p.add_argument("--format", choices=("json", "table"), default="table")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("tune", help="the snapshot as of a day under other settings, without storing or publishing it")
    p.add_argument("--as-of", type=_day, required=True)
    p.add_argument("--min-form-runs", type=_bounded(int, 1, 10000), help="MIN_FORM_RUNS for this what-if")
    p.add_argument("--min-segment-runs", type=_bounded(int, 1, 10000), help="MIN_SEGMENT_RUNS for this what-if")
    p.add_argument("--min-family-runs", type=_bounded(int, 1, 100000), help="MIN_FAMILY_RUNS for this what-if")
    p.add_argument("--quality-min-success", type=_bounded(float, 0.0, 1.0),
                   help="COMPANION_AUTOFILL_QUALITY_MIN_SUCCESS for this what-if")
    p.add_argument("--quality-max-edit", type=_bounded(float, 0.0, 1e6),
                   help="COMPANION_AUTOFILL_QUALITY_MAX_EDIT for this what-if")
    p.add_argument("--ranking", choices=RANKINGS, help="STYLEHINT_RANKING for this what-if")
    p.add_argument("--format", choices=("json", "table"), default="table")
    p.set_defaults(func=cmd_tune)

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

    p = sub.add_parser("serve", help="the extension's HTTP API: learning sync in, served profiles out")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--insecure-no-auth", action="store_true",
                   help="serve without bearer tokens (trusted networks only; said at every start)")
    p.set_defaults(func=cmd_serve)

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
        if getattr(args, "as_of", None) is not None:
            _check_day(args.as_of, settings)
        args.func(args, settings)
        sys.stdout.flush()   # a closed pipe shows here, not at exit
    except BrokenPipeError:
        # the reader (head, less, grep -m) has what it wanted: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
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
