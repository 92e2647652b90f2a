"""Reading Kubernetes objects the way the rules need them: pod templates, containers, images, selectors.

Standard library only. Works on wire-form objects (camelCase), whether they
come from the offline plan, from a manifest file or from CrossGuard.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping  # not typing.Mapping: isinstance checks against it are several times slower
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Optional, Sequence

from policies.rules.model import UNKNOWN, Resource, as_list, as_map, dig

# Long-running kinds whose pods can receive traffic through a Service.
SERVICE_KINDS = ("Pod", "Deployment", "StatefulSet", "ReplicaSet", "ReplicationController")

# Kinds whose `spec.template` is a PodTemplateSpec.
CONTROLLER_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job")
# Kubeflow Training Operator jobs (kubeflow.org/v1): spec.<key> maps a replica type to a ReplicaSpec.
TRAINING_JOB_REPLICA_SPECS = {"PyTorchJob": "pytorchReplicaSpecs", "TFJob": "tfReplicaSpecs",
                              "MPIJob": "mpiReplicaSpecs", "XGBoostJob": "xgbReplicaSpecs",
                              "PaddleJob": "paddleReplicaSpecs", "JAXJob": "jaxReplicaSpecs"}
# KubeRay (ray.io/v1): where each kind keeps its RayClusterSpec.
RAY_CLUSTER_SPECS = {"RayCluster": ("spec",), "RayJob": ("spec", "rayClusterSpec"),
                     "RayService": ("spec", "rayClusterConfig")}
# Argo Workflows (argoproj.io/v1alpha1): where each kind keeps its WorkflowSpec.
ARGO_WORKFLOW_SPECS = {"Workflow": ("spec",), "WorkflowTemplate": ("spec",), "ClusterWorkflowTemplate": ("spec",),
                       "CronWorkflow": ("spec", "workflowSpec")}
# Pod-level fields an Argo WorkflowSpec sets for every step's pod, which a template may override
# (argo-workflows pkg/apis/workflow/v1alpha1/workflow_types.go, WorkflowSpec and Template).
_ARGO_POD_FIELDS = ("securityContext", "hostNetwork", "automountServiceAccountToken", "serviceAccountName",
                    "nodeSelector", "tolerations", "affinity", "volumes")
CONTAINER_SECTIONS = ("initContainers", "containers", "ephemeralContainers")
# Fields the API server types as booleans or integers: a string there ("true", "0") is refused at
# admission, so the audit refuses it too instead of reading it as "not set" (SY-GOV-003).
_POD_BOOLEANS = ("hostNetwork", "hostPID", "hostIPC", "hostUsers", "shareProcessNamespace",
                 "automountServiceAccountToken", "enableServiceLinks")
_SECURITY_BOOLEANS = ("privileged", "allowPrivilegeEscalation", "readOnlyRootFilesystem", "runAsNonRoot")
_SECURITY_INTEGERS = ("runAsUser", "runAsGroup")
_PORT_INTEGERS = ("containerPort", "hostPort")

INFERENCE_SERVICE = "InferenceService"
INFERENCE_COMPONENTS = ("predictor", "transformer", "explainer")
# The shorthand model keys of a KServe predictor; each is a container spec.
KSERVE_FRAMEWORK_KEYS = ("sklearn", "xgboost", "tensorflow", "pytorch", "triton", "onnx", "huggingface",
                         "lightgbm", "paddle", "pmml")
SERVING_RUNTIME_KINDS = ("ServingRuntime", "ClusterServingRuntime")
# Labels KServe puts on every pod of an InferenceService component.
KSERVE_ISVC_LABEL = "serving.kserve.io/inferenceservice"
KSERVE_COMPONENT_LABEL = "component"
DEPLOYMENT_MODE_ANNOTATION = "serving.kserve.io/deploymentMode"


@dataclass(frozen=True)
class Container:
    name: str
    section: str  # containers | initContainers | ephemeralContainers | sidecars | model | sklearn | ...
    spec: Mapping[str, Any]

    @property
    def image(self) -> str:
        image = self.spec.get("image")
        return image if isinstance(image, str) else ""

    @property
    def security_context(self) -> Mapping[str, Any]:
        return as_map(self.spec.get("securityContext"))

    def resources(self, kind: str) -> Mapping[str, Any]:
        """`requests` or `limits`."""
        return as_map(dig(self.spec, "resources", kind))

    def requests(self) -> Mapping[str, Any]:
        """What the container requests as the API server records it: a resource with a limit and no
        request is requested at its limit (Guaranteed QoS), so limits fill the gaps of requests."""
        return {**self.resources("limits"), **{k: v for k, v in self.resources("requests").items()
                                                if v not in (None, "")}}

    @property
    def is_init(self) -> bool:
        return self.section == "initContainers"

    @property
    def is_ephemeral(self) -> bool:
        return self.section == "ephemeralContainers"


@dataclass(frozen=True)
class PodTemplate:
    """The pods one workload (or one component of it: an InferenceService predictor, a Ray worker group,
    an Argo template, a training job's replica type) runs."""

    resource: Resource
    component: str  # "" for a plain workload; predictor, head, "Worker", "template 'train'", ...
    spec: Mapping[str, Any]  # the pod-level fields: securityContext, volumes, tolerations, nodeSelector, ...
    containers: tuple[Container, ...]
    labels: Mapping[str, Any]  # the labels the pods carry (what selectors match)
    annotations: Mapping[str, Any] = field(default_factory=dict)  # the pods' annotations (AppArmor, ...)

    def where(self, container: Optional[Container] = None) -> str:
        """How a message names the place: "predictor container 'kserve-container'" or "pod"."""
        if container is None:
            return self.component or "pod"
        prefix = f"{self.component} " if self.component else ""
        return f"{prefix}container '{container.name}'"

    @property
    def security_context(self) -> Mapping[str, Any]:
        return as_map(self.spec.get("securityContext"))

    @property
    def app_containers(self) -> tuple[Container, ...]:
        return tuple(c for c in self.containers if c.section != "initContainers")


def each_container(templates: Sequence[PodTemplate], ephemeral: bool = True) -> Iterator[tuple[PodTemplate, Container]]:
    """(template, container) for every container of the templates, the one loop every workload rule uses.

    `ephemeral=False` leaves out ephemeral (debug) containers, which the API server forbids resources
    and probes on.
    """
    for template in templates:
        for container in template.containers:
            if ephemeral or not container.is_ephemeral:
                yield template, container


def _string_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in as_map(value).items()}


