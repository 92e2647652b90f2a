"""The Feast feature store: its storage, its services on the cluster, and the addresses others use.

Storage follows the cloud. On AWS: the offline store is an S3 bucket (feature
data under `offline/`, the registry object under `registry/` when the registry
is `s3`), the online store an ElastiCache Redis replication group or DynamoDB,
a `sql` registry an RDS PostgreSQL instance; all encrypted with one KMS key of
the store. Without a cloud (`local`): Redis as a StatefulSet and a file
registry on a volume in the cluster.

On the cluster: `feature_store.yaml` rendered from
templates/feature_store.yaml.j2 into a ConfigMap (credentials only as
${VARIABLES} Feast expands from a Kubernetes Secret), the feature server
Deployment with its Service, autoscaler and disruption budget, and a CronJob
running incremental materialization. Their service account assumes an IAM role
(IRSA) whose policy names only this store's bucket, tables and key.

DynamoDB tables are not created here: Feast creates one table per feature view
(`<project>.<view>`) when a team runs `feast apply` from its own repository,
so the platform owns the name prefix, the tags and the IAM scope.

Conventions the monitoring component relies on: the Deployment and Service are
named `feast-feature-server`, carry `app.kubernetes.io/name:
feast-feature-server`, and expose Prometheus metrics on the port named `metrics`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.irsa import irsa_role
from components.kms import kms_key
from components.kube import namespace
from components.network_isolation import allow_ingress, stackyard_namespaces_peer
from components.ownership import Ownership
from components.pod_security import restricted_container_security_context, restricted_pod_security_context
from components.secret_refs import secret_value
from components.secure_bucket import secure_bucket
from environments import spec as env
from environments.naming import feast_aws_name as aws_name  # the names validate checks

FEATURE_SERVER = "feast-feature-server"
MATERIALIZATION_JOB = "feast-materialize"
SERVICE_ACCOUNT = "feast"
CONFIG_MAP = "feast-feature-store"
CREDENTIALS_SECRET = "feast-credentials"
IN_CLUSTER_REDIS = "feast-redis"
DATA_VOLUME_CLAIM = "feast-data"

FEATURE_SERVER_IMAGE = "quay.io/feastdev/feature-server"
HTTP_PORT = 6566
METRICS_PORT = 8000  # `feast serve --metrics` serves Prometheus here
REDIS_PORT = 6379
POSTGRES_PORT = 5432

CONFIG_DIR = "/feast"  # the feature repository directory: holds only feature_store.yaml
DATA_DIR = "/data"  # local only: the file registry and offline files, on a volume
REDIS_PASSWORD_VARIABLE = "FEAST_REDIS_PASSWORD"
REGISTRY_PASSWORD_VARIABLE = "FEAST_REGISTRY_PASSWORD"
REGISTRY_DATABASE = "feast"
REGISTRY_USER = "feast"

# Used for every key the spec's `server.resources` leaves out.
DEFAULT_SERVER_RESOURCES = env.Resources(
    requests={"cpu": "250m", "memory": "512Mi"},
    limits={"cpu": "1", "memory": "1Gi"},
)
IN_CLUSTER_REDIS_RESOURCES = env.Resources(
    requests={"cpu": "100m", "memory": "256Mi"},
    limits={"cpu": "500m", "memory": "512Mi"},
)
NONCURRENT_VERSION_DAYS = 30  # old versions of objects (the registry too) stay this long
TEMPLATES = Path(__file__).resolve().parent / "templates"



REDIS_USER = 999  # the redis image's user and group


def _runs_as(user: int) -> dict:
    """The restricted pod context for an image that runs as `user` (user, group and volume group)."""
    return restricted_pod_security_context(run_as_user=user, run_as_group=user, fs_group=user)

@dataclass(frozen=True)
class StoreNetwork:
    """Where the managed stores live: the cluster's VPC, subnets, and the security group of its nodes."""

    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[list]
    client_security_group_id: pulumi.Input[str]


