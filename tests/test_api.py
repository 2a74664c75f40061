"""``stylehint serve`` as the extension calls it: a real uvicorn server on loopback, SQLite and PostgreSQL."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import redirect_stdout
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import create_engine, select, text

from stylehint_assets import cli
from stylehint_assets.config import Settings
from stylehint_assets.domain.records import read_records
from stylehint_assets.ingest import ingest_records
from stylehint_assets.api.profile import SNAPSHOT_RECHECK_SECONDS
from stylehint_assets.store.engine import get_engine
from stylehint_assets.store.migrate import BASELINE, head_revision
from stylehint_assets.store.schema import (
    autofill_events, autofill_events_quarantine, form_profiles, metric_counters,
)
from stylehint_assets.synthetic import generate_events
from tests.api_helpers import PROFILE, ROOT, SYNC, TOKEN, ApiServer, clean_env, free_port
from tests.conftest import PG_ADMIN_URL, _reset
from tests.graph_helpers import ingest_events, snapshot
from tests.sensor_helpers import mark_published

GH = "boards.greenhouse.io"
ORIGIN = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"
BODY_LIMIT = 65536
FORBIDDEN_IN_ERRORS = ("Traceback", "SELECT", "INSERT", "sqlite", "postgresql", "File \"")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path_factory):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('api')}/learning.db"
    return request.getfixturevalue("pg_database_url")


@pytest.fixture(scope="module")
def server(store_url):
    _reset(get_engine(store_url))
    with ApiServer(store_url, STYLEHINT_API_MAX_BODY_BYTES=str(BODY_LIMIT),
                   STYLEHINT_API_ALLOWED_ORIGINS=ORIGIN) as srv:
        yield srv


@pytest.fixture
def api(server, store_url):
    """The module's server on an emptied store."""
    _reset(get_engine(store_url))
    return server


def events(n=12, prefix="e", host=GH, schema="s1"):
    out = [{"event_id": f"{prefix}{i}", "created_at": f"2025-03-{10 + i % 3:02d}T09:00:00Z",
            "gen_style_id": "a" if i % 2 else "b", "feedback_status": "helpful" if i % 3 else "unhelpful",
            "job": {"title": "Senior Dev"}, "final_map": {"#email": "email"}, "duration_ms": 1000 + i,
            "policy": "exploit", "status": "ok"} for i in range(n)]
    for e in out:
        e.update(host=host, schema_hash=schema)
    return out


def mixed_upload() -> bytes:
    """A sync payload with good events, events without event_id, and bad ones."""
    payload = {"host": "HTTPS://Boards.Greenhouse.io/", "schema_hash": "s1",
               "events": [{k: v for k, v in e.items() if k not in ("host", "schema_hash")} for e in events(10)]}
    payload["events"] += [{"created_at": "2025-03-11T10:00:00Z", "gen_style_id": "a"},        # id assigned
                          {"created_at": "2025-03-11T10:00:00Z", "gen_style_id": "a"},        # same content, 2nd event
                          {"event_id": "bad1", "feedback_status": "meh"},                   # rejected
                          {"event_id": "bad2", "host": "not a host"},                        # rejected
                          "not an object"]                                                   # rejected
    return json.dumps(payload).encode()


def store_contents(url):
    engine = get_engine(url)
    with engine.connect() as conn:
        ev = [{k: v for k, v in r.items() if k not in ("received_at", "updated_at")}
              for r in conn.execute(select(autofill_events).order_by(autofill_events.c.event_id)).mappings()]
        qu = [{k: r[k] for k in ("line_no", "reason", "raw", "raw_bytes")}
              for r in conn.execute(select(autofill_events_quarantine).order_by(autofill_events_quarantine.c.id)).mappings()]
        mc = [tuple(r) for r in conn.execute(select(metric_counters).order_by(metric_counters.c.name,
                                                                              metric_counters.c.labels))]
    return ev, qu, mc


def cli_run(url, *args, stdin=None, **env):
    return subprocess.run([sys.executable, "-m", "stylehint_assets.cli", *args], cwd=ROOT, input=stdin,
                          env=clean_env(url, **env), capture_output=True, timeout=300)