def _shape(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value!r}"
    return f"the {type(value).__name__} {value!r}"


class _PodReader:
    """Reads the pod templates of one workload and notes every place its pod spec is malformed.

    Malformed means what the API server would refuse at admission: a list where a mapping belongs
    (or the reverse), a missing template, a pod without containers, a string where a boolean or an
    integer belongs. Such a spec must not pass rules vacuously: the reader keeps what it could read
    and SY-GOV-003 reports the rest. Values a preview cannot know yet (UNKNOWN) are never malformed.
    """

    def __init__(self, resource: Resource):
        self.resource = resource
        self.templates: list[PodTemplate] = []
        self.problems: list[str] = []

    def _refuse(self, path: str, found: str, expected: str) -> None:
        self.problems.append(f"{self.resource.kind} {self.resource.object_name!r}: {path} is {found}, expected "
                             f"{expected}; the API server refuses this object and no rule could read its pods")

    def mapping(self, value: Any, path: str, required: bool = False) -> Optional[Mapping[str, Any]]:
        if value is None or value == UNKNOWN:
            if value is None and required:
                self._refuse(path, "missing", "a mapping")
            return None
        if not isinstance(value, Mapping):
            self._refuse(path, _shape(value), "a mapping")
            return None
        return value

    def sequence(self, value: Any, path: str) -> list:
        if value is None or value == UNKNOWN:
            return []
        if not isinstance(value, (list, tuple)):
            self._refuse(path, _shape(value), "a list")
            return []
        return list(value)

    def typed(self, body: Mapping[str, Any], path: str, booleans: Sequence[str], integers: Sequence[str] = ()) -> None:
        for key in booleans:
            value = body.get(key)
            if value is not None and value != UNKNOWN and not isinstance(value, bool):
                self._refuse(f"{path}.{key}", _shape(value), "a boolean")
        for key in integers:
            value = body.get(key)
            if value is not None and value != UNKNOWN and (isinstance(value, bool) or not isinstance(value, int)):
                self._refuse(f"{path}.{key}", _shape(value), "an integer")

    def security_context(self, value: Any, path: str, booleans: Sequence[str]) -> None:
        context = self.mapping(value, path)
        if context is None:
            return
        self.typed(context, path, booleans, _SECURITY_INTEGERS)
        windows = self.mapping(context.get("windowsOptions"), f"{path}.windowsOptions")
        if windows is not None:
            self.typed(windows, f"{path}.windowsOptions", ("hostProcess",))

    def container(self, item: Any, section: str, path: str, default_name: str) -> Optional[Container]:
        """The container at `path` (e.g. spec.containers[0]), named `default_name` if it has no name."""
        body = self.mapping(item, path)
        if body is None:
            return None
        self.security_context(body.get("securityContext"), f"{path}.securityContext", _SECURITY_BOOLEANS)
        for number, port in enumerate(self.sequence(body.get("ports"), f"{path}.ports")):
            port = self.mapping(port, f"{path}.ports[{number}]")
            if port is not None:
                self.typed(port, f"{path}.ports[{number}]", (), _PORT_INTEGERS)
        return Container(str(body.get("name") or default_name), section, body)

    def containers(self, spec: Mapping[str, Any], path: str, sections: Sequence[str] = CONTAINER_SECTIONS
                   ) -> list[Container]:
        found = []
        for section in sections:
            for index, item in enumerate(self.sequence(spec.get(section), f"{path}.{section}")):
                container = self.container(item, section, f"{path}.{section}[{index}]", f"{section}[{index}]")
                if container is not None:
                    found.append(container)
        return found

    def pod_fields(self, spec: Mapping[str, Any], path: str) -> None:
        """Check the pod-level fields of `spec` (at `path`) for the shapes the API server accepts."""
        self.typed(spec, path, _POD_BOOLEANS)
        self.security_context(spec.get("securityContext"), f"{path}.securityContext", ("runAsNonRoot",))
        self.sequence(spec.get("volumes"), f"{path}.volumes")
        self.sequence(spec.get("tolerations"), f"{path}.tolerations")

    def pod(self, component: str, spec: Mapping[str, Any], path: str, labels: Any, annotations: Any = None,
            containers: Sequence[Container] = (), require_containers: bool = True, checked: bool = False) -> None:
        """One pod spec at `path` (its containers read from it, plus `containers` read elsewhere);
        `checked`: its pod-level fields were checked where they were written."""
        if not checked:
            self.pod_fields(spec, path)
        found = [*containers, *self.containers(spec, path)]
        if require_containers and not any(c.section not in ("initContainers", "ephemeralContainers") for c in found):
            if spec.get("containers") != UNKNOWN:
                self._refuse(f"{path}.containers", "empty" if "containers" in spec else "missing",
                             "at least one container")
        self.templates.append(PodTemplate(self.resource, component, spec, tuple(found), _string_map(labels),
                                          _string_map(annotations)))

    def template(self, component: str, value: Any, path: str, required: bool = True) -> None:
        """A PodTemplateSpec ({metadata, spec}) at `path`; a Pod is read as its own template."""
        template = self.mapping(value, path, required)
        if template is None:
            return
        prefix = f"{path}." if path else ""
        metadata = self.mapping(template.get("metadata"), f"{prefix}metadata") or {}
        spec = self.mapping(template.get("spec"), f"{prefix}spec", required=True)
        if spec is not None:
            self.pod(component, spec, f"{prefix}spec", metadata.get("labels"), metadata.get("annotations"))

    def spec(self) -> Optional[Mapping[str, Any]]:
        return self.mapping(self.resource.inputs.get("spec"), "spec", required=True)


