"""Grafana dashboards, generated from the Watchlist: one per endpoint and one for the GPU fleet.

Each dashboard is a plain dict in Grafana's JSON model; the Monitoring
component ships it in a ConfigMap labelled `grafana_dashboard: "1"`, which the
kube-prometheus-stack Grafana sidecar loads. Queries use the same selectors and
catalog metrics as the alert rules, so a dashboard shows what the alerts see.

Pure functions: no Pulumi.
"""

from __future__ import annotations

import hashlib
from typing import Optional, Sequence

from components.alert_rules import (AVAILABILITY_ERRORS, DRIFT_SCORE, ENDPOINT_READY, GPU_IDLE_UTILIZATION_PERCENT,
                                    number, request_rate, selector)
from components.watchlist import EndpointWatch, GpuPoolWatch, Watchlist

DATASOURCE = {"type": "prometheus", "uid": "prometheus"}  # the datasource kube-prometheus-stack provisions
SCHEMA_VERSION = 39
_WIDTH = 12
_HEIGHT = 8
_UID_LIMIT = 40  # Grafana's maximum dashboard uid length


def dashboard_uid(kind: str, name: str) -> str:
    uid = f"stackyard-{kind}-{name}"
    if len(uid) <= _UID_LIMIT:
        return uid
    digest = hashlib.sha256(uid.encode()).hexdigest()[:8]
    return f"{uid[:_UID_LIMIT - 9]}-{digest}"


def _target(expr: str, legend: str, ref: str) -> dict:
    return {"refId": ref, "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}


def timeseries(title: str, targets: Sequence[tuple[str, str]], unit: str, description: str = "",
               threshold: Optional[float] = None) -> dict:
    """A time series panel; `targets` are (expr, legend) pairs."""
    defaults: dict = {"unit": unit}
    if threshold is not None:
        defaults["thresholds"] = {"mode": "absolute", "steps": [{"color": "green", "value": None},
                                                                  {"color": "red", "value": threshold}]}
        defaults["custom"] = {"thresholdsStyle": {"mode": "line"}}
    return {
        "type": "timeseries", "title": title, "description": description, "datasource": DATASOURCE,
        "targets": [_target(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(targets)],
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}},
    }


def stat(title: str, expr: str, unit: str, description: str = "") -> dict:
    return {
        "type": "stat", "title": title, "description": description, "datasource": DATASOURCE,
        "targets": [_target(expr, title, "A")],
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
    }


def text(title: str, content: str) -> dict:
    return {"type": "text", "title": title, "options": {"mode": "markdown", "content": content}}


