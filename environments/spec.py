"""The typed, immutable Spec of one environment.

The loader validates a resolved document against the JSON Schema first, so the
constructors here can trust shapes and types; they only translate camelCase
keys to fields and lists to tuples. Defaults live here, not in the YAML, so an
environment file states only what it decides.

Nothing in this package imports Pulumi: a Spec is plain data that components
receive slices of.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import functools
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Optional

# The closed sets of the spec, as the JSON Schema under schema/ enumerates them
# (tests/test_loader.py holds the two together).
CloudProvider = Literal["aws", "none"]
ClusterType = Literal["eks", "existing"]
ControlPlaneLog = Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]
Provisioner = Literal["managed", "karpenter"]
CapacityType = Literal["on-demand", "spot"]
AmiType = Literal["AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA"]
ConsolidationPolicy = Literal["WhenEmpty", "WhenEmptyOrUnderutilized"]
DeploymentMode = Literal["RawDeployment", "Serverless"]
InferenceProtocol = Literal["v1", "v2"]
ModelFormat = Literal["sklearn", "xgboost", "lightgbm", "pytorch", "tensorflow", "onnx", "triton", "huggingface",
                      "mlflow"]
ScaleMetric = Literal["concurrency", "rps", "cpu", "memory"]
OfflineStoreType = Literal["s3", "file"]
OnlineStoreType = Literal["redis", "dynamodb"]
RegistryType = Literal["s3", "sql", "file"]
ReceiverType = Literal["slack", "pagerduty", "email", "webhook"]
Enforcement = Literal["mandatory", "advisory"]
RuleLevel = Literal["mandatory", "advisory", "disabled"]


@dataclass(frozen=True)
class SecretRef:
    """Where a secret lives; never the secret itself.

    Exactly one of `config` (a Pulumi config secret of this stack, e.g.
    `grafanaAdminPassword`) or `arn` (an AWS Secrets Manager secret).
    """

    config: Optional[str] = None
    arn: Optional[str] = None

    def describe(self) -> str:
        return f"config:{self.config}" if self.config else f"arn:{self.arn}"


@dataclass(frozen=True)
class Metadata:
    name: str
    owner: str
    cost_center: str
    team: str = "platform"
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Cloud:
    provider: CloudProvider  # "none": an existing cluster with no cloud resources
    region: Optional[str] = None
    account_id: Optional[str] = None
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Subnets:
    private: tuple[str, ...]
    public: tuple[str, ...] = ()


@dataclass(frozen=True)
class Vpc:
    """Either existing subnets (`subnet_ids`) or a VPC Stackyard creates."""

    cidr: str = "10.0.0.0/16"
    availability_zones: tuple[str, ...] = ()
    subnet_ids: Optional[Subnets] = None
    vpc_id: Optional[str] = None


@dataclass(frozen=True)
class SystemNodeGroup:
    instance_types: tuple[str, ...] = ("m6i.xlarge",)
    min_size: int = 2
    max_size: int = 4
    desired_size: int = 2
    disk_size_gib: int = 50


@dataclass(frozen=True)
class Kubeconfig:
    path: str
    context: Optional[str] = None


@dataclass(frozen=True)
class Cluster:
    type: ClusterType
    name: str
    endpoint_public_access: bool = False
    public_access_cidrs: tuple[str, ...] = ()
    logging: tuple[ControlPlaneLog, ...] = ("api", "audit", "authenticator", "controllerManager", "scheduler")
    vpc: Optional[Vpc] = None
    system_node_group: SystemNodeGroup = field(default_factory=SystemNodeGroup)
    kubeconfig: Optional[Kubeconfig] = None
    system_namespaces: tuple[str, ...] = ("kube-system",)


@dataclass(frozen=True)
class GpuAmi:
    type: AmiType
    release_version: str  # pinned EKS AMI release, never "latest"

    @property
    def is_bottlerocket(self) -> bool:
        return self.type.startswith("BOTTLEROCKET")

    @property
    def ships_device_plugin(self) -> bool:
        """Bottlerocket's NVIDIA variants run the NVIDIA device plugin themselves; AL2023 NVIDIA AMIs do not."""
        return self.is_bottlerocket


@dataclass(frozen=True)
class Disruption:
    consolidation_policy: ConsolidationPolicy = "WhenEmpty"
    consolidate_after: str = "10m"
    expire_after: str = "720h"


