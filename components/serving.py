"""KServe: the installation, the pinned serving runtimes and one ServingEndpoint per spec endpoint.

Installed as Helm releases at the versions in `versions:`: cert-manager (the
KServe webhooks need certificates), the KServe CRDs as their own release (Helm
never upgrades CRDs that ship inside a chart's crds/ folder, a release of their
own does), and the KServe controller (`kserve-resources`) with the spec's default
deployment mode.
Knative Serving (through the Knative Operator, with Kourier as its ingress) is
installed only when an endpoint runs in Serverless mode: canary traffic
splitting and request-based autoscaling need it, RawDeployment does not.

KServe's own ClusterServingRuntimes (`kserve-*`, images at the chart's tags)
ship in a chart of their own, `kserve-runtime-configs`, which Stackyard does not
install: the spec's runtimes are created instead, each image pinned in the spec.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.kserve_models import from_wire, kubernetes_models, make, sdk, to_wire
from components.kube import namespace
from components.network_isolation import allow_ingress, namespace_peer
from components.ownership import Ownership
from components.pod_security import restricted_container_security_context
from components.serving_endpoint import PREDICTOR_CONTAINER, ServingEndpoint, ServingEndpointArgs
from environments import spec as env

CERT_MANAGER_REPOSITORY = "https://charts.jetstack.io"
CERT_MANAGER_NAMESPACE = "cert-manager"
KSERVE_CHART_REGISTRY = "oci://ghcr.io/kserve/charts"
KSERVE_NAMESPACE = "kserve"
KNATIVE_OPERATOR_CHART = ("https://github.com/knative/operator/releases/download/"
                          "knative-{version}/knative-operator-{version}.tgz")
KNATIVE_OPERATOR_NAMESPACE = "knative-operator"
KNATIVE_SERVING_NAMESPACE = "knative-serving"
# Where the gateway in front of RawDeployment endpoints runs. At the pinned chart KServe makes them
# Ingress objects of class `istio` (kserve.controller.gateway.ingressGateway.className), served by
# Istio's gateway in istio-system, the namespace of the chart's localGateway.gatewayService;
# tests/test_network_isolation.py reads both off the vendored values.
KSERVE_INGRESS_GATEWAY_NAMESPACE = "istio-system"
# KServe labels every pod of an InferenceService with its name.
KSERVE_ISVC_LABEL = "serving.kserve.io/inferenceservice"
KOURIER_INGRESS_CLASS = "kourier.ingress.networking.knative.dev"
SERVING_RUNTIME_API_VERSION = "serving.kserve.io/v1alpha1"

# The controller chart; since KServe v0.16 it renders no ClusterServingRuntime (those are in
# `kserve-runtime-configs`), so installing it alone installs none of KServe's runtimes.
KSERVE_CONTROLLER_CHART = "kserve-resources"

# How the known model-server images are started: KServe's Python servers take
# the model name and directory, Triton its model store. Other images run
# their own entrypoint.
_KSERVE_SERVER_ARGS = ("--model_name={{.Name}}", "--model_dir=/mnt/models", "--http_port=8080")
_SERVER_ARGS = {
    "sklearnserver": _KSERVE_SERVER_ARGS,
    "xgbserver": _KSERVE_SERVER_ARGS,
    "lgbserver": _KSERVE_SERVER_ARGS,
    "pmmlserver": _KSERVE_SERVER_ARGS,
    "paddleserver": _KSERVE_SERVER_ARGS,
    "huggingfaceserver": ("--model_name={{.Name}}",),
    "tritonserver": ("tritonserver", "--model-store=/mnt/models", "--grpc-port=9000", "--http-port=8080",
                     "--allow-grpc=true", "--allow-http=true"),
}
_METRICS_PORTS = {"tritonserver": "8002"}
# Images whose default user is root: run them as the user KServe's own runtimes use.
_RUN_AS_USER = {"tritonserver": 1000}
# What a runtime's container asks for unless the InferenceService says otherwise.
_RUNTIME_DEFAULT_RESOURCES = {"cpu": "1", "memory": "2Gi"}


@dataclass(frozen=True)
class ServingArgs:
    serving: env.Serving
    versions: env.Versions
    ownership: Ownership
    endpoints: tuple[env.Endpoint, ...] = ()
    models: Mapping[str, env.ResolvedModel] = field(default_factory=dict)  # endpoint name -> locked model
    teams: tuple[env.Team, ...] = ()
    region: Optional[str] = None
    oidc_provider_arn: Optional[pulumi.Input[str]] = None
    oidc_issuer: Optional[pulumi.Input[str]] = None

    def deployment_modes(self) -> dict[str, str]:
        return {endpoint.name: endpoint.deployment_mode_in(self.serving) for endpoint in self.endpoints}

    @property
    def needs_kserve(self) -> bool:
        return bool(self.endpoints or self.serving.runtimes)

    @property
    def needs_knative(self) -> bool:
        return env.SERVERLESS in self.deployment_modes().values()


def cert_manager_values() -> dict:
    # `crds.keep`: uninstalling the release must not delete every Certificate in the cluster.
    return {"crds": {"enabled": True, "keep": True}}


def kserve_values(serving: env.Serving, serverless: bool) -> dict:
    """Helm values of the KServe controller chart."""
    gateway: dict = {"disableIngressCreation": serving.domain is None}
    if serving.domain:
        gateway["domain"] = serving.domain
    if serverless:
        # Knative's Kourier routes Serverless endpoints; KServe needs no Istio.
        gateway["disableIstioVirtualHost"] = True
    return {"kserve": {"controller": {"deploymentMode": serving.deployment_mode, "gateway": gateway}}}


def knative_serving(version: str, domain: Optional[str], labels: Mapping[str, str]) -> dict:
    """The KnativeServing the Knative Operator reconciles: Kourier ingress, pod features KServe needs."""
    serving_version = ".".join(version.removeprefix("v").split(".")[:2])
    config = {
        "network": {"ingress-class": KOURIER_INGRESS_CLASS},
        # GPU endpoints set tolerations and a node selector on their pods;
        # Knative drops both unless these features are on.
        "features": {"kubernetes.podspec-tolerations": "enabled",
                     "kubernetes.podspec-nodeselector": "enabled",
                     "kubernetes.podspec-affinity": "enabled"},
    }
    if domain:
        config["domain"] = {domain: ""}
    return {
        "apiVersion": "operator.knative.dev/v1beta1",
        "kind": "KnativeServing",
        "metadata": {"name": "knative-serving", "namespace": KNATIVE_SERVING_NAMESPACE, "labels": dict(labels)},
        "spec": {"version": serving_version, "ingress": {"kourier": {"enabled": True}}, "config": config},
    }


def _server_family(image: str) -> str:
    """`docker.io/kserve/sklearnserver:v0.15.2` -> `sklearnserver`."""
    repository = image.rsplit("@", 1)[0]
    last = repository.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def cluster_serving_runtime(runtime: env.ServingRuntime, labels: Mapping[str, str]) -> dict:
    """A ClusterServingRuntime for a spec runtime, built from kserve's typed models, in wire form."""
    kubernetes = kubernetes_models()
    models = sdk()
    family = _server_family(runtime.image)
    path = ("spec",)
    security = restricted_container_security_context(read_only_root_filesystem=False,
                                                     run_as_user=_RUN_AS_USER.get(family))
    container = make(
        kubernetes.V1Container, path + ("containers", 0),
        name=PREDICTOR_CONTAINER,
        image=runtime.image,
        args=list(_SERVER_ARGS.get(family, ())) or None,
        security_context=from_wire("V1SecurityContext", security, path + ("containers", 0, "securityContext")),
        resources=make(kubernetes.V1ResourceRequirements, path + ("containers", 0, "resources"),
                       requests=dict(_RUNTIME_DEFAULT_RESOURCES), limits=dict(_RUNTIME_DEFAULT_RESOURCES)),
    )
    formats = [make(models.V1alpha1SupportedModelFormat, path + ("supportedModelFormats", index),
                    name=model_format, auto_select=True, priority=1)
               for index, model_format in enumerate(runtime.model_formats)]
    body = make(
        models.V1alpha1ClusterServingRuntime, (),
        api_version=SERVING_RUNTIME_API_VERSION,
        kind="ClusterServingRuntime",
        metadata=make(kubernetes.V1ObjectMeta, ("metadata",), name=runtime.name, labels=dict(labels)),
        spec=make(models.V1alpha1ServingRuntimeSpec, path,
                  supported_model_formats=formats,
                  protocol_versions=[runtime.protocol],
                  containers=[container],
                  annotations={"prometheus.kserve.io/port": _METRICS_PORTS.get(family, "8080"),
                               "prometheus.kserve.io/path": "/metrics"}),
    )
    return to_wire(body)


