"""Prometheus alert and recording rules, generated from the Watchlist.

One PrometheusRule per endpoint, per GPU pool, for the GPU fleet, the feature
store and the pipelines. Every alert carries labels.severity (critical pages,
warning opens a ticket) and annotations summary, description and runbook_url.

Endpoint SLOs use the multi-window, multi-burn-rate alerts of the Google SRE
workbook ("Alerting on SLOs"): a page when 2% of the error budget burns in an
hour or 5% in six hours, a ticket when 10% burns in a day or three days, each
confirmed by a short window so the alert stops soon after the burn does. The
burn factors follow from the endpoint's `slo.windowDays` (14.4/6/3/1 for the
usual 30 days).

Where an endpoint's numbers come from depends on its request source (see
metrics_catalog.yaml): the error ratio counts failed requests where the server
counts them (queue-proxy, Triton); KServe's Python model servers count none, so
their availability SLI is time-based: the share of time the predictor had a
ready replica. Latency burn uses the fraction of requests slower than
`slo.latencyP99Ms`, interpolated inside the histogram bucket that holds the
threshold (the same assumption histogram_quantile makes); Triton only has a
summary, so its p99 is compared to the threshold directly.

Pure functions: no Pulumi.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Mapping, Optional, Sequence

from components.metrics_catalog import RequestSource
from components.watchlist import (DCGM_EXPORTER_NAME, FEATURE_SERVER_NAME, KFP_API_SERVER, WORKFLOW_CONTROLLER,
                                  EndpointWatch, FeatureStoreWatch, GpuPoolWatch, PipelinesWatch, Watchlist)
from environments.cron import longest_gap

CRITICAL = "critical"
WARNING = "warning"

# Recorded series, one per endpoint and window.
AVAILABILITY_ERRORS = "stackyard:endpoint_availability_errors:ratio_rate"
LATENCY_SLOW = "stackyard:endpoint_latency_slow:ratio_rate"
ENDPOINT_READY = "stackyard:endpoint_ready:bool"

DRIFT_SCORE = "stackyard_model_drift_score"

ERROR_RATIO_WARNING = 0.05  # more than 5% failed requests over 5 minutes
GPU_IDLE_UTILIZATION_PERCENT = 5
GPU_TEMPERATURE_CELSIUS = 85
GPU_MEMORY_USED_RATIO = 0.95
# XIDs that mean the GPU or its memory is broken and the node needs attention (NVIDIA's
# XID catalog): double-bit ECC, NVLink error, fallen off the bus, high single-bit ECC
# rate, uncontained ECC. Any other XID opens a ticket.
FATAL_XIDS = (48, 74, 79, 92, 95)


@dataclass(frozen=True)
class BurnWindow:
    long: str
    short: str
    long_hours: float
    budget_share: float  # of the whole SLO window's error budget, spent within `long`


PAGE_WINDOWS = (BurnWindow("1h", "5m", 1, 0.02), BurnWindow("6h", "30m", 6, 0.05))
TICKET_WINDOWS = (BurnWindow("1d", "2h", 24, 0.10), BurnWindow("3d", "6h", 72, 0.10))
RATE_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


@dataclass(frozen=True)
class RuleSet:
    """One PrometheusRule: its name, labels naming what it watches, and its rule groups."""

    name: str
    labels: Mapping[str, str]
    groups: tuple[dict, ...]


@dataclass(frozen=True)
class AlertContext:
    runbook_base_url: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def alert(self, name: str, expr: str, severity: str, summary: str, description: str,
              for_: Optional[str] = None) -> dict:
        rule = {"alert": name, "expr": expr}
        if for_:
            rule["for"] = for_
        rule["labels"] = {"severity": severity, **self.labels}
        rule["annotations"] = {"summary": summary, "description": description,
                               "runbook_url": runbook_url(self.runbook_base_url, name)}
        return rule


def runbook_url(base: str, alert: str) -> str:
    """`EndpointAvailabilityBurnRateFast` -> `<base>#endpoint-availability-burn-rate-fast`."""
    anchor = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", alert).lower()
    return f"{base.rstrip('/')}#{anchor}"


def number(value: float) -> str:
    """A float as PromQL reads it, without binary noise (0.0144, not 0.014400000000000001)."""
    return format(value, ".6g")


def le_value(bound: float) -> str:
    """A histogram bucket bound as Prometheus 3 stores the `le` label: 1 -> "1.0", 0.25 -> "0.25"."""
    return f"{bound:.1f}" if float(bound).is_integer() else repr(float(bound))


def selector(metric: str, matchers: Mapping[str, str], regex: Optional[Mapping[str, str]] = None) -> str:
    def quote(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    parts = [f"{key}={quote(value)}" for key, value in matchers.items()]
    parts += [f"{key}=~{quote(value)}" for key, value in (regex or {}).items()]
    return f"{metric}{{{', '.join(parts)}}}"


def duration(delta: timedelta) -> str:
    """A Prometheus duration, in whole minutes."""
    minutes = int(delta.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes or not hours else "")


# --- endpoints -------------------------------------------------------------------

def request_rate(endpoint: EndpointWatch, window: str) -> str:
    """All requests per second to the endpoint, summed over its pods."""
    return " + ".join(f"sum(rate({selector(metric, endpoint.selector)}[{window}]))"
                      for metric in endpoint.source.requests)


def _deployment_selector(metric: str, endpoint: EndpointWatch) -> str:
    return selector(metric, {"namespace": endpoint.namespace}, {"deployment": endpoint.deployment_pattern})


def _availability_error_ratio(endpoint: EndpointWatch, window: str) -> str:
    failures = endpoint.source.failures
    if failures is None:
        return f"1 - avg_over_time({selector(ENDPOINT_READY, {'endpoint': endpoint.name})}[{window}])"
    failed = selector(failures.metric, {**endpoint.selector, **failures.matchers})
    return f"sum(rate({failed}[{window}])) / ({request_rate(endpoint, window)})"


def good_latency_rate(source: RequestSource, matchers: Mapping[str, str], threshold_seconds: float,
                      window: str, regex: Optional[Mapping[str, str]] = None) -> str:
    """Requests per second faster than the threshold, interpolated linearly within its bucket."""
    latency = source.latency
    bounds = latency.buckets
    threshold = threshold_seconds / latency.unit_seconds

    def bucket(bound: float) -> str:
        bucket_matchers = {**matchers, 'le': le_value(bound)}
        return f"sum(rate({selector(latency.histogram + '_bucket', bucket_matchers, regex)}[{window}]))"

    index = bisect.bisect_left(bounds, threshold)
    if index < len(bounds) and bounds[index] == threshold:
        return bucket(threshold)
    if index == len(bounds):  # beyond the last finite bucket: the best this histogram can tell
        return bucket(bounds[-1])
    upper = bounds[index]
    lower = bounds[index - 1] if index else 0.0
    share = number((threshold - lower) / (upper - lower))
    if not index:
        return f"{bucket(upper)} * {share}"
    return f"({bucket(lower)} + ({bucket(upper)} - {bucket(lower)}) * {share})"


def _latency_slow_ratio(endpoint: EndpointWatch, window: str) -> str:
    histogram = endpoint.source.latency.histogram
    total = f"sum(rate({selector(histogram + '_count', endpoint.selector)}[{window}]))"
    good = good_latency_rate(endpoint.source, endpoint.selector, endpoint.slo.latency_p99_ms / 1000, window)
    return f"1 - ({good}) / {total}"


def _burn_alert_expr(series: str, endpoint: EndpointWatch, windows: Sequence[BurnWindow], budget: float) -> str:
    window_hours = endpoint.slo.window_days * 24
    clauses = []
    for window in windows:
        limit = number(window.budget_share * window_hours / window.long_hours * budget)
        long = selector(series + window.long, {"endpoint": endpoint.name})
        short = selector(series + window.short, {"endpoint": endpoint.name})
        clauses.append(f"({long} > {limit} and {short} > {limit})")
    return "\n or ".join(clauses)


def _burn_factors(endpoint: EndpointWatch, windows: Sequence[BurnWindow]) -> str:
    hours = endpoint.slo.window_days * 24
    return " or ".join(f"{number(w.budget_share * hours / w.long_hours)}x over {w.long}" for w in windows)


def endpoint_rules(endpoint: EndpointWatch, runbook_base_url: str, monitoring_namespace: str) -> RuleSet:
    context = AlertContext(runbook_base_url, {"endpoint": endpoint.name, "team": endpoint.team,
                                          "component": "serving"})
    record_labels = {"endpoint": endpoint.name, "namespace": endpoint.namespace}
    slo = endpoint.slo
    availability_budget = 1 - slo.availability / 100
    has_histogram = endpoint.source.latency.histogram is not None
    per_request = endpoint.source.failures is not None

    recording = [{
        "record": ENDPOINT_READY,
        "expr": f"(sum({_deployment_selector('kube_deployment_status_replicas_available', endpoint)})"
                f" or on() vector(0)) > bool 0",
        "labels": dict(record_labels),
    }]
    for window in RATE_WINDOWS:
        recording.append({"record": AVAILABILITY_ERRORS + window,
                          "expr": _availability_error_ratio(endpoint, window), "labels": dict(record_labels)})
    if has_histogram:
        for window in RATE_WINDOWS:
            recording.append({"record": LATENCY_SLOW + window,
                              "expr": _latency_slow_ratio(endpoint, window), "labels": dict(record_labels)})

    what = "requests that failed" if per_request else "time without a ready predictor replica"
    target = f"{slo.availability}% over {slo.window_days} days"
    alerts = [
        context.alert(
            "EndpointAvailabilityBurnRateFast",
            _burn_alert_expr(AVAILABILITY_ERRORS, endpoint, PAGE_WINDOWS, availability_budget), CRITICAL,
            f"{endpoint.name} is burning its availability error budget fast",
            f"The share of {what} is burning the availability SLO ({target}) at "
            f"{_burn_factors(endpoint, PAGE_WINDOWS)} the sustainable rate; at this pace the monthly "
            f"budget is gone in days. Current ratio: {{{{ $value | humanizePercentage }}}}."),
        context.alert(
            "EndpointAvailabilityBurnRateSlow",
            _burn_alert_expr(AVAILABILITY_ERRORS, endpoint, TICKET_WINDOWS, availability_budget), WARNING,
            f"{endpoint.name} is using up its availability error budget",
            f"The share of {what} is burning the availability SLO ({target}) at "
            f"{_burn_factors(endpoint, TICKET_WINDOWS)} the sustainable rate."),
        context.alert(
            "EndpointUnavailable",
            f"{selector(ENDPOINT_READY, {'endpoint': endpoint.name})} == 0", CRITICAL,
            f"{endpoint.name} has no ready predictor replica",
            f"No replica of {endpoint.name}'s predictor in namespace {endpoint.namespace} has been ready "
            f"for 5 minutes: every request to it fails.", for_="5m"),
        context.alert(
            "EndpointNoTraffic",
            f"(({request_rate(endpoint, '30m')}) or on() vector(0)) == 0\n"
            f" and on() {selector(ENDPOINT_READY, {'endpoint': endpoint.name})} == 1", WARNING,
            f"{endpoint.name} received no requests for 30 minutes",
            f"{endpoint.name} is ready but served no requests (or its {endpoint.source.exporter} metrics are "
            f"missing) for 30 minutes: check its callers, its ingress and its scrape target.", for_="30m"),
        context.alert(
            "EndpointNotScraped",
            f"(sum({selector('up', endpoint.selector)}) or on() vector(0)) == 0\n"
            f" and on() {selector(ENDPOINT_READY, {'endpoint': endpoint.name})} == 1", WARNING,
            f"Prometheus cannot scrape {endpoint.name}",
            f"{endpoint.name} has ready replicas but no successful scrape of its {endpoint.source.exporter} "
            f"metrics (port {endpoint.source.port}) for 10 minutes: its SLO alerts are blind.", for_="10m"),
    ]
    if per_request:
        alerts.append(context.alert(
            "EndpointErrorRateHigh",
            f"{selector(AVAILABILITY_ERRORS + '5m', {'endpoint': endpoint.name})} > {number(ERROR_RATIO_WARNING)}",
            WARNING, f"{endpoint.name} fails more than {ERROR_RATIO_WARNING:.0%} of requests",
            f"{{{{ $value | humanizePercentage }}}} of requests to {endpoint.name} failed over the last "
            f"5 minutes.", for_="5m"))
    threshold = f"{slo.latency_p99_ms} ms"
    if has_histogram:
        latency_budget = 0.01  # a p99 target: 1% of requests may be slower
        alerts += [
            context.alert(
                "EndpointLatencyBurnRateFast",
                _burn_alert_expr(LATENCY_SLOW, endpoint, PAGE_WINDOWS, latency_budget), CRITICAL,
                f"{endpoint.name} is too slow for its latency SLO",
                f"More than 1% of requests to {endpoint.name} take longer than {threshold}, burning the "
                f"latency error budget at {_burn_factors(endpoint, PAGE_WINDOWS)} the sustainable rate. "
                f"Slow share: {{{{ $value | humanizePercentage }}}}."),
            context.alert(
                "EndpointLatencyBurnRateSlow",
                _burn_alert_expr(LATENCY_SLOW, endpoint, TICKET_WINDOWS, latency_budget), WARNING,
                f"{endpoint.name} is using up its latency error budget",
                f"Requests to {endpoint.name} slower than {threshold} burn the latency error budget at "
                f"{_burn_factors(endpoint, TICKET_WINDOWS)} the sustainable rate."),
        ]
    else:
        summary = endpoint.source.latency.summary
        p99 = selector(summary, {**endpoint.selector, "quantile": "0.99"})
        alerts.append(context.alert(
            "EndpointLatencyP99AboveSLO",
            f"max({p99}) * {number(endpoint.source.latency.unit_seconds)} > {number(slo.latency_p99_ms / 1000)}",
            WARNING, f"{endpoint.name}'s p99 latency is above {threshold}",
            f"The p99 latency {endpoint.source.exporter} reports for {endpoint.name} has been above its SLO of "
            f"{threshold} for 15 minutes (now {{{{ $value | humanizeDuration }}}}).", for_="15m"))

    groups = [{"name": f"endpoint-{endpoint.name}-sli", "rules": recording},
              {"name": f"endpoint-{endpoint.name}-alerts", "rules": alerts}]
    if endpoint.drift.enabled:
        groups.append({"name": f"endpoint-{endpoint.name}-drift",
                       "rules": drift_rules(endpoint, runbook_base_url, monitoring_namespace)})

    return RuleSet(f"stackyard-endpoint-{endpoint.name}", {"stackyard.dev/endpoint": endpoint.name},
                   tuple(groups))


# --- scheduled jobs ----------------------------------------------------------------

def freshness_limit(schedule: str) -> timedelta:
    """How old a scheduled job's last success may get: two missed runs plus ten minutes of slack."""
    return 2 * longest_gap(schedule) + timedelta(minutes=10)