@dataclass(frozen=True)
class NodePool:
    name: str
    instance_types: tuple[str, ...]
    max_size: int
    provisioner: Provisioner = "managed"  # managed: an EKS node group
    capacity_type: CapacityType = "on-demand"
    min_size: int = 0
    desired_size: int = 0
    disk_size_gib: int = 200
    ami: Optional[GpuAmi] = None
    gpu_limit: Optional[int] = None  # Karpenter: most GPUs the pool may hold
    disruption: Disruption = field(default_factory=Disruption)
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Team:
    name: str
    owner: str
    gpu_quota: int = 0
    cost_center: Optional[str] = None


@dataclass(frozen=True)
class Resources:
    requests: Mapping[str, str] = field(default_factory=dict)
    limits: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GpuRequest:
    pool: str
    count: int = 1


@dataclass(frozen=True)
class ModelRef:
    """A model in the MLflow registry, by version or by alias."""

    name: str
    version: Optional[int] = None
    alias: Optional[str] = None

    @property
    def selector(self) -> str:
        return f"version {self.version}" if self.version is not None else f"alias @{self.alias}"


@dataclass(frozen=True)
class Replicas:
    min: int = 1
    max: int = 1


RAW_DEPLOYMENT = "RawDeployment"
SERVERLESS = "Serverless"

# What each autoscaler does when no target is given (KServe's HPA for cpu/memory
# in RawDeployment, Knative's KPA for concurrency/rps in Serverless); stating
# them makes the plan show the target that will actually apply.
DEFAULT_SCALE_TARGETS = {"cpu": 80, "memory": 80, "concurrency": 100, "rps": 200}


@dataclass(frozen=True)
class Autoscaling:
    """How an endpoint scales between its min and max replicas.

    RawDeployment scales with a HorizontalPodAutoscaler on cpu or memory;
    Serverless with Knative's autoscaler on concurrency or rps. Unset, the
    metric is the mode's natural one and the target that autoscaler's default.
    """

    metric: Optional[ScaleMetric] = None
    target: Optional[int] = None

    def resolved(self, deployment_mode: str) -> tuple[str, int]:
        metric = self.metric or ("concurrency" if deployment_mode == SERVERLESS else "cpu")
        return metric, self.target if self.target is not None else DEFAULT_SCALE_TARGETS[metric]


@dataclass(frozen=True)
class Canary:
    traffic_percent: int


# Rollout strategies (endpoint `rollout.strategy`), run by Flagger on the endpoint's predictor
# Deployment through a Gateway API HTTPRoute (docs/rollouts.md).
CANARY = "canary"
BLUE_GREEN = "blueGreen"
SHADOW = "shadow"


@dataclass(frozen=True)
class Rollout:
    """How a new model version of an endpoint reaches its traffic, judged against the endpoint's SLO.

    canary: live traffic moves to the candidate in `step_weights` percent steps;
    blueGreen: the candidate runs beside the stable version for `iterations`
    checks, then takes all traffic in one switch; shadow: the candidate gets a
    mirrored copy of live traffic for `iterations` checks, its answers recorded
    and compared, never returned. Each check lasts `interval_minutes`;
    `failure_limit` failed checks roll the traffic back to the stable version.
    """

    strategy: str
    step_weights: tuple[int, ...] = ()
    iterations: Optional[int] = None
    interval_minutes: int = 5
    failure_limit: int = 2
    max_disagreement: Optional[float] = None  # shadow: share of answers that may differ
    # Called before every check with the candidate's URL (tests, or load for a blue-green candidate,
    # which gets no live traffic); a failed call fails the check.
    test_webhook: Optional[str] = None

    DEFAULT_ITERATIONS = 6
    DEFAULT_MAX_DISAGREEMENT = 0.05

    @property
    def checks(self) -> int:
        """How many checks a successful rollout passes before it is promoted."""
        return len(self.step_weights) if self.strategy == CANARY else (self.iterations or self.DEFAULT_ITERATIONS)

    @property
    def disagreement_limit(self) -> float:
        return self.max_disagreement if self.max_disagreement is not None else self.DEFAULT_MAX_DISAGREEMENT


