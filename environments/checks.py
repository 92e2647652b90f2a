"""Semantic checks the JSON Schema cannot express: cross-references and bounds.

Each check takes the typed Spec and yields SpecProblems with the JSON path of
the offending field; the loader attaches file:line:column. Checks stay
standard-library only so `stackyard validate` needs no heavy import.
"""

from __future__ import annotations

import ast
import difflib
import re
from pathlib import Path
from typing import Callable, Iterable, Iterator

from environments import compatibility, gpu_catalog, naming, urls
from environments.cron import CronError, cron_problem, longest_gap
from environments.derived_names import name_problems
from environments.errors import SpecProblem
from environments.project import repository_root
from environments.pipeline_source import pipeline_function
from environments.spec import BLUE_GREEN, CANARY, SERVERLESS, SHADOW, NodePool, Pipeline, SecretRef, Spec

Check = Callable[[Spec], Iterable[SpecProblem]]


def _problem(path: tuple, message: str) -> SpecProblem:
    return SpecProblem(None, path, message)


def _unknown(what: str, name: str, known: Iterable[str]) -> str:
    """`unknown node pool 'gpu-a10'; did you mean 'gpu-a100'?`, else the names there are."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"unknown {what} {name!r}; " + (f"did you mean {close[0]!r}?" if close else f"expected one of {known}")


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


def spec_urls(spec: Spec) -> Iterator[SpecProblem]:
    """URLs in a spec pass the one URL check registry answers and lock files pass too."""
    fields = [(("monitoring", "runbookBaseUrl"), spec.monitoring.runbook_base_url, ("https",))]
    if spec.serving.registry is not None:
        fields.append((("serving", "registry", "trackingUri"), spec.serving.registry.tracking_uri, urls.WEB_SCHEMES))
    for path, url, schemes in fields:
        problem = urls.url_problem(url, schemes)
        if problem:
            yield _problem(path, problem)


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
            message = (_unknown("node pool", endpoint.gpu.pool, pools) if pools
                       else f"unknown node pool {endpoint.gpu.pool!r}; this environment defines no nodePools")
            yield _problem(("endpoints", index, "gpu", "pool"), message)
        if teams and endpoint.team not in teams:
            yield _problem(("endpoints", index, "team"), _unknown("team", endpoint.team, teams))
        if runtimes and endpoint.runtime not in runtimes:
            yield _problem(("endpoints", index, "runtime"), _unknown("serving runtime", endpoint.runtime, runtimes))
        if endpoint.replicas.min > endpoint.replicas.max:
            yield _problem(("endpoints", index, "replicas", "min"),
                           f"expected min <= max ({endpoint.replicas.max}), found {endpoint.replicas.min}")


def policy_references(spec: Spec) -> Iterator[SpecProblem]:
    for index, pool in enumerate(spec.node_pools):
        if pool.provisioner == "karpenter" and pool.gpu_limit is None:
            yield _problem(("nodePools", index, "gpuLimit"),
                           "a Karpenter GPU pool needs gpuLimit (the most GPUs it may launch)")


def _parameters(node: ast.FunctionDef) -> tuple[list[str], set[str]]:
    """All parameter names of a function, and those without a default (the required ones)."""
    args = node.args
    positional = args.posonlyargs + args.args
    required = {a.arg for a in positional[:len(positional) - len(args.defaults)]}
    required |= {a.arg for a, default in zip(args.kwonlyargs, args.kw_defaults) if default is None}
    return [a.arg for a in positional + args.kwonlyargs], required


def pipeline_problems(index: int, pipeline: Pipeline, root: Path) -> Iterator[SpecProblem]:
    """A pipeline's source stays inside `root`/pipelines, defines its function, and its schedules fit it."""
    pipelines_dir = (root / "pipelines").resolve()
    source = (root / pipeline.source).resolve()  # resolves symlinks: a link out of pipelines/ is an escape
    if not source.is_relative_to(pipelines_dir):
        yield _problem(("pipelines", index, "source"),
                       f"expected a file inside the repository's pipelines/ folder, found {pipeline.source!r} "
                       f"resolving to {source}")
        return
    if not source.is_file():
        yield _problem(("pipelines", index, "source"), f"pipeline file {pipeline.source} does not exist")
        return
    node, problem = pipeline_function(source, pipeline.function)
    if node is None:
        yield _problem(("pipelines", index, "function"), problem)
        return
    parameters, required = _parameters(node)
    seen: set[str] = set()
    for s_index, schedule in enumerate(pipeline.schedules):
        where = ("pipelines", index, "schedules", s_index)
        if schedule.name in seen:
            yield _problem(where + ("name",), f"duplicate schedule name {schedule.name!r}")
        seen.add(schedule.name)
        problem = cron_problem(schedule.cron)
        if problem:
            yield _problem(where + ("cron",), f"invalid cron schedule: {problem}")
        for key in schedule.parameters:
            if key not in parameters:
                close = difflib.get_close_matches(key, list(parameters), n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                yield _problem(where + ("parameters", key),
                               f"unknown parameter {key!r}: {pipeline.function} in {pipeline.source} takes "
                               f"{parameters}{hint}")
        missing = sorted(required - set(schedule.parameters))
        if missing:
            yield _problem(where + ("parameters",),
                           f"missing required parameter{'s' if len(missing) > 1 else ''} {missing} "
                           f"of {pipeline.function}")


def pipeline_references(spec: Spec) -> Iterator[SpecProblem]:
    root = repository_root()  # the project's pipelines/, the ones `stackyard plan` compiles
    for index, pipeline in enumerate(spec.pipelines):
        yield from pipeline_problems(index, pipeline, root)
        pools = {pool.name for pool in spec.node_pools}
        if pipeline.gpu and pipeline.gpu.pool not in pools:
            yield _problem(("pipelines", index, "gpu", "pool"),
                           _unknown("node pool", pipeline.gpu.pool, pools))
    if spec.kubeflow.enabled and spec.cloud.provider == "aws" and not spec.kubeflow.artifact_bucket:
        yield _problem(("kubeflow",), "missing required field 'artifactBucket': Kubeflow Pipelines on AWS keeps "
                                      "its artifacts in an S3 bucket")


def feature_store_storage(spec: Spec) -> Iterator[SpecProblem]:
    """Storage choices that cannot work together: cloud stores need AWS, volumes need a single cluster."""
    store = spec.feature_store
    if not store.enabled:
        return
    aws = spec.cloud.provider == "aws"
    offline, online, registry = store.offline_store, store.online_store, store.registry
    at = ("featureStore",)
    if offline.type == "s3" and not aws:
        yield _problem(at + ("offlineStore", "type"), "an s3 offline store needs `cloud.provider: aws`; "
                       "without a cloud use `type: file`")
    if offline.type == "s3" and not offline.bucket:
        yield _problem(at + ("offlineStore",), "missing required field 'bucket' for offline store type s3")
    if offline.type == "file" and offline.bucket:
        yield _problem(at + ("offlineStore", "bucket"), "a bucket is only used by an s3 offline store")
    if offline.type == "file" and aws:
        yield _problem(at + ("offlineStore", "type"), "a file offline store lives on one volume in the "
                       "cluster; with `cloud.provider: aws` use `type: s3` and a bucket")
    if online.type == "dynamodb" and not aws:
        yield _problem(at + ("onlineStore", "type"), "a dynamodb online store needs `cloud.provider: aws`; "
                       "without a cloud use `type: redis` (in-cluster)")
    if online.type == "redis" and aws and online.auth_token is None:
        yield _problem(at + ("onlineStore",), "missing required field 'authToken' for an ElastiCache Redis "
                       "online store: a secret reference {config: <name>} or {arn: <secret ARN>}")
    if registry.type == "s3" and offline.type != "s3":
        yield _problem(at + ("registry", "type"), "an s3 registry is an object in the offline store bucket; "
                       f"it needs `offlineStore.type: s3`, found {offline.type!r}")
    if registry.type == "sql" and not aws:
        yield _problem(at + ("registry", "type"), "a sql registry runs on RDS PostgreSQL and needs "
                       "`cloud.provider: aws`; without a cloud use `type: file`")
    if registry.type == "sql" and registry.password is None:
        yield _problem(at + ("registry",), "missing required field 'password' for a sql registry: "
                       "a secret reference {config: <name>} or {arn: <secret ARN>}")
    if registry.type == "sql" and spec.versions.postgres is None:
        yield _problem(("versions",), "missing required field 'postgres' (the RDS engine version of the "
                       "sql feature registry)")
    if registry.type == "file" and aws:
        yield _problem(at + ("registry", "type"), "a file registry lives on one volume in the cluster, out of "
                       "reach of replicas on other nodes; with `cloud.provider: aws` use `s3` or `sql`")
    for path, ref in ((("onlineStore", "authToken"), online.auth_token), (("registry", "password"), registry.password)):
        if ref is not None and ref.arn and not aws:
            yield _problem(at + path + ("arn",), "a Secrets Manager reference needs `cloud.provider: aws`; "
                           "use {config: <pulumi config secret name>}")


def feature_store_service(spec: Spec) -> Iterator[SpecProblem]:
    store = spec.feature_store
    if not store.enabled:
        return
    problem = cron_problem(store.materialization_schedule)
    if problem:
        yield _problem(("featureStore", "materializationSchedule"), problem)
    replicas = store.server.replicas
    if replicas.min < 1:
        yield _problem(("featureStore", "server", "replicas", "min"),
                       f"expected at least 1 feature server replica (the autoscaler's floor), found {replicas.min}")
    if replicas.min > replicas.max:
        yield _problem(("featureStore", "server", "replicas", "min"),
                       f"expected min <= max ({replicas.max}), found {replicas.min}")
    if spec.versions.feast is None:
        yield _problem(("versions",), "missing required field 'feast' (the feature server image version)")


# EKS AMI release versions: AL2023 "<kubernetes x.y.z>-<yyyymmdd>", Bottlerocket "<bottlerocket x.y.z>-<commit>".
_AL2023_RELEASE = re.compile(r"^(?P<kubernetes>[0-9]+\.[0-9]+)\.[0-9]+-[0-9]{8}\Z")
_BOTTLEROCKET_RELEASE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+-[0-9a-f]{8}\Z")


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _pool_instances(pool: NodePool) -> list[gpu_catalog.GpuInstanceType]:
    catalog = gpu_catalog.catalog()
    return [catalog.get(name) for name in pool.instance_types if catalog.get(name) is not None]


def gpu_pools(spec: Spec) -> Iterator[SpecProblem]:
    """Every pool runs known NVIDIA GPU instances of one GPU model, on a pinned GPU AMI, on EKS."""
    catalog = gpu_catalog.catalog()
    for index, pool in enumerate(spec.node_pools):
        if spec.cluster.type != "eks":
            yield _problem(("nodePools", index),
                           "GPU node pools need `cluster.type: eks`; an existing cluster brings its own nodes")
        for position, name in enumerate(pool.instance_types):
            if catalog.get(name) is None:
                close = difflib.get_close_matches(name, list(catalog.instance_types), n=1, cutoff=0.8)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                yield _problem(("nodePools", index, "instanceTypes", position),
                               f"expected an NVIDIA GPU instance type (families {', '.join(catalog.families())}), "
                               f"found {name!r}{hint}")
        instances = _pool_instances(pool)
        models = sorted({instance.gpu_model for instance in instances})
        if len(models) > 1:
            found = ", ".join(f"{i.name} ({i.gpu_model})" for i in instances)
            yield _problem(("nodePools", index, "instanceTypes"),
                           f"expected one GPU model per pool (its nodes carry one accelerator label), found {found}")
        elif pool.provisioner == "managed" and len({instance.gpus for instance in instances}) > 1:
            found = ", ".join(f"{i.name} ({i.gpus})" for i in instances)
            yield _problem(("nodePools", index, "instanceTypes"),
                           "expected the same number of GPUs per node in a managed pool (cluster-autoscaler "
                           f"scales it from zero from one node template), found {found}")
        if pool.provisioner == "karpenter" and pool.gpu_limit is not None and instances:
            smallest = min(instance.gpus for instance in instances)
            if pool.gpu_limit < smallest:
                yield _problem(("nodePools", index, "gpuLimit"),
                               f"expected gpuLimit >= {smallest} (the fewest GPUs one node of this pool has), "
                               f"found {pool.gpu_limit}: the pool could never launch a node")
        yield from _pinned_ami(spec, index, pool)


def _pinned_ami(spec: Spec, index: int, pool: NodePool) -> Iterator[SpecProblem]:
    if pool.ami is None:
        yield _problem(("nodePools", index),
                       "missing required field 'ami': a GPU pool needs a GPU AMI type and a pinned releaseVersion")
        return
    release = pool.ami.release_version
    if pool.ami.is_bottlerocket:
        if not _BOTTLEROCKET_RELEASE.match(release):
            yield _problem(("nodePools", index, "ami", "releaseVersion"),
                           f"expected a Bottlerocket release like '1.39.1-5c1bc5f2', found {release!r}")
        return
    match = _AL2023_RELEASE.match(release)
    if not match:
        yield _problem(("nodePools", index, "ami", "releaseVersion"),
                       f"expected an EKS AL2023 AMI release like '1.33.0-20250519', found {release!r}")
    elif match["kubernetes"] != _minor(spec.versions.kubernetes):
        yield _problem(("nodePools", index, "ami", "releaseVersion"),
                       f"expected an AMI release for Kubernetes {_minor(spec.versions.kubernetes)} "
                       f"(versions.kubernetes), found {release!r}")


def workload_pool_references(spec: Spec) -> Iterator[SpecProblem]:
    """Endpoints and pipelines ask for no more GPUs than one node of their pool holds."""
    pools = {pool.name: pool for pool in spec.node_pools}
    workloads = [("endpoints", index, item.gpu) for index, item in enumerate(spec.endpoints)]
    workloads += [("pipelines", index, item.gpu) for index, item in enumerate(spec.pipelines)]
    for section, index, gpu in workloads:
        if gpu is None or gpu.pool not in pools:
            continue  # an unknown pool is reported by endpoint_references / pipeline_references
        most = max((instance.gpus for instance in _pool_instances(pools[gpu.pool])), default=None)
        if most is not None and gpu.count > most:
            yield _problem((section, index, "gpu", "count"),
                           f"expected at most {most} GPU{'s' if most != 1 else ''} (the most one node of pool "
                           f"{gpu.pool!r} has), "
                           f"found {gpu.count}: the pod could never be scheduled")


def cluster_network(spec: Spec) -> Iterator[SpecProblem]:
    vpc = spec.cluster.vpc
    if spec.cluster.type != "eks" or spec.cloud.provider != "aws":
        return  # cluster_matches_cloud reports an EKS cluster without AWS
    if vpc is None or (vpc.subnet_ids is None and not vpc.availability_zones):
        yield _problem(("cluster", "vpc") if vpc else ("cluster",),
                       "an EKS cluster needs `vpc.subnetIds` (existing private subnets) or "
                       "`vpc.availabilityZones` (a VPC Stackyard creates)")


def team_namespaces(spec: Spec) -> Iterator[SpecProblem]:
    """Each team gets a namespace named after it; it must not be one the platform uses or would use.

    A component's namespace is reserved whether or not it is enabled: enabling it later must not
    find a team (its quota, its LimitRange, its deletion) already owning the namespace.
    """
    taken = {name: "a namespace the platform itself uses" for name in naming.PLATFORM_NAMESPACES}
    taken.update({name: "a system namespace of the cluster" for name in spec.cluster.system_namespaces})
    taken[spec.serving.namespace] = "the serving namespace"
    taken[spec.kubeflow.namespace] = "the Kubeflow Pipelines namespace"
    taken[spec.feature_store.namespace] = "the feature store namespace"
    taken[spec.monitoring.namespace] = "the monitoring namespace"
    for index, team in enumerate(spec.teams):
        if team.name in taken:
            yield _problem(("teams", index, "name"),
                           f"team namespace {team.name!r} is {taken[team.name]}; choose another team name")


def component_versions(spec: Spec) -> Iterator[SpecProblem]:
    """Every component the spec asks for has its version pinned in `versions`."""
    if spec.cluster.type != "eks":
        return  # nothing is installed on an existing cluster's behalf (GPU pools there are rejected)
    needed = {key: "the EKS cluster installs it as a managed add-on"
              for key in ("vpcCni", "coredns", "kubeProxy", "awsEbsCsiDriver")}
    if any(pool.provisioner == "managed" for pool in spec.node_pools):
        needed["clusterAutoscaler"] = "managed GPU node groups scale with cluster-autoscaler"
    if any(pool.provisioner == "karpenter" for pool in spec.node_pools):
        needed["karpenter"] = "a Karpenter pool installs the Karpenter controller"
    if any(pool.ami is not None and not pool.ami.ships_device_plugin for pool in spec.node_pools):
        needed["nvidiaDevicePlugin"] = "GPU pools on AL2023 need the NVIDIA device plugin"
    if spec.node_pools:
        needed["dcgmExporter"] = "GPU pools export GPU metrics with the DCGM exporter"
    for key, why in needed.items():
        if not spec.versions.pinned(key):
            yield _problem(("versions",), f"missing required field {key!r}: {why}")


def version_compatibility(spec: Spec) -> Iterator[SpecProblem]:
    """The pins work together, as environments/compatibility.yaml says (each rule with its source)."""
    for verdict in compatibility.verdicts(spec.versions):
        if not verdict.ok:
            yield _problem(("versions", verdict.blamed),
                           f"incompatible pins: {verdict.describe(spec.versions)}")


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
            yield _problem(path + ("schedule",), str(error))


# The KServe Helm chart installs its own ClusterServingRuntimes, all named
# `kserve-*`; a runtime of the spec with such a name would be owned twice.
KSERVE_CHART_RUNTIME_PREFIX = "kserve-"


def serving_modes(spec: Spec) -> Iterator[SpecProblem]:
    """What KServe can do depends on the deployment mode; say so before anything is built."""
    for index, endpoint in enumerate(spec.endpoints):
        mode = endpoint.deployment_mode_in(spec.serving)
        if mode == SERVERLESS:
            continue
        where = f"deploymentMode is {mode}"
        if endpoint.canary is not None:
            yield _problem(("endpoints", index, "canary"),
                           f"canary traffic needs deploymentMode Serverless, found {where}: KServe splits "
                           "traffic between the previous and the new revision only in Serverless (Knative) "
                           "mode; set `deploymentMode: Serverless` on this endpoint or remove `canary`")
        metric, _target = endpoint.autoscaling.resolved(mode)
        if metric in ("concurrency", "rps"):
            yield _problem(("endpoints", index, "autoscaling", "metric"),
                           f"autoscaling on {metric} needs deploymentMode Serverless, found {where}: "
                           "RawDeployment scales with a HorizontalPodAutoscaler on cpu or memory")
        if endpoint.replicas.min == 0:
            yield _problem(("endpoints", index, "replicas", "min"),
                           f"scaling to zero needs deploymentMode Serverless, found {where}: "
                           "RawDeployment keeps at least one replica")


def rollout_settings(spec: Spec) -> Iterator[SpecProblem]:
    """A rollout runs in Flagger on the predictor Deployment, routes through a Gateway and is judged by Prometheus."""
    for index, endpoint in enumerate(spec.endpoints):
        rollout = endpoint.rollout
        if rollout is None:
            continue
        path = ("endpoints", index, "rollout")
        mode = endpoint.deployment_mode_in(spec.serving)
        if mode == SERVERLESS:
            yield _problem(path, "a rollout needs deploymentMode RawDeployment, found Serverless: Flagger shifts "
                                 "traffic between Deployments, Knative revisions have their own split "
                                 "(use `canary.trafficPercent` there)")
        if endpoint.canary is not None:
            yield _problem(("endpoints", index, "canary"), "set either `canary` (KServe's Serverless split) or "
                                                           "`rollout`, not both")
        if rollout.strategy == CANARY:
            if not rollout.step_weights:
                yield _problem(path + ("stepWeights",), "missing required field 'stepWeights' for strategy canary: "
                                                        "the traffic percentages of the steps, e.g. [5, 25, 50]")
            for position, (before, after) in enumerate(zip(rollout.step_weights, rollout.step_weights[1:]), 1):
                if after <= before:
                    yield _problem(path + ("stepWeights", position),
                                   f"expected steps that only grow, found {after} after {before}")
            if rollout.iterations is not None:
                yield _problem(path + ("iterations",), "iterations are for strategies blueGreen and shadow; "
                                                       "a canary takes one check per step of stepWeights")
        elif rollout.step_weights:
            yield _problem(path + ("stepWeights",), f"stepWeights are for strategy canary, found strategy "
                                                    f"{rollout.strategy}: it moves all traffic in one switch "
                                                    "after `iterations` checks")
        if rollout.strategy == BLUE_GREEN and rollout.test_webhook is None:
            yield _problem(path + ("testWebhook",), "missing required field 'testWebhook' for strategy blueGreen: "
                                                    "the candidate gets no live traffic before the switch, so "
                                                    "the gate would judge no requests; name the tests (or load "
                                                    "generator) that exercise it")
        if rollout.strategy == SHADOW and not endpoint.payload_logging:
            yield _problem(("endpoints", index, "payloadLogging"),
                           "a shadow rollout compares the answers the payload logger records: expected "
                           "payloadLogging: true for strategy shadow, found false")
        if rollout.max_disagreement is not None and rollout.strategy != SHADOW:
            yield _problem(path + ("maxDisagreement",), f"maxDisagreement is for strategy shadow, found strategy "
                                                        f"{rollout.strategy}")
        if spec.serving.gateway is None:
            yield _problem(path, "a rollout routes through a Gateway API Gateway: set serving.gateway "
                                 "{name, namespace} to the Gateway the endpoint's HTTPRoute attaches to")
        if not spec.monitoring.enabled:
            yield _problem(path, "a rollout is judged on Prometheus queries: set monitoring.enabled: true")
    if any(endpoint.rollout for endpoint in spec.endpoints) and not spec.versions.pinned("flagger"):
        yield _problem(("versions",), "missing required field 'flagger': endpoint rollouts run in Flagger, "
                                      "whose chart version must be pinned")


def serving_requirements(spec: Spec) -> Iterator[SpecProblem]:
    """Runtimes need the versions KServe is installed at; endpoints a runtime that serves their format."""
    if spec.serving.runtimes:
        for key in ("certManager", "kserve"):
            if not spec.versions.pinned(key):
                yield _problem(("versions",), f"missing required field {key!r}: KServe is installed to run "
                                              "serving.runtimes and needs it")
    serverless = [e.name for e in spec.endpoints if e.deployment_mode_in(spec.serving) == SERVERLESS]
    if serverless and spec.versions.knative is None:
        yield _problem(("versions",), f"missing required field 'knative': endpoint {serverless[0]!r} runs in "
                                      "Serverless mode, which needs Knative Serving")
    for index, runtime in enumerate(spec.serving.runtimes):
        if runtime.name.startswith(KSERVE_CHART_RUNTIME_PREFIX):
            yield _problem(("serving", "runtimes", index, "name"),
                           f"runtime name {runtime.name!r} starts with {KSERVE_CHART_RUNTIME_PREFIX!r}, the "
                           "prefix of the runtimes the KServe chart installs itself; choose another name")
    runtimes = {runtime.name: runtime for runtime in spec.serving.runtimes}
    for index, endpoint in enumerate(spec.endpoints):
        runtime = runtimes.get(endpoint.runtime)
        if runtime is not None and endpoint.format not in runtime.model_formats:
            yield _problem(("endpoints", index, "format"),
                           f"runtime {runtime.name!r} serves {list(runtime.model_formats)}, "
                           f"found format {endpoint.format!r}")


CHECKS: tuple[Check, ...] = (
    unique_names,
    cluster_matches_cloud,
    spec_urls,
    pool_sizes,
    endpoint_references,
    policy_references,
    pipeline_references,
    feature_store_storage,
    feature_store_service,
    gpu_pools,
    workload_pool_references,
    cluster_network,
    team_namespaces,
    component_versions,
    monitoring_settings,
    drift_settings,
    serving_modes,
    rollout_settings,
    serving_requirements,
    name_problems,
    version_compatibility,
)


def run(spec: Spec) -> list[SpecProblem]:
    return [problem for check in CHECKS for problem in check(spec)]
