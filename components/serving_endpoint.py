"""One model endpoint: a KServe InferenceService serving a locked MLflow model version.

The model comes from the registry lock (`environments/<env>.lock.yaml`), never
from the network: the storage URI is the registered version's artifact
location, and the labels name the model and its version. The pod runs as its
own service account; on EKS that account is bound (IRSA) to an IAM role that
may read only the model's artifact prefix. Requests and responses go to the
payload logger service in the serving namespace, which monitoring consumes.

The InferenceService body is built from the kserve SDK's typed models
(components/kserve_models.py), so a misspelled field fails while the plan is
built. The builders are pure functions; `ServingEndpoint` only wires them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping, Optional
from urllib.parse import urlparse

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

# The payload logger sink (monitoring runs it in the serving namespace): every endpoint with
# payloadLogging sends its requests and responses there as CloudEvents, for drift detection.
from components.drift import payload_logger_url
from environments.gpu_scheduling import gpu_scheduling
from components.irsa import irsa_role
from components.pod_security import restricted_container_security_context
from components.kserve_models import (KServeFieldError, fields_from_wire, from_wire, kubernetes_models, make, sdk,
                                      to_wire)
from components.ownership import Ownership
from environments import naming
from environments import spec as env

INFERENCE_SERVICE_API_VERSION = "serving.kserve.io/v1beta1"
DEPLOYMENT_MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
AUTOSCALER_CLASS_ANNOTATION = "serving.kserve.io/autoscalerClass"
IRSA_ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
MODEL_LABEL = "stackyard.dev/model"
MODEL_VERSION_LABEL = "stackyard.dev/model-version"
ENDPOINT_LABEL = "stackyard.dev/endpoint"
MODEL_REF_ANNOTATION = "stackyard.dev/model-ref"
MODEL_RUN_ANNOTATION = "stackyard.dev/model-run-id"
MODEL_CARD_ANNOTATION = "stackyard.dev/model-card"
# KServe runs the model server in the predictor container of this name, serving HTTP on this port.
PREDICTOR_CONTAINER = "kserve-container"
PREDICTOR_PORT = 8080
# KServe creates no Ingress for an InferenceService labelled cluster-local (kserve v0.20.0,
# kube_ingress_reconciler.go): an endpoint in a rollout is reached through Flagger's HTTPRoute.
NETWORK_VISIBILITY_LABEL = "networking.kserve.io/visibility"
CLUSTER_LOCAL = "cluster-local"
# The labels KServe puts on the predictor pods of an InferenceService.
ISVC_POD_LABEL = "serving.kserve.io/inferenceservice"
COMPONENT_POD_LABEL = "component"

# Predictor fields Stackyard sets from the spec -> the spec field to change instead.
MANAGED_PREDICTOR_FIELDS = {
    "model": "model, format, runtime and resources",
    "minReplicas": "replicas.min",
    "maxReplicas": "replicas.max",
    "scaleMetric": "autoscaling.metric",
    "scaleTarget": "autoscaling.target",
    "canaryTrafficPercent": "canary.trafficPercent",
    "serviceAccountName": "(the endpoint's own service account)",
    "logger": "payloadLogging",
    "tolerations": "gpu",
    "nodeSelector": "gpu",
}


class EndpointFieldError(ValueError):
    """A field of an endpoint's spec that KServe cannot take; `path` is relative to the endpoint."""

    def __init__(self, endpoint: str, path: tuple, message: str):
        self.endpoint = endpoint
        self.path = path
        self.message = message
        super().__init__(f"endpoint {endpoint!r}: {'.'.join(map(str, path))}: {message}")


def service_account_name(endpoint: str) -> str:
    return f"{endpoint}-model-reader"


@dataclass(frozen=True)
class S3Prefix:
    bucket: str
    prefix: str  # no leading or trailing slash; empty for a whole bucket

    @property
    def objects_arn(self) -> str:
        return f"arn:aws:s3:::{self.bucket}/{self.prefix}/*" if self.prefix else f"arn:aws:s3:::{self.bucket}/*"


def s3_prefix(source: str) -> Optional[S3Prefix]:
    """Bucket and key prefix of an `s3://` artifact source; None for any other scheme."""
    parsed = urlparse(source)
    if parsed.scheme != "s3" or not parsed.netloc:
        return None
    return S3Prefix(bucket=parsed.netloc, prefix=parsed.path.strip("/"))


def artifact_read_policy(location: S3Prefix) -> str:
    """An IAM policy allowing reads of the objects under `location` and nothing else."""
    list_condition = {"StringLike": {"s3:prefix": [location.prefix, f"{location.prefix}/*"]}} \
        if location.prefix else None
    list_statement = {"Sid": "ListModelPrefix", "Effect": "Allow", "Action": "s3:ListBucket",
                      "Resource": f"arn:aws:s3:::{location.bucket}"}
    if list_condition:
        list_statement["Condition"] = list_condition
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ReadModelArtifacts", "Effect": "Allow", "Action": "s3:GetObject",
             "Resource": location.objects_arn},
            list_statement,
        ],
    }, sort_keys=True)


