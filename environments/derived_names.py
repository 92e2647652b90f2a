"""Every name a spec makes Stackyard create, computed without Pulumi, and the check validate runs on them.

`derived_names(spec)` lists each Kubernetes object name, label, AWS name and
tag that comes from the spec, with the naming rule it must pass, the scope in
which it must be unique and the JSON path of the field it comes from. The
logical names mirror the components (`<env>-pool-<pool>-node-role`, ...); the
plan-walking tests hold the two together: every name in a plan must pass its
rule, so a name this module misses or gets wrong fails there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

from environments import naming
from environments.errors import SpecProblem, json_path
from environments.spec import SERVERLESS, Spec

# components/karpenter.py INTERRUPTION_EVENTS: one EventBridge rule per event.
KARPENTER_EVENTS = ("instance-state-change", "rebalance", "scheduled-change", "spot-interruption")
NODE_TEMPLATE_TAG_PREFIX = "k8s.io/cluster-autoscaler/node-template"
# Labels every GPU node carries besides the pool's own (components/gpu_scheduling.py).
SYSTEM_NODE_LABELS = ("stackyard.dev/pool", "k8s.amazonaws.com/accelerator", "nvidia.com/gpu.present")


@dataclass(frozen=True)
class DerivedName:
    rule: Optional[str]  # a naming.RULES id; None for a Pulumi resource name, which only has to be unique
    name: str
    path: tuple  # the spec field the name comes from
    what: str  # what the name names, for messages
    scope: Optional[str] = None  # names in one scope must differ; None: no uniqueness asked


def _aws_autonamed(type_: str, logical: str, path: tuple, what: str) -> DerivedName:
    _property, rule = naming.AUTONAMED[type_]
    return DerivedName(rule, naming.autoname_sample(logical), path,
                       f"{what} (Pulumi names it {logical!r}, '-' and 7 random characters)")


def _cluster_names(spec: Spec) -> Iterator[DerivedName]:
    env, at_env = spec.name, ("metadata", "name")
    yield DerivedName("aws.eks.cluster-name", spec.cluster.name, ("cluster", "name"), "the EKS cluster",
                      "aws.eks.cluster")
    yield DerivedName("aws.logs.log-group-name", f"/aws/eks/{spec.cluster.name}/cluster", ("cluster", "name"),
                      "the control plane log group")
    for suffix, what in (("cluster-role", "the EKS cluster role"), ("cluster-ebs-csi", "the EBS CSI driver role"),
                         ("cluster-system-node-role", "the system node role")):
        yield _aws_autonamed("aws:iam/role:Role", f"{env}-{suffix}", at_env, what)
    yield _aws_autonamed("aws:iam/rolePolicy:RolePolicy", f"{env}-cluster-role-encryption", at_env,
                         "the cluster role's encryption policy")
    yield _aws_autonamed("aws:ec2/launchTemplate:LaunchTemplate", f"{env}-cluster-system-lt", at_env,
                         "the system launch template")
    yield _aws_autonamed("aws:eks/nodeGroup:NodeGroup", f"{env}-cluster-system", at_env, "the system node group")
    if any(pool.provisioner == "managed" for pool in spec.node_pools):
        for type_ in ("aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy"):
            yield _aws_autonamed(type_, f"{env}-cluster-autoscaler-role", at_env, "cluster-autoscaler's role")
    if any(pool.provisioner == "karpenter" for pool in spec.node_pools):
        yield _aws_autonamed("aws:iam/role:Role", f"{env}-karpenter-controller", at_env, "Karpenter's role")
        yield _aws_autonamed("aws:iam/rolePolicy:RolePolicy", f"{env}-karpenter-controller", at_env,
                             "Karpenter's policy")
        yield _aws_autonamed("aws:iam/role:Role", f"{env}-karpenter-node-role", at_env, "Karpenter's node role")
        yield _aws_autonamed("aws:sqs/queue:Queue", f"{env}-karpenter-interruptions", at_env,
                             "Karpenter's interruption queue")
        for event in KARPENTER_EVENTS:
            yield _aws_autonamed("aws:cloudwatch/eventRule:EventRule", f"{env}-karpenter-{event}", at_env,
                                 f"Karpenter's {event} rule")


def _pool_names(spec: Spec) -> Iterator[DerivedName]:
    for index, pool in enumerate(spec.node_pools):
        at = ("nodePools", index)
        logical = f"{spec.name}-pool-{pool.name}"
        for key, value in pool.labels.items():
            yield DerivedName("k8s.label-key", key, at + ("labels", key), "a node label key")
            yield DerivedName("k8s.label-value", value, at + ("labels", key), f"the value of node label {key!r}")
        if pool.provisioner == "karpenter":
            for kind in ("NodePool", "EC2NodeClass"):
                yield DerivedName("k8s.dns1123-subdomain", pool.name, at + ("name",), f"the Karpenter {kind}",
                                  f"kubernetes:{kind}")
            continue
        yield _aws_autonamed("aws:iam/role:Role", f"{logical}-node-role", at + ("name",), "the pool's node role")
        yield _aws_autonamed("aws:ec2/launchTemplate:LaunchTemplate", f"{logical}-lt", at + ("name",),
                             "the pool's launch template")
        yield _aws_autonamed("aws:eks/nodeGroup:NodeGroup", logical, at + ("name",), "the pool's node group")
        # cluster-autoscaler reads the node template from Auto Scaling group tags, one Pulumi resource each.
        for key in dict.fromkeys((*pool.labels, *SYSTEM_NODE_LABELS)):
            path = at + ("labels", key) if key in pool.labels else at + ("name",)
            tag = f"{NODE_TEMPLATE_TAG_PREFIX}/label/{key}"
            yield DerivedName("aws.tag-key", tag, path, f"the node-template tag of label {key!r}")
            yield DerivedName(None, f"{logical}-asg-{naming.autoscaling_tag_slug(f'label/{key}')}",
                              path, f"the Auto Scaling group tag resource of label {key!r}",
                              "pulumi:aws:autoscaling/tag:Tag")


def _tag_names(spec: Spec) -> Iterator[DerivedName]:
    for key, value in spec.cloud.tags.items():
        at = ("cloud", "tags", key)
        yield DerivedName("aws.tag-key", key, at, "a tag key")
        yield DerivedName("aws.tag-value", value, at, f"the value of tag {key!r}")


def _namespaces(spec: Spec) -> Iterator[DerivedName]:
    owned = [(("serving", "namespace"), spec.serving.namespace, "the serving namespace")]
    if spec.kubeflow.enabled:
        owned.append((("kubeflow", "namespace"), spec.kubeflow.namespace, "the Kubeflow Pipelines namespace"))
    if spec.feature_store.enabled:
        owned.append((("featureStore", "namespace"), spec.feature_store.namespace, "the feature store namespace"))
    if spec.monitoring.enabled:
        owned.append((("monitoring", "namespace"), spec.monitoring.namespace, "the monitoring namespace"))
    for path, name, what in owned:
        yield DerivedName("k8s.dns1123-label", name, path, what, "kubernetes:Namespace")
    for index, team in enumerate(spec.teams):  # unique_names and team_namespaces keep these apart
        yield DerivedName("k8s.dns1123-label", team.name, ("teams", index, "name"), f"team {team.name!r}'s namespace")


def _serving_names(spec: Spec) -> Iterator[DerivedName]:
    namespace = spec.serving.namespace
    for index, endpoint in enumerate(spec.endpoints):
        at = ("endpoints", index, "name")
        yield DerivedName("k8s.dns1035-label", endpoint.name, at, "the InferenceService",
                          f"kubernetes:InferenceService/{namespace}")
        # KServe names the predictor's host `<name>-predictor-<namespace>` (one DNS label), and in
        # Serverless mode with a canary Knative adds the `prev-`/`latest-` route tags in front.
        host = f"{endpoint.name}-predictor-{namespace}"
        yield DerivedName("k8s.dns1123-label", host, at, "the KServe predictor host name")
        if endpoint.canary and endpoint.deployment_mode_in(spec.serving) == SERVERLESS:
            yield DerivedName("k8s.dns1123-label", f"latest-{host}", at, "the KServe canary route tag")
        if endpoint.drift.enabled:
            yield DerivedName("k8s.cronjob-name", f"drift-{endpoint.name}", at, "the drift-check CronJob")
        if spec.cloud.provider == "aws":
            yield DerivedName("aws.iam.role-name", naming.endpoint_role_name(spec.name, endpoint.name), at,
                              "the endpoint's model reader role", "aws:iam/role")


def _pipeline_names(spec: Spec) -> Iterator[DerivedName]:
    if not spec.kubeflow.enabled:
        return
    namespace = spec.kubeflow.namespace
    for index, pipeline in enumerate(spec.pipelines):
        for s_index, schedule in enumerate(pipeline.schedules):
            at = ("pipelines", index, "schedules", s_index, "name")
            yield DerivedName("k8s.dns1123-subdomain", f"recurring-run-{pipeline.name}-{schedule.name}", at,
                              f"the recurring run ConfigMap of pipeline {pipeline.name!r}",
                              f"kubernetes:ConfigMap/{namespace}")
    if spec.cloud.provider == "aws":
        at_env = ("metadata", "name")
        yield _aws_autonamed("aws:iam/role:Role", f"{spec.name}-pipelines-artifacts-irsa", at_env,
                             "the artifact store role")
        yield _aws_autonamed("aws:iam/rolePolicy:RolePolicy", f"{spec.name}-pipelines-artifacts-access", at_env,
                             "the artifact store policy")
        yield DerivedName("aws.kms.alias", f"alias/stackyard-{spec.name}-kfp-artifacts", at_env,
                          "the artifact key alias", "aws:kms/alias")
        if spec.kubeflow.artifact_bucket:
            yield DerivedName("aws.s3.bucket", spec.kubeflow.artifact_bucket, ("kubeflow", "artifactBucket"),
                              "the artifact bucket", "aws:s3/bucket")


def _feature_store_names(spec: Spec) -> Iterator[DerivedName]:
    store = spec.feature_store
    if not store.enabled or spec.cloud.provider != "aws":
        return
    env, at_env = spec.name, ("metadata", "name")
    # The final snapshots exist only in protected environments; their names are checked everywhere,
    # which refuses nothing more: they pass whenever the names they extend pass.
    yield DerivedName("aws.kms.alias", f"alias/{naming.feast_aws_name(env)}", at_env, "the feature store key alias",
                      "aws:kms/alias")
    yield DerivedName("aws.iam.role-name", naming.feast_aws_name(env, limit=64), at_env, "the feature store role",
                      "aws:iam/role")
    if store.offline_store.bucket:
        yield DerivedName("aws.s3.bucket", store.offline_store.bucket, ("featureStore", "offlineStore", "bucket"),
                          "the offline store bucket", "aws:s3/bucket")
    if store.online_store.type == "redis":
        yield DerivedName("aws.elasticache.replication-group-id", naming.feast_aws_name(env), at_env,
                          "the online store's replication group", "aws:elasticache/replicationGroup")
        yield DerivedName("aws.elasticache.subnet-group", naming.feast_aws_name(env, "cache"), at_env,
                          "the online store's subnet group", "aws:elasticache/subnetGroup")
        yield DerivedName("aws.ec2.security-group", naming.feast_aws_name(env, "cache", limit=255), at_env,
                          "the online store's security group", "aws:ec2/securityGroup")
        yield DerivedName("aws.elasticache.replication-group-id", naming.feast_aws_name(env, "final"), at_env,
                          "the online store's final snapshot")
    if store.registry.type == "sql":
        identifier = naming.feast_aws_name(env, "registry", limit=63)
        yield DerivedName("aws.rds.identifier", identifier, at_env, "the registry database", "aws:rds/instance")
        yield DerivedName("aws.rds.subnet-group", naming.feast_aws_name(env, "registry", limit=255), at_env,
                          "the registry's subnet group", "aws:rds/subnetGroup")
        yield DerivedName("aws.ec2.security-group", naming.feast_aws_name(env, "registry", limit=255), at_env,
                          "the registry's security group", "aws:ec2/securityGroup")
        yield DerivedName("aws.rds.snapshot-identifier", f"{identifier}-final", at_env,
                          "the registry's final snapshot")


def derived_names(spec: Spec) -> list[DerivedName]:
    names: list[DerivedName] = []
    if spec.cloud.provider == "aws" and spec.cluster.type == "eks":
        names += _cluster_names(spec)
        names += _pool_names(spec)
    names += _tag_names(spec)
    names += _namespaces(spec)
    names += _serving_names(spec)
    names += _pipeline_names(spec)
    names += _feature_store_names(spec)
    return names


def name_problems(spec: Spec) -> Iterator[SpecProblem]:
    """Every derived name passes its rule and no two in one scope are equal (checks.team_namespaces
    keeps teams out of the platform's namespaces)."""
    seen: dict[tuple[str, str], DerivedName] = {}
    reported: set[tuple[tuple, str]] = set()
    for derived in derived_names(spec):
        problem = naming.problem(derived.rule, derived.name) if derived.rule else None
        if problem:
            if (derived.path, derived.rule) in reported:
                continue  # one field, one rule, one line: a long environment name breaks many role names
            reported.add((derived.path, derived.rule))
            rule = naming.RULES[derived.rule]
            yield SpecProblem(None, derived.path, f"{derived.what} would be named {derived.name!r}, which "
                                                  f"{problem} (see {rule.source})")
            continue
        if derived.scope is None:
            continue
        key = (derived.scope, derived.name.lower() if derived.scope.startswith("aws") else derived.name)
        first = seen.setdefault(key, derived)
        if first is not derived:
            yield SpecProblem(None, derived.path, f"{derived.what} would be named {derived.name!r}, the same "
                                                  f"name as {first.what} from {json_path(first.path)}")
