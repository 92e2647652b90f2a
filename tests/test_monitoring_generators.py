"""The pure pieces behind the generated monitoring: PromQL names, cron gaps, thresholds, catalog lookups."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from components import alert_rules, dashboards
from components.metrics_catalog import image_name
from components.metrics_catalog import load as load_catalog
from components.promql import metric_names
from components.watchlist import GpuPoolWatch, build
from environments import loader
from environments.cron import CronError, longest_gap


@pytest.mark.parametrize("expression, names", [
    ('sum by (le) (rate(http_bucket{job="a", le=~"0.5|1"}[5m] offset 1h))', {"http_bucket"}),
    ("histogram_quantile(0.99, sum(rate(x_bucket[5m])) by (le))", {"x_bucket"}),
    ("a / on(instance) group_left(node, pool) b", {"a", "b"}),
    ('(sum(rate(x[30m])) or on() vector(0)) == 0 and on() y{a="}{by(z)"} > 1e3', {"x", "y"}),
    ('{__name__="weird:name", job="x"} > Inf and count_values("v", m)', {"weird:name", "m"}),
    ("sum without (instance) (rate(z[1m:30s])) @ end() unless bar offset -5m", {"z", "bar"}),
    ('label_replace(up, "dst", "$1", "src", "(.*)")  # not_a_metric in a comment', {"up"}),
    ("1 - avg_over_time(stackyard:endpoint_ready:bool[3d]) > bool 0.5", {"stackyard:endpoint_ready:bool"}),
    ("topk(3, sum by (pool) (DCGM_FI_DEV_GPU_UTIL)) * 0x1F", {"DCGM_FI_DEV_GPU_UTIL"}),
    ("time() - kube_cronjob_status_last_successful_time", {"kube_cronjob_status_last_successful_time"}),
])
def test_metric_names_finds_selectors_only(expression, names):
    assert metric_names(expression) == names


@pytest.mark.parametrize("schedule, gap", [
    ("*/15 * * * *", timedelta(minutes=15)),
    ("15 * * * *", timedelta(hours=1)),
    ("0 2 * * *", timedelta(days=1)),
    ("0 6 * * 1", timedelta(days=7)),
    ("0 9 * * mon-fri", timedelta(days=3)),  # Friday 09:00 -> Monday 09:00
    ("30 9 1,15 * *", timedelta(days=17)),  # the 15th -> the 1st of a 31-day month
    ("0 0 1 * 1", timedelta(days=7)),  # day-of-month OR day-of-week, as cron does
    ("0 0 29 2 *", timedelta(days=1461)),
    ("5/10 * * jan,jul sun", timedelta(days=160, minutes=10)),  # last January Sunday -> first July one
])
def test_longest_gap_between_runs(schedule, gap):
    assert longest_gap(schedule) == gap


@pytest.mark.parametrize("schedule, message", [
    ("* * *", "expected 5 fields"),
    ("61 * * * *", "minute field '61': expected 0-59, found 61"),
    ("0 0 30 2 *", "never runs twice"),
    ("0 0 31 4,6,9,11 *", "never runs twice"),
])
def test_invalid_schedules_say_what_is_wrong(schedule, message):
    with pytest.raises(CronError, match=message):
        longest_gap(schedule)


def test_freshness_limit_is_two_missed_runs_and_slack():
    assert alert_rules.freshness_limit("*/15 * * * *") == timedelta(minutes=40)
    assert alert_rules.duration(timedelta(minutes=40)) == "40m"
    assert alert_rules.duration(timedelta(hours=2, minutes=10)) == "2h10m"


def test_le_values_as_prometheus_3_stores_them():
    assert [alert_rules.le_value(b) for b in (0.005, 0.1, 1.0, 2.5, 10, 100000)] == \
        ["0.005", "0.1", "1.0", "2.5", "10.0", "100000.0"]


def test_selector_quotes_values():
    assert alert_rules.selector("m", {"a": 'x"y'}, {"b": "c|d"}) == 'm{a="x\\"y", b=~"c|d"}'


def _latency(threshold_seconds: float, source: str = "kserve-modelserver") -> str:
    return alert_rules.good_latency_rate(load_catalog().request_sources[source], {"inferenceservice": "e"},
                                         threshold_seconds, "5m")


def test_good_latency_uses_the_bucket_at_the_threshold_or_interpolates_inside_it():
    assert _latency(0.25) == 'sum(rate(request_predict_seconds_bucket{inferenceservice="e", le="0.25"}[5m]))'
    between = _latency(0.15)  # a third of the way from 0.1 to 0.25
    assert 'le="0.1"' in between and 'le="0.25"' in between and "* 0.333333" in between
    below_first = _latency(0.002)
    assert below_first.endswith("* 0.4") and 'le="0.005"' in below_first
    beyond_last = _latency(30)
    assert beyond_last == 'sum(rate(request_predict_seconds_bucket{inferenceservice="e", le="10.0"}[5m]))'
    assert 'le="150.0"' in _latency(0.15, "queue-proxy")  # milliseconds there


def test_burn_factors_follow_the_slo_window():
    spec = loader.load("prod")
    watch = build(spec.monitoring, spec.serving, spec.endpoints, spec.node_pools, spec.feature_store,
                  spec.kubeflow, {})
    endpoint = watch.endpoints[0]
    four_weeks = dataclasses.replace(endpoint, slo=dataclasses.replace(endpoint.slo, window_days=28))
    rules = alert_rules.endpoint_rules(four_weeks, "https://runbooks", "monitoring")
    fast = next(r for g in rules.groups for r in g["rules"] if r.get("alert") == "EndpointAvailabilityBurnRateFast")
    assert "> 0.01344" in fast["expr"]  # 2% of 28 days' budget in one hour = 13.44x, times 0.001


def test_request_source_follows_deployment_mode_and_runtime_image():
    catalog = load_catalog()
    assert image_name("nvcr.io/nvidia/tritonserver:25.04-py3") == "tritonserver"
    assert image_name("registry/x/sklearnserver@sha256:abc") == "sklearnserver"
    assert catalog.request_source("nvcr.io/nvidia/tritonserver:25.04-py3", serverless=False).name == "triton"
    assert catalog.request_source("docker.io/kserve/xgbserver:v0.15.2", serverless=False).name == \
        "kserve-modelserver"
    assert catalog.request_source("nvcr.io/nvidia/tritonserver:25.04-py3", serverless=True).name == "queue-proxy"


def test_every_request_source_reads_catalog_metrics():
    catalog = load_catalog()
    for source in catalog.request_sources.values():
        published = catalog.series_names(source.exporter)
        used = set(source.requests) | ({source.failures.metric} if source.failures else set())
        if source.latency.histogram:
            used |= {source.latency.histogram + "_bucket", source.latency.histogram + "_count"}
        else:
            used.add(source.latency.summary)
        assert used <= published, (source.name, sorted(used - published))


def test_runbook_anchor_per_alert():
    assert alert_rules.runbook_url("https://r.example/stackyard/", "GpuXidErrorFatal") == \
        "https://r.example/stackyard#gpu-xid-error-fatal"


def test_cost_panel_prices_a_pool_that_has_a_price():
    priced = dashboards.gpu_fleet_dashboard([GpuPoolWatch("a10g-inference", 1.006), GpuPoolWatch("l4", None)])
    cost = next(p for p in priced["panels"] if p["title"] == "Cost of a10g-inference")
    assert cost["targets"][0]["expr"].endswith("* 1.006") and cost["fieldConfig"]["defaults"]["unit"] == "currencyUSD"
    assert any(p["title"] == "GPUs in l4" for p in priced["panels"])
    idle = alert_rules.gpu_pool_rules(GpuPoolWatch("a10g-inference", 1.006), "https://r").groups[0]["rules"][0]
    assert "$1.01 per hour" in idle["annotations"]["description"]


def test_long_names_get_a_short_unique_dashboard_uid():
    long_a, long_b = "a" * 42, "a" * 41 + "b"
    uids = {dashboards.dashboard_uid("endpoint", long_a), dashboards.dashboard_uid("endpoint", long_b)}
    assert len(uids) == 2 and all(len(uid) <= 40 for uid in uids)