def iam_role_name(environment: str, endpoint: str) -> str:
    """A deterministic IAM role name within IAM's 64 characters (the one validate checks)."""
    return naming.endpoint_role_name(environment, endpoint)


def storage_annotations(region: str) -> dict[str, str]:
    """How KServe's storage initializer reaches S3 with the pod's IRSA credentials."""
    return {
        "serving.kserve.io/s3-endpoint": f"s3.{region}.amazonaws.com",
        "serving.kserve.io/s3-region": region,
        "serving.kserve.io/s3-usehttps": "1",
        "serving.kserve.io/s3-useanoncredential": "false",
    }


def readiness_path(protocol: Optional[str], model_name: str) -> str:
    """Where a KServe model server says it is ready: the v2 health endpoint, or the v1 model endpoint."""
    return f"/v1/models/{model_name}" if protocol == "v1" else "/v2/health/ready"


def disruption_budget(endpoint: env.Endpoint, namespace: str, labels: Mapping[str, str]) -> Optional[dict]:
    """A PodDisruptionBudget keeping all but one predictor pod through node drains.

    Only for endpoints with at least two replicas: with one, a budget either
    blocks every drain or protects nothing.
    """
    if endpoint.replicas.min < 2:
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": f"{endpoint.name}-predictor", "namespace": namespace, "labels": dict(labels)},
        "spec": {"maxUnavailable": 1,
                 "selector": {"matchLabels": {ISVC_POD_LABEL: endpoint.name, COMPONENT_POD_LABEL: "predictor"}}},
    }


def endpoint_labels(ownership: Ownership, endpoint: env.Endpoint, model: env.ResolvedModel) -> dict[str, str]:
    extra = {ENDPOINT_LABEL: endpoint.name, MODEL_LABEL: naming.label_value(model.name),
             MODEL_VERSION_LABEL: str(model.version)}
    if endpoint.rollout is not None:
        extra[NETWORK_VISIBILITY_LABEL] = CLUSTER_LOCAL
    return ownership.labels("serving", team=endpoint.team, extra=extra)


def _predictor_fields(endpoint: env.Endpoint) -> dict[str, Any]:
    """The spec's predictorFields as typed constructor arguments, refusing what Stackyard sets itself."""
    for key in endpoint.predictor_fields:
        if key in MANAGED_PREDICTOR_FIELDS:
            raise EndpointFieldError(endpoint.name, ("predictorFields", key),
                                     f"{key!r} is set by Stackyard from {MANAGED_PREDICTOR_FIELDS[key]}; "
                                     "change that instead")
    try:
        return fields_from_wire(sdk().V1beta1PredictorSpec, endpoint.predictor_fields, ("predictorFields",))
    except KServeFieldError as error:
        raise EndpointFieldError(endpoint.name, error.path, error.message) from None


def inference_service(endpoint: env.Endpoint, model: env.ResolvedModel, *, namespace: str,
                      deployment_mode: str, protocol: Optional[str], labels: Mapping[str, str],
                      service_account: str) -> dict:
    """The InferenceService of `endpoint` serving `model`, in wire form, built from kserve's typed models."""
    kubernetes = kubernetes_models()
    models = sdk()

    predictor_path = ("spec", "predictor")
    limits = dict(endpoint.resources.limits)
    predictor: dict[str, Any] = {}
    if endpoint.gpu is not None:
        gpu = gpu_scheduling(endpoint.gpu.pool, endpoint.gpu.count)
        limits.update(gpu.limits)
        predictor["tolerations"] = from_wire("list[V1Toleration]", gpu.tolerations, predictor_path + ("tolerations",))
        predictor["node_selector"] = gpu.node_selector
    resources = make(kubernetes.V1ResourceRequirements, predictor_path + ("model", "resources"),
                     requests=dict(endpoint.resources.requests) or None, limits=limits or None)
    model_path = predictor_path + ("model",)
    predictor["model"] = make(
        models.V1beta1ModelSpec, model_path,
        name=PREDICTOR_CONTAINER,
        model_format=make(models.V1beta1ModelFormat, model_path + ("modelFormat",), name=endpoint.format),
        runtime=endpoint.runtime,
        protocol_version=protocol,
        storage_uri=model.source,
        resources=resources,
        security_context=from_wire("V1SecurityContext",
                                   restricted_container_security_context(read_only_root_filesystem=False),
                                   model_path + ("securityContext",)),
        readiness_probe=from_wire("V1Probe", {
            "httpGet": {"path": readiness_path(protocol, endpoint.name), "port": PREDICTOR_PORT},
            "periodSeconds": 10, "failureThreshold": 3}, model_path + ("readinessProbe",)),
    )
    metric, target = endpoint.autoscaling.resolved(deployment_mode)
    predictor.update(
        min_replicas=endpoint.replicas.min,
        max_replicas=endpoint.replicas.max,
        scale_metric=metric,
        scale_target=target,
        service_account_name=service_account,
    )
    if endpoint.canary is not None:
        # KServe's canary rollout: this revision takes the given share of the
        # traffic, the last revision that was rolled out fully keeps the rest.
        predictor["canary_traffic_percent"] = endpoint.canary.traffic_percent
    if endpoint.payload_logging:
        predictor["logger"] = make(models.V1beta1LoggerSpec, predictor_path + ("logger",),
                                   mode="all", url=payload_logger_url(namespace))
    predictor.update(_predictor_fields(endpoint))

    annotations = {
        DEPLOYMENT_MODE_ANNOTATION: deployment_mode,
        MODEL_REF_ANNOTATION: f"{endpoint.model.name} {endpoint.model.selector}",
        MODEL_RUN_ANNOTATION: model.run_id,
    }
    if deployment_mode == env.RAW_DEPLOYMENT:
        annotations[AUTOSCALER_CLASS_ANNOTATION] = "hpa"
    if model.model_card:
        annotations[MODEL_CARD_ANNOTATION] = model.model_card
    service = make(
        models.V1beta1InferenceService, (),
        api_version=INFERENCE_SERVICE_API_VERSION,
        kind="InferenceService",
        metadata=make(kubernetes.V1ObjectMeta, ("metadata",), name=endpoint.name, namespace=namespace,
                      labels=dict(labels), annotations=annotations),
        spec=make(models.V1beta1InferenceServiceSpec, ("spec",),
                  predictor=make(models.V1beta1PredictorSpec, predictor_path, **predictor)),
    )
    return to_wire(service)