@dataclass(frozen=True)
class FeatureStoreArgs:
    feature_store: env.FeatureStore
    cloud: env.Cloud
    versions: env.Versions
    ownership: Ownership
    network: Optional[StoreNetwork] = None
    # IRSA: the cluster's IAM OIDC provider and its issuer URL; without them
    # (an existing cluster) the service account gets no IAM role.
    oidc_provider_arn: Optional[pulumi.Input[str]] = None
    oidc_issuer: Optional[pulumi.Input[str]] = None


# --- names and addresses -------------------------------------------------------

def feature_server_url(store_namespace: str) -> str:
    return f"http://{FEATURE_SERVER}.{store_namespace}.svc.cluster.local:{HTTP_PORT}"


def in_cluster_redis_endpoint(store_namespace: str) -> str:
    return f"{IN_CLUSTER_REDIS}.{store_namespace}.svc.cluster.local:{REDIS_PORT}"


def dynamodb_table_prefix(project: str) -> str:
    """Feast names its tables `<project>.<feature view>` (table_name_template below)."""
    return f"{project}."


def s3_registry_path(bucket: str) -> str:
    return f"s3://{bucket}/registry/registry.pb"


def sql_registry_path(host: str) -> str:
    """The SQLAlchemy URL of the registry database; the password goes separately, by reference."""
    return f"postgresql+psycopg://{REGISTRY_USER}@{host}:{POSTGRES_PORT}/{REGISTRY_DATABASE}?sslmode=require"


def redis_connection_string(endpoint: str, tls: bool, password_variable: Optional[str]) -> str:
    """Feast's Redis connection string: `host:port,key=value,...`; the password as ${VARIABLE}."""
    parts = [endpoint]
    if tls:
        parts.append("ssl=true")
    if password_variable:
        parts.append(f"password=${{{password_variable}}}")
    return ",".join(parts)


# --- feature_store.yaml --------------------------------------------------------

def yaml_quote(value: Any) -> str:
    """A single-quoted YAML scalar: safe for any text, and ${VARIABLES} stay literal until Feast expands them."""
    return "'" + str(value).replace("'", "''") + "'"


@lru_cache(maxsize=1)
def _template():
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    environment.filters["yaml_quote"] = yaml_quote
    return environment.get_template("feature_store.yaml.j2")


@dataclass(frozen=True)
class FeastRegistry:
    type: str  # Feast's registry_type: file (a path or s3:// URI) or sql
    path: str
    cache_ttl_seconds: int = 60
    password_variable: Optional[str] = None  # sql: the password, as ${VARIABLE}

    @property
    def password(self) -> Optional[str]:
        return f"${{{self.password_variable}}}" if self.password_variable else None


@dataclass(frozen=True)
class FeastOnlineStore:
    type: str  # redis | dynamodb
    connection_string: str = ""  # redis
    password_variable: Optional[str] = None  # redis: the ${VARIABLE} in connection_string
    region: str = ""  # dynamodb
    table_name_template: str = "{project}.{table_name}"  # dynamodb
    tags: Mapping[str, str] = field(default_factory=dict)  # dynamodb: tags of the tables Feast creates


@dataclass(frozen=True)
class FeastConfig:
    """Everything feature_store.yaml says, as plain values (endpoints already resolved)."""

    project: str
    provider: str  # aws | local
    registry: FeastRegistry
    online_store: FeastOnlineStore
    environment: str
    feast_version: str

    @property
    def credential_variables(self) -> list[str]:
        """The environment variables this configuration expects from the credentials Secret."""
        names = [self.online_store.password_variable, self.registry.password_variable]
        return [name for name in names if name]


def render_feature_store_yaml(config: FeastConfig) -> str:
    return _template().render(
        project=config.project, provider=config.provider, registry=config.registry,
        online_store=config.online_store, environment=config.environment,
        feast_version=config.feast_version, credentials_secret=CREDENTIALS_SECRET,
        credential_variables=[f"${{{name}}}" for name in config.credential_variables])


