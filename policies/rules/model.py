"""What every rule works with: its metadata, the resources it reads, the facts of the environment.

Standard library only. The same objects are built by the offline audit (from
plan entries), by the manifest audit (from Kubernetes YAML/JSON) and by the
CrossGuard adapter (from `ResourceValidationArgs` / `PolicyResource`), so a rule
cannot tell which engine runs it.

A resource's `inputs` are in Pulumi wire form: camelCase keys, the way the
offline plan records them and the way CrossGuard hands `props` to a policy.
Values a preview cannot know yet are the string UNKNOWN; Pulumi secrets are
SECRET.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from collections.abc import Mapping  # not typing.Mapping: isinstance checks against it are several times slower
from typing import Any, Callable, Optional, Sequence, Union

UNKNOWN = "[unknown]"
SECRET = "[secret]"

SEVERITIES = ("critical", "high", "medium", "low")
ENFORCEMENT_LEVELS = ("mandatory", "advisory", "disabled")

# Where a rule's verdict comes from: one resource at a time, or the whole graph
# (rules that correlate resources, e.g. a bucket and its encryption configuration).
RESOURCE_SCOPE = "resource"
STACK_SCOPE = "stack"


@dataclass(frozen=True)
class Frameworks:
    """The controls a rule provides evidence for.

    cis_eks: recommendation ids of the CIS Amazon EKS Benchmark v1.5.0.
    pss: the Kubernetes Pod Security Standards level and control, e.g. "restricted: Capabilities".
    nist_ai_rmf: NIST AI RMF 1.0 function and subcategory, e.g. "MEASURE 2.4".
    cis_kubernetes: recommendation ids of the CIS Kubernetes Benchmark v1.9.0, e.g. "5.1.3".
    nist_800_190: sections of NIST SP 800-190 (Application Container Security Guide), e.g. "4.4.3".
    """

    cis_eks: tuple[str, ...] = ()
    pss: Optional[str] = None
    nist_ai_rmf: tuple[str, ...] = ()
    cis_kubernetes: tuple[str, ...] = ()
    nist_800_190: tuple[str, ...] = ()

    def labels(self) -> list[str]:
        """One short label per mapped control, e.g. "CIS-EKS 4.2.1"."""
        return ([f"CIS-EKS {item}" for item in self.cis_eks]
                + [f"CIS-K8S {item}" for item in self.cis_kubernetes]
                + ([f"PSS {self.pss}"] if self.pss else [])
                + [f"NIST-800-190 {item}" for item in self.nist_800_190]
                + [f"NIST-AI-RMF {item}" for item in self.nist_ai_rmf])


@dataclass(frozen=True)
class Resource:
    """One resource of the graph (a plan entry, a manifest object, a CrossGuard resource)."""

    urn: str
    type: str
    name: str
    inputs: Mapping[str, Any]
    parent: str = ""
    provider: str = ""
    dependencies: tuple[str, ...] = ()
    protect: bool = False
    # What readers derive from `inputs` (kube's pod templates), kept because every rule asks again.
    _derived: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def derived(self, key: str, compute: Callable[["Resource"], Any]) -> Any:
        """`compute(self)`, computed once per resource: the inputs of a Resource are never changed."""
        if key not in self._derived:
            self._derived[key] = compute(self)
        return self._derived[key]

    @classmethod
    def from_plan_entry(cls, entry: Mapping[str, Any]) -> "Resource":
        return cls(urn=entry["urn"], type=entry["type"], name=entry["name"], inputs=entry.get("inputs") or {},
                   parent=entry.get("parent") or "", provider=entry.get("provider") or "",
                   dependencies=tuple(entry.get("dependencies") or ()), protect=bool(entry.get("protect")))

    @property
    def is_kubernetes_object(self) -> bool:
        return (self.type.startswith("kubernetes:") and not self.type.startswith("kubernetes:helm.sh/")
                and isinstance(self.inputs.get("kind"), str))

    @property
    def kind(self) -> str:
        return self.type.rsplit(":", 1)[-1]

    @property
    def metadata(self) -> Mapping[str, Any]:
        metadata = self.inputs.get("metadata")
        return metadata if isinstance(metadata, Mapping) else {}

    @property
    def namespace(self) -> str:
        namespace = self.metadata.get("namespace")
        return namespace if isinstance(namespace, str) else ""

    @property
    def object_name(self) -> str:
        name = self.metadata.get("name")
        return name if isinstance(name, str) else self.name

    @property
    def labels(self) -> Mapping[str, Any]:
        labels = self.metadata.get("labels")
        return labels if isinstance(labels, Mapping) else {}

    @property
    def object_ref(self) -> str:
        """`Kind/namespace/name` of a Kubernetes object (namespace empty when cluster-scoped)."""
        return f"{self.kind}/{self.namespace}/{self.object_name}"

    def display(self) -> str:
        """How a person reads the subject in a report line."""
        if self.is_kubernetes_object:
            return self.object_ref
        return f"{self.type} {self.name}"


@dataclass(frozen=True)
class Exemption:
    """A decision to accept one rule's violations on some resources until a date."""

    rule: str
    resource: str  # a glob over URNs or "Kind/namespace/name"
    justification: str
    owner: str
    expires: str  # ISO date; the exemption holds through that day

    def expiry(self) -> Optional[datetime.date]:
        try:
            return datetime.date.fromisoformat(self.expires)
        except (TypeError, ValueError):
            return None

    def expired(self, today: datetime.date) -> bool:
        expiry = self.expiry()
        return expiry is not None and expiry < today

    def to_json(self) -> dict:
        return {"rule": self.rule, "resource": self.resource, "justification": self.justification,
                "owner": self.owner, "expires": self.expires}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Exemption":
        return cls(**{key: str(data.get(key) or "") for key in
                      ("rule", "resource", "justification", "owner", "expires")})


