"""Grafana provisioning files: a Prometheus data source and a provider for the repo's dashboards."""
import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PROVISIONING = ROOT / "ops/grafana/provisioning"
DASHBOARDS = ROOT / "ops/grafana/dashboards"


def test_the_data_source_is_the_default_prometheus_with_the_scrape_interval():
    config = yaml.safe_load((PROVISIONING / "datasources/stylehint.yaml").read_text())
    assert config["apiVersion"] == 1
    (source,) = config["datasources"]
    assert source["type"] == "prometheus" and source["isDefault"] is True and source["access"] == "proxy"
    assert source["url"] == "${PROMETHEUS_URL}" and source["uid"]
    assert source["jsonData"]["timeInterval"] == "1m"


def test_the_dashboard_provider_reads_the_repository_dashboards():
    config = yaml.safe_load((PROVISIONING / "dashboards/stylehint.yaml").read_text())
    assert config["apiVersion"] == 1
    (provider,) = config["providers"]
    assert provider["type"] == "file" and provider["allowUiUpdates"] is False
    path = provider["options"]["path"]
    readme = (DASHBOARDS / "README.md").read_text()
    assert f'ops/grafana/dashboards:{path}' in readme            # the documented mount is the provider's path
    assert "ops/grafana/provisioning:/etc/grafana/provisioning" in readme
    dashboards = sorted(DASHBOARDS.glob("*.json"))
    assert [p.name for p in dashboards] == ["autofill_tuning.json", "impact.json", "style_tuning.json"]
    uids = [json.loads(p.read_text())["uid"] for p in dashboards]
    assert len(set(uids)) == len(uids) and all(uids)          # a file provider needs unique uids