@dataclass(frozen=True)
class ServingEndpointArgs:
    endpoint: env.Endpoint
    model: env.ResolvedModel  # from the registry lock
    namespace: str
    deployment_mode: str
    protocol: Optional[str]  # of the endpoint's runtime
    ownership: Ownership  # of the team that owns the endpoint
    region: Optional[str] = None
    # The cluster's IAM OIDC provider; without it (existing clusters) the
    # service account is not bound to an IAM role.
    oidc_provider_arn: Optional[pulumi.Input[str]] = None
    oidc_issuer: Optional[pulumi.Input[str]] = None


class ServingEndpoint(pulumi.ComponentResource):
    """The InferenceService of one spec endpoint, its service account, disruption budget and (on EKS) IAM role."""

    def __init__(self, name: str, args: ServingEndpointArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("stackyard:serving:ServingEndpoint", name, None, opts)
        endpoint, model = args.endpoint, args.model
        # Children wait for what the endpoint waits for (namespace, KServe, its runtime).
        after = list(opts.depends_on) if opts is not None and opts.depends_on else []
        child = pulumi.ResourceOptions(parent=self, depends_on=after)
        labels = endpoint_labels(args.ownership, endpoint, model)
        account = service_account_name(endpoint.name)
        body = inference_service(endpoint, model, namespace=args.namespace, deployment_mode=args.deployment_mode,
                                 protocol=args.protocol, labels=labels, service_account=account)

        annotations: dict[str, pulumi.Input[str]] = {}
        self.role = None
        location = s3_prefix(model.source)
        if args.oidc_provider_arn is not None and args.oidc_issuer is not None and location is not None:
            self.role = self._model_reader_role(name, args, account, location, child)
            annotations[IRSA_ROLE_ANNOTATION] = self.role.arn
            if args.region:
                annotations.update(storage_annotations(args.region))
        self.service_account = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=account, namespace=args.namespace, labels=labels,
                                                annotations=annotations or None),
            opts=child,
        )
        budget = disruption_budget(endpoint, args.namespace, labels)
        self.disruption_budget = None if budget is None else k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb", metadata=budget["metadata"], spec=budget["spec"], opts=child)
        self.inference_service = k8s.apiextensions.CustomResource(
            f"{name}-isvc",
            api_version=body["apiVersion"],
            kind=body["kind"],
            metadata=body["metadata"],
            spec=body["spec"],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*after, self.service_account]),
        )
        self.register_outputs({"name": endpoint.name, "storageUri": model.source,
                               "modelVersion": model.version})

    def _model_reader_role(self, name: str, args: ServingEndpointArgs, account: str, location: S3Prefix,
                           child: pulumi.ResourceOptions) -> aws.iam.Role:
        role = irsa_role(f"{name}-model-reader", args.oidc_provider_arn, args.oidc_issuer, args.namespace, account,
                         child, name=iam_role_name(args.ownership.environment, args.endpoint.name),
                         tags=args.ownership.tags({ENDPOINT_LABEL: args.endpoint.name}))
        aws.iam.RolePolicy(f"{name}-model-read", role=role.id, policy=artifact_read_policy(location), opts=child)
        return role
