"""The README stays true: its configuration table is the one the code validates."""
import re
from pathlib import Path

from stylehint_assets.config import KNOBS, configuration_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_configuration_table_matches_the_code():
    text = README.read_text()
    table = re.search(r"<!-- config-table[^>]*-->\n(.*?)\n<!-- /config-table -->", text, re.S).group(1)
    assert table == configuration_table(), "regenerate with: .venv/bin/stylehint config"
    for knob in KNOBS:
        assert f"`{knob.env}`" in table


def test_readme_names_the_two_commands_ci_runs():
    text = README.read_text()
    assert "scripts/setup.sh && .venv/bin/stylehint demo" in text
    assert "scripts/test.sh" in text
    assert "scripts/test.sh" in (README.parent / ".ci" / "run").read_text()
