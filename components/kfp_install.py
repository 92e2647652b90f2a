"""The Kubernetes objects of a standalone Kubeflow Pipelines install, as plain manifests.

Pure data, no Pulumi: `install_manifests(install)` returns every object in
Kubernetes wire form, and the KubeflowPipelines component creates one
resource per object. Why objects and not the upstream kustomize tree or a
chart is said in components/kubeflow_pipelines.py.

What is installed, following upstream's platform-agnostic standalone install
of the same release: the API server, persistence agent, scheduled-workflow
controller and UI; ML Metadata (gRPC server and its Envoy proxy); MySQL for
both; Argo Workflows' controller (namespaced mode, so every grant is a Role,
not a ClusterRole) and the CRDs it and the scheduled-workflow controller
watch. The v1-only parts (cache webhook, metadata writer, viewer CRD,
visualization server) are left out: Stackyard pipelines are v2.

Artifacts go to S3 through IAM roles for service accounts in AWS, or to an
in-cluster SeaweedFS (an Apache-licensed S3 server, the store upstream KFP
moved to from MinIO) behind the `minio-service` name KFP expects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import pulumi

from components.pod_security import restricted_container_security_context, restricted_pod_security_context

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
API_SERVICE = "ml-pipeline"
API_HTTP_PORT = 8888
API_GRPC_PORT = 8887


def api_url(namespace: str) -> str:
    """Where the KFP API server's REST API answers inside the cluster."""
    return f"http://{API_SERVICE}.{namespace}.svc.cluster.local:{API_HTTP_PORT}"

MYSQL_SERVICE = "mysql"
STORE_SERVICE = "minio-service"  # the name every KFP component defaults to for the object store
STORE_SECRET = "mlpipeline-minio-artifact"
LOCAL_BUCKET = "mlpipeline"
PIPELINE_RUNNER = "pipeline-runner"


@dataclass(frozen=True)
class KfpRelease:
    """The images of one KFP release, with the Argo, ML Metadata and MySQL versions it ships with."""

    version: str
    argo: str
    mlmd: str
    mysql: str
    seaweedfs: str

    def image(self, component: str) -> str:
        return f"ghcr.io/kubeflow/kfp-{component}:{self.version}"


# From upstream's manifests/kustomize at the release tag (tests/upstream/kubeflow__pipelines@<tag>/).
KFP_RELEASES: dict[str, KfpRelease] = {
    "2.17.0": KfpRelease(version="2.17.0", argo="v4.0.5", mlmd="1.14.0", mysql="8.4", seaweedfs="4.34"),
}


def release(version: str) -> KfpRelease:
    """The images of KFP `version`. An unknown one is input the component cannot build: a
    pulumi.RunError (docs/architecture.md, "Conventions"), so the plan ends with exit 2, not 1."""
    try:
        return KFP_RELEASES[version]
    except KeyError:
        raise pulumi.RunError(f"versions.kubeflowPipelines {version!r} is not a release Stackyard knows how to "
                              f"install; known: {sorted(KFP_RELEASES)}") from None


@dataclass(frozen=True)
class ArtifactStore:
    """Where pipeline artifacts live: an S3 bucket reached with IRSA, or SeaweedFS in the cluster."""

    bucket: str
    in_cluster: bool
    region: Optional[str] = None
    role_arn: Any = None  # Input[str]: the IRSA role of the service accounts that read or write artifacts

    @property
    def host(self) -> str:
        return STORE_SERVICE if self.in_cluster else f"s3.{self.region}.amazonaws.com"

    @property
    def port(self) -> str:
        return "9000" if self.in_cluster else "443"

    @property
    def pipeline_root(self) -> str:
        scheme = "minio" if self.in_cluster else "s3"
        return f"{scheme}://{self.bucket}/v2/artifacts"


@dataclass(frozen=True)
class KfpInstall:
    namespace: str
    release: KfpRelease
    store: ArtifactStore
    labels: Mapping[str, str]  # ownership labels every object carries
    platform_env: Mapping[str, str] = field(default_factory=dict)  # the stackyard-platform ConfigMap