def _read_ray_cluster(reader: _PodReader, cluster: Mapping[str, Any], path: str) -> None:
    head = reader.mapping(cluster.get("headGroupSpec"), f"{path}.headGroupSpec", required=True)
    if head is not None:
        reader.template("head", head.get("template"), f"{path}.headGroupSpec.template")
    for index, group in enumerate(reader.sequence(cluster.get("workerGroupSpecs"), f"{path}.workerGroupSpecs")):
        group = reader.mapping(group, f"{path}.workerGroupSpecs[{index}]")
        if group is not None:
            reader.template(f"worker group '{group.get('groupName') or index}'", group.get("template"),
                            f"{path}.workerGroupSpecs[{index}].template")


def _read_argo_workflow(reader: _PodReader, workflow: Mapping[str, Any], path: str) -> None:
    """Every template of a WorkflowSpec that runs a pod (container, script or containerSet templates)."""
    reader.pod_fields(workflow, path)
    shared = {key: workflow[key] for key in _ARGO_POD_FIELDS if key in workflow}
    pod_labels = dig(workflow, "podMetadata", "labels")
    for index, item in enumerate(reader.sequence(workflow.get("templates"), f"{path}.templates")):
        where = f"{path}.templates[{index}]"
        template = reader.mapping(item, where)
        if template is None:
            continue
        containers = []
        for key in ("container", "script"):
            containers.append(reader.container(template.get(key), key, f"{where}.{key}", "main"))
        container_set = reader.mapping(template.get("containerSet"), f"{where}.containerSet")
        if container_set is not None:
            containers += reader.containers(container_set, f"{where}.containerSet", ("containers",))
        containers += reader.containers(template, where, ("initContainers", "sidecars"))
        containers = [c for c in containers if c is not None]
        if not containers:
            continue  # steps, dag, resource and suspend templates run no pod of their own
        reader.pod_fields(template, where)
        spec = {**shared, **{key: template[key] for key in _ARGO_POD_FIELDS if key in template}}
        if "volumes" in template and "volumes" in workflow:
            spec["volumes"] = [*as_list(workflow["volumes"]), *as_list(template["volumes"])]
        labels = {**_string_map(pod_labels), **_string_map(dig(template, "metadata", "labels"))}
        reader.pod(f"template '{template.get('name') or index}'", spec, where, labels,
                   dig(template, "metadata", "annotations"), containers, require_containers=False, checked=True)