def cronjob_freshness_alerts(context: AlertContext, prefix: str, namespace: str, cronjob_regex: str,
                             schedule: str, what: str) -> list[dict]:
    limit = freshness_limit(schedule)
    matchers = ({"namespace": namespace}, {"cronjob": cronjob_regex})
    last_success = selector("kube_cronjob_status_last_successful_time", *matchers)
    return [
        context.alert(
            f"{prefix}Stale",
            f"time() - max by (namespace, cronjob) ({last_success}) > {int(limit.total_seconds())}", WARNING,
            f"{what} has not succeeded for over {duration(limit)}",
            f"CronJob {{{{ $labels.cronjob }}}} in {namespace} (schedule `{schedule}`) last succeeded "
            f"{{{{ $value | humanizeDuration }}}} ago; two runs in a row were missed or failed."),
        context.alert(
            f"{prefix}NeverSucceeded",
            f"max by (namespace, cronjob) ({selector('kube_cronjob_info', *matchers)})\n"
            f" unless on(namespace, cronjob) {last_success}", WARNING,
            f"{what} has never succeeded",
            f"CronJob {{{{ $labels.cronjob }}}} in {namespace} (schedule `{schedule}`) exists but has no "
            f"successful run yet, {duration(limit)} after it appeared.", for_=duration(limit)),
    ]