@dataclass(frozen=True)
class Slo:
    availability: float = 99.5  # percent of successful requests
    latency_p99_ms: int = 500
    window_days: int = 30


@dataclass(frozen=True)
class Drift:
    enabled: bool = False
    threshold: float = 0.2
    schedule: str = "0 * * * *"


@dataclass(frozen=True)
class Endpoint:
    name: str
    team: str
    model: ModelRef
    format: ModelFormat
    runtime: str  # name of a ClusterServingRuntime
    resources: Resources = field(default_factory=Resources)
    gpu: Optional[GpuRequest] = None
    replicas: Replicas = field(default_factory=Replicas)
    autoscaling: Autoscaling = field(default_factory=Autoscaling)
    deployment_mode: Optional[DeploymentMode] = None  # defaults to serving.deploymentMode
    canary: Optional[Canary] = None
    rollout: Optional[Rollout] = None
    slo: Slo = field(default_factory=Slo)
    drift: Drift = field(default_factory=Drift)
    payload_logging: bool = True
    # Further KServe predictor fields Stackyard does not model (timeout,
    # containerConcurrency, batcher, ...), in InferenceService YAML form. The
    # kserve SDK's models check them when the plan is built.
    predictor_fields: Mapping[str, Any] = field(default_factory=dict)

    def deployment_mode_in(self, serving: "Serving") -> str:
        return self.deployment_mode or serving.deployment_mode


@dataclass(frozen=True)
class ResolvedModel:
    """What the MLflow registry answered for an endpoint's ModelRef, as its lock file records it."""

    name: str
    version: int
    source: str  # the storage URI of the version's artifacts, what KServe downloads
    run_id: str
    resolved_at: str  # ISO 8601, UTC
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def model_card(self) -> Optional[str]:
        return self.tags.get(MODEL_CARD_TAG)

    @property
    def approved(self) -> bool:
        """Whether the registry holds a complete approval for this version (who, when, evidence)."""
        return all(self.tags.get(tag) for tag in APPROVAL_TAGS)


# The model-version tag that links a version to its model card.
MODEL_CARD_TAG = "stackyard.model_card"
# The model-version tags of an approval (`stackyard approve`): who, when (ISO 8601, UTC) and the
# link to the evidence (evaluation report, model card review). Production serves approved versions only.
APPROVED_BY_TAG = "stackyard.approval.by"
APPROVED_AT_TAG = "stackyard.approval.at"
APPROVAL_EVIDENCE_TAG = "stackyard.approval.evidence"
APPROVAL_TAGS = (APPROVED_BY_TAG, APPROVED_AT_TAG, APPROVAL_EVIDENCE_TAG)


@dataclass(frozen=True)
class ModelRegistry:
    tracking_uri: str
    timeout_seconds: float = 10.0
    token: Optional[SecretRef] = None
    allowed_buckets: tuple[str, ...] = ()  # empty: any concrete bucket; else model sources must be in one


@dataclass(frozen=True)
class ServingRuntime:
    name: str
    image: str
    model_formats: tuple[str, ...]
    protocol: InferenceProtocol = "v2"


@dataclass(frozen=True)
class GatewayRef:
    """A Gateway API Gateway that the rollouts' HTTPRoutes attach to (installed outside Stackyard)."""

    name: str
    namespace: str


@dataclass(frozen=True)
class Serving:
    registry: Optional[ModelRegistry] = None
    gateway: Optional[GatewayRef] = None
    deployment_mode: DeploymentMode = RAW_DEPLOYMENT
    namespace: str = "serving"
    domain: Optional[str] = None
    runtimes: tuple[ServingRuntime, ...] = ()


@dataclass(frozen=True)
class Schedule:
    name: str
    cron: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    enabled: bool = True


@dataclass(frozen=True)
class Pipeline:
    name: str
    source: str  # path under pipelines/, relative to the repository root
    function: str  # the @dsl.pipeline function in that file
    schedules: tuple[Schedule, ...] = ()
    team: Optional[str] = None
    # Where the pipeline's GPU steps run. A compile-time setting, not a run
    # parameter: KFP fixes node selectors and tolerations in the compiled IR.
    gpu: Optional[GpuRequest] = None


@dataclass(frozen=True)
class KubeflowPipelines:
    enabled: bool = False
    namespace: str = "kubeflow"
    artifact_bucket: Optional[str] = None


