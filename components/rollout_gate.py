"""The automatic gate of an endpoint's rollout: Prometheus series derived from its SLO.

Flagger (components/rollouts.py) runs the rollout and asks Prometheus, once per
check, for the series recorded here; a value above its limit fails the check,
and `rollout.failureLimit` failed checks roll the traffic back to the stable
version. The PromQL lives in PrometheusRules (`stackyard-rollout-<name>`) rather than in Flagger's
MetricTemplates so that promtool checks and tests it like every other rule, and
the MetricTemplates only read the recorded series (`gate_query`).

Candidate and stable are told apart by pod name: Flagger copies the endpoint's
predictor Deployment `<name>-predictor` to `<name>-predictor-primary` (the
stable version) and runs the candidate in the original Deployment, so its pods
are `<name>-predictor-<replicaset hash>-<suffix>`.

Per check window (`rollout.intervalMinutes`), on the candidate only:
- error ratio: failed / all requests where the server counts failures; for
  KServe's Python servers, which count none, the share of the candidate's
  replicas that are not available. Limit: the SLO's error budget.
- latency: the share of requests slower than `slo.latencyP99Ms` (limit 1%, a
  p99 objective), or Triton's p99 compared with the objective directly.
- shadow: the share of mirrored requests whose answer differs from the stable
  version's, counted by the payload logger sink. Limit: `rollout.maxDisagreement`.

Pure functions: no Pulumi.
"""

from __future__ import annotations

from dataclasses import dataclass

from components import alert_rules
from components.watchlist import EndpointWatch, Watchlist
from environments.spec import SHADOW

CANDIDATE_ERRORS = "stackyard:rollout_candidate_errors:ratio"
CANDIDATE_LATENCY_SLOW = "stackyard:rollout_candidate_latency_slow:ratio"
CANDIDATE_LATENCY_P99 = "stackyard:rollout_candidate_latency_p99:seconds"
SHADOW_DISAGREEMENT = "stackyard:rollout_shadow_disagreement:ratio"
# Published by the payload logger sink for endpoints in a shadow rollout.
SHADOW_COMPARISONS = "stackyard_shadow_comparisons_total"
SHADOW_DISAGREEMENTS = "stackyard_shadow_disagreements_total"
# Flagger's own gauge of a rollout's last analysis: 0 running, 1 succeeded, 2 failed (rolled back).
FLAGGER_STATUS = "flagger_canary_status"
FLAGGER_FAILED = 2
LATENCY_BUDGET = 0.01  # a p99 objective: 1% of requests may be slower


def predictor_deployment(endpoint: str) -> str:
    """The Deployment KServe runs an endpoint's predictor in (RawDeployment), Flagger's target."""
    return f"{endpoint}-predictor"


def candidate_pods(endpoint: str) -> str:
    """A regex of the candidate's pods: the target Deployment's, not `<name>-predictor-primary-...`."""
    return f"{predictor_deployment(endpoint)}-[a-z0-9]+-[a-z0-9]+"


@dataclass(frozen=True)
class GateCheck:
    """One check of the gate: the recorded series Flagger reads and the highest value that passes."""

    name: str  # Flagger metric name, also the MetricTemplate suffix
    series: str
    limit: float
    what: str


def checks(endpoint: EndpointWatch) -> tuple[GateCheck, ...]:
    slo, rollout = endpoint.slo, endpoint.rollout
    found = [GateCheck("error-ratio", CANDIDATE_ERRORS, round(1 - slo.availability / 100, 8),
                       f"error ratio above the error budget of the {slo.availability}% SLO")]
    if endpoint.source.latency.histogram is not None:
        found.append(GateCheck("latency-slow-ratio", CANDIDATE_LATENCY_SLOW, LATENCY_BUDGET,
                               f"more than 1% of requests slower than {slo.latency_p99_ms} ms"))
    else:
        found.append(GateCheck("latency-p99", CANDIDATE_LATENCY_P99, slo.latency_p99_ms / 1000,
                               f"p99 latency above {slo.latency_p99_ms} ms"))
    if rollout.strategy == SHADOW:
        found.append(GateCheck("disagreement-ratio", SHADOW_DISAGREEMENT, rollout.disagreement_limit,
                               f"more than {rollout.disagreement_limit:.0%} of mirrored answers differ "
                               "from the stable version's"))
    return tuple(found)


def gate_query(endpoint: str, check: GateCheck) -> str:
    """What a Flagger MetricTemplate asks Prometheus: the recorded series of one check."""
    return f'max({check.series}{{endpoint="{endpoint}"}})'


def _window(endpoint: EndpointWatch) -> str:
    return f"{endpoint.rollout.interval_minutes}m"