def drift_check_cronjob(endpoint_name: str) -> str:
    return f"drift-{endpoint_name}"


def drift_rules(endpoint: EndpointWatch, runbook_base_url: str, monitoring_namespace: str) -> list[dict]:
    context = AlertContext(runbook_base_url, {"endpoint": endpoint.name, "team": endpoint.team, "component": "drift"})
    score = selector(DRIFT_SCORE, {"endpoint": endpoint.name})
    return [
        context.alert(
            "EndpointDriftAboveThreshold", f"max({score}) > {number(endpoint.drift.threshold)}", WARNING,
            f"The inputs of {endpoint.name} have drifted",
            f"The drift score of {endpoint.name} is {{{{ $value }}}}, above its threshold of "
            f"{number(endpoint.drift.threshold)}: live traffic no longer looks like the reference the model "
            f"was trained on. Check the per-feature scores (stackyard_drift_feature_psi) and consider retraining."),
        *cronjob_freshness_alerts(context, "EndpointDriftCheck", monitoring_namespace,
                                  drift_check_cronjob(endpoint.name), endpoint.drift.schedule,
                                  f"The drift check of {endpoint.name}"),
    ]


# --- GPU pools -------------------------------------------------------------------

def gpu_pool_rules(pool: GpuPoolWatch, runbook_base_url: str) -> RuleSet:
    context = AlertContext(runbook_base_url, {"pool": pool.name, "component": "gpu"})

    def dcgm(metric: str) -> str:
        return selector(metric, {"pool": pool.name})

    xid = dcgm("DCGM_FI_DEV_XID_ERRORS")
    fatal = " or ".join(f"{xid} == {code}" for code in FATAL_XIDS)
    price = (f"Each idle GPU in this pool costs about ${pool.hourly_price_per_gpu:.2f} per hour."
             if pool.hourly_price_per_gpu is not None else "No hourly price is known for this pool yet.")
    alerts = [
        context.alert(
            "GpuIdle",
            f"count(avg_over_time({dcgm('DCGM_FI_DEV_GPU_UTIL')}[1h]) < {GPU_IDLE_UTILIZATION_PERCENT}) > 0",
            WARNING, f"{{{{ $value }}}} GPUs in pool {pool.name} sit idle",
            f"{{{{ $value }}}} GPUs in pool {pool.name} averaged under {GPU_IDLE_UTILIZATION_PERCENT}% "
            f"utilization for the last hour. {price} Scale the pool or its workloads down.", for_="15m"),
        context.alert(
            "GpuTemperatureHigh",
            f"max by (node, gpu) ({dcgm('DCGM_FI_DEV_GPU_TEMP')}) > {GPU_TEMPERATURE_CELSIUS}", WARNING,
            "GPU {{ $labels.gpu }} on {{ $labels.node }} runs hot",
            f"GPU {{{{ $labels.gpu }}}} on node {{{{ $labels.node }}}} (pool {pool.name}) has been above "
            f"{GPU_TEMPERATURE_CELSIUS}°C for 10 minutes ({{{{ $value }}}}°C); it will throttle.", for_="10m"),
        context.alert(
            "GpuXidErrorFatal", f"max by (node, gpu) ({fatal})", CRITICAL,
            "GPU {{ $labels.gpu }} on {{ $labels.node }} reported fatal XID {{ $value }}",
            f"GPU {{{{ $labels.gpu }}}} on node {{{{ $labels.node }}}} (pool {pool.name}) reported XID "
            f"{{{{ $value }}}}, an uncorrectable hardware or memory error: drain the node and replace it."),
        context.alert(
            "GpuXidError",
            f"(max by (node, gpu) ({xid}) > 0)\n unless on(node, gpu) ({fatal})", WARNING,
            "GPU {{ $labels.gpu }} on {{ $labels.node }} reported XID {{ $value }}",
            f"GPU {{{{ $labels.gpu }}}} on node {{{{ $labels.node }}}} (pool {pool.name}) reported XID "
            f"{{{{ $value }}}}; look it up in NVIDIA's XID catalog and check the workload on it."),
        context.alert(
            "GpuMemoryPressure",
            f"max by (node, gpu) ({dcgm('DCGM_FI_DEV_FB_USED')}\n"
            f" / ({dcgm('DCGM_FI_DEV_FB_USED')} + {dcgm('DCGM_FI_DEV_FB_FREE')})) > {number(GPU_MEMORY_USED_RATIO)}",
            WARNING, "GPU {{ $labels.gpu }} on {{ $labels.node }} is nearly out of memory",
            f"GPU {{{{ $labels.gpu }}}} on node {{{{ $labels.node }}}} (pool {pool.name}) has used over "
            f"{GPU_MEMORY_USED_RATIO:.0%} of its memory for 15 minutes; the next allocation fails with "
            f"out-of-memory.", for_="15m"),
    ]
    return RuleSet(f"stackyard-gpu-pool-{pool.name}", {"stackyard.dev/pool": pool.name},
                   ({"name": f"gpu-pool-{pool.name}", "rules": alerts},))