@dataclass(frozen=True)
class OfflineStore:
    """`s3`: a bucket (AWS); `file`: a volume in the cluster (cloud provider none)."""

    type: OfflineStoreType
    bucket: Optional[str] = None  # required for s3
    retention_days: int = 365  # feature data under offline/ expires after this


@dataclass(frozen=True)
class OnlineStore:
    """`redis`: ElastiCache on AWS, a Redis StatefulSet in the cluster otherwise; `dynamodb`: AWS only."""

    type: OnlineStoreType
    node_type: str = "cache.t4g.small"  # ElastiCache node type
    replicas: int = 1  # ElastiCache nodes: one primary, the rest replicas
    auth_token: Optional[SecretRef] = None  # Redis AUTH; required for ElastiCache


@dataclass(frozen=True)
class FeatureRegistry:
    """`s3`: an object in the offline store bucket; `sql`: RDS PostgreSQL; `file`: a volume in the cluster."""

    type: RegistryType
    instance_class: str = "db.t4g.small"  # RDS, for sql
    password: Optional[SecretRef] = None  # RDS master password, for sql


@dataclass(frozen=True)
class FeatureServer:
    replicas: Replicas = field(default_factory=lambda: Replicas(min=1, max=2))
    resources: Resources = field(default_factory=Resources)


@dataclass(frozen=True)
class FeatureStore:
    enabled: bool = False
    project: str = "stackyard"
    namespace: str = "feast"
    offline_store: OfflineStore = field(default_factory=lambda: OfflineStore(type="file"))
    online_store: OnlineStore = field(default_factory=lambda: OnlineStore(type="redis"))
    registry: FeatureRegistry = field(default_factory=lambda: FeatureRegistry(type="file"))
    server: FeatureServer = field(default_factory=FeatureServer)
    materialization_schedule: str = "0 * * * *"


@dataclass(frozen=True)
class Receiver:
    name: str
    type: ReceiverType
    secret: Optional[SecretRef] = None  # webhook URL, routing key or password
    to: Optional[str] = None  # email address, for email receivers
    smarthost: Optional[str] = None  # SMTP server host:port, for email receivers
    sender: Optional[str] = None  # From address, for email receivers


@dataclass(frozen=True)
class Monitoring:
    enabled: bool = False
    namespace: str = "monitoring"
    retention: str = "15d"
    storage_gib: int = 50
    receivers: tuple[Receiver, ...] = ()
    grafana_admin_password: Optional[SecretRef] = None
    runbook_base_url: str = "https://runbooks.stackyard.dev"
    # Image with python3 that runs the payload logger sink and the drift checks
    # (their code is standard-library only); default: KServe's sklearn server
    # image at versions.kserve, already pulled by the cluster and allowed by policy.
    job_image: Optional[str] = None
    payload_storage_gib: int = 20


@dataclass(frozen=True)
class Exemption:
    rule: str
    resource: str  # a glob over URNs or "kind/namespace/name"
    justification: str
    owner: str
    expires: str  # ISO date


@dataclass(frozen=True)
class Policy:
    # mandatory: every rule at its own default level; advisory: every rule only reports.
    enforcement: Enforcement = "mandatory"
    rules: Mapping[str, RuleLevel] = field(default_factory=dict)  # rule id -> level
    max_gpus_per_pod: int = 8
    allowed_registries: tuple[str, ...] = ()
    exemptions: tuple[Exemption, ...] = ()
    production: Optional[bool] = None  # None: the environment is production when it is named prod (Spec.production)


@dataclass(frozen=True)
class Acknowledgement:
    """A person accepting that a change deletes or replaces a stateful resource.

    `resource` is a glob over resource URNs or logical names. It applies only to
    the change that adds it: one already in the base spec acknowledges nothing.
    """

    resource: str
    reason: str
    by: str