def team_ownership(ownership: Ownership, teams: tuple[env.Team, ...], team_name: str) -> Ownership:
    """The ownership of what a team runs: the team's owner and cost center where the spec names them."""
    for team in teams:
        if team.name == team_name:
            return dataclasses.replace(ownership, owner=team.owner, team=team.name,
                                       cost_center=team.cost_center or ownership.cost_center)
    return dataclasses.replace(ownership, team=team_name)


class Serving(pulumi.ComponentResource):
    def __init__(self, name: str, args: ServingArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("stackyard:serving:Serving", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = args.ownership.labels("serving")
        self.namespace = namespace(f"{name}-ns", args.serving.namespace, labels, child)
        # Requests reach the model servers through a gateway: Kourier and the activator for Serverless
        # endpoints, KServe's ingress gateway for RawDeployment ones.
        allow_ingress(f"{name}-allow-gateway", args.serving.namespace, "allow-gateway", labels,
                      {"matchExpressions": [{"key": KSERVE_ISVC_LABEL, "operator": "Exists"}]},
                      [namespace_peer(KNATIVE_SERVING_NAMESPACE), namespace_peer(KSERVE_INGRESS_GATEWAY_NAMESPACE)],
                      pulumi.ResourceOptions(parent=self, depends_on=[self.namespace]))
        self.endpoints: dict[str, ServingEndpoint] = {}
        if not args.needs_kserve:
            self.register_outputs({"namespace": args.serving.namespace})
            return

        versions = args.versions
        missing = [key for key in ("certManager", "kserve") if not versions.pinned(key)]
        if missing:
            raise pulumi.RunError(f"versions lacks {', '.join(missing)}: KServe is installed for the endpoints "
                                  "and its version must be pinned there")
        cert_manager = k8s.helm.v3.Release(
            f"{name}-cert-manager",
            name="cert-manager",
            chart="cert-manager",
            version=versions.cert_manager,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CERT_MANAGER_REPOSITORY),
            namespace=CERT_MANAGER_NAMESPACE,
            create_namespace=True,
            values=cert_manager_values(),
            opts=child,
        )
        kserve_crds = k8s.helm.v3.Release(
            f"{name}-kserve-crd",
            name="kserve-crd",
            chart=f"{KSERVE_CHART_REGISTRY}/kserve-crd",
            version=versions.kserve,
            namespace=KSERVE_NAMESPACE,
            create_namespace=True,
            opts=child,
        )
        controller_needs = [cert_manager, kserve_crds]
        if args.needs_knative:
            controller_needs.append(self._knative(name, versions.knative, args.serving.domain, labels, child))
        self.kserve = k8s.helm.v3.Release(
            f"{name}-kserve",
            name="kserve",
            chart=f"{KSERVE_CHART_REGISTRY}/{KSERVE_CONTROLLER_CHART}",
            version=versions.kserve,
            namespace=KSERVE_NAMESPACE,
            create_namespace=True,
            values=kserve_values(args.serving, args.needs_knative),
            opts=pulumi.ResourceOptions(parent=self, depends_on=controller_needs),
        )

        # The KServe webhook validates runtimes and InferenceServices: both wait for the controller.
        after_kserve = pulumi.ResourceOptions(parent=self, depends_on=[self.kserve])
        runtimes = {}
        for runtime in args.serving.runtimes:
            body = cluster_serving_runtime(runtime, labels)
            runtimes[runtime.name] = k8s.apiextensions.CustomResource(
                f"{name}-runtime-{runtime.name}", api_version=body["apiVersion"], kind=body["kind"],
                metadata=body["metadata"], spec=body["spec"], opts=after_kserve)

        protocols = {runtime.name: runtime.protocol for runtime in args.serving.runtimes}
        modes = args.deployment_modes()
        for endpoint in args.endpoints:
            model = args.models.get(endpoint.name)
            if model is None:
                raise pulumi.RunError(f"endpoint {endpoint.name!r} has no resolved model: the registry lock "
                                      "supplies one for every endpoint")
            waits_for = [self.namespace, self.kserve]
            if endpoint.runtime in runtimes:
                waits_for.append(runtimes[endpoint.runtime])
            self.endpoints[endpoint.name] = ServingEndpoint(
                f"{name}-{endpoint.name}",
                ServingEndpointArgs(
                    endpoint=endpoint,
                    model=model,
                    namespace=args.serving.namespace,
                    deployment_mode=modes[endpoint.name],
                    protocol=protocols.get(endpoint.runtime),
                    ownership=team_ownership(args.ownership, args.teams, endpoint.team),
                    region=args.region,
                    oidc_provider_arn=args.oidc_provider_arn,
                    oidc_issuer=args.oidc_issuer,
                ),
                pulumi.ResourceOptions(parent=self, depends_on=waits_for),
            )
        self.register_outputs({"namespace": args.serving.namespace,
                               "endpoints": sorted(self.endpoints)})

    def _knative(self, name: str, version: str, domain: Optional[str], labels: Mapping[str, str],
                 child: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        operator = k8s.helm.v3.Release(
            f"{name}-knative-operator",
            name="knative-operator",
            chart=KNATIVE_OPERATOR_CHART.format(version=version),
            namespace=KNATIVE_OPERATOR_NAMESPACE,
            create_namespace=True,
            opts=child,
        )
        serving_namespace = namespace(f"{name}-knative-serving-ns", KNATIVE_SERVING_NAMESPACE, labels, child)
        # The edge: Kourier takes traffic from the load balancer, the webhooks calls from the API server.
        allow_ingress(f"{name}-knative-allow-edge", KNATIVE_SERVING_NAMESPACE, "allow-edge", labels, {}, [],
                      pulumi.ResourceOptions(parent=self, depends_on=[serving_namespace]))
        body = knative_serving(version, domain, labels)
        return k8s.apiextensions.CustomResource(
            f"{name}-knative-serving", api_version=body["apiVersion"], kind=body["kind"],
            metadata=body["metadata"], spec=body["spec"],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[operator, serving_namespace]))
