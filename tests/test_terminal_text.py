"""Control characters in stored strings are escaped in table output, kept in JSON."""
from __future__ import annotations

import json

from stylehint_assets.terminal_text import printable

from .test_cli import GH, project, run  # noqa: F401 - the project fixture

EVIL_STYLE = "evil\x1b[2J\x1b]0;owned\x07\u202eyxc"


def test_printable_escapes_control_and_format_characters_only():
    assert printable(EVIL_STYLE) == "evil\\x1b[2J\\x1b]0;owned\\x07\\u202eyxc"
    assert printable("Überschrift – naïve ✓") == "Überschrift – naïve ✓"
    assert printable("a\tb\nc\u2028d\x7f\x85") == "a\\x09b\\x0ac\\u2028d\\x7f\\x85"
    assert printable(None) is None and printable(3) == 3


def test_tables_escape_what_the_events_carried_and_json_keeps_it(project, tmp_path):
    lines = [json.dumps({"event_id": f"c{i}", "host": GH, "schema_hash": "s\x1b[31m1",
                         "created_at": "2025-03-12T09:00:00Z", "gen_style_id": EVIL_STYLE,
                         "feedback_status": "helpful", "job": {"title": "Senior Dev"},
                         "final_map": {"#email": "email"}, "duration_ms": 1000}) for i in range(6)]
    (tmp_path / "evil.ndjson").write_text("\n".join(lines) + "\n")
    ingested = json.loads(run(project, "ingest", str(tmp_path / "evil.ndjson"), "--json").stdout)
    assert ingested["accepted"] == 6, ingested
    assert run(project, "materialize", "--as-of", "2025-03-12").returncode == 0
    outputs = {"hints": run(project, "hints", "--as-of", "2025-03-12").stdout,
               "profiles": run(project, "profiles", "--as-of", "2025-03-12").stdout,
               "explain": run(project, "explain", GH, "s\x1b[31m1").stdout,
               "experiments": run(project, "experiments", "--as-of", "2025-03-12").stdout,
               "unknown": run(project, "explain", GH, "nope\x1b[31m").stderr}
    for name, text in outputs.items():
        assert not any(ch in text for ch in "\x1b\x07\u202e"), name
    assert "s\\x1b[31m1" in outputs["hints"] and "evil\\x1b[2J\\x1b]0;owned\\x07\\u202eyxc" in outputs["hints"]
    assert "s\\x1b[31m1" in outputs["profiles"] and "evil\\x1b[2J" in outputs["explain"]
    assert "nope\\x1b[31m" in outputs["unknown"]
    hints = json.loads(run(project, "hints", "--as-of", "2025-03-12", "--format", "json").stdout)
    assert hints[0]["preferred_style_id"] == EVIL_STYLE and hints[0]["schema_hash"] == "s\x1b[31m1"
