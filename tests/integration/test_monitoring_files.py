"""The monitoring profile's files (#18): Prometheus config and alert rules are YAML that name only series the app
exposes, the Grafana dashboard is JSON on the provisioned data source, and docker-compose.yml mounts them all."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

import tasks.metrics  # noqa: F401 - registers the task series in this process, as a worker does
from config.bootstrap import Container
from web import create_app

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "docs" / "monitoring"
SERIES = re.compile(r"\bspecgoods_[a-z_]+")
SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _exposed(make_container: Callable[..., Container], sqlite_url: str) -> set[str]:
    body = create_app(make_container(sqlite_url)).test_client().get("/metrics").get_data(as_text=True)
    return {family.name for family in text_string_to_metric_families(body)}


def _family(series: str) -> str:
    for suffix in SUFFIXES:
        if series.endswith(suffix):
            return series[: -len(suffix)]
    return series


def test_the_alert_rules_are_yaml_covering_outbox_lag_dead_letters_overdue_clocks_and_5xx_on_exposed_series(
    make_container: Callable[..., Container], sqlite_url: str
) -> None:
    rules = [rule for group in _yaml(MONITORING / "alerts.yml")["groups"] for rule in group["rules"]]
    assert all({"alert", "expr", "for", "labels", "annotations"} <= set(rule) for rule in rules)
    expressions = {rule["alert"]: rule["expr"] for rule in rules}
    for wanted in ("oldest_unpublished_age", "dead_letters", "clocks_overdue", 'status=~"5.."'):
        assert any(wanted in expr for expr in expressions.values()), wanted
    used = {_family(series) for expr in expressions.values() for series in SERIES.findall(expr)}
    assert used and used <= _exposed(make_container, sqlite_url)


def test_the_dashboard_is_json_on_the_provisioned_data_source_and_plots_only_exposed_series(
    make_container: Callable[..., Container], sqlite_url: str
) -> None:
    dashboard = json.loads((MONITORING / "grafana" / "dashboards" / "specgoods.json").read_text(encoding="utf-8"))
    source = _yaml(MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yml")["datasources"][0]
    targets = [target for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert targets and all(target["datasource"]["uid"] == source["uid"] for target in targets)
    used = {_family(series) for target in targets for series in SERIES.findall(target["expr"])}
    assert used <= _exposed(make_container, sqlite_url)
    for needed in ("specgoods_http_requests", "specgoods_tasks", "specgoods_queue_depth", "specgoods_applications"):
        assert needed in used


def test_the_monitoring_profile_mounts_the_prometheus_and_grafana_files_and_compose_accepts_the_file() -> None:
    compose = _yaml(ROOT / "docker-compose.yml")
    prometheus, grafana = compose["services"]["prometheus"], compose["services"]["grafana"]
    assert prometheus["profiles"] == ["monitoring"] and grafana["profiles"] == ["monitoring"]
    config = _yaml(MONITORING / "prometheus.yml")
    mounted = {volume.split(":")[1]: volume.split(":")[0] for volume in prometheus["volumes"] + grafana["volumes"]}
    for rule_file in config["rule_files"]:
        assert (ROOT / mounted[rule_file]).is_file()
    assert (ROOT / mounted["/etc/grafana/provisioning"]).is_dir()
    assert (ROOT / mounted["/etc/grafana/dashboards"] / "specgoods.json").is_file()
    executable = shutil.which("docker-compose")
    assert executable, "docker-compose (Debian package) validates the file without an engine"
    environment = {**os.environ, "SPECGOODS_SECRET_KEY": "only-for-config-check"}
    checked = subprocess.run(
        [executable, "-f", "docker-compose.yml", "config", "-q"], cwd=ROOT, env=environment, capture_output=True
    )
    assert checked.returncode == 0, checked.stderr.decode()