def _read_inference_service(reader: _PodReader, spec: Mapping[str, Any]) -> None:
    resource = reader.resource
    for component in INFERENCE_COMPONENTS:
        body = reader.mapping(spec.get(component), f"spec.{component}")
        if not body:
            continue
        path = f"spec.{component}"
        containers = []
        for key in ("model", *KSERVE_FRAMEWORK_KEYS):
            if body.get(key) not in (None, {}):
                containers.append(reader.container(body[key], key, f"{path}.{key}", "kserve-container"))
        labels = {**_string_map(resource.labels), **_string_map(body.get("labels")),
                  KSERVE_ISVC_LABEL: resource.object_name, KSERVE_COMPONENT_LABEL: component}
        annotations = {**_string_map(resource.metadata.get("annotations")), **_string_map(body.get("annotations"))}
        reader.pod(component, body, path, labels, annotations, [c for c in containers if c is not None],
                   require_containers=False)


def _read(resource: Resource) -> _PodReader:
    reader = _PodReader(resource)
    if not resource.is_kubernetes_object:
        return reader
    kind, inputs = resource.kind, resource.inputs
    if kind == "Pod":
        reader.template("", inputs, "")
    elif kind == "PodTemplate":
        reader.template("", inputs.get("template"), "template")
    elif kind in CONTROLLER_KINDS:
        spec = reader.spec()
        if spec is not None:
            reader.template("", spec.get("template"), "spec.template")
    elif kind == "CronJob":
        spec = reader.spec()
        job = reader.mapping(spec.get("jobTemplate"), "spec.jobTemplate", required=True) if spec is not None else None
        job_spec = reader.mapping(job.get("spec"), "spec.jobTemplate.spec", required=True) if job is not None else None
        if job_spec is not None:
            reader.template("", job_spec.get("template"), "spec.jobTemplate.spec.template")
    elif kind in TRAINING_JOB_REPLICA_SPECS:
        key = TRAINING_JOB_REPLICA_SPECS[kind]
        spec = reader.spec()
        replicas = reader.mapping(spec.get(key), f"spec.{key}", required=True) if spec is not None else None
        for role, replica in sorted((replicas or {}).items()):
            replica = reader.mapping(replica, f"spec.{key}.{role}")
            if replica is not None:
                reader.template(str(role), replica.get("template"), f"spec.{key}.{role}.template")
    elif kind in RAY_CLUSTER_SPECS:
        path = RAY_CLUSTER_SPECS[kind]
        spec = reader.spec()
        cluster = spec if len(path) == 1 else (
            reader.mapping(spec.get(path[1]), ".".join(path)) if spec is not None else None)
        if cluster is not None:
            _read_ray_cluster(reader, cluster, ".".join(path))
        if kind == "RayJob" and spec is not None:
            reader.template("submitter", spec.get("submitterPodTemplate"), "spec.submitterPodTemplate",
                            required=False)
    elif kind in ARGO_WORKFLOW_SPECS:
        path = ARGO_WORKFLOW_SPECS[kind]
        spec = reader.spec()
        workflow = spec if len(path) == 1 else (
            reader.mapping(spec.get(path[1]), ".".join(path), required=True) if spec is not None else None)
        if workflow is not None:
            _read_argo_workflow(reader, workflow, ".".join(path))
    elif kind == INFERENCE_SERVICE:
        spec = reader.spec()
        if spec is not None:
            _read_inference_service(reader, spec)
    return reader