def dashboard(uid: str, title: str, tags: Sequence[str], panels: Sequence[dict], description: str) -> dict:
    """Lay panels out two per row and number them 1..n (panel ids are unique per dashboard)."""
    placed = []
    for index, panel in enumerate(panels):
        placed.append({"id": index + 1,
                       "gridPos": {"h": _HEIGHT, "w": _WIDTH, "x": (index % 2) * _WIDTH, "y": (index // 2) * _HEIGHT},
                       **panel})
    return {
        "uid": uid, "title": title, "description": description, "tags": ["stackyard", *tags],
        "editable": False, "schemaVersion": SCHEMA_VERSION, "version": 1, "refresh": "1m",
        "time": {"from": "now-6h", "to": "now"}, "timezone": "utc",
        "templating": {"list": []}, "annotations": {"list": []}, "panels": placed,
    }


# --- endpoints ---------------------------------------------------------------------

def _latency_panel(endpoint: EndpointWatch) -> dict:
    latency = endpoint.source.latency
    to_seconds = number(latency.unit_seconds)
    slo_seconds = endpoint.slo.latency_p99_ms / 1000
    if latency.histogram:
        buckets = selector(latency.histogram + "_bucket", endpoint.selector)
        targets = [(f"histogram_quantile({q}, sum by (le) (rate({buckets}[5m]))) * {to_seconds}", f"p{round(q * 100)}")
                   for q in (0.5, 0.9, 0.99)]
    else:
        targets = [(f"max({selector(latency.summary, {**endpoint.selector, 'quantile': q})}) * {to_seconds}",
                    f"p{round(float(q) * 100)}") for q in ("0.5", "0.9", "0.99")]
    return timeseries("Latency percentiles", targets, "s",
                      f"From {endpoint.source.exporter}; the red line is the p99 SLO of "
                      f"{endpoint.slo.latency_p99_ms} ms.", threshold=slo_seconds)


def _drift_panel(endpoint: EndpointWatch) -> dict:
    if not endpoint.drift.enabled:
        return text("Drift", f"Drift detection is off for **{endpoint.name}** (`drift.enabled: false` in the "
                             f"environment spec).")
    return timeseries(
        "Drift score", [(f"max({selector(DRIFT_SCORE, {'endpoint': endpoint.name})})", "drift score"),
                        (f"max by (feature) ({selector('stackyard_drift_feature_psi', {'endpoint': endpoint.name})})",
                         "{{feature}}")],
        "none", f"Population stability index of live inputs against the reference, checked on "
                f"`{endpoint.drift.schedule}`; the red line is the threshold.", threshold=endpoint.drift.threshold)


def endpoint_dashboard(endpoint: EndpointWatch) -> dict:
    by_endpoint = {"endpoint": endpoint.name}
    deployments = {"namespace": endpoint.namespace}, {"deployment": endpoint.deployment_pattern}
    errors_basis = ("share of failed requests" if endpoint.source.failures
                    else "share of time without a ready replica (the model server counts no failures)")
    panels = [
        timeseries("Traffic", [(request_rate(endpoint, "5m"), "requests/s")], "reqps",
                   f"Requests per second from {endpoint.source.exporter}."),
        _latency_panel(endpoint),
        timeseries("Errors", [(selector(AVAILABILITY_ERRORS + "5m", by_endpoint), "5m"),
                              (selector(AVAILABILITY_ERRORS + "1h", by_endpoint), "1h")],
                   "percentunit", f"Availability SLI errors: {errors_basis}. The error budget is "
                                  f"{number(100 - endpoint.slo.availability)}%.",
                   threshold=1 - endpoint.slo.availability / 100),
        timeseries("Replicas", [
            (f"sum({selector('kube_deployment_status_replicas_available', *deployments)})", "available"),
            (f"sum({selector('kube_deployment_spec_replicas', *deployments)})", "desired"),
            (selector(ENDPOINT_READY, by_endpoint), "ready (0/1)")], "short",
            "Predictor replicas from kube-state-metrics."),
        _drift_panel(endpoint),
    ]
    return dashboard(dashboard_uid("endpoint", endpoint.name), f"Endpoint {endpoint.name}",
                     ["endpoint", f"team-{endpoint.team}"], panels,
                     f"Traffic, latency, errors, replicas and drift of {endpoint.name} "
                     f"(SLO {endpoint.slo.availability}% available, p99 under {endpoint.slo.latency_p99_ms} ms).")


# --- GPU fleet ---------------------------------------------------------------------

def _pool_cost_panel(pool: GpuPoolWatch) -> dict:
    gpus = f"count({selector('DCGM_FI_DEV_GPU_UTIL', {'pool': pool.name})})"
    if pool.hourly_price_per_gpu is None:
        return stat(f"GPUs in {pool.name}", f"{gpus} or on() vector(0)", "short",
                    "No hourly price is known for this pool yet, so its cost is shown as GPUs running.")
    return stat(f"Cost of {pool.name}", f"({gpus} or on() vector(0)) * {number(pool.hourly_price_per_gpu)}",
                "currencyUSD", f"GPUs running x ${pool.hourly_price_per_gpu:.2f} per GPU-hour, in USD per hour.")


def gpu_fleet_dashboard(pools: Sequence[GpuPoolWatch]) -> dict:
    regex = {"pool": "|".join(pool.name for pool in pools)}
    used = selector("DCGM_FI_DEV_FB_USED", {}, regex)
    free = selector("DCGM_FI_DEV_FB_FREE", {}, regex)
    panels = [
        timeseries("GPU utilization by pool",
                   [(f"avg by (pool) ({selector('DCGM_FI_DEV_GPU_UTIL', {}, regex)})", "{{pool}}")], "percent",
                   "Average DCGM_FI_DEV_GPU_UTIL of the GPUs in each pool."),
        timeseries("GPU memory used by pool",
                   [(f"sum by (pool) ({used}) / sum by (pool) ({used} + {free})", "{{pool}}")], "percentunit",
                   "Framebuffer memory used over total, per pool."),
        timeseries("Power draw by pool",
                   [(f"sum by (pool) ({selector('DCGM_FI_DEV_POWER_USAGE', {}, regex)})", "{{pool}}")], "watt"),
        timeseries("Idle GPUs by pool",
                   [(f"count by (pool) (avg_over_time({selector('DCGM_FI_DEV_GPU_UTIL', {}, regex)}[1h])"
                     f" < {GPU_IDLE_UTILIZATION_PERCENT})", "{{pool}}")], "short",
                   f"GPUs that averaged under {GPU_IDLE_UTILIZATION_PERCENT}% utilization over the last hour."),
        timeseries("Hottest GPU by pool",
                   [(f"max by (pool) ({selector('DCGM_FI_DEV_GPU_TEMP', {}, regex)})", "{{pool}}")], "celsius"),
        *(_pool_cost_panel(pool) for pool in pools),
    ]
    return dashboard(dashboard_uid("gpu", "fleet"), "GPU fleet", ["gpu"], panels,
                     "Utilization, memory, power and cost of every GPU pool, from the DCGM exporter.")


def dashboards(watchlist: Watchlist) -> list[dict]:
    boards = [endpoint_dashboard(endpoint) for endpoint in watchlist.endpoints]
    if watchlist.gpu_pools:
        boards.append(gpu_fleet_dashboard(watchlist.gpu_pools))
    return boards