def feast_config(store: env.FeatureStore, cloud: env.Cloud, environment: str, feast_version: str,
                 online_endpoint: str, registry_location: str, tags: Mapping[str, str]) -> FeastConfig:
    """The Feast view of a spec, given the addresses the storage resources resolved to."""
    on_aws = cloud.provider == "aws"
    if store.online_store.type == "dynamodb":
        online = FeastOnlineStore(type="dynamodb", region=cloud.region or "", tags=dict(tags))
    else:
        password = REDIS_PASSWORD_VARIABLE if store.online_store.auth_token is not None else None
        online = FeastOnlineStore(type="redis", password_variable=password,
                                  connection_string=redis_connection_string(online_endpoint, on_aws, password))
    if store.registry.type == "sql":
        registry = FeastRegistry(type="sql", path=registry_location, password_variable=REGISTRY_PASSWORD_VARIABLE)
    else:
        registry = FeastRegistry(type="file", path=registry_location)
    return FeastConfig(project=store.project, provider="aws" if on_aws else "local", registry=registry,
                       online_store=online, environment=environment, feast_version=feast_version)


# --- AWS documents ---------------------------------------------------------------

def offline_bucket_lifecycle_rules(retention_days: int) -> list[dict]:
    """Feature data under offline/ expires after the retention; old versions after NONCURRENT_VERSION_DAYS."""
    return [
        {"id": "expire-offline-feature-data", "status": "Enabled", "filter": {"prefix": "offline/"},
         "expiration": {"days": retention_days}},
        {"id": "expire-noncurrent-versions", "status": "Enabled", "filter": {},
         "noncurrentVersionExpiration": {"noncurrentDays": NONCURRENT_VERSION_DAYS}},
        {"id": "abort-incomplete-multipart-uploads", "status": "Enabled", "filter": {},
         "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7}},
    ]


def store_access_policy(bucket_arn: Optional[str], table_arn_prefix: Optional[str], kms_key_arn: str) -> str:
    """What the feature server and materialization may do: this store's bucket, tables and key, nothing else.

    Data-plane only: tables are created by `feast apply` with the team's own credentials.
    """
    statements = [{
        "Sid": "UseStoreKey",
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"],
        "Resource": [kms_key_arn],
    }]
    if bucket_arn:
        statements += [
            {"Sid": "ListStoreBucket", "Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
             "Resource": [bucket_arn]},
            {"Sid": "ReadWriteStoreObjects", "Effect": "Allow",
             "Action": ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"], "Resource": [f"{bucket_arn}/*"]},
        ]
    if table_arn_prefix:
        statements.append({
            "Sid": "ReadWriteStoreTables", "Effect": "Allow",
            "Action": ["dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:DeleteItem",
                       "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query",
                       "dynamodb:UpdateItem"],
            "Resource": [f"{table_arn_prefix}*"],
        })
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


# --- Kubernetes bodies (wire form) -----------------------------------------------

def resource_requirements(resources: env.Resources, defaults: env.Resources = DEFAULT_SERVER_RESOURCES) -> dict:
    """The spec's requests and limits, key by key over the defaults."""
    return {"requests": {**defaults.requests, **resources.requests},
            "limits": {**defaults.limits, **resources.limits}}


@dataclass(frozen=True)
class FeastPod:
    """What the feature server and materialization pods share."""

    image: str
    resources: Mapping[str, Any]
    config_checksum: str  # rolls the pods when feature_store.yaml changes
    has_credentials: bool
    data_volume: bool  # local: the file registry's volume

    def volumes(self) -> list[dict]:
        volumes = [{"name": "feature-store-config", "configMap": {"name": CONFIG_MAP}},
                   {"name": "tmp", "emptyDir": {}}]
        if self.data_volume:
            volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": DATA_VOLUME_CLAIM}})
        return volumes

    def container(self, name: str, command: list[str]) -> dict:
        mounts = [{"name": "feature-store-config", "mountPath": CONFIG_DIR, "readOnly": True},
                  {"name": "tmp", "mountPath": "/tmp"}]
        if self.data_volume:
            mounts.append({"name": "data", "mountPath": DATA_DIR})
        container = {
            "name": name,
            "image": self.image,
            "command": command,
            # HOME and temporary files on the emptyDir: the root filesystem is read-only.
            "env": [{"name": "HOME", "value": "/tmp"}, {"name": "FEAST_USAGE", "value": "False"}],
            "resources": dict(self.resources),
            "securityContext": restricted_container_security_context(),
            "volumeMounts": mounts,
        }
        if self.has_credentials:
            container["envFrom"] = [{"secretRef": {"name": CREDENTIALS_SECRET}}]
        return container

    def pod_spec(self, containers: list[dict], **extra: Any) -> dict:
        return {"serviceAccountName": SERVICE_ACCOUNT, "securityContext": _runs_as(10001),
                "containers": containers, "volumes": self.volumes(), **extra}

    def template_metadata(self, labels: Mapping[str, str]) -> dict:
        return {"labels": dict(labels), "annotations": {"stackyard.dev/config-checksum": self.config_checksum}}


def selector_labels() -> dict[str, str]:
    return {"app.kubernetes.io/name": FEATURE_SERVER, "app.kubernetes.io/instance": "feast"}


def feature_server_deployment_spec(pod: FeastPod, labels: Mapping[str, str]) -> dict:
    """`labels` must include selector_labels(): the Service, autoscaler and budget select on them."""
    # No `replicas`: the HorizontalPodAutoscaler owns the count, and a fixed
    # number here would be reset on every `pulumi up`.
    server = pod.container("feature-server", [
        "feast", "--chdir", CONFIG_DIR, "serve", "--host", "0.0.0.0", "--port", str(HTTP_PORT), "--metrics"])
    server["ports"] = [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
                       {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}]
    server["readinessProbe"] = {"httpGet": {"path": "/health", "port": "http"},
                                "initialDelaySeconds": 5, "periodSeconds": 10, "failureThreshold": 3}
    server["livenessProbe"] = {"tcpSocket": {"port": "http"},
                               "initialDelaySeconds": 30, "periodSeconds": 20, "failureThreshold": 3}
    return {
        "selector": {"matchLabels": selector_labels()},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "template": {
            "metadata": pod.template_metadata(labels),
            "spec": pod.pod_spec([server], topologySpreadConstraints=[{
                "maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": selector_labels()}}]),
        },
    }


def feature_server_service_spec() -> dict:
    return {"type": "ClusterIP", "selector": selector_labels(), "ports": [
        {"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"},
        {"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"},
    ]}


def autoscaler_spec(replicas: env.Replicas, cpu_utilization: int = 70) -> dict:
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": FEATURE_SERVER},
        "minReplicas": replicas.min,
        "maxReplicas": replicas.max,
        "metrics": [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": cpu_utilization}}}],
    }


def disruption_budget_spec(replicas: env.Replicas) -> dict:
    """Keep one server up during drains when there are two or more; never block drains of a single one."""
    budget = {"minAvailable": 1} if replicas.min >= 2 else {"maxUnavailable": 1}
    return {"selector": {"matchLabels": selector_labels()}, **budget}


def materialization_cronjob_spec(pod: FeastPod, labels: Mapping[str, str], schedule: str) -> dict:
    """`labels` must not match selector_labels(), or the Service would route requests to the job."""
    # materialize-incremental needs an end time: "now", computed when the job starts.
    command = ["/bin/sh", "-c",
               f'exec feast --chdir {CONFIG_DIR} materialize-incremental "$(date -u +%Y-%m-%dT%H:%M:%S)"']
    return {
        "schedule": schedule,
        "concurrencyPolicy": "Forbid",  # a slow run must not overlap the next one
        "startingDeadlineSeconds": 300,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": {
            "metadata": {"labels": dict(labels)},
            "spec": {
                "backoffLimit": 2,
                "template": {
                    "metadata": pod.template_metadata(labels),
                    "spec": pod.pod_spec([pod.container("materialize", command)], restartPolicy="Never"),
                },
            },
        },
    }


def in_cluster_redis_statefulset_spec(image: str, labels: Mapping[str, str], password: bool) -> dict:
    """One Redis with append-only persistence: the online store of a cluster without a cloud."""
    command = ["redis-server", "--appendonly", "yes", "--dir", "/data"]
    if password:
        command += ["--requirepass", f"$({REDIS_PASSWORD_VARIABLE})"]  # expanded by the kubelet from env
    container = {
        "name": "redis",
        "image": image,
        "command": command,
        "ports": [{"name": "redis", "containerPort": REDIS_PORT, "protocol": "TCP"}],
        "readinessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 10},
        "livenessProbe": {"tcpSocket": {"port": "redis"}, "initialDelaySeconds": 15, "periodSeconds": 20},
        "resources": resource_requirements(env.Resources(), IN_CLUSTER_REDIS_RESOURCES),
        "securityContext": restricted_container_security_context(),
        "volumeMounts": [{"name": "redis-data", "mountPath": "/data"}],
    }
    if password:
        container["env"] = [{"name": REDIS_PASSWORD_VARIABLE, "valueFrom": {
            "secretKeyRef": {"name": CREDENTIALS_SECRET, "key": REDIS_PASSWORD_VARIABLE}}}]
    selector = {"app.kubernetes.io/name": IN_CLUSTER_REDIS, "app.kubernetes.io/instance": "feast"}
    return {
        "serviceName": IN_CLUSTER_REDIS,
        "replicas": 1,
        "selector": {"matchLabels": selector},
        "template": {
            "metadata": {"labels": {**labels, **selector}},
            "spec": {"securityContext": _runs_as(REDIS_USER), "containers": [container]},
        },
        "volumeClaimTemplates": [{
            "metadata": {"name": "redis-data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        }],
    }


# --- the component ---------------------------------------------------------------

class FeatureStore(pulumi.ComponentResource):
    online_store_endpoint: pulumi.Output[str]
    registry_location: pulumi.Output[str]
    feature_server_url: str

    def __init__(self, name: str, args: FeatureStoreArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("stackyard:features:FeatureStore", name, None, opts)
        self._name = name
        self._args = args
        store = args.feature_store
        self._child = pulumi.ResourceOptions(parent=self)
        self._stateful = pulumi.ResourceOptions(
            parent=self, protect=args.ownership.protects_state)
        self._labels = args.ownership.labels("feature-store")
        self._tags = args.ownership.tags({"stackyard.dev/component": "feature-store"})
        on_aws = args.cloud.provider == "aws"

        self.namespace = namespace(f"{name}-ns", store.namespace, self._labels, self._child)
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])
        # The feature server's clients (model servers, pipelines, team notebooks) live in Stackyard's namespaces.
        allow_ingress(f"{name}-allow-feature-clients", store.namespace, "allow-feature-clients", self._labels,
                      {"matchLabels": selector_labels()}, [stackyard_namespaces_peer()], in_namespace,
                      ports=[HTTP_PORT])
        self._in_namespace = in_namespace

        secrets: dict[str, pulumi.Output[str]] = {}
        if store.online_store.auth_token is not None:
            secrets[REDIS_PASSWORD_VARIABLE] = secret_value(store.online_store.auth_token, parent=self)
        if store.registry.type == "sql":
            secrets[REGISTRY_PASSWORD_VARIABLE] = secret_value(store.registry.password, parent=self)

        self.bucket = self.kms_key = self.cache = self.registry_database = self.role = None
        table_arn_prefix = None
        if on_aws:
            self.kms_key = self._kms_key()
        if store.offline_store.type == "s3":
            self.bucket = self._offline_bucket()

        if store.online_store.type == "dynamodb":
            self.online_store_endpoint = pulumi.Output.from_input(f"https://dynamodb.{args.cloud.region}.amazonaws.com")
            table_arn_prefix = self._account_id().apply(
                lambda account: f"arn:aws:dynamodb:{args.cloud.region}:{account}:table/"
                                f"{dynamodb_table_prefix(store.project)}")
        elif on_aws:
            self.cache = self._elasticache(secrets[REDIS_PASSWORD_VARIABLE])
            self.online_store_endpoint = self.cache.primary_endpoint_address.apply(
                lambda host: f"{host}:{REDIS_PORT}")
        else:
            self._in_cluster_redis(password=REDIS_PASSWORD_VARIABLE in secrets)
            self.online_store_endpoint = pulumi.Output.from_input(in_cluster_redis_endpoint(store.namespace))

        if store.registry.type == "s3":
            self.registry_location = self.bucket.bucket.apply(s3_registry_path)
        elif store.registry.type == "sql":
            self.registry_database = self._registry_database(secrets[REGISTRY_PASSWORD_VARIABLE])
            self.registry_location = self.registry_database.address.apply(sql_registry_path)
        else:
            self._data_volume()
            self.registry_location = pulumi.Output.from_input(f"{DATA_DIR}/registry.db")

        role_arn = None
        if on_aws and args.oidc_provider_arn is not None and args.oidc_issuer is not None:
            self.role = self._irsa_role(table_arn_prefix)
            role_arn = self.role.arn
        elif on_aws:
            pulumi.log.warn("no cluster OIDC provider: the Feast service account gets no IAM role", self)
        self._service_account(role_arn)
        if secrets:
            k8s.core.v1.Secret(
                f"{name}-credentials",
                metadata={"name": CREDENTIALS_SECRET, "namespace": store.namespace, "labels": self._labels},
                type="Opaque",
                string_data={key: pulumi.Output.secret(value) for key, value in secrets.items()},
                opts=in_namespace,
            )

        config_yaml = pulumi.Output.all(self.online_store_endpoint, self.registry_location).apply(
            lambda resolved: render_feature_store_yaml(feast_config(
                store, args.cloud, args.ownership.environment, args.versions.feast,
                online_endpoint=resolved[0], registry_location=resolved[1], tags=self._tags)))
        self.config_map = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata={"name": CONFIG_MAP, "namespace": store.namespace, "labels": self._labels},
            data={"feature_store.yaml": config_yaml},
            opts=in_namespace,
        )
        self._feast_workloads(config_yaml, has_credentials=bool(secrets), data_volume=store.registry.type == "file")

        self.feature_server_url = feature_server_url(store.namespace)
        self.register_outputs({
            "namespace": store.namespace,
            "onlineStoreEndpoint": self.online_store_endpoint,
            "registryLocation": self.registry_location,
            "featureServerUrl": self.feature_server_url,
        })

    # -- secrets and identity

    def _account_id(self) -> pulumi.Output[str]:
        if self._args.cloud.account_id:
            return pulumi.Output.from_input(self._args.cloud.account_id)
        import pulumi_aws as aws

        return aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id

    # -- AWS storage

    def _kms_key(self):
        # Protected with the stores: deleting the key makes everything it encrypted unreadable.
        environment = self._args.ownership.environment
        return kms_key(f"{self._name}-key", f"Feast feature store of {environment}: bucket, cache and registry",
                       self._tags, parent=self, protect=self._args.ownership.protects_state,
                       alias=f"alias/{aws_name(environment)}")

    def _offline_bucket(self):
        import pulumi_aws as aws

        offline = self._args.feature_store.offline_store
        bucket = secure_bucket(f"{self._name}-offline", offline.bucket, self.kms_key.arn, self._tags, parent=self,
                               protect=self._args.ownership.protects_state)
        aws.s3.BucketLifecycleConfiguration(
            f"{self._name}-offline-lifecycle", bucket=bucket.bucket,
            rules=offline_bucket_lifecycle_rules(offline.retention_days), opts=self._child)
        return bucket

    def _store_security_group(self, suffix: str, port: int):
        """A security group admitting only the cluster's nodes, on one port; None without a known network."""
        network = self._args.network
        if network is None:
            return None
        import pulumi_aws as aws

        group = aws.ec2.SecurityGroup(
            f"{self._name}-{suffix}-sg", name=aws_name(self._args.ownership.environment, suffix, limit=255),
            description=f"Feast {suffix}: reachable from the cluster only", vpc_id=network.vpc_id,
            tags=self._tags, opts=self._child)
        aws.vpc.SecurityGroupIngressRule(
            f"{self._name}-{suffix}-from-cluster", security_group_id=group.id, ip_protocol="tcp",
            from_port=port, to_port=port, referenced_security_group_id=network.client_security_group_id,
            description="from the cluster's nodes", tags=self._tags, opts=self._child)
        return group

    def _elasticache(self, auth_token: pulumi.Output[str]):
        import pulumi_aws as aws

        online = self._args.feature_store.online_store
        environment = self._args.ownership.environment
        network = self._args.network
        subnet_group = None
        if network is not None:
            subnet_group = aws.elasticache.SubnetGroup(
                f"{self._name}-cache-subnets", name=aws_name(environment, "cache"),
                description="Feast online store subnets", subnet_ids=network.subnet_ids, tags=self._tags,
                opts=self._child)
        group = self._store_security_group("cache", REDIS_PORT)
        protected = self._args.ownership.protects_state
        highly_available = online.replicas > 1
        return aws.elasticache.ReplicationGroup(
            f"{self._name}-online",
            replication_group_id=aws_name(environment),
            description=f"Feast online store of {environment}",
            engine="redis",
            engine_version=self._args.versions.redis,
            node_type=online.node_type,
            num_cache_clusters=online.replicas,
            automatic_failover_enabled=highly_available,
            multi_az_enabled=highly_available,
            port=REDIS_PORT,
            at_rest_encryption_enabled=True,
            kms_key_id=self.kms_key.arn,
            transit_encryption_enabled=True,
            auth_token=auth_token,
            subnet_group_name=subnet_group.name if subnet_group else None,
            security_group_ids=[group.id] if group else None,
            snapshot_retention_limit=7 if protected else 1,
            final_snapshot_identifier=aws_name(environment, "final") if protected else None,
            auto_minor_version_upgrade=True,
            tags=self._tags,
            opts=self._stateful,
        )

    def _registry_database(self, password: pulumi.Output[str]):
        import pulumi_aws as aws

        registry = self._args.feature_store.registry
        environment = self._args.ownership.environment
        network = self._args.network
        subnet_group = None
        if network is not None:
            subnet_group = aws.rds.SubnetGroup(
                f"{self._name}-registry-subnets", name=aws_name(environment, "registry", limit=255),
                description="Feast registry subnets", subnet_ids=network.subnet_ids, tags=self._tags,
                opts=self._child)
        group = self._store_security_group("registry", POSTGRES_PORT)
        protected = self._args.ownership.protects_state
        identifier = aws_name(environment, "registry", limit=63)
        return aws.rds.Instance(
            f"{self._name}-registry",
            identifier=identifier,
            engine="postgres",
            engine_version=self._args.versions.postgres,
            instance_class=registry.instance_class,
            allocated_storage=20,
            max_allocated_storage=100,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=self.kms_key.arn,
            db_name=REGISTRY_DATABASE,
            username=REGISTRY_USER,
            password=password,
            port=POSTGRES_PORT,
            db_subnet_group_name=subnet_group.name if subnet_group else None,
            vpc_security_group_ids=[group.id] if group else None,
            publicly_accessible=False,
            multi_az=protected,
            backup_retention_period=7 if protected else 1,
            deletion_protection=protected,
            skip_final_snapshot=not protected,
            final_snapshot_identifier=f"{identifier}-final" if protected else None,
            copy_tags_to_snapshot=True,
            auto_minor_version_upgrade=True,
            apply_immediately=False,
            tags=self._tags,
            opts=self._stateful,
        )

    def _irsa_role(self, table_arn_prefix: Optional[pulumi.Output[str]]):
        import pulumi_aws as aws

        args = self._args
        store = args.feature_store
        role = irsa_role(
            f"{self._name}-role", args.oidc_provider_arn, args.oidc_issuer, store.namespace, SERVICE_ACCOUNT,
            self._child, name=aws_name(args.ownership.environment, limit=64),
            description=f"Feast feature server and materialization of {args.ownership.environment} (IRSA)",
            tags=self._tags)
        aws.iam.RolePolicy(
            f"{self._name}-role-policy",
            name="feature-store-access",
            role=role.id,
            policy=pulumi.Output.all(
                self.bucket.arn if self.bucket else None, table_arn_prefix, self.kms_key.arn,
            ).apply(lambda arns: store_access_policy(arns[0], arns[1], arns[2])),
            opts=self._child,
        )
        return role

    # -- in the cluster

    def _service_account(self, role_arn: Optional[pulumi.Output[str]]) -> None:
        annotations = {"eks.amazonaws.com/role-arn": role_arn} if role_arn is not None else {}
        k8s.core.v1.ServiceAccount(
            f"{self._name}-sa",
            metadata={"name": SERVICE_ACCOUNT, "namespace": self._args.feature_store.namespace,
                      "labels": self._labels, "annotations": annotations},
            automount_service_account_token=False,
            opts=self._in_namespace,
        )

    def _data_volume(self) -> None:
        k8s.core.v1.PersistentVolumeClaim(
            f"{self._name}-data",
            metadata={"name": DATA_VOLUME_CLAIM, "namespace": self._args.feature_store.namespace,
                      "labels": self._labels},
            spec={"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            opts=self._in_namespace,
        )

    def _in_cluster_redis(self, password: bool) -> None:
        store_namespace = self._args.feature_store.namespace
        labels = {**self._labels, "app.kubernetes.io/name": IN_CLUSTER_REDIS}
        spec = in_cluster_redis_statefulset_spec(
            f"docker.io/library/redis:{self._args.versions.redis}", self._labels, password)
        k8s.apps.v1.StatefulSet(
            f"{self._name}-redis",
            metadata={"name": IN_CLUSTER_REDIS, "namespace": store_namespace, "labels": labels},
            spec=spec,
            opts=self._in_namespace,
        )
        k8s.core.v1.Service(
            f"{self._name}-redis-svc",
            metadata={"name": IN_CLUSTER_REDIS, "namespace": store_namespace, "labels": labels},
            spec={"type": "ClusterIP", "selector": spec["selector"]["matchLabels"],
                  "ports": [{"name": "redis", "port": REDIS_PORT, "targetPort": "redis", "protocol": "TCP"}]},
            opts=self._in_namespace,
        )

    def _feast_workloads(self, config_yaml: pulumi.Output[str], has_credentials: bool, data_volume: bool) -> None:
        store = self._args.feature_store
        labels = {**self._labels, **selector_labels()}
        job_labels = {**self._labels, "app.kubernetes.io/name": MATERIALIZATION_JOB}
        image = f"{FEATURE_SERVER_IMAGE}:{self._args.versions.feast}"
        pod = config_yaml.apply(lambda text: FeastPod(
            image=image, resources=resource_requirements(store.server.resources),
            config_checksum=hashlib.sha256(text.encode()).hexdigest(), has_credentials=has_credentials,
            data_volume=data_volume))
        metadata = {"name": FEATURE_SERVER, "namespace": store.namespace, "labels": labels}
        after_config = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace, self.config_map])
        k8s.apps.v1.Deployment(f"{self._name}-server", metadata=metadata,
                               spec=pod.apply(lambda p: feature_server_deployment_spec(p, labels)),
                               opts=after_config)
        k8s.core.v1.Service(f"{self._name}-server-svc", metadata=metadata, spec=feature_server_service_spec(),
                            opts=self._in_namespace)
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{self._name}-server-hpa", metadata=metadata, spec=autoscaler_spec(store.server.replicas),
            opts=self._in_namespace)
        k8s.policy.v1.PodDisruptionBudget(
            f"{self._name}-server-pdb", metadata=metadata, spec=disruption_budget_spec(store.server.replicas),
            opts=self._in_namespace)
        k8s.batch.v1.CronJob(
            f"{self._name}-materialize",
            metadata={"name": MATERIALIZATION_JOB, "namespace": store.namespace, "labels": job_labels},
            spec=pod.apply(lambda p: materialization_cronjob_spec(p, job_labels, store.materialization_schedule)),
            opts=after_config,
        )