@dataclass(frozen=True)
class LockedModel:
    """What the registry lock (environments/<env>.lock.yaml) says an endpoint serves."""

    endpoint: str
    model: str
    version: Optional[int]
    alias: str = ""
    source: str = ""
    run_id: str = ""
    model_card: str = ""
    resolved_at: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"endpoint": self.endpoint, "model": self.model, "version": self.version, "alias": self.alias,
                "source": self.source,
                "runId": self.run_id, "modelCard": self.model_card, "resolvedAt": self.resolved_at,
                "tags": dict(self.tags)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "LockedModel":
        version = data.get("version")
        return cls(endpoint=str(data.get("endpoint", "")), model=str(data.get("model", "")),
                   version=int(version) if isinstance(version, (int, float)) else None,
                   alias=str(data.get("alias") or ""), source=str(data.get("source") or ""), run_id=str(data.get("runId") or ""),
                   model_card=str(data.get("modelCard") or ""), resolved_at=str(data.get("resolvedAt") or ""),
                   tags={str(k): str(v) for k, v in (data.get("tags") or {}).items()})


@dataclass(frozen=True)
class Context:
    """The facts of one environment that some rules need, built from its spec.

    The default context is what `audit --manifests` uses without `--context`: not
    production, no registry allow-list, no lock. It travels to CrossGuard as
    JSON inside the pack configuration (`to_json` / `from_json`).
    """

    environment: str = ""
    production: bool = False
    max_gpus_per_pod: int = 8
    allowed_registries: tuple[str, ...] = ()
    system_namespaces: tuple[str, ...] = ("kube-system",)
    gpu_pools: tuple[str, ...] = ()  # names of the environment's GPU pools; empty: not known
    default_deployment_mode: str = "RawDeployment"  # KServe mode of an InferenceService without the annotation
    lock_file: str = ""  # the registry lock the models come from; empty: no lock
    models: Mapping[str, LockedModel] = field(default_factory=dict)  # endpoint name -> locked model
    exemptions: tuple[Exemption, ...] = ()
    today: str = ""  # ISO date exemptions are judged against; empty: the current date

    def as_of(self) -> datetime.date:
        return datetime.date.fromisoformat(self.today) if self.today else datetime.date.today()

    def to_json(self) -> dict:
        return {
            "environment": self.environment,
            "production": self.production,
            "maxGpusPerPod": self.max_gpus_per_pod,
            "allowedRegistries": list(self.allowed_registries),
            "systemNamespaces": list(self.system_namespaces),
            "gpuPools": list(self.gpu_pools),
            "defaultDeploymentMode": self.default_deployment_mode,
            "lockFile": self.lock_file,
            "models": {name: model.to_json() for name, model in sorted(self.models.items())},
            "exemptions": [exemption.to_json() for exemption in self.exemptions],
            **({"today": self.today} if self.today else {}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Context":
        defaults = cls()
        return cls(
            environment=str(data.get("environment", defaults.environment)),
            production=bool(data.get("production", defaults.production)),
            max_gpus_per_pod=int(data.get("maxGpusPerPod", defaults.max_gpus_per_pod)),
            allowed_registries=tuple(data.get("allowedRegistries") or ()),
            system_namespaces=tuple(data.get("systemNamespaces") or defaults.system_namespaces),
            gpu_pools=tuple(data.get("gpuPools") or ()),
            default_deployment_mode=str(data.get("defaultDeploymentMode") or defaults.default_deployment_mode),
            lock_file=str(data.get("lockFile") or ""),
            models={name: LockedModel.from_json(model) for name, model in (data.get("models") or {}).items()},
            exemptions=tuple(Exemption.from_json(item) for item in data.get("exemptions") or ()),
            today=str(data.get("today") or ""),
        )


# A resource rule returns None when it does not apply to the resource, else the
# list of problems (empty: the resource passes). A stack rule returns, for every
# subject it examined (a URN, or a "spec:" id for things that are not resources),
# the list of problems.
ResourceCheck = Callable[[Resource, Context], Optional[list[str]]]
StackCheck = Callable[[Sequence[Resource], Context], dict[str, list[str]]]


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: str
    enforcement: str  # default level: mandatory | advisory
    rationale: str
    remediation: str
    frameworks: Frameworks
    check: Union[ResourceCheck, StackCheck]
    scope: str = RESOURCE_SCOPE

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"{self.id}: severity {self.severity!r} is not one of {SEVERITIES}")
        if self.enforcement not in ENFORCEMENT_LEVELS[:2]:
            raise ValueError(f"{self.id}: default enforcement {self.enforcement!r} is not mandatory/advisory")
        if self.scope not in (RESOURCE_SCOPE, STACK_SCOPE):
            raise ValueError(f"{self.id}: scope {self.scope!r}")

    def run(self, resources: Sequence[Resource], context: Context) -> dict[str, list[str]]:
        """Subject -> problems, for every subject the rule examined."""
        if self.scope == STACK_SCOPE:
            return {subject: list(problems) for subject, problems in self.check(resources, context).items()}
        results: dict[str, list[str]] = {}
        for resource in resources:
            problems = self.check(resource, context)
            if problems is not None:
                results[resource.urn] = list(problems)
        return results


def as_list(value: Any) -> list:
    """A wire list, or [] for anything that is not one (absent, unknown)."""
    return list(value) if isinstance(value, (list, tuple)) else []


def as_map(value: Any) -> Mapping[str, Any]:
    """A wire map, or {} for anything that is not one."""
    return value if isinstance(value, Mapping) else {}


def dig(value: Any, *path: Union[str, int]) -> Any:
    """`value[path[0]][path[1]]...`, or None where the path does not exist."""
    for part in path:
        if isinstance(part, int):
            items = as_list(value)
            value = items[part] if -len(items) <= part < len(items) else None
        else:
            value = as_map(value).get(part)
        if value is None:
            return None
    return value


def is_true(value: Any) -> bool:
    """Booleans on the wire are sometimes strings (launch template `encrypted: "true"`)."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def json_text(value: Any) -> Mapping[str, Any]:
    """Provider inputs arrive JSON-encoded on the wire (`defaultTags: "{...}"`); decode where needed."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return as_map(value)
