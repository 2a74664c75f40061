"""No secret reaches Dagster, a log or a file: a materialization through the CLI with a
password in STYLEHINT_DATABASE_URL (the local server's trust auth accepts any password)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster._serdes import serialize_value   # tests only: the instance's records as stored
from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

from stylehint_assets.config import ConfigError, Settings

from .test_cli import events_file

ROOT = Path(__file__).resolve().parents[1]
SECRET = "S3cretPW"
RESOURCE_QUERY = """
query ($selector: ResourceSelector!) {
  topLevelResourceDetailsOrError(resourceSelector: $selector) {
    __typename
    ... on ResourceDetails { name description resourceType configuredValues { key value type }
                             configFields { name configType { key } defaultValueAsJson } }
    ... on PythonError { message }
  }
}"""


@pytest.fixture
def secret_project(tmp_path, pg_database_url, monkeypatch):
    url = pg_database_url.replace("postgres@", f"postgres:{SECRET}@", 1)
    assert SECRET in url
    for name in ("dagster.yaml", "workspace.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STYLEHINT_", "DAGSTER_", "COMPANION_"))}
    env.update(STYLEHINT_DATABASE_URL=url, DAGSTER_HOME=str(tmp_path), STYLEHINT_KPI_MIN_COVERAGE="0",
               STYLEHINT_KPI_MAX_NONE="1", STYLEHINT_KPI_SEGMENT_RANGE="0-1", PYTHONWARNINGS="ignore")
    return tmp_path, env


def cli(project, *args):
    cwd, env = project
    return subprocess.run([str(Path(sys.executable).parent / "stylehint"), "-v", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.postgres
def test_a_password_in_the_database_url_reaches_no_file_record_log_or_resource_view(secret_project, monkeypatch):
    home, env = secret_project
    logs = [cli(secret_project, "ingest", str(events_file(home / "events.ndjson"))),
            cli(secret_project, "materialize", "--as-of", "2025-03-12")]
    for result in logs:
        assert result.returncode == 0, result.stderr
        assert SECRET not in result.stdout + result.stderr
    assert "runs" in logs[1].stdout and '"level":"INFO"' in logs[1].stderr   # -v: the logs were there to leak

    files = [p for p in home.rglob("*") if p.is_file() and p.name != "events.ndjson"]
    assert any(p.suffix == ".db" for p in files) and any("compute_logs" in p.parts for p in files)
    assert [p for p in files if SECRET.encode() in p.read_bytes()] == []

    monkeypatch.chdir(home)   # dagster.yaml's relative paths
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_run_records()
        assert len(runs) == 2
        for record in runs:
            run = record.dagster_run
            stored = [serialize_value(run), json.dumps(run.run_config),
                      serialize_value(instance.get_job_snapshot(run.job_snapshot_id)),
                      serialize_value(instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)),
                      *(serialize_value(e) for e in instance.all_logs(run.run_id))]
            assert [s for s in stored if SECRET in s] == []
            assert any("STYLEHINT_DATABASE_URL" in s for s in stored[2:3])   # the name, resolved at run time

        with define_out_of_process_context(str(home / "workspace.yaml"), None, instance) as context:
            views = {name: execute_dagster_graphql(context, RESOURCE_QUERY, {"selector": {
                "repositoryLocationName": "stylehint", "repositoryName": "__repository__", "resourceName": name}}).data
                for name in ("store", "settings")}
    text = json.dumps(views)
    assert SECRET not in text
    store = views["store"]["topLevelResourceDetailsOrError"]
    assert store["__typename"] == "ResourceDetails", store
    assert {"key": "database_url", "value": "STYLEHINT_DATABASE_URL", "type": "ENV_VAR"} in store["configuredValues"]
    assert views["settings"]["topLevelResourceDetailsOrError"]["__typename"] == "ResourceDetails"


@pytest.mark.parametrize("variable", ["PROMETHEUS_PUSHGATEWAY_URL", "STYLEHINT_ALERTMANAGER_URL"])
# Built here, not written out: no tracked file holds a URL with an inline password (test_reliability).
@pytest.mark.parametrize("url", ["http://ops:" + SECRET + "@127.0.0.1:9091", "http://127.0.0.1:9091/?token=S3cretPW",
                                 "https://127.0.0.1:9091#S3cretPW"])
def test_service_urls_with_credentials_are_refused_without_echoing_them(variable, url):
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({variable: url})
    message = str(refused.value)
    assert variable in message and "credentials are not accepted" in message and SECRET not in message
    assert Settings.from_env({variable: "http://127.0.0.1:9091/"}).__getattribute__(
        "pushgateway_url" if variable.startswith("PROMETHEUS") else "alertmanager_url") == "http://127.0.0.1:9091"


def test_the_cli_refuses_a_pushgateway_url_with_credentials_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STYLEHINT_", "PROMETHEUS_"))}
    env.update(PROMETHEUS_PUSHGATEWAY_URL=f"http://ops:{SECRET}@127.0.0.1:9091",
               STYLEHINT_DATABASE_URL=f"sqlite:///{tmp_path}/l.db")
    result = subprocess.run([str(Path(sys.executable).parent / "stylehint"), "db", "upgrade"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "PROMETHEUS_PUSHGATEWAY_URL=<url hidden> is invalid: credentials are not accepted" in result.stderr
    assert SECRET not in result.stderr + result.stdout