def gpu_fleet_rules(runbook_base_url: str) -> RuleSet:
    context = AlertContext(runbook_base_url, {"component": "gpu"})
    alert = context.alert(
        "DcgmExporterDown", f"{selector('up', {'job': DCGM_EXPORTER_NAME})} == 0", WARNING,
        "The DCGM exporter on {{ $labels.node }} is down",
        "Prometheus cannot scrape the DCGM exporter on node {{ $labels.node }} (pool {{ $labels.pool }}): "
        "the GPU alerts for that node are blind.", for_="10m")
    return RuleSet("stackyard-gpu-fleet", {}, ({"name": "gpu-fleet", "rules": [alert]},))


# --- feature store and pipelines ---------------------------------------------------

def feature_store_rules(store: FeatureStoreWatch, runbook_base_url: str) -> RuleSet:
    context = AlertContext(runbook_base_url, {"component": "feature-store"})
    up = selector("up", {"namespace": store.namespace, "job": FEATURE_SERVER_NAME})
    alerts = [
        context.alert(
            "FeatureServerDown", f"(sum({up}) or on() vector(0)) == 0", CRITICAL,
            "The Feast feature server is down",
            f"No instance of {FEATURE_SERVER_NAME} in {store.namespace} answered a scrape for 5 minutes: "
            f"online feature lookups fail.", for_="5m"),
        *cronjob_freshness_alerts(context, "FeatureMaterialization", store.namespace, ".+",
                                  store.materialization_schedule, "Feature materialization"),
    ]
    return RuleSet("stackyard-feature-store", {"stackyard.dev/feature-store": "feast"},
                   ({"name": "feature-store", "rules": alerts},))