@dataclass(frozen=True)
class Omission:
    """A part of upstream's platform-agnostic install that Stackyard leaves out on purpose.

    `kind` is CustomResourceDefinition, Deployment (any workload of that name) or Rule; a Rule names the
    service account, api group, resources and verbs ("*": every verb) it excuses."""

    kind: str
    name: str
    reason: str
    api_group: str = ""
    resources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ("*",)


_V1_ONLY = "a v1 (ContainerOp) feature: Stackyard pipelines are v2"
_MULTI_USER = ("a virtual resource the API server authorizes with a SubjectAccessReview in multi-user mode "
               "only; this install is single-user")
_MLFLOW_PLUGIN = "KFP's MLflow plugin, which this install does not enable (pipelines log to MLflow directly)"
_RUNNER_V1 = ("granted to v1 ResourceOps/VolumeOps and v1 components; the v2 driver and launcher need only "
              "what the pipeline-runner Role grants")

# Everything of upstream's install (tests/upstream/kubeflow__pipelines@<tag>/) that is not installed, in one place.
UPSTREAM_OMISSIONS: tuple[Omission, ...] = (
    Omission("CustomResourceDefinition", "viewers.kubeflow.org", f"the viewer CRD: {_V1_ONLY}"),
    Omission("CustomResourceDefinition", "applications.app.k8s.io",
             "the Application CRD only groups upstream's objects for a dashboard; Stackyard's ownership labels do"),
    Omission("Deployment", "cache-server", f"the cache webhook: {_V1_ONLY} (v2 caching is in the driver)"),
    Omission("Deployment", "cache-deployer-deployment", f"deploys the cache webhook: {_V1_ONLY}"),
    Omission("Deployment", "metadata-writer", f"{_V1_ONLY} (v2 launchers write ML Metadata themselves)"),
    Omission("Deployment", "ml-pipeline-viewer-crd", f"the viewer controller: {_V1_ONLY}"),
    Omission("Deployment", "ml-pipeline-visualizationserver", f"v1 visualizations: {_V1_ONLY}"),
    Omission("Deployment", "seaweedfs", "artifacts go to S3 through IRSA in AWS environments (installed in local)"),
    Omission("Rule", "kubeflow-pipelines-cache", f"the cache webhook's account: {_V1_ONLY}"),
    Omission("Rule", "kubeflow-pipelines-cache-deployer-sa", f"the cache deployer's account: {_V1_ONLY}"),
    Omission("Rule", "kubeflow-pipelines-metadata-writer", f"the metadata writer's account: {_V1_ONLY}"),
    Omission("Rule", "ml-pipeline-viewer-crd-service-account", f"the viewer controller's account: {_V1_ONLY}"),
    Omission("Rule", "system:authenticated", "kubeflow-pipelines-public: lets every user read a ConfigMap this "
             "install does not create"),
    Omission("Rule", "ml-pipeline", "the Kubernetes-native pipeline store; pipelines are kept in MySQL",
             "pipelines.kubeflow.org", ("pipelines",)),
    Omission("Rule", "ml-pipeline", "multi-user authentication and authorization only",
             "authorization.k8s.io", ("subjectaccessreviews",)),
    Omission("Rule", "ml-pipeline", "multi-user authentication only", "authentication.k8s.io", ("tokenreviews",)),
    Omission("Rule", "ml-pipeline", _MLFLOW_PLUGIN, "mlflow.kubeflow.org", ("experiments",)),
    Omission("Rule", "ml-pipeline", _MLFLOW_PLUGIN, "", ("secrets",)),
    Omission("Rule", "ml-pipeline-persistenceagent", _MULTI_USER, "pipelines.kubeflow.org",
             ("scheduledworkflows", "workflows", "runs")),
    Omission("Rule", "ml-pipeline-scheduledworkflow", _MULTI_USER, "pipelines.kubeflow.org", ("runs",)),
    Omission("Rule", "ml-pipeline-ui", f"the viewer CRD: {_V1_ONLY}", "kubeflow.org", ("viewers",)),
    Omission("Rule", PIPELINE_RUNNER, _MLFLOW_PLUGIN, "mlflow.kubeflow.org", ("experiments",)),
    Omission("Rule", PIPELINE_RUNNER, _RUNNER_V1, "", ("pods/exec", "services", "persistentvolumes",
                                                        "deployments", "replicasets")),
    Omission("Rule", PIPELINE_RUNNER, _RUNNER_V1, "apps", ("deployments", "replicasets")),
    Omission("Rule", PIPELINE_RUNNER, _RUNNER_V1, "extensions", ("deployments", "replicasets")),
    Omission("Rule", PIPELINE_RUNNER, _RUNNER_V1, "kubeflow.org", ("*",)),
    Omission("Rule", PIPELINE_RUNNER, _RUNNER_V1, "batch", ("jobs",)),
    Omission("Rule", PIPELINE_RUNNER, _RUNNER_V1, "machinelearning.seldon.io", ("seldondeployments",)),
    Omission("Rule", PIPELINE_RUNNER, _RUNNER_V1, "snapshot.storage.k8s.io", ("volumesnapshots",)),
    Omission("Rule", PIPELINE_RUNNER, "the launcher reads and patches its own pod; it creates and deletes none",
             "", ("pods",), ("create", "update", "delete", "deletecollection")),
    Omission("Rule", PIPELINE_RUNNER, "the launcher only reads its steps' logs", "", ("pods/log",),
             ("list", "watch", "create", "update", "patch", "delete", "deletecollection")),
    Omission("Rule", PIPELINE_RUNNER, "kfp-kubernetes creates, reads and deletes volumes; it changes none",
             "", ("persistentvolumeclaims",), ("update", "patch", "deletecollection")),
)


