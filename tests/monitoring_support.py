"""Reading monitoring objects out of an offline plan, and writing spec variants, for the monitoring tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import yaml

from conftest import REPO, lock_beside, resources

MONITORING_API = "kubernetes:monitoring.coreos.com/v1:"


def prometheus_rules(plan: dict) -> list[dict]:
    return [r["inputs"] for r in resources(plan, MONITORING_API + "PrometheusRule")]


def rule_groups(plan: dict) -> list[dict]:
    return [group for rule in prometheus_rules(plan) for group in rule["spec"]["groups"]]


def rules(plan: dict) -> list[dict]:
    return [rule for group in rule_groups(plan) for rule in group["rules"]]


def alerts(plan: dict) -> list[dict]:
    return [rule for rule in rules(plan) if "alert" in rule]


def recorded_names(plan: dict) -> set[str]:
    return {rule["record"] for rule in rules(plan) if "record" in rule}


def scrape_targets(plan: dict) -> list[dict]:
    return [r["inputs"] for kind in ("PodMonitor", "ServiceMonitor") for r in resources(plan, MONITORING_API + kind)]


def dashboards(plan: dict) -> list[dict]:
    """Every Grafana dashboard (parsed JSON) shipped in a ConfigMap labelled grafana_dashboard: "1"."""
    boards = []
    for config_map in resources(plan, "kubernetes:core/v1:ConfigMap"):
        inputs = config_map["inputs"]
        if inputs["metadata"].get("labels", {}).get("grafana_dashboard") == "1":
            boards += [json.loads(text) for text in inputs["data"].values()]
    return boards


def spec_variant(tmp_path: Path, environment: str, change: Callable[[dict], None]) -> Path:
    """A copy of a shipped environment (and base.yaml, which it may extend) with `change` applied."""
    shutil.copy(REPO / "environments" / "base.yaml", tmp_path / "base.yaml")
    document = yaml.safe_load((REPO / "environments" / f"{environment}.yaml").read_text())
    change(document)
    path = tmp_path / f"{environment}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    lock_beside(path, environment)
    return path