def assert_clean_error(answer, status):
    assert answer.status == status, answer.body
    body = answer.json()
    assert set(body) >= {"error"} and "\n" not in body["error"]
    for word in FORBIDDEN_IN_ERRORS:
        assert word not in answer.body.decode(), (word, answer.body)


# --- sync -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("ndjson", [False, True], ids=["json-payload", "ndjson"])
def test_sync_stores_exactly_what_stylehint_ingest_stores(api, store_url, ndjson):
    body = mixed_upload()
    if ndjson:   # the same events as lines, with a line that is not JSON
        payload = json.loads(body)
        lines = [json.dumps({"host": payload["host"], "schema_hash": "s1", **e}) if isinstance(e, dict) else json.dumps(e)
                 for e in payload["events"]]
        body = ("\n".join(lines[:5] + ["{broken"] + lines[5:]) + "\n").encode()
    answer = api.sync(body, headers={"Content-Type": "application/x-ndjson" if ndjson else "application/json"})
    assert answer.status == 202, answer.body
    via_http = store_contents(store_url)

    _reset(get_engine(store_url))
    done = cli_run(store_url, "ingest", "-", "--json", stdin=body)
    assert done.returncode == 0, done.stderr
    assert answer.json() == json.loads(done.stdout)
    assert answer.json()["accepted"] == 12 and answer.json()["rejected"] == (4 if ndjson else 3)
    via_cli = store_contents(store_url)
    assert via_http == via_cli
    events_, quarantine, counters = via_http
    assert len(events_) == 12 and len(quarantine) == answer.json()["rejected"] and counters
    assert {e["host"] for e in events_} == {GH}


def test_a_retried_sync_counts_once(api, store_url):
    payload = {"host": GH, "schema_hash": "s1", "events": events(5)}
    first, again = api.sync(payload), api.sync(payload)
    assert (first.status, again.status) == (202, 202)
    assert first.json()["merged"] == 0 and again.json()["merged"] == 5
    ev, _, counters = store_contents(store_url)
    assert len(ev) == 5
    runs = sum(v for name, _, v in counters if name == "applylens_autofill_runs_total")
    assert runs == 5