@dataclass(frozen=True)
class Versions:
    """Every third-party version the platform pins (`versions:`), one attribute per pin.

    Only `kubernetes` is required by the schema; the others are None where the spec
    pins none, and environments/checks.py requires each one the spec's components need
    (so a component reads an attribute that the checks have made present)."""

    kubernetes: str
    vpc_cni: Optional[str] = None
    coredns: Optional[str] = None
    kube_proxy: Optional[str] = None
    aws_ebs_csi_driver: Optional[str] = None
    karpenter: Optional[str] = None
    cluster_autoscaler: Optional[str] = None  # the Helm chart; its image follows `kubernetes`
    nvidia_device_plugin: Optional[str] = None
    dcgm_exporter: Optional[str] = None
    cert_manager: Optional[str] = None
    kserve: Optional[str] = None
    knative: Optional[str] = None  # the Knative Operator release (Serverless endpoints)
    kubeflow_pipelines: Optional[str] = None
    feast: Optional[str] = None
    redis: Optional[str] = None
    postgres: Optional[str] = None  # the RDS PostgreSQL engine of the Feast SQL registry
    kube_prometheus_stack: Optional[str] = None
    prometheus_pushgateway: Optional[str] = None
    python: Optional[str] = None
    mlflow: Optional[str] = None
    flagger: Optional[str] = None  # the Flagger chart (endpoint rollouts)

    def get(self, key: str) -> Optional[str]:
        """The pin named by its spec key (`awsEbsCsiDriver`), or None: for data keyed by pin name
        (the checks' messages, environments/compatibility.yaml)."""
        return getattr(self, snake_case(key), None)

    def pinned(self, key: str) -> bool:
        """Whether the pin named by its spec key is set."""
        return self.get(key) is not None

    def items(self) -> list[tuple[str, str]]:
        """(spec key, version) of every pin that is set, in the schema's order."""
        return [(re.sub(r"_([a-z])", lambda m: m.group(1).upper(), f.name), getattr(self, f.name))
                for f in dataclasses.fields(self) if getattr(self, f.name) is not None]


@dataclass(frozen=True)
class Spec:
    """One resolved environment. `source` is the file it was loaded from."""

    api_version: str
    kind: str
    metadata: Metadata
    cloud: Cloud
    cluster: Cluster
    versions: Versions
    extends: Optional[str] = None
    node_pools: tuple[NodePool, ...] = ()
    teams: tuple[Team, ...] = ()
    serving: Serving = field(default_factory=Serving)
    endpoints: tuple[Endpoint, ...] = ()
    kubeflow: KubeflowPipelines = field(default_factory=KubeflowPipelines)
    pipelines: tuple[Pipeline, ...] = ()
    feature_store: FeatureStore = field(default_factory=FeatureStore)
    monitoring: Monitoring = field(default_factory=Monitoring)
    policy: Policy = field(default_factory=Policy)
    acknowledgements: tuple[Acknowledgement, ...] = ()
    source: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def production(self) -> bool:
        """Whether this is a production environment: `policy.production` where the spec says, else
        whether it is named prod. The one definition: the production-only rules apply (policies/)
        and stateful stores are protected from deletion (components/ownership.py)."""
        return self.policy.production if self.policy.production is not None else self.name == "prod"

    def node_pool(self, name: str) -> NodePool:
        for pool in self.node_pools:
            if pool.name == name:
                return pool
        raise KeyError(name)


def snake_case(camel: str) -> str:
    """A camelCase key as a Python name: `instanceTypes` -> `instance_types` (spec keys, manifest fields)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", camel).lower()


def _convert(annotation: Any, value: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return None if value is None else _convert(inner[0], value)
    if origin is tuple:
        (item, _ellipsis) = typing.get_args(annotation)
        return tuple(_convert(item, v) for v in value)
    if origin in (collections.abc.Mapping, dict):
        return types.MappingProxyType(dict(value))
    if dataclasses.is_dataclass(annotation):
        return from_document(annotation, value)
    if annotation is float and isinstance(value, int):
        return float(value)
    return value


@functools.cache
def _fields_of(cls: type) -> tuple[dict[str, Any], frozenset[str]]:
    """The resolved annotations and field names of a spec dataclass. Resolving the string
    annotations compiles each one: done once per class, not once per object built."""
    return typing.get_type_hints(cls), frozenset(f.name for f in dataclasses.fields(cls))


def from_document(cls: type, document: Mapping[str, Any]) -> Any:
    """Build dataclass `cls` from a schema-valid mapping with camelCase keys."""
    hints, names = _fields_of(cls)
    kwargs = {}
    for key, value in document.items():
        name = snake_case(key)
        if name in names:
            kwargs[name] = _convert(hints[name], value)
    return cls(**kwargs)