def pod_templates(resource: Resource) -> list[PodTemplate]:
    """Every pod template of a workload, an ML workload resource or an InferenceService; [] for anything else."""
    return resource.derived("pods", _read).templates


def malformed_pod_spec(resource: Resource) -> list[str]:
    """Where a workload's pod spec is one the API server would refuse (SY-GOV-003 reports these)."""
    return resource.derived("pods", _read).problems


def runtime_containers(resource: Resource) -> list[Container]:
    """The containers a KServe (Cluster)ServingRuntime contributes to model pods."""
    if not resource.is_kubernetes_object or resource.kind not in SERVING_RUNTIME_KINDS:
        return []
    return _PodReader(resource).containers(as_map(dig(resource.inputs, "spec")), "spec",
                                           ("initContainers", "containers"))


def containers_of(resource: Resource) -> list[tuple[str, Container]]:
    """(place, container) for every container of a workload, InferenceService or serving runtime."""
    found = [(template.where(container), container) for template, container in each_container(pod_templates(resource))]
    return found + [(f"runtime container '{container.name}'", container)
                    for container in runtime_containers(resource)]


def image_containers(resource: Resource) -> list[tuple[str, Container]]:
    """(place, container) for every container that names an image (KServe model containers often do not)."""
    return [(place, container) for place, container in containers_of(resource) if container.image]


# --- images ------------------------------------------------------------------

@dataclass(frozen=True)
class ImageRef:
    registry: str  # docker.io when the reference names none
    repository: str  # path under the registry
    tag: str
    digest: str

    @property
    def name(self) -> str:
        """registry/repository, the part an allow-list matches."""
        return f"{self.registry}/{self.repository}"


def parse_image(image: str) -> ImageRef:
    """Split an image reference the way the container runtime reads it."""
    rest, _, digest = image.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    tag = ""
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1:]
    first, _, remainder = rest.partition("/")
    if remainder and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, remainder
    else:
        registry, repository = "docker.io", rest if "/" in rest else f"library/{rest}"
    return ImageRef(registry=registry, repository=repository, tag=tag, digest=digest)


def normalise_registry_prefix(prefix: str) -> str:
    """An allow-list entry in the form parse_image gives names (`kserve` -> `docker.io/kserve`)."""
    prefix = prefix.rstrip("/")
    first = prefix.split("/", 1)[0]
    if "." in first or ":" in first or first == "localhost":
        return prefix
    return f"docker.io/{prefix}"


