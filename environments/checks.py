"""Semantic checks the JSON Schema cannot express: cross-references and bounds.

Each check takes the typed Spec and yields SpecProblems with the JSON path of
the offending field; the loader attaches file:line:column. Checks stay
standard-library only so `stackyard validate` needs no heavy import.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

from environments.cron import CronError, longest_gap
from environments.errors import SpecProblem
from environments.spec import SecretRef, Spec

Check = Callable[[Spec], Iterable[SpecProblem]]


def _problem(path: tuple, message: str) -> SpecProblem:
    return SpecProblem(None, path, message)


def unique_names(spec: Spec) -> Iterator[SpecProblem]:
    sections = {"nodePools": spec.node_pools, "teams": spec.teams, "endpoints": spec.endpoints,
                "pipelines": spec.pipelines}
    for section, items in sections.items():
        seen: set[str] = set()
        for index, item in enumerate(items):
            if item.name in seen:
                yield _problem((section, index, "name"), f"duplicate name {item.name!r} in {section}")
            seen.add(item.name)


def cluster_matches_cloud(spec: Spec) -> Iterator[SpecProblem]:
    if spec.cluster.type == "eks" and spec.cloud.provider != "aws":
        yield _problem(("cluster", "type"), "an EKS cluster needs `cloud.provider: aws`")
    if spec.cloud.provider == "aws" and not spec.cloud.region:
        yield _problem(("cloud",), "missing required field 'region' for cloud provider aws")
    if spec.cluster.endpoint_public_access and not spec.cluster.public_access_cidrs:
        yield _problem(("cluster", "publicAccessCidrs"),
                       "a public API endpoint needs an allow-list: set publicAccessCidrs")
    if "0.0.0.0/0" in spec.cluster.public_access_cidrs:
        yield _problem(("cluster", "publicAccessCidrs"),
                       "expected an allow-list of networks, found 0.0.0.0/0 (the whole internet)")


def pool_sizes(spec: Spec) -> Iterator[SpecProblem]:
    for index, pool in enumerate(spec.node_pools):
        if pool.min_size > pool.max_size:
            yield _problem(("nodePools", index, "minSize"),
                           f"expected minSize <= maxSize ({pool.max_size}), found {pool.min_size}")
        if not pool.min_size <= pool.desired_size <= pool.max_size:
            yield _problem(("nodePools", index, "desiredSize"),
                           f"expected desiredSize between minSize ({pool.min_size}) and maxSize "
                           f"({pool.max_size}), found {pool.desired_size}")
    system = spec.cluster.system_node_group
    if system.min_size > system.max_size:
        yield _problem(("cluster", "systemNodeGroup", "minSize"),
                       f"expected minSize <= maxSize ({system.max_size}), found {system.min_size}")


def endpoint_references(spec: Spec) -> Iterator[SpecProblem]:
    pools = {pool.name for pool in spec.node_pools}
    teams = {team.name for team in spec.teams}
    runtimes = {runtime.name for runtime in spec.serving.runtimes}
    for index, endpoint in enumerate(spec.endpoints):
        if endpoint.gpu and endpoint.gpu.pool not in pools:
            yield _problem(("endpoints", index, "gpu", "pool"),
                           f"unknown node pool {endpoint.gpu.pool!r}; expected one of {sorted(pools)}")
        if teams and endpoint.team not in teams:
            yield _problem(("endpoints", index, "team"),
                           f"unknown team {endpoint.team!r}; expected one of {sorted(teams)}")
        if runtimes and endpoint.runtime not in runtimes:
            yield _problem(("endpoints", index, "runtime"),
                           f"unknown serving runtime {endpoint.runtime!r}; expected one of {sorted(runtimes)}")
        if endpoint.replicas.min > endpoint.replicas.max:
            yield _problem(("endpoints", index, "replicas", "min"),
                           f"expected min <= max ({endpoint.replicas.max}), found {endpoint.replicas.min}")


def policy_references(spec: Spec) -> Iterator[SpecProblem]:
    for index, pool in enumerate(spec.node_pools):
        if pool.provisioner == "karpenter" and pool.gpu_limit is None:
            yield _problem(("nodePools", index, "gpuLimit"),
                           "a Karpenter GPU pool needs gpuLimit (the most GPUs it may launch)")


# Receiver types and what their `secret` holds; email receivers hold an optional SMTP password.
_RECEIVER_SECRETS = {"slack": "Slack webhook URL", "pagerduty": "PagerDuty routing key",
                     "webhook": "webhook URL"}
_EMAIL_FIELDS = ("to", "smarthost", "sender")
DISCARD_RECEIVER = "stackyard-discard"  # the Alertmanager receiver that drops unrouted alerts


def monitoring_settings(spec: Spec) -> Iterator[SpecProblem]:
    monitoring = spec.monitoring
    if monitoring.enabled and monitoring.grafana_admin_password is None:
        yield _problem(("monitoring",), "enabled monitoring needs grafanaAdminPassword, a secret reference for "
                                        "Grafana's admin login (e.g. {config: grafanaAdminPassword})")
    refs: list[tuple[tuple, SecretRef]] = []
    if monitoring.grafana_admin_password:
        refs.append((("monitoring", "grafanaAdminPassword"), monitoring.grafana_admin_password))
    seen: set[str] = set()
    for index, receiver in enumerate(monitoring.receivers):
        path = ("monitoring", "receivers", index)
        if receiver.name in seen or receiver.name == DISCARD_RECEIVER:
            yield _problem(path + ("name",), f"receiver name {receiver.name!r} is "
                                             f"{'used twice' if receiver.name in seen else 'reserved'}")
        seen.add(receiver.name)
        if receiver.type == "email":
            missing = [name for name in _EMAIL_FIELDS if getattr(receiver, name) is None]
            if missing:
                yield _problem(path, f"an email receiver needs {', '.join(_EMAIL_FIELDS)}; missing {', '.join(missing)}")
        else:
            if receiver.secret is None:
                yield _problem(path, f"a {receiver.type} receiver needs `secret`, a reference to its "
                                     f"{_RECEIVER_SECRETS[receiver.type]}")
            extra = [name for name in _EMAIL_FIELDS if getattr(receiver, name) is not None]
            if extra:
                yield _problem(path + (extra[0],), f"only email receivers take {', '.join(_EMAIL_FIELDS)}; "
                                                   f"found {extra[0]!r} on a {receiver.type} receiver")
        if receiver.secret:
            refs.append((path + ("secret",), receiver.secret))
    if spec.cloud.provider != "aws":
        for path, ref in refs:
            if ref.arn:
                yield _problem(path + ("arn",), "a Secrets Manager reference needs `cloud.provider: aws`; "
                                                "use {config: NAME} (a Pulumi config secret) instead")


def drift_settings(spec: Spec) -> Iterator[SpecProblem]:
    for index, endpoint in enumerate(spec.endpoints):
        if not endpoint.drift.enabled:
            continue
        path = ("endpoints", index, "drift")
        if not spec.monitoring.enabled:
            yield _problem(path + ("enabled",), "drift detection runs in monitoring: set monitoring.enabled: true "
                                                "or drift.enabled: false")
        if not endpoint.payload_logging:
            yield _problem(("endpoints", index, "payloadLogging"),
                           "drift detection reads the endpoint's logged payloads: expected payloadLogging: true "
                           "when drift.enabled is true, found false")
        try:
            longest_gap(endpoint.drift.schedule)
        except CronError as error:
            yield _problem(path + ("schedule",), f"invalid cron schedule: {error}")


CHECKS: tuple[Check, ...] = (
    unique_names,
    cluster_matches_cloud,
    pool_sizes,
    endpoint_references,
    policy_references,
    monitoring_settings,
    drift_settings,
)


def run(spec: Spec) -> list[SpecProblem]:
    return [problem for check in CHECKS for problem in check(spec)]