# --- small builders --------------------------------------------------------------

def _meta(install: KfpInstall, name: str, app: Optional[str] = None, annotations: Optional[dict] = None,
          namespaced: bool = True) -> dict:
    labels = {**install.labels, "app": app or name, "app.kubernetes.io/name": "kubeflow-pipelines"}
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if namespaced:
        meta["namespace"] = install.namespace
    if annotations:
        meta["annotations"] = annotations
    return meta


def _container(name: str, image: str, cpu: str, memory: str, memory_limit: str, *, run_as_user: int = 1000,
               **extra: Any) -> dict:
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        # KFP's servers write caches beside themselves: no read-only root filesystem.
        "securityContext": restricted_container_security_context(read_only_root_filesystem=False,
                                                                 run_as_user=run_as_user),
        "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory_limit}},
        **extra,
    }


def _pod(install: KfpInstall, app: str, service_account: str, containers: list[dict], **extra: Any) -> dict:
    return {
        "metadata": {"labels": {**install.labels, "app": app}},
        "spec": {"serviceAccountName": service_account, "containers": containers,
                 "securityContext": restricted_pod_security_context(), **extra},
    }


def _deployment(install: KfpInstall, name: str, service_account: str, containers: list[dict],
                replicas: int = 1, **pod_extra: Any) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(install, name),
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": _pod(install, name, service_account, containers, **pod_extra)}}


def _service(install: KfpInstall, name: str, app: str, ports: list[tuple[str, int, int]]) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(install, name, app),
            "spec": {"type": "ClusterIP", "selector": {"app": app},
                     "ports": [{"name": port_name, "port": port, "targetPort": target, "protocol": "TCP"}
                               for port_name, port, target in ports]}}


def _service_account(install: KfpInstall, name: str, annotations: Optional[dict] = None) -> dict:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(install, name, annotations=annotations)}


Rule = tuple  # (api group, resources, verbs) or (api group, resources, verbs, resource names)


def _role_and_binding(install: KfpInstall, name: str, rules: list[Rule]) -> list[dict]:
    """A Role with `rules` bound to the service account of the same name."""
    def rule(group: str, resources: list[str], verbs: list[str], resource_names: tuple = ()) -> dict:
        body = {"apiGroups": [group], "resources": resources, "verbs": verbs}
        if resource_names:
            body["resourceNames"] = list(resource_names)
        return body

    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta(install, name),
            "rules": [rule(*entry) for entry in rules]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": _meta(install, name),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
               "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": install.namespace}]}
    return [role, binding]


def _from_config(key: str) -> dict:
    return {"valueFrom": {"configMapKeyRef": {"name": "pipeline-install-config", "key": key}}}