def recording_rules(endpoint: EndpointWatch) -> list[dict]:
    selector, number = alert_rules.selector, alert_rules.number
    window = _window(endpoint)
    source = endpoint.source
    candidate = {**endpoint.selector}
    pods = {"pod": candidate_pods(endpoint.name)}
    labels = {"endpoint": endpoint.name, "namespace": endpoint.namespace}

    def rate(metric: str, matchers: dict | None = None) -> str:
        return f"sum(rate({selector(metric, {**candidate, **(matchers or {})}, pods)}[{window}]))"

    if source.failures is not None:
        requests = " + ".join(rate(metric) for metric in source.requests)
        errors = f"{rate(source.failures.metric, dict(source.failures.matchers))} / ({requests})"
    else:
        deployment = {"namespace": endpoint.namespace, "deployment": predictor_deployment(endpoint.name)}
        errors = (f"1 - sum({selector('kube_deployment_status_replicas_available', deployment)})"
                  f" / sum({selector('kube_deployment_spec_replicas', deployment)})")
    rules = [{"record": CANDIDATE_ERRORS, "expr": errors, "labels": dict(labels)}]
    latency = source.latency
    if latency.histogram is not None:
        count = rate(latency.histogram + "_count")
        good = alert_rules.good_latency_rate(source, candidate, endpoint.slo.latency_p99_ms / 1000, window, pods)
        rules.append({"record": CANDIDATE_LATENCY_SLOW, "expr": f"1 - ({good}) / {count}", "labels": dict(labels)})
    else:
        p99 = selector(latency.summary, {**candidate, "quantile": "0.99"}, pods)
        rules.append({"record": CANDIDATE_LATENCY_P99, "expr": f"max({p99}) * {number(latency.unit_seconds)}",
                      "labels": dict(labels)})
    if endpoint.rollout.strategy == SHADOW:
        compared = selector(SHADOW_COMPARISONS, {"endpoint": endpoint.name})
        differed = selector(SHADOW_DISAGREEMENTS, {"endpoint": endpoint.name})
        rules.append({"record": SHADOW_DISAGREEMENT,
                      "expr": f"sum(rate({differed}[{window}])) / sum(rate({compared}[{window}]))",
                      "labels": dict(labels)})
    return rules


def alerts(endpoint: EndpointWatch, context: alert_rules.AlertContext) -> list[dict]:
    """A failed check (warning) and a rollback (Flagger marked the rollout failed)."""
    number = alert_rules.number
    rollout = endpoint.rollout
    breach = "\n or ".join(f'{check.series}{{endpoint="{endpoint.name}"}} > {number(check.limit)}'
                           for check in checks(endpoint))
    described = "; ".join(f"{check.name}: {check.what}" for check in checks(endpoint))
    status = f'max({FLAGGER_STATUS}{{namespace="{endpoint.namespace}", name="{predictor_deployment(endpoint.name)}"}})'
    return [
        context.alert(
            "RolloutGateBreached", breach, alert_rules.WARNING,
            f"The {rollout.strategy} candidate of {endpoint.name} fails its rollout gate",
            f"The candidate version of {endpoint.name} breaches its gate over the last {_window(endpoint)} "
            f"({described}); Flagger rolls back after {rollout.failure_limit} failed checks. "
            f"Value: {{{{ $value }}}}."),
        context.alert(
            "RolloutRolledBack", f"{status} == {FLAGGER_FAILED}", alert_rules.CRITICAL,
            f"The rollout of {endpoint.name} was rolled back",
            f"Flagger rolled the {rollout.strategy} rollout of {endpoint.name} back to the stable version after "
            f"{rollout.failure_limit} failed checks: the candidate model version stays out of traffic until a "
            f"new version is locked. `stackyard rollout status` and `kubectl describe canary {endpoint.name} "
            f"-n {endpoint.namespace}` say which check failed."),
    ]


def rule_sets(watchlist: Watchlist) -> list[alert_rules.RuleSet]:
    """One PrometheusRule per endpoint with a rollout, `stackyard-rollout-<name>`: the gate and its alerts."""
    sets = []
    for endpoint in watchlist.endpoints:
        if endpoint.rollout is None:
            continue
        context = alert_rules.AlertContext(watchlist.runbook_base_url, {
            "endpoint": endpoint.name, "team": endpoint.team, "component": "rollout"})
        groups = ({"name": f"endpoint-{endpoint.name}-rollout-gate", "rules": recording_rules(endpoint)},
                  {"name": f"endpoint-{endpoint.name}-rollout-alerts", "rules": alerts(endpoint, context)})
        sets.append(alert_rules.RuleSet(f"stackyard-rollout-{endpoint.name}", {"stackyard.dev/endpoint": endpoint.name},
                                        groups))
    return sets