def image_allowed(image: str, allowed: tuple[str, ...]) -> bool:
    name = parse_image(image).name
    for entry in allowed:
        prefix = normalise_registry_prefix(entry)
        if name == prefix or name.startswith(prefix + "/"):
            return True
    return False


# --- selectors and tolerations -------------------------------------------------

def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    """A Kubernetes LabelSelector against a label set. An empty selector matches everything."""
    for key, value in as_map(selector.get("matchLabels")).items():
        if labels.get(key) != str(value):
            return False
    for expression in as_list(selector.get("matchExpressions")):
        expression = as_map(expression)
        key, operator = expression.get("key"), expression.get("operator")
        values = [str(v) for v in as_list(expression.get("values"))]
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


class SelectorIndex:
    """Objects with label selectors (monitors, disruption budgets), indexed by label.

    `matching(labels)` is every object whose selector matches `labels`, in the
    order given, at the cost of a few dictionary lookups per label instead of
    one selector check per object: rules that paired every endpoint with every
    monitor were quadratic in the size of the environment. Each object is filed
    under the rarest of its matchLabels pairs, which any label set it matches
    must contain; an object without matchLabels is checked every time.
    """

    def __init__(self, entries: Iterable[tuple[Any, Mapping[str, Any]]]):
        entries = list(entries)
        required = [[(key, str(value)) for key, value in as_map(selector.get("matchLabels")).items()]
                    for _, selector in entries]
        frequency = Counter(pair for pairs in required for pair in pairs)
        self._always: list[tuple[int, Any, Mapping[str, Any]]] = []
        self._by_pair: dict[tuple[str, str], list[tuple[int, Any, Mapping[str, Any]]]] = {}
        for order, ((item, selector), pairs) in enumerate(zip(entries, required)):
            if pairs:
                self._by_pair.setdefault(min(pairs, key=frequency.__getitem__), []).append((order, item, selector))
            else:
                self._always.append((order, item, selector))

    def matching(self, labels: Mapping[str, Any]) -> list[Any]:
        candidates = list(self._always)
        for pair in labels.items():
            candidates += self._by_pair.get(pair, ()) if isinstance(pair[1], str) else ()
        return [item for _, item, selector in sorted(candidates, key=lambda c: c[0])
                if selector_matches(selector, labels)]


def tolerates(toleration: Mapping[str, Any], key: str, value: str, effect: str) -> bool:
    """Whether one toleration tolerates the taint key=value:effect (Kubernetes semantics)."""
    operator = toleration.get("operator") or "Equal"
    toleration_key = toleration.get("key") or ""
    if toleration_key and toleration_key != key:
        return False
    if not toleration_key and operator != "Exists":
        return False
    if toleration.get("effect") and toleration.get("effect") != effect:
        return False
    return operator == "Exists" or str(toleration.get("value") or "") == value


def node_selections(spec: Mapping[str, Any], label: str) -> Optional[list[str]]:
    """The values of node label `label` a pod requires (nodeSelector or required node affinity)."""
    selected = as_map(spec.get("nodeSelector")).get(label)
    if isinstance(selected, str):
        return [selected]
    terms = as_list(dig(spec, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
                        "nodeSelectorTerms"))
    values: list[str] = []
    for term in terms:
        for expression in as_list(as_map(term).get("matchExpressions")):
            expression = as_map(expression)
            if expression.get("key") == label and expression.get("operator") == "In":
                values += [str(v) for v in as_list(expression.get("values"))]
    return values or None


def env_literals(container: Container) -> Iterator[tuple[str, Any]]:
    """(name, value) of every environment variable given as a literal value."""
    for item in as_list(container.spec.get("env")):
        item = as_map(item)
        if "value" in item and item.get("value") not in (None, ""):
            yield str(item.get("name") or ""), item["value"]


def quantity(value: Any) -> Optional[float]:
    """A plain count quantity ("2", 2) as a number; None when absent or not a count."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?", value.strip()):
        return float(value)
    return None