def _from_secret(secret: str, key: str) -> dict:
    return {"valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _env(**values: Any) -> list[dict]:
    return [{"name": name, **(value if isinstance(value, dict) else {"value": str(value)})}
            for name, value in values.items()]


@dataclass(frozen=True)
class CrdName:
    """What identifies a CRD to the API server and its clients: everything but the schema."""

    group: str
    kind: str
    plural: str
    version: str
    short_names: tuple[str, ...] = ()
    cluster_scoped: bool = False
    # Only where upstream's CRD has it: with a status subresource the API server drops `.status` from
    # ordinary updates, and Argo's controller writes a Workflow's status with ordinary updates.
    status_subresource: bool = False


# The CRDs of upstream's install (Argo's minimal CRDs and the ScheduledWorkflow), as upstream names them.
# The Argo controller starts no worker until the informer of every one of its kinds has synced.
KFP_CRDS: tuple[CrdName, ...] = (
    CrdName("argoproj.io", "Workflow", "workflows", "v1alpha1", ("wf",)),
    CrdName("argoproj.io", "WorkflowTemplate", "workflowtemplates", "v1alpha1", ("wftmpl",)),
    CrdName("argoproj.io", "ClusterWorkflowTemplate", "clusterworkflowtemplates", "v1alpha1",
            ("clusterwftmpl", "cwft"), cluster_scoped=True),
    CrdName("argoproj.io", "CronWorkflow", "cronworkflows", "v1alpha1", ("cwf", "cronwf")),
    CrdName("argoproj.io", "WorkflowEventBinding", "workfloweventbindings", "v1alpha1", ("wfeb",)),
    CrdName("argoproj.io", "WorkflowTaskResult", "workflowtaskresults", "v1alpha1"),
    CrdName("argoproj.io", "WorkflowTaskSet", "workflowtasksets", "v1alpha1", ("wfts",), status_subresource=True),
    CrdName("argoproj.io", "WorkflowArtifactGCTask", "workflowartifactgctasks", "v1alpha1", ("wfat",),
            status_subresource=True),
    CrdName("kubeflow.org", "ScheduledWorkflow", "scheduledworkflows", "v1beta1", ("swf",)),
)


def crd(name: CrdName, labels: Mapping[str, str]) -> dict:
    """A CustomResourceDefinition that stores objects as given (as upstream's minimal CRDs do)."""
    names = {"kind": name.kind, "listKind": f"{name.kind}List", "plural": name.plural,
             "singular": name.kind.lower()}
    if name.short_names:
        names["shortNames"] = list(name.short_names)
    version: dict[str, Any] = {
        "name": name.version, "served": True, "storage": True,
        "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}
    if name.status_subresource:
        version["subresources"] = {"status": {}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{name.plural}.{name.group}", "labels": dict(labels)},
        "spec": {"group": name.group, "names": names, "scope": "Cluster" if name.cluster_scoped else "Namespaced",
                 "versions": [version]},
    }


def crds(labels: Mapping[str, str]) -> list[dict]:
    return [crd(name, labels) for name in KFP_CRDS]


# --- the install ---------------------------------------------------------------

def _config_maps(install: KfpInstall) -> list[dict]:
    store = install.store
    launcher = {"defaultPipelineRoot": store.pipeline_root}
    if not store.in_cluster:
        # The launcher in each step reads S3 with the pod's web identity (IRSA): no keys anywhere.
        launcher["providers"] = (f"s3:\n  default:\n    endpoint: {store.host}\n    region: {store.region}\n"
                                 f"    disableSSL: false\n    credentials:\n      fromEnv: true\n")
    artifact_repository = (
        f"s3:\n  bucket: {store.bucket}\n  endpoint: {store.host}:{store.port}\n  insecure: true\n"
        f"  accessKeySecret: {{name: {STORE_SECRET}, key: accesskey}}\n"
        f"  secretKeySecret: {{name: {STORE_SECRET}, key: secretkey}}\n"
        if store.in_cluster else
        f"s3:\n  bucket: {store.bucket}\n  endpoint: {store.host}\n  region: {store.region}\n  useSDKCreds: true\n")
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(install, "pipeline-install-config"),
         "data": {"appName": "pipeline", "appVersion": install.release.version, "dbHost": MYSQL_SERVICE,
                  "dbPort": "3306", "dbType": "mysql", "mysqlHost": MYSQL_SERVICE, "mysqlPort": "3306",
                  "mlmdDb": "metadb", "cacheDb": "cachedb", "pipelineDb": "mlpipeline",
                  "bucketName": store.bucket, "defaultPipelineRoot": store.pipeline_root,
                  "autoUpdatePipelineDefaultVersion": "true", "cronScheduleTimezone": "UTC",
                  "ConMaxLifeTime": "120s"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(install, "kfp-launcher"), "data": launcher},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(install, "workflow-controller-configmap"),
         "data": {"config": "artifactRepository:\n  archiveLogs: true\n"
                            + "".join(f"  {line}\n" for line in artifact_repository.splitlines())
                            + "executor:\n  resources:\n    requests: {cpu: 10m, memory: 64Mi}\n"
                              "    limits: {memory: 512Mi}\n"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(install, "stackyard-platform"),
         "data": dict(sorted(install.platform_env.items()))},
    ]


def _secrets(install: KfpInstall, secret_value) -> list[dict]:
    """The database login (upstream's passwordless root, reachable only from KFP: see the NetworkPolicy)
    and, in the cluster-local store, the SeaweedFS keys. `secret_value` marks values secret in the plan."""
    secrets = [{"apiVersion": "v1", "kind": "Secret", "metadata": _meta(install, "mysql-secret"), "type": "Opaque",
                "stringData": {"username": secret_value("root"), "password": secret_value("")}}]
    if install.store.in_cluster:
        secrets.append({"apiVersion": "v1", "kind": "Secret", "metadata": _meta(install, STORE_SECRET),
                        "type": "Opaque", "stringData": {"accesskey": secret_value("minio"),
                                                         "secretkey": secret_value("minio123")}})
    return secrets


def _service_accounts(install: KfpInstall) -> list[dict]:
    irsa = ({IRSA_ANNOTATION: install.store.role_arn}
            if not install.store.in_cluster and install.store.role_arn is not None else None)
    touching_artifacts = {"ml-pipeline", "ml-pipeline-ui", PIPELINE_RUNNER}
    names = ["ml-pipeline", "ml-pipeline-persistenceagent", "ml-pipeline-scheduledworkflow", "ml-pipeline-ui",
             PIPELINE_RUNNER, "argo", "metadata-grpc-server", MYSQL_SERVICE]
    if install.store.in_cluster:
        names.append("seaweedfs")
    return [_service_account(install, name, irsa if name in touching_artifacts else None) for name in names]


_WORKFLOW_VERBS = ["create", "get", "list", "watch", "update", "patch", "delete"]


def _rbac(install: KfpInstall) -> list[dict]:
    """Upstream's grants per service account, less `UPSTREAM_OMISSIONS` (tests/test_kfp_parity.py
    holds the two against upstream's rendered install)."""
    grants = {
        "ml-pipeline": [("", ["pods", "pods/log"], ["get", "list", "delete"]),
                        ("argoproj.io", ["workflows"], _WORKFLOW_VERBS),
                        ("kubeflow.org", ["scheduledworkflows"], ["create", "get", "list", "update", "patch", "delete"]),
                        ("kubeflow.org", ["scheduledworkflows/finalizers"], ["update"]),
                        ("", ["configmaps"], ["get"], ("kfp-launcher",))],
        "ml-pipeline-persistenceagent": [("argoproj.io", ["workflows"], ["get", "list", "watch"]),
                                         ("kubeflow.org", ["scheduledworkflows"], ["get", "list", "watch"])],
        "ml-pipeline-scheduledworkflow": [("argoproj.io", ["workflows"], _WORKFLOW_VERBS),
                                          ("kubeflow.org", ["scheduledworkflows", "scheduledworkflows/finalizers"],
                                           _WORKFLOW_VERBS),
                                          ("", ["events"], ["create", "patch"])],
        "ml-pipeline-ui": [("", ["pods", "pods/log"], ["get"]), ("", ["events"], ["list"]),
                           ("", ["secrets", "configmaps"], ["get", "list"]),
                           ("argoproj.io", ["workflows"], ["get", "list"])],
        PIPELINE_RUNNER: [("", ["secrets"], ["get"]), ("", ["configmaps"], ["get", "watch", "list"]),
                          ("", ["pods"], ["get", "list", "watch", "patch"]), ("", ["pods/log"], ["get"]),
                          ("", ["persistentvolumeclaims"], ["create", "get", "list", "watch", "delete"]),
                          ("argoproj.io", ["workflows"], ["get", "list", "watch", "update", "patch"]),
                          ("argoproj.io", ["workflowtaskresults"], ["create", "patch"])],
        # Argo's namespace-install Role at the release's Argo version, as upstream KFP installs it.
        "argo": [("coordination.k8s.io", ["leases"], ["create", "get", "update"]),
                 ("", ["pods", "pods/exec"], _WORKFLOW_VERBS),
                 ("", ["configmaps"], ["get", "watch", "list"]),
                 ("", ["persistentvolumeclaims", "persistentvolumeclaims/finalizers"], ["create", "update", "delete", "get"]),
                 ("argoproj.io", ["workflows", "workflows/finalizers", "workflowtasksets", "workflowtasksets/finalizers",
                                  "workflowartifactgctasks"], _WORKFLOW_VERBS),
                 ("argoproj.io", ["workflowtemplates", "workflowtemplates/finalizers"], ["get", "list", "watch"]),
                 ("argoproj.io", ["workflowtaskresults"], ["list", "watch", "deletecollection"]),
                 ("", ["serviceaccounts"], ["get", "list"]),
                 ("", ["secrets"], ["get"]),
                 ("argoproj.io", ["cronworkflows", "cronworkflows/finalizers"],
                  ["get", "list", "watch", "update", "patch", "delete"]),
                 ("", ["events"], ["create", "patch"]),
                 ("policy", ["poddisruptionbudgets"], ["create", "get", "delete"])],
    }
    return [obj for name, rules in grants.items() for obj in _role_and_binding(install, name, rules)]


def _object_store_env(install: KfpInstall) -> dict:
    store = install.store
    env: dict[str, Any] = {"OBJECTSTORECONFIG_BUCKETNAME": store.bucket, "OBJECTSTORECONFIG_HOST": store.host,
                           "OBJECTSTORECONFIG_PORT": store.port,
                           "OBJECTSTORECONFIG_SECURE": "false" if store.in_cluster else "true"}
    if store.in_cluster:
        env["OBJECTSTORECONFIG_ACCESSKEY"] = _from_secret(STORE_SECRET, "accesskey")
        env["OBJECTSTORECONFIG_SECRETACCESSKEY"] = _from_secret(STORE_SECRET, "secretkey")
    else:
        env["OBJECTSTORECONFIG_REGION"] = store.region
    return env


def _workloads(install: KfpInstall) -> list[dict]:
    release = install.release
    db_login = {"DBCONFIG_USER": _from_secret("mysql-secret", "username"),
                "DBCONFIG_PASSWORD": _from_secret("mysql-secret", "password")}
    api_server = _container(
        "ml-pipeline-api-server", release.image("api-server"), "250m", "512Mi", "1Gi",
        env=_env(POD_NAMESPACE={"valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                 PUBLISH_LOGS="true", LOG_LEVEL="info", DB_DRIVER_NAME=_from_config("dbType"),
                 **db_login, DBCONFIG_DBNAME=_from_config("pipelineDb"), DBCONFIG_HOST=_from_config("mysqlHost"),
                 DBCONFIG_PORT=_from_config("mysqlPort"),
                 DBCONFIG_MYSQLCONFIG_USER=db_login["DBCONFIG_USER"],
                 DBCONFIG_MYSQLCONFIG_PASSWORD=db_login["DBCONFIG_PASSWORD"],
                 DBCONFIG_MYSQLCONFIG_DBNAME=_from_config("pipelineDb"),
                 DBCONFIG_MYSQLCONFIG_HOST=_from_config("mysqlHost"),
                 DBCONFIG_MYSQLCONFIG_PORT=_from_config("mysqlPort"),
                 DBCONFIG_CONMAXLIFETIME=_from_config("ConMaxLifeTime"),
                 AUTO_UPDATE_PIPELINE_DEFAULT_VERSION=_from_config("autoUpdatePipelineDefaultVersion"),
                 V2_DRIVER_IMAGE=release.image("driver"), V2_LAUNCHER_IMAGE=release.image("launcher"),
                 **_object_store_env(install)),
        ports=[{"name": "http", "containerPort": API_HTTP_PORT}, {"name": "grpc", "containerPort": API_GRPC_PORT}],
        readinessProbe={"httpGet": {"path": "/apis/v1beta1/healthz", "port": API_HTTP_PORT}, "periodSeconds": 5},
        startupProbe={"httpGet": {"path": "/apis/v1beta1/healthz", "port": API_HTTP_PORT},
                      "periodSeconds": 5, "failureThreshold": 24})
    persistence_agent = _container(
        "ml-pipeline-persistenceagent", release.image("persistence-agent"), "100m", "128Mi", "512Mi",
        env=_env(NAMESPACE=install.namespace, TTL_SECONDS_AFTER_WORKFLOW_FINISH="86400", NUM_WORKERS="2",
                 EXECUTIONTYPE="Workflow"))
    scheduled_workflow = _container(
        "ml-pipeline-scheduledworkflow", release.image("scheduled-workflow-controller"), "100m", "128Mi", "512Mi",
        env=_env(NAMESPACE=install.namespace, CRON_SCHEDULE_TIMEZONE=_from_config("cronScheduleTimezone"),
                 LOG_LEVEL="info"))
    ui = _container(
        "ml-pipeline-ui", release.image("frontend"), "100m", "256Mi", "1Gi",
        env=_env(NAMESPACE=install.namespace, ARGO_ARCHIVE_LOGS="true", DISABLE_GKE_METADATA="true",
                 METADATA_ENVOY_SERVICE_SERVICE_HOST="metadata-envoy-service",
                 METADATA_ENVOY_SERVICE_SERVICE_PORT="9090",
                 **({"MINIO_NAMESPACE": install.namespace} if install.store.in_cluster else
                    {"AWS_REGION": install.store.region, "AWS_S3_ENDPOINT": install.store.host, "AWS_SSL": "true"})),
        ports=[{"name": "http", "containerPort": 3000}],
        readinessProbe={"httpGet": {"path": "/apis/v1beta1/healthz", "port": 3000}, "periodSeconds": 10})
    metadata_grpc = _container(
        "metadata-grpc", f"gcr.io/tfx-oss-public/ml_metadata_store_server:{release.mlmd}", "100m", "256Mi", "1Gi",
        command=["/bin/metadata_store_server"],
        args=["--grpc_port=8080", "--mysql_config_database=metadb", f"--mysql_config_host={MYSQL_SERVICE}",
              "--mysql_config_port=3306", "--mysql_config_user=$(DBCONFIG_USER)",
              "--mysql_config_password=$(DBCONFIG_PASSWORD)", "--enable_database_upgrade=true"],
        env=_env(**db_login), ports=[{"name": "grpc", "containerPort": 8080}],
        readinessProbe={"tcpSocket": {"port": 8080}, "periodSeconds": 5})
    envoy = _container("metadata-envoy", release.image("metadata-envoy"), "50m", "64Mi", "256Mi",
                       ports=[{"name": "grpc-web", "containerPort": 9090}],
                       readinessProbe={"tcpSocket": {"port": 9090}, "periodSeconds": 5})
    argo_controller = _container(
        "workflow-controller", f"quay.io/argoproj/workflow-controller:{release.argo}", "100m", "256Mi", "1Gi",
        run_as_user=8737,
        args=["--configmap", "workflow-controller-configmap",
              "--executor-image", f"quay.io/argoproj/argoexec:{release.argo}", "--namespaced"],
        env=_env(LEADER_ELECTION_IDENTITY={"valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
        ports=[{"name": "metrics", "containerPort": 9090}])
    return [
        _deployment(install, "ml-pipeline", "ml-pipeline", [api_server]),
        _deployment(install, "ml-pipeline-persistenceagent", "ml-pipeline-persistenceagent", [persistence_agent]),
        _deployment(install, "ml-pipeline-scheduledworkflow", "ml-pipeline-scheduledworkflow", [scheduled_workflow]),
        _deployment(install, "ml-pipeline-ui", "ml-pipeline-ui", [ui]),
        _deployment(install, "metadata-grpc-deployment", "metadata-grpc-server", [metadata_grpc]),
        _deployment(install, "metadata-envoy-deployment", "metadata-grpc-server", [envoy]),
        _deployment(install, "workflow-controller", "argo", [argo_controller]),
        _service(install, API_SERVICE, "ml-pipeline", [("http", API_HTTP_PORT, API_HTTP_PORT),
                                                       ("grpc", API_GRPC_PORT, API_GRPC_PORT)]),
        _service(install, "ml-pipeline-ui", "ml-pipeline-ui", [("http", 80, 3000)]),
        _service(install, "metadata-grpc-service", "metadata-grpc-deployment", [("grpc-api", 8080, 8080)]),
        _service(install, "metadata-envoy-service", "metadata-envoy-deployment", [("md-envoy", 9090, 9090)]),
    ]


def _stateful_set(install: KfpInstall, name: str, service_account: str, container: dict, storage: str,
                  mount_path: str) -> dict:
    container = {**container, "volumeMounts": [{"name": "data", "mountPath": mount_path}]}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": _meta(install, name),
            "spec": {"serviceName": name, "replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": _pod(install, name, service_account, [container],
                                      securityContext=restricted_pod_security_context(fs_group=999)),
                     "volumeClaimTemplates": [{"metadata": {"name": "data", "labels": dict(install.labels)},
                                               "spec": {"accessModes": ["ReadWriteOnce"],
                                                        "resources": {"requests": {"storage": storage}}}}]}}


def _mysql(install: KfpInstall) -> list[dict]:
    container = _container(
        "mysql", f"docker.io/library/mysql:{install.release.mysql}", "100m", "512Mi", "2Gi", run_as_user=999,
        args=["--datadir", "/var/lib/mysql", "--mysql-native-password=ON", "--disable-log-bin"],
        env=_env(MYSQL_ALLOW_EMPTY_PASSWORD="true"), ports=[{"name": "mysql", "containerPort": 3306}],
        readinessProbe={"exec": {"command": ["mysqladmin", "ping", "-h", "127.0.0.1"]}, "periodSeconds": 10})
    only_kfp = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": _meta(install, "mysql"),
                "spec": {"podSelector": {"matchLabels": {"app": "mysql"}}, "policyTypes": ["Ingress"],
                         "ingress": [{"from": [{"podSelector": {"matchExpressions": [{
                             "key": "app", "operator": "In",
                             "values": ["ml-pipeline", "metadata-grpc-deployment"]}]}}],
                             "ports": [{"protocol": "TCP", "port": 3306}]}]}}
    return [_stateful_set(install, "mysql", MYSQL_SERVICE, container, "20Gi", "/var/lib/mysql"),
            _service(install, MYSQL_SERVICE, "mysql", [("mysql", 3306, 3306)]), only_kfp]


def _seaweedfs(install: KfpInstall) -> list[dict]:
    create_bucket = (f"for i in $(seq 1 60); do wget -q --spider http://127.0.0.1:8333/status && break; sleep 2; done; "
                     f"echo 's3.bucket.create --name {LOCAL_BUCKET}' | weed shell || true; "
                     "echo \"s3.configure -user kfp -access_key $accesskey -secret_key $secretkey "
                     "-actions Admin -apply\" | weed shell")
    container = _container(
        "seaweedfs", f"ghcr.io/chrislusf/seaweedfs:{install.release.seaweedfs}", "50m", "256Mi", "1Gi",
        run_as_user=1001, args=["server", "-dir=/data", "-s3", "-filer", "-master.volumePreallocate=false"],
        envFrom=[{"secretRef": {"name": STORE_SECRET}}], ports=[{"name": "s3", "containerPort": 8333}],
        lifecycle={"postStart": {"exec": {"command": ["/bin/sh", "-ec", create_bucket]}}},
        readinessProbe={"httpGet": {"path": "/status", "port": 8333}, "periodSeconds": 15})
    return [_stateful_set(install, "seaweedfs", "seaweedfs", container, "20Gi", "/data"),
            _service(install, STORE_SERVICE, "seaweedfs", [("s3", 9000, 8333)])]


def install_manifests(install: KfpInstall, secret_value=lambda value: value) -> list[dict]:
    """Every object of the install, CRDs first (cluster-scoped), then the namespace's objects."""
    objects = crds(install.labels)
    objects += _service_accounts(install) + _rbac(install) + _config_maps(install) + _secrets(install, secret_value)
    objects += _mysql(install) + _workloads(install)
    if install.store.in_cluster:
        objects += _seaweedfs(install)
    return objects
