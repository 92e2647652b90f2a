"""Nothing the platform runs goes unwatched: every endpoint, GPU pool and the feature store has a scrape
target and an alert, derived from the spec, and a new endpoint added to a spec is watched too."""

from __future__ import annotations

import json

import pytest

from environments.gpu_scheduling import POOL_LABEL
from components.metrics_catalog import load as load_catalog
from components.promql import metric_names
from components.scrape_targets import meta_label
from conftest import REPO, plan_for, resources
from environments import loader
from environments.spec import Spec
from monitoring_support import alerts, dashboards, recorded_names, scrape_targets, spec_variant

INFERENCE_SERVICE_LABEL = "serving.kserve.io/inferenceservice"


def selects(target: dict, namespace: str, labels: dict) -> bool:
    """Whether a ServiceMonitor/PodMonitor selects objects with `labels` in `namespace`."""
    spec = target["spec"]
    match_labels = spec["selector"].get("matchLabels", {})
    return (namespace in spec["namespaceSelector"].get("matchNames", [])
            and all(labels.get(key) == value for key, value in match_labels.items()))


def uncovered(spec: Spec, plan: dict) -> list[str]:
    """What in `spec` has no scrape target or no alert in `plan`, one line each."""
    targets = scrape_targets(plan)
    found_alerts = alerts(plan)
    problems = []
    for endpoint in spec.endpoints:
        if not any(selects(t, spec.serving.namespace, {INFERENCE_SERVICE_LABEL: endpoint.name}) for t in targets):
            problems.append(f"endpoint {endpoint.name}: no scrape target")
        if not any(a["labels"].get("endpoint") == endpoint.name for a in found_alerts):
            problems.append(f"endpoint {endpoint.name}: no alert")
    dcgm = [t for t in targets if selects(t, "kube-system", {"app.kubernetes.io/name": "dcgm-exporter"})]
    for pool in spec.node_pools:
        pool_relabeled = any(
            relabel.get("targetLabel") == "pool"
            and relabel.get("sourceLabels") == [meta_label("__meta_kubernetes_node_label_", POOL_LABEL)]
            for target in dcgm for endpoint in target["spec"]["endpoints"] for relabel in endpoint["relabelings"])
        if not (dcgm and pool_relabeled):
            problems.append(f"GPU pool {pool.name}: no scrape target labelling its series with the pool")
        if not any(a["labels"].get("pool") == pool.name and f'pool="{pool.name}"' in a["expr"] for a in found_alerts):
            problems.append(f"GPU pool {pool.name}: no alert")
    if spec.feature_store.enabled:
        namespace = spec.feature_store.namespace
        if not any(selects(t, namespace, {"app.kubernetes.io/name": "feast-feature-server"}) for t in targets):
            problems.append("feature store: no scrape target")
        if not any(a["labels"].get("component") == "feature-store" and f'namespace="{namespace}"' in a["expr"]
                   for a in found_alerts):
            problems.append("feature store: no alert")
    return problems


@pytest.mark.parametrize("environment", ["prod", "staging", "dev", "local"])
def test_everything_in_a_shipped_environment_is_watched(environment):
    spec = loader.load(environment)
    assert uncovered(spec, plan_for(environment)) == []


def test_prod_watches_four_endpoints_three_pools_and_the_feature_store():
    """Guards the guard: the coverage check above really sees prod's entries."""
    spec = loader.load("prod")
    assert (len(spec.endpoints), len(spec.node_pools), spec.feature_store.enabled) == (4, 3, True)


def test_coverage_check_reports_what_is_missing():
    """With the monitoring objects taken out of the plan, every entry is reported unwatched."""
    spec = loader.load("prod")
    plan = plan_for("prod")
    stripped = {**plan, "resources": [r for r in plan["resources"] if "monitoring.coreos.com" not in r["type"]]}
    problems = uncovered(spec, stripped)
    assert len(problems) == 2 * (len(spec.endpoints) + len(spec.node_pools) + 1)