def _sync_concurrently(api, payloads):
    """Each payload posted from its own thread at once; the answers in payload order."""
    answers = [None] * len(payloads)

    def post(k):
        answers[k] = api.sync(payloads[k])

    threads = [threading.Thread(target=post, args=(k,)) for k in range(len(payloads))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def test_concurrent_syncs_with_overlapping_event_ids_count_each_event_once(api, store_url):
    # 8 clients, each 40 events; client k sends ids k*20 .. k*20+39, so neighbours overlap by 20.
    payloads = [{"host": GH, "schema_hash": "s1",
                 "events": [{**e, "event_id": f"c{k * 20 + i}"} for i, e in enumerate(events(40))]} for k in range(8)]
    answers = _sync_concurrently(api, payloads)
    assert all(a.status == 202 for a in answers), [a.body for a in answers]
    distinct = {e["event_id"] for p in payloads for e in p["events"]}
    assert len(distinct) == 180
    assert sum(a.json()["accepted"] for a in answers) == 320
    assert sum(a.json()["merged"] for a in answers) == 320 - 180
    ev, _, counters = store_contents(store_url)
    assert sorted(e["event_id"] for e in ev) == sorted(distinct)
    assert sum(v for name, _, v in counters if name == "applylens_autofill_runs_total") == 180
    # the per-request bodies (written in groups) add up to what one ingest of all the uploads reports
    _reset(get_engine(store_url))
    done = cli_run(store_url, "ingest", "-", "--json",
                   stdin=b"".join(json.dumps(p).encode() + b"\n" for p in payloads))
    assert done.returncode == 0, done.stderr
    alone = json.loads(done.stdout)
    for key in ("accepted", "rejected", "merged"):
        assert sum(a.json()[key] for a in answers) == alone[key], key


def test_concurrent_syncs_store_what_sequential_ingests_store(api, store_url):
    # Overlapping ids carry the same content, so the end state does not depend on the order in
    # which the groups commit: rows, quarantine and counters must equal one upload after another.
    pool = {f"q{i}": e for i, e in enumerate(events(60))}
    payloads = [{"host": GH, "schema_hash": "s1",
                 "events": [{**pool[f"q{j}"], "event_id": f"q{j}"} for j in range(k * 6, k * 6 + 15)]
                 + [{"event_id": f"bad{k}", "feedback_status": "meh"}]} for k in range(8)]
    answers = _sync_concurrently(api, payloads)
    assert all(a.status == 202 for a in answers), [a.body for a in answers]
    ev, qu, mc = store_contents(store_url)

    engine = get_engine(store_url)
    _reset(engine)
    for p in payloads:   # the ingest path of `stylehint ingest`, one upload after another
        ingest_records(engine, read_records(io.BytesIO(json.dumps(p).encode())), settings=Settings(database_url=store_url))
    ev2, qu2, mc2 = store_contents(store_url)
    assert (ev, mc) == (ev2, mc2) and len(ev) == 57
    assert sorted(q["raw"] for q in qu) == sorted(q["raw"] for q in qu2) and len(qu) == 8


def test_a_body_that_is_not_json_is_400_and_quarantined(api, store_url):
    answer = api.sync(b'{"host": "x", "events": [ oops')
    assert_clean_error(answer, 400)
    assert answer.json()["error"].startswith("body is not JSON: ") and answer.json()["quarantined"] == 1
    ev, quarantine, counters = store_contents(store_url)
    assert ev == [] and counters == []
    assert quarantine == [{"line_no": 1, "reason": quarantine[0]["reason"], "raw": '{"host": "x", "events": [ oops',
                           "raw_bytes": 30}]
    assert quarantine[0]["reason"].startswith("bad_json: ")

    big = b"\xff" + b"x" * 20000                     # not UTF-8, and longer than quarantine keeps
    answer = api.sync(big)
    assert_clean_error(answer, 400)
    assert "not UTF-8" in answer.json()["error"]
    kept = store_contents(store_url)[1][-1]
    assert len(kept["raw"]) == 8192 and kept["raw_bytes"] > 20000

    ndjson = api.sync(b"nope\nstill nope\n", ndjson=True, headers={"Content-Type": "application/x-ndjson"})
    assert_clean_error(ndjson, 400)
    assert ndjson.json()["quarantined"] == 2
    assert_clean_error(api.sync(b"   "), 400)


def test_bad_events_in_a_good_payload_are_202_counted_and_quarantined(api, store_url):
    payload = {"host": GH, "schema_hash": "s1",
               "events": [*events(2), {"event_id": "x", "status": "exploded"}, {"event_id": "y", "edit_chars": -4}]}
    answer = api.sync(payload)
    assert answer.status == 202
    assert answer.json() == {"accepted": 2, "rejected": 2, "merged": 0,
                             "rejected_by_reason": {"invalid_edit_chars": 1, "invalid_status": 1}}
    assert len(store_contents(store_url)[1]) == 2


def _send_and_read(port: int, head: str, chunks: list[bytes]) -> tuple[int, bytes]:
    """Send the head and ``chunks`` and then nothing more, and read the answer: the server has read
    all that was sent when it answers, so closing the connection cannot reset it."""
    import http.client
    import socket as socket_

    with socket_.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode() + b"".join(chunks))
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.read()


def test_a_body_over_the_limit_is_413_before_it_is_read(api, store_url):
    big = json.dumps({"host": GH, "schema_hash": "s1", "events": events(400)}).encode()
    assert len(big) > BODY_LIMIT
    head = (f"POST {SYNC} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
            "Content-Type: application/json\r\n")

    # A declared length over the limit is refused before a byte of the body is sent.
    for declared in (len(big), 50 << 20):
        status, body = _send_and_read(api.port, head + f"Content-Length: {declared}\r\n\r\n", [])
        assert status == 413 and json.loads(body) == {"error": f"body is declared as {declared} bytes, limit {BODY_LIMIT}"}

    # Chunked (no Content-Length): refused once the limit is crossed while streaming; the rest
    # of the body is never sent.
    chunks = [b"1000\r\n" + big[i:i + 4096] + b"\r\n" for i in range(0, 17 * 4096, 4096)]
    status, body = _send_and_read(api.port, head + "Transfer-Encoding: chunked\r\n\r\n", chunks)
    assert status == 413 and json.loads(body)["error"].startswith("body is over ")
    assert f"limit {BODY_LIMIT}" in json.loads(body)["error"]
    assert store_contents(store_url) == ([], [], [])

    # Just under the limit is read and stored.
    fits = json.dumps({"host": GH, "schema_hash": "s1", "events": events(150)}).encode()
    assert len(fits) < BODY_LIMIT
    assert api.sync(fits).status == 202