def pipelines_rules(pipelines: PipelinesWatch, runbook_base_url: str) -> RuleSet:
    context = AlertContext(runbook_base_url, {"component": "pipelines"})
    failed = selector("argo_workflows_count", {"namespace": pipelines.namespace}, {"status": "Failed|Error"})

    def down(name: str, job: str, what: str) -> dict:
        up = selector("up", {"namespace": pipelines.namespace, "job": job})
        return context.alert(name, f"(sum({up}) or on() vector(0)) == 0", CRITICAL, f"{what} is down",
                             f"Prometheus has not scraped {job} in {pipelines.namespace} for 10 minutes: "
                             f"pipeline runs and schedules stall.", for_="10m")

    alerts = [
        context.alert(
            "PipelineRunsFailed", f"sum({failed}) - sum({failed} offset 1h) > 0", WARNING,
            "{{ $value }} pipeline runs failed in the last hour",
            f"Argo holds {{{{ $value }}}} more failed or errored workflows (Kubeflow pipeline runs) in "
            f"{pipelines.namespace} than an hour ago. Open the Kubeflow Pipelines UI for the failed runs "
            f"and their logs."),
        down("KubeflowPipelinesApiDown", KFP_API_SERVER, "The Kubeflow Pipelines API server"),
        down("PipelineWorkflowControllerDown", WORKFLOW_CONTROLLER, "The Argo workflow controller"),
    ]
    return RuleSet("stackyard-pipelines", {"stackyard.dev/pipelines": "kubeflow"},
                   ({"name": "pipelines", "rules": alerts},))


def rule_sets(watchlist: Watchlist) -> list[RuleSet]:
    base = watchlist.runbook_base_url
    sets = [endpoint_rules(endpoint, base, watchlist.monitoring_namespace) for endpoint in watchlist.endpoints]
    sets += [gpu_pool_rules(pool, base) for pool in watchlist.gpu_pools]
    if watchlist.gpu_pools:
        sets.append(gpu_fleet_rules(base))
    if watchlist.feature_store:
        sets.append(feature_store_rules(watchlist.feature_store, base))
    if watchlist.pipelines:
        sets.append(pipelines_rules(watchlist.pipelines, base))
    return sets