def test_a_new_endpoint_in_a_spec_is_watched_without_writing_a_rule(tmp_path):
    new_endpoint = {
        "name": "churn-predictor", "team": "recsys", "model": {"name": "churn", "version": 1},
        "format": "xgboost", "runtime": "xgbserver",
        "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
        "replicas": {"min": 2, "max": 4}, "slo": {"availability": 99.0, "latencyP99Ms": 250},
        "drift": {"enabled": True, "threshold": 0.3, "schedule": "0 */6 * * *"},
    }
    path = spec_variant(tmp_path, "prod", lambda doc: doc["endpoints"].append(new_endpoint))
    spec = loader.load(str(path))
    plan = plan_for(str(path))
    assert "churn-predictor" in {endpoint.name for endpoint in spec.endpoints}
    assert uncovered(spec, plan) == []
    churn = [a for a in alerts(plan) if a["labels"].get("endpoint") == "churn-predictor"]
    assert {"EndpointAvailabilityBurnRateFast", "EndpointLatencyBurnRateFast", "EndpointNoTraffic",
            "EndpointDriftAboveThreshold"} <= {a["alert"] for a in churn}
    assert any(board["title"] == "Endpoint churn-predictor" for board in dashboards(plan))
    cronjobs = {r["inputs"]["metadata"]["name"]: r["inputs"] for r in resources(plan, "kubernetes:batch/v1:CronJob")}
    assert cronjobs["drift-churn-predictor"]["spec"]["schedule"] == "0 */6 * * *"


# --- dashboards --------------------------------------------------------------------

@pytest.fixture(scope="module")
def prod_dashboards() -> list[dict]:
    return dashboards(plan_for("prod"))


def test_one_dashboard_per_endpoint_and_one_for_the_gpu_fleet(prod_dashboards):
    spec = loader.load("prod")
    titles = sorted(board["title"] for board in prod_dashboards)
    assert titles == sorted([f"Endpoint {e.name}" for e in spec.endpoints] + ["GPU fleet"])
    assert len({board["uid"] for board in prod_dashboards}) == len(prod_dashboards)
    assert all(len(board["uid"]) <= 40 for board in prod_dashboards)


def test_dashboard_configmaps_hold_valid_json_with_unique_panel_ids():
    for config_map in resources(plan_for("prod"), "kubernetes:core/v1:ConfigMap"):
        if config_map["inputs"]["metadata"]["labels"].get("grafana_dashboard") != "1":
            continue
        for text in config_map["inputs"]["data"].values():
            board = json.loads(text)  # raises on invalid JSON
            ids = [panel["id"] for panel in board["panels"]]
            assert len(ids) == len(set(ids)), f"{board['uid']}: duplicate panel ids {ids}"
            assert all(isinstance(i, int) for i in ids)


def test_dashboards_read_only_catalog_metrics(prod_dashboards):
    published = load_catalog().series_names() | recorded_names(plan_for("prod"))
    for board in prod_dashboards:
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                names = metric_names(target["expr"])
                assert names and names <= published, (board["uid"], panel["title"], sorted(names - published))


def test_endpoint_dashboards_show_traffic_latency_errors_replicas_and_drift(prod_dashboards):
    for board in prod_dashboards:
        if board["title"].startswith("Endpoint "):
            titles = [panel["title"] for panel in board["panels"]]
            assert titles[:4] == ["Traffic", "Latency percentiles", "Errors", "Replicas"]
            assert titles[4] in ("Drift score", "Drift")


def test_gpu_fleet_dashboard_shows_utilization_memory_power_and_cost_per_pool(prod_dashboards):
    fleet = next(board for board in prod_dashboards if board["title"] == "GPU fleet")
    titles = " | ".join(panel["title"] for panel in fleet["panels"])
    for word in ("utilization", "memory", "Power"):
        assert word in titles
    for pool in loader.load("prod").node_pools:
        assert pool.name in titles  # one cost (or GPU count, without a price) panel per pool


def test_prod_gpu_fleet_dashboard_prices_every_pool_from_the_gpu_catalog(prod_dashboards):
    """The cost panels carry the catalog's on-demand price per GPU-hour (the pool's priciest type),
    read here from gpu_instances.json itself, not from the code that builds the panels."""
    catalog = json.loads((REPO / "environments" / "gpu_instances.json").read_text())["instanceTypes"]
    fleet = next(board for board in prod_dashboards if board["title"] == "GPU fleet")
    panels = {panel["title"]: panel for panel in fleet["panels"]}
    pools = loader.load("prod").node_pools
    assert pools
    for pool in pools:
        price = max(catalog[t]["onDemandHourlyUsd"] / catalog[t]["gpus"] for t in pool.instance_types)
        panel = panels[f"Cost of {pool.name}"]
        assert panel["fieldConfig"]["defaults"]["unit"] == "currencyUSD"
        expression = panel["targets"][0]["expr"]
        assert float(expression.rsplit("* ", 1)[1]) == pytest.approx(price, rel=1e-9)
        assert f"${price:.2f} per GPU-hour" in panel["description"]
    assert not any(title.startswith("GPUs in ") for title in panels)  # no unpriced pool left
    assert "No hourly price is known" not in json.dumps(plan_for("prod"))  # nor in the idle-GPU alerts
