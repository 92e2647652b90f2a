"""Reading Kubernetes objects the way the rules need them: pod templates, containers, images, selectors.

Standard library only. Works on wire-form objects (camelCase), whether they
come from the offline plan, from a manifest file or from CrossGuard.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, Optional

from policies.rules.model import Resource, as_list, as_map, dig

# Where each workload kind keeps its pod spec and the labels its pods carry.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
POD_LABEL_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("metadata", "labels"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "metadata", "labels"),
    **{kind: ("spec", "template", "metadata", "labels")
       for kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job")},
}
# Long-running kinds whose pods can receive traffic through a Service.
SERVICE_KINDS = ("Pod", "Deployment", "StatefulSet", "ReplicaSet")

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
    section: str  # containers | initContainers | ephemeralContainers | model | sklearn | ...
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

    @property
    def is_init(self) -> bool:
        return self.section == "initContainers"


@dataclass(frozen=True)
class PodTemplate:
    """The pods one workload (or one InferenceService component) runs."""

    resource: Resource
    component: str  # "" for a plain workload; predictor / transformer / explainer for an InferenceService
    spec: Mapping[str, Any]  # the pod-level fields: securityContext, volumes, tolerations, nodeSelector, ...
    containers: tuple[Container, ...]
    labels: Mapping[str, Any]  # the labels the pods carry (what selectors match)

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


def _containers(spec: Mapping[str, Any], sections=("initContainers", "containers", "ephemeralContainers")
                ) -> list[Container]:
    found = []
    for section in sections:
        for index, item in enumerate(as_list(spec.get(section))):
            body = as_map(item)
            found.append(Container(str(body.get("name") or f"{section}[{index}]"), section, body))
    return found


def _string_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in as_map(value).items()}


def pod_templates(resource: Resource) -> list[PodTemplate]:
    """Every pod template of a workload or InferenceService; [] for anything else."""
    if not resource.is_kubernetes_object:
        return []
    kind = resource.kind
    if kind in POD_SPEC_PATHS:
        spec = as_map(dig(resource.inputs, *POD_SPEC_PATHS[kind]))
        labels = _string_map(dig(resource.inputs, *POD_LABEL_PATHS[kind]))
        return [PodTemplate(resource, "", spec, tuple(_containers(spec)), labels)]
    if kind == INFERENCE_SERVICE:
        templates = []
        for component in INFERENCE_COMPONENTS:
            spec = as_map(dig(resource.inputs, "spec", component))
            if not spec:
                continue
            containers = []
            for key in ("model", *KSERVE_FRAMEWORK_KEYS):
                body = as_map(spec.get(key))
                if body:
                    containers.append(Container(str(body.get("name") or "kserve-container"), key, body))
            containers.extend(_containers(spec))
            labels = {**_string_map(resource.labels), **_string_map(spec.get("labels")),
                      KSERVE_ISVC_LABEL: resource.object_name, KSERVE_COMPONENT_LABEL: component}
            templates.append(PodTemplate(resource, component, spec, tuple(containers), labels))
        return templates
    return []


def runtime_containers(resource: Resource) -> list[Container]:
    """The containers a KServe (Cluster)ServingRuntime contributes to model pods."""
    if not resource.is_kubernetes_object or resource.kind not in SERVING_RUNTIME_KINDS:
        return []
    return _containers(as_map(dig(resource.inputs, "spec")), ("initContainers", "containers"))


def containers_of(resource: Resource) -> list[tuple[str, Container]]:
    """(place, container) for every container of a workload, InferenceService or serving runtime."""
    found = [(template.where(container), container) for template in pod_templates(resource)
             for container in template.containers]
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