# --- auth and CORS --------------------------------------------------------------------------------

@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token-0123456789", f"Basic {TOKEN}", "Bearer",
                                           f"Bearer {TOKEN}x"])
def test_401_without_or_with_a_wrong_token(api, store_url, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    for answer in (api.sync({"host": GH, "schema_hash": "s1", "events": events(1)}, token=None, headers=headers),
                   api.profile(GH, "s1", token=None, headers=headers)):
        assert_clean_error(answer, 401)
        assert answer.headers["www-authenticate"] == "Bearer"
    assert store_contents(store_url) == ([], [], [])


def test_cors_only_for_the_configured_origin(api):
    allowed = api.profile(GH, "s1", headers={"Origin": ORIGIN})
    assert allowed.headers.get("access-control-allow-origin") == ORIGIN
    other = api.profile(GH, "s1", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    preflight = api.request("OPTIONS", SYNC, token=None, headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert preflight.status == 200 and preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    refused = api.request("OPTIONS", SYNC, token=None, headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert refused.status == 400 and "access-control-allow-origin" not in refused.headers


def test_refuses_to_start_without_tokens_unless_told(tmp_path):
    url = f"sqlite:///{tmp_path}/learning.db"
    refused = cli_run(url, "serve", "--port", str(free_port()))
    assert refused.returncode == 1
    assert refused.stderr.decode().strip() == ("stylehint: refusing to start without an API token: set "
                                               "STYLEHINT_API_TOKENS or STYLEHINT_API_TOKENS_FILE (or pass "
                                               "--insecure-no-auth on a trusted network)")
    weak = cli_run(url, "serve", "--port", str(free_port()), STYLEHINT_API_TOKENS="tiny-secret")
    assert weak.returncode == 1 and "tiny-secret" not in weak.stderr.decode() and "<tokens hidden>" in weak.stderr.decode()

    get_engine(url)   # a store for the servers below
    cli_run(url, "db", "upgrade")
    srv = ApiServer(url, "--insecure-no-auth", token=None).start()
    try:
        assert srv.profile(GH, "s1", token=None).status == 404     # no token needed
    finally:
        err = srv.stop()
    assert "auth OFF (--insecure-no-auth)" in err and "authentication is OFF" in err

    token_file = tmp_path / "tokens"
    token_file.write_text("# the extension\nfile-token-0123456789abcdef\n\n")
    with ApiServer(url, token=None, STYLEHINT_API_TOKENS_FILE=str(token_file)) as srv:
        assert srv.profile(GH, "s1", token="file-token-0123456789abcdef").status == 404
        assert srv.profile(GH, "s1", token=TOKEN).status == 401
    missing = cli_run(url, "serve", "--port", str(free_port()), STYLEHINT_API_TOKENS_FILE=str(tmp_path / "nope"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr.decode()


# --- profile --------------------------------------------------------------------------------------

def test_profile_400_404_and_unknown_routes(api):
    assert_clean_error(api.request("GET", PROFILE), 400)
    assert_clean_error(api.request("GET", f"{PROFILE}?host={GH}"), 400)
    bad = api.profile("not a host!", "s1")
    assert_clean_error(bad, 400)
    assert bad.json()["error"] == "not a valid host: 'not a host!'"
    unknown = api.profile(GH, "nope")
    assert unknown.status == 404
    assert unknown.json() == {"error": "unknown form", "canonical_map": {}, "style_hint": None, "served": False,
                              "reason": "unknown form"}
    assert "etag" not in unknown.headers
    assert_clean_error(api.request("GET", "/api/nothing/here"), 404)


@pytest.fixture(scope="module")
def published_store(store_url):
    """A real snapshot (the asset graph) of synthetic events, with some forms held back by the guard."""
    engine = get_engine(store_url)
    _reset(engine)
    end = date(2025, 3, 30)
    settings = Settings(database_url=store_url, kpi_min_coverage=0.0, kpi_max_none=1.0,
                        kpi_segment_range=(0.0, 1.0), quality_overrides="lever:min_success=0.99")
    ingest_events(engine, settings, list(generate_events(1500, end, days=30, seed=3)))
    with dg.instance_for_test() as instance:
        snapshot(instance, settings, end)
    with engine.connect() as conn:
        forms = [tuple(r) for r in conn.execute(select(form_profiles.c.host, form_profiles.c.schema_hash,
                                                       form_profiles.c.served))]
    return forms


def cli_profile(monkeypatch, url, host, schema_hash, **env):
    """``stylehint profile HOST SCHEMA_HASH`` as the CLI prints it (its own main, in this process)."""
    for key, value in clean_env(url, **env).items():
        if key.startswith(("STYLEHINT_", "COMPANION_")):
            monkeypatch.setenv(key, value)
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["profile", host, schema_hash]) == 0
    return json.loads(out.getvalue())


def test_profile_equals_stylehint_profile_for_every_published_form(server, store_url, published_store, monkeypatch):
    forms = published_store
    assert len(forms) > 50 and {served for *_, served in forms} == {True, False}
    for host, schema_hash, _ in forms:
        answer = server.profile(host, schema_hash)
        assert answer.status == 200, (host, schema_hash, answer.body)
        assert answer.json() == cli_profile(monkeypatch, store_url, host, schema_hash)
    host, schema_hash, _ = forms[0]
    # the host normalised as ingest does, and the CLI's own process agrees
    shouted = f"HTTPS://{host.upper()}:443/"
    printed = cli_run(store_url, "profile", shouted, schema_hash)
    assert printed.returncode == 0, printed.stderr
    assert server.profile(shouted, schema_hash).json() == json.loads(printed.stdout)


def test_shadow_mode_profile_equals_stylehint_profile(store_url, published_store, monkeypatch):
    with ApiServer(store_url, COMPANION_AUTOFILL_PROFILE_ENABLED="0") as shadow:
        for host, schema_hash, _ in published_store[:40]:
            answer = shadow.profile(host, schema_hash)
            view = answer.json()
            assert answer.status == 200 and view["canonical_map"] == {} and view["style_hint"] is None
            assert view == cli_profile(monkeypatch, store_url, host, schema_hash, COMPANION_AUTOFILL_PROFILE_ENABLED="0")


def test_etag_304_and_a_new_snapshot(server, store_url, published_store):
    host, schema_hash, _ = published_store[0]
    first = server.profile(host, schema_hash)
    etag = first.headers["etag"]
    assert first.status == 200 and etag.startswith('"') and "max-age=" in first.headers["cache-control"]
    for sent in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = server.profile(host, schema_hash, headers={"If-None-Match": sent})
        assert again.status == 304 and again.body == b"" and again.headers["etag"] == etag
    assert server.profile(host, schema_hash, headers={"If-None-Match": '"stale"'}).status == 200
    other_form = server.profile(*published_store[1][:2]).headers["etag"]
    assert other_form != etag

    engine = get_engine(store_url)
    with engine.connect() as conn:
        from stylehint_assets.store.reads import published_as_of
        as_of, published_at, run_id = published_as_of(conn)
    mark_published(engine, as_of, published_at + timedelta(hours=6), "next-run")
    time.sleep(SNAPSHOT_RECHECK_SECONDS + 0.2)          # the server re-reads the publish state this often
    try:
        after = server.profile(host, schema_hash, headers={"If-None-Match": etag})
        assert after.status == 200 and after.headers["etag"] != etag
    finally:
        mark_published(engine, as_of, published_at, run_id)


# --- health, readiness, faults, metrics -----------------------------------------------------------

def test_healthz_and_readyz_turning_503_and_back(api, store_url):
    assert api.request("GET", "/healthz", token=None).json() == {"status": "ok"}
    assert api.request("GET", "/readyz", token=None).json() == {"status": "ready"}
    engine = get_engine(store_url)
    version = text("UPDATE alembic_version SET version_num = :revision")
    with engine.begin() as conn:
        conn.execute(version, {"revision": BASELINE})
    try:
        stale = api.request("GET", "/readyz", token=None)
        assert_clean_error(stale, 503)
        assert stale.json()["error"] == (f"learning store schema is at revision {BASELINE}, this release needs "
                                         f"{head_revision()}: run `stylehint db upgrade`")
        assert api.request("GET", "/healthz", token=None).status == 200
    finally:
        with engine.begin() as conn:
            conn.execute(version, {"revision": head_revision()})
    assert api.request("GET", "/readyz", token=None).status == 200


@pytest.mark.postgres
def test_postgres_refusing_connections_is_503_then_back_and_the_retry_counts_once(pg_database_url):
    name = f"stylehint_api_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))   # a name made here, not input
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        _reset(get_engine(url))
        payload = {"host": GH, "schema_hash": "s1", "events": events(5)}
        with ApiServer(url) as srv:
            assert srv.request("GET", "/readyz", token=None).status == 200
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": name})
            for answer in (srv.request("GET", "/readyz", token=None), srv.sync(payload), srv.profile(GH, "s1")):
                assert_clean_error(answer, 503)
                assert answer.headers["retry-after"] == "5" and name not in answer.body.decode()
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            assert srv.request("GET", "/readyz", token=None).status == 200
            retried = srv.sync(payload)
            assert retried.status == 202 and retried.json()["merged"] == 0      # nothing was half-written
            assert srv.sync(payload).json()["merged"] == 5
        ev, _, counters = store_contents(url)
        assert len(ev) == 5 and sum(v for n, _, v in counters if n == "applylens_autofill_runs_total") == 5
    finally:
        get_engine(url).dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_store_on_a_closed_port_is_503_with_retry_after():
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/stylehint"
    with ApiServer(url) as srv:
        assert srv.request("GET", "/healthz", token=None).status == 200
        for answer in (srv.request("GET", "/readyz", token=None), srv.profile(GH, "s1"),
                       srv.sync({"host": GH, "schema_hash": "s1", "events": events(2)})):
            assert_clean_error(answer, 503)
            assert answer.headers["retry-after"] == "5" and str(srv.port) not in answer.body.decode()


def test_metrics_count_requests_by_route_template_and_status(api):
    api.profile(GH, "s1")
    api.profile(GH, "s2", token=None)
    for i in range(3):
        api.request("GET", f"/no/such/route/{i}", token=None)
    text_ = api.request("GET", "/metrics", token=None).body.decode()
    lines = [line for line in text_.splitlines() if line.startswith("stylehint_api_requests_total{")]
    assert any('route="/api/extension/learning/profile"' in line and 'status="404"' in line for line in lines)
    assert any('route="/api/extension/learning/profile"' in line and 'status="401"' in line for line in lines)
    assert any('route="unmatched"' in line and 'status="404"' in line for line in lines)
    assert not any("/no/such" in line for line in text_.splitlines())        # raw paths never become labels
    assert "stylehint_api_request_duration_seconds_bucket{" in text_
    assert "applylens_" not in text_ and "process_cpu" not in text_           # the app's own registry only


def test_openapi_document_lists_every_route(api):
    doc = api.request("GET", "/openapi.json", token=None).json()
    assert {SYNC, PROFILE, "/healthz", "/readyz", "/metrics"} <= set(doc["paths"])
    assert {"202", "400", "401", "413", "503"} <= set(doc["paths"][SYNC]["post"]["responses"])
    assert "application/x-ndjson" in doc["paths"][SYNC]["post"]["requestBody"]["content"]


def test_metrics_with_two_workers_are_summed_over_the_workers(tmp_path):
    url = f"sqlite:///{tmp_path}/learning.db"
    _reset(get_engine(url))
    leftovers = set(Path(tempfile.gettempdir()).glob("stylehint-api-metrics-*"))
    with ApiServer(url, "--workers", "2") as srv:
        for _ in range(20):                     # one connection each: both workers answer some
            assert srv.profile(GH, "s1").status == 404
        for _ in range(4):
            text_ = srv.request("GET", "/metrics", token=None).body.decode()
            line = next(x for x in text_.splitlines() if x.startswith("stylehint_api_requests_total{")
                        and 'route="/api/extension/learning/profile"' in x and 'status="404"' in x)
            assert float(line.rsplit(" ", 1)[1]) == 20.0
        assert set(Path(tempfile.gettempdir()).glob("stylehint-api-metrics-*")) - leftovers   # the workers' files
    assert set(Path(tempfile.gettempdir()).glob("stylehint-api-metrics-*")) == leftovers      # removed at exit


def test_driver_errors_outside_sqlalchemy_count_as_store_unavailable():
    import sqlite3

    import psycopg2
    from sqlalchemy.exc import IntegrityError, OperationalError

    from stylehint_assets.api.faults import store_unavailable

    assert store_unavailable(psycopg2.OperationalError("server closed the connection unexpectedly"))
    assert store_unavailable(psycopg2.InterfaceError("connection already closed"))
    assert store_unavailable(sqlite3.OperationalError("unable to open database file"))
    assert store_unavailable(OperationalError("SELECT 1", {}, Exception("refused")))
    assert not store_unavailable(IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not store_unavailable(psycopg2.IntegrityError("duplicate key"))
    assert not store_unavailable(ValueError("OperationalError"))


def test_bearer_tokens_accept_any_configured_token_and_nothing_else(tmp_path):
    from stylehint_assets.api.auth import BearerTokens, configured_tokens
    from stylehint_assets.config import ConfigError

    path = tmp_path / "tokens"
    path.write_text("# rotated 2026-11\nsecond-token-0123456789\n  \n")
    settings = Settings(api_tokens=("first-token-0123456789",), api_tokens_file=str(path))
    assert configured_tokens(settings) == ("first-token-0123456789", "second-token-0123456789")
    tokens = BearerTokens(configured_tokens(settings))
    assert tokens.accepts("Bearer first-token-0123456789") and tokens.accepts("bearer  second-token-0123456789")
    for header in (None, "", "Bearer", "Bearer first-token-012345678", "Token first-token-0123456789",
                   "first-token-0123456789", "Bearer first-token-0123456789x"):
        assert not tokens.accepts(header), header
    assert "first-token" not in repr(settings)                    # never in a log line of the settings

    path.write_text("ok-token-0123456789abc\nshort\n")
    with pytest.raises(ConfigError) as bad:
        configured_tokens(Settings(api_tokens_file=str(path)))
    assert "line 2" in str(bad.value) and "short" not in str(bad.value)


def test_allowed_origins_are_exact_origins():
    from stylehint_assets.config import ConfigError

    ok = Settings.from_env({"STYLEHINT_API_ALLOWED_ORIGINS": f"{ORIGIN}, https://Admin.Example.com"})
    assert ok.api_allowed_origins == ("chrome-extension://abcdefghijklmnopabcdefghijklmnop", "https://admin.example.com")
    for bad in ("*", "https://*.example.com", "example.com", "https://example.com/path"):
        with pytest.raises(ConfigError, match="STYLEHINT_API_ALLOWED_ORIGINS"):
            Settings.from_env({"STYLEHINT_API_ALLOWED_ORIGINS": bad})
    with pytest.raises(ConfigError, match="STYLEHINT_API_MAX_BODY_BYTES"):
        Settings.from_env({"STYLEHINT_API_MAX_BODY_BYTES": "10"})


# --- data arrival ---------------------------------------------------------------------------------

def test_arrival_reporter_batches_days_and_survives_a_failing_instance():
    from stylehint_assets.api.arrivals import ArrivalReporter
    calls: list[set] = []
    reporter = ArrivalReporter(calls.append, flush_seconds=60)
    reporter.add([date(2025, 3, 10)])
    reporter.add([date(2025, 3, 10), date(2025, 3, 11)])
    reporter.add([])
    reporter.close()
    assert calls == [{date(2025, 3, 10), date(2025, 3, 11)}]   # one report for the burst, each day once

    def down(_days):
        raise RuntimeError("instance database unreachable\nsecond line")
    failing = ArrivalReporter(down, flush_seconds=60)
    failing.add([date(2025, 3, 12)])
    failing.close()                                              # a warning, not an exception


def test_a_sync_reports_its_changed_days_to_dagster(store_url, tmp_path):
    _reset(get_engine(store_url))
    home = tmp_path / "dagster_home"
    home.mkdir()
    server = ApiServer(store_url, DAGSTER_HOME=str(home)).start()
    try:
        body = json.dumps({"host": "boards.greenhouse.io", "schema_hash": "s-arrival", "events": [
            {"event_id": "arr-1", "created_at": "2025-03-10T10:00:00Z", "gen_style_id": "a"},
            {"event_id": "arr-2", "created_at": "2025-03-11T10:00:00Z", "gen_style_id": "a"}]}).encode()
        assert server.request("POST", SYNC, body=body, headers={"Content-Type": "application/json"}).status == 202
    finally:
        server.stop()                     # shutdown reports what is still pending
    with dg.DagsterInstance.from_config(str(home)) as instance:
        records = instance.fetch_materializations(dg.AssetKey("autofill_events"), limit=10, ascending=True).records
        assert sorted(r.partition_key for r in records) == ["2025-03-10", "2025-03-11"]
        assert all(not r.run_id for r in records)


def test_a_due_snapshot_check_is_made_by_one_request_while_the_others_keep_the_memo(tmp_path):
    from datetime import datetime, timezone

    from stylehint_assets.api.profile import ServedViews
    from stylehint_assets.store.engine import upgrade

    engine = get_engine(f"sqlite:///{tmp_path}/views.db")
    upgrade(engine)
    views = ServedViews(engine, True, recheck_seconds=0.05)
    first = views.answer(GH, "s1", None)
    assert not first.known and json.loads(first.body)["error"] == "unknown form"
    assert views.cached(GH, "s1", None) == first          # memoised: no store read
    time.sleep(0.1)
    assert views.cached(GH, "s1", None) is None           # due: this caller re-reads the publish state ...
    assert views.cached(GH, "s1", None) == first          # ... while every other caller keeps the memo
    mark_published(engine, date(2025, 3, 30), datetime(2025, 3, 30, 6, tzinfo=timezone.utc), "next-run")
    time.sleep(0.1)
    assert views.cached(GH, "s1", None) is None
    views.answer(GH, "s1", None)                          # the new snapshot: the memo of the old one is gone
    assert views._snapshot[1] == "next-run" and list(views._views) == [(GH, "s1")]


def test_the_dagster_instance_is_opened_at_start_once_per_home(tmp_path, monkeypatch):
    from stylehint_assets.api import arrivals

    calls: list[set] = []
    arrivals.ArrivalReporter(calls.append).warm()             # another report: nothing to open
    assert calls == []
    homes = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "dagster.yaml").write_text("")
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / name))
        arrivals.ArrivalReporter().warm()
        homes.append(arrivals._instance_here())
        assert arrivals._instance_here() is homes[-1]            # kept: the flushes reuse it
    assert homes[0] is not homes[1] and homes[0].root_directory == str(tmp_path / "a")


def test_what_the_worker_loaded_at_start_is_kept_out_of_the_collector(tmp_path):
    """A full collection over Dagster's and the frameworks' objects stalled requests: the start
    freezes them (gc.freeze), so the collector only walks what requests allocate."""
    import asyncio
    import gc

    from stylehint_assets.api.app import create_app
    from stylehint_assets.api.arrivals import ArrivalReporter

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/learning.db"), require_auth=False,
                     arrivals=ArrivalReporter(report=lambda days: []))

    async def started() -> int:
        async with app.router.lifespan_context(app):
            return gc.get_freeze_count()

    gc.unfreeze()
    try:
        assert gc.get_freeze_count() == 0
        assert asyncio.run(started()) > 10_000
    finally:
        gc.unfreeze()
