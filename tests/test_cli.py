"""The stylehint command as a user runs it: subprocesses in a fresh project directory."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GH = "boards.greenhouse.io"


@pytest.fixture
def project(tmp_path, database_url):
    for name in ("dagster.yaml", "workspace.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STYLEHINT_", "DAGSTER_", "COMPANION_"))}
    env.update(STYLEHINT_DATABASE_URL=database_url, STYLEHINT_KPI_MIN_COVERAGE="0", STYLEHINT_KPI_MAX_NONE="1",
               STYLEHINT_KPI_SEGMENT_RANGE="0-1", PYTHONWARNINGS="ignore")
    return tmp_path, env


def run(project, *args, stdin=None, env_extra=None):
    cwd, env = project
    return subprocess.run([sys.executable, "-m", "stylehint_assets.cli", *args], cwd=cwd, input=stdin,
                          env={**env, **(env_extra or {})}, capture_output=True, text=True, timeout=300)


def events_file(path: Path) -> Path:
    lines = []
    for i in range(12):
        lines.append(json.dumps({"event_id": f"e{i}", "host": GH, "schema_hash": "s1",
                                 "created_at": f"2025-03-{10 + i % 3:02d}T09:00:00Z", "gen_style_id": "a" if i % 2 else "b",
                                 "feedback_status": "helpful" if i % 3 else "unhelpful", "job": {"title": "Senior Dev"},
                                 "final_map": {"#email": "email"}, "duration_ms": 1000 + i}))
    lines += ["{broken", json.dumps({"host": "bad host", "schema_hash": "x"})]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_ingest_json_contract_and_idempotence(project, tmp_path):
    path = events_file(tmp_path / "events.ndjson")
    first = run(project, "ingest", str(path), "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"accepted": 12, "rejected": 2, "merged": 0,
                                        "rejected_by_reason": {"bad_json": 1, "invalid_host": 1}}
    again = run(project, "ingest", "-", "--json", stdin=path.read_text())
    assert json.loads(again.stdout)["merged"] == 12


def test_ingest_of_a_missing_file_is_one_line_and_non_zero(project):
    result = run(project, "ingest", "/nonexistent/events.ndjson")
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "cannot open /nonexistent/events.ndjson" in result.stderr


def test_bad_arguments_and_settings_fail_cleanly(project):
    assert run(project, "hints", "--as-of", "31-03-2025").returncode == 2
    bad = run(project, "hints", "--as-of", "2025-03-31", env_extra={"AGG_LOOKBACK_DAYS": "0"})
    assert bad.returncode == 1 and "AGG_LOOKBACK_DAYS" in bad.stderr and "Traceback" not in bad.stderr


def test_materialize_then_read_hints_profiles_profile_and_explain(project, tmp_path):
    run(project, "ingest", str(events_file(tmp_path / "events.ndjson")))
    done = run(project, "materialize", "--as-of", "2025-03-12")
    assert done.returncode == 0, done.stderr
    assert "form" in done.stdout and "covered (form+segment+family): 100.0%" in done.stdout
    assert (project[0] / "var" / "dagster").is_dir()            # runs recorded in the embedded instance

    hints = json.loads(run(project, "hints", "--as-of", "2025-03-12", "--format", "json").stdout)
    assert [(h["host"], h["schema_hash"], h["source"], h["preferred_style_id"], h["segment_key"], h["host_family"])
            for h in hints] == [(GH, "s1", "form", "a", "senior", "greenhouse")]
    profiles = json.loads(run(project, "profiles", "--as-of", "2025-03-12", "--format", "json").stdout)
    assert profiles[0]["runs"] == 12 and profiles[0]["canonical_map"] == {"#email": "email"}
    assert {"host", "schema_hash", "runs", "success_rate", "avg_edit_chars", "avg_duration_ms", "canonical_map",
            "served"} <= set(profiles[0])

    served = json.loads(run(project, "profile", "HTTPS://Boards.Greenhouse.io/", "s1").stdout)
    assert served["served"] and served["style_hint"]["preferred_style_id"] == "a"
    shadow = json.loads(run(project, "profile", GH, "s1", env_extra={"COMPANION_AUTOFILL_PROFILE_ENABLED": "0"}).stdout)
    assert shadow["canonical_map"] == {} and shadow["style_hint"] is None

    explain = run(project, "explain", GH, "s1")
    assert explain.returncode == 0 and "a chosen at form level" in explain.stdout and "segment" not in explain.stdout.split("\n")[1]
    table = run(project, "hints", "--as-of", "2025-03-12")
    assert "preferred_style_id" in table.stdout and GH in table.stdout
    missing = run(project, "explain", GH, "nope")
    assert missing.returncode == 1 and "no hint" in missing.stderr

    impact = json.loads(run(project, "impact", "--as-of", "2025-03-12", "--format", "json").stdout)
    assert [(r["dimension"], r["metric"], r["with_n"], r["verdict"]) for r in impact] == [
        ("overall", m, 0, "insufficient") for m in ("success_ratio", "edit_chars_mean", "duration_p50", "duration_p90")]
    assert "insufficient" in run(project, "impact", "--as-of", "2025-03-12").stdout
    assert run(project, "impact", "--as-of", "2025-03-11").returncode == 1      # not materialized: one line
    experiments = json.loads(run(project, "experiments", "--as-of", "2025-03-12", "--format", "json").stdout)
    (entry,) = experiments["experiments"]
    assert (entry["host_family"], entry["segment_key"], entry["preferred_style_id"], entry["beaten"]) == (
        "greenhouse", "senior", "a", False)
    assert entry["decision"].startswith("insufficient")


def test_every_command_has_a_help_page():
    """`--help` formats each help text with %-style expansion: a bare "95% intervals" made
    `stylehint --help` crash with a TypeError."""
    import argparse

    from stylehint_assets.cli import build_parser

    def walk(parser, path):
        yield " ".join(path), parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, [*path, name])

    pages = {path: parser.format_help() for path, parser in walk(build_parser(), ["stylehint"])}
    assert {"stylehint ingest", "stylehint impact", "stylehint db upgrade", "stylehint metrics serve"} <= set(pages)
    top = subprocess.run([sys.executable, "-m", "stylehint_assets.cli", "--help"], capture_output=True, text=True)
    assert top.returncode == 0, top.stderr[-300:]
    assert "runs with vs without a profile, with 95% intervals" in " ".join(top.stdout.split())
