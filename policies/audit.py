"""The offline audit: the rules over an environment's plan, or over plain manifests, as one report.

`audit_plan` evaluates every rule over an environment's offline plan (built by
stacks/plan.py, the layer above) with the environment's enforcement levels and
exemptions; `audit_manifests` does the same over Kubernetes YAML/JSON files,
optionally with an environment's facts (`context_environment`). Both return an
AuditReport, which every report format renders.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from environments.errors import Location
from policies import engine, locations
from policies.engine import Evaluation, Levels
from policies.rules.governance import exemption_problems, exemption_subject
from policies.rules.model import Context, Exemption, LockedModel, Resource

if TYPE_CHECKING:  # annotations only: the spec's classes are not loaded where no spec is read
    from environments.spec import Spec


@dataclass(frozen=True)
class ExemptionStatus:
    exemption: Exemption
    subject: str  # spec:policy.exemptions[i]
    status: str  # active | expired | invalid
    covers: int  # findings it exempts


@dataclass(frozen=True)
class ModelCard:
    """What an auditor needs to know about one served model."""

    endpoint: str
    team: str
    model: str
    requested: str  # "version 7" or "alias @champion"
    runtime: str
    replicas: str
    slo: str
    locked: Optional[LockedModel]


@dataclass(frozen=True)
class UnexaminedRelease:
    """A Helm release whose objects no rule saw: Helm renders them at deploy time, from a chart the offline
    plan does not download, so every report names the release instead of passing it silently."""

    subject: str  # the release's URN
    name: str
    namespace: str
    chart: str
    version: str
    repository: str

    def describe(self) -> str:
        source = f" from {self.repository}" if self.repository else ""
        return f"Helm release {self.namespace}/{self.name}: chart {self.chart} {self.version}{source}"

    def to_json(self) -> dict:
        return {"subject": self.subject, "release": self.name, "namespace": self.namespace, "chart": self.chart,
                "version": self.version, "repository": self.repository}


HELM_RELEASE_TYPES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")


def unexamined_releases(resources: list[Resource]) -> list[UnexaminedRelease]:
    """Every Helm release of the audited resources, in URN order."""
    found = []
    for resource in sorted(resources, key=lambda r: r.urn):
        if resource.type not in HELM_RELEASE_TYPES:
            continue
        inputs = resource.inputs
        repository = inputs.get("repositoryOpts")
        found.append(UnexaminedRelease(
            subject=resource.urn, name=str(inputs.get("name") or resource.name),
            namespace=str(inputs.get("namespace") or "default"), chart=str(inputs.get("chart") or "?"),
            version=str(inputs.get("version") or "unpinned"),
            repository=str(repository.get("repo") or "") if isinstance(repository, dict) else ""))
    return found


@dataclass
class AuditReport:
    mode: str  # "environment" (an offline plan) or "manifests"
    environment: str  # the environment whose rules and facts applied ("" for manifests without --context)
    target: str  # what was audited: the spec file, or the manifests path
    spec_digest: str
    commit: str
    context: Context
    levels: Levels
    evaluation: Evaluation
    resources: dict[str, Resource]
    locations: dict[str, Location]  # subject -> where to point (spec entry or manifest document)
    exemptions: list[ExemptionStatus] = field(default_factory=list)
    models: list[ModelCard] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    not_examined: list[UnexaminedRelease] = field(default_factory=list)

    @property
    def as_of(self) -> str:
        return self.context.as_of().isoformat()

    def display(self, subject: str) -> str:
        resource = self.resources.get(subject)
        if resource is not None:
            return resource.display()
        return subject.removeprefix("spec:")

    def location(self, subject: str) -> Optional[Location]:
        return self.locations.get(subject)


def repository_commit(root: Path) -> str:
    """The commit the audited files come from, marked when the work tree has uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        # --no-optional-locks: reading the state must not rewrite the index of the user's checkout.
        dirty = subprocess.run(["git", "--no-optional-locks", "status", "--porcelain"], cwd=root,
                               capture_output=True, text=True,
                               timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}+uncommitted" if dirty else head


def _exemption_statuses(context: Context, evaluation: Evaluation) -> list[ExemptionStatus]:
    today = context.as_of()
    statuses = []
    for index, exemption in enumerate(context.exemptions):
        if exemption_problems(exemption):
            status = "invalid"
        elif exemption.expired(today):
            status = "expired"
        else:
            status = "active"
        covers = sum(1 for finding in evaluation.findings if finding.exemption == exemption)
        statuses.append(ExemptionStatus(exemption, exemption_subject(index), status, covers))
    return statuses


def model_cards(spec: Spec, context: Context) -> list[ModelCard]:
    cards = []
    for endpoint in spec.endpoints:
        slo = f"{endpoint.slo.availability:g}% available, p99 <= {endpoint.slo.latency_p99_ms} ms"
        cards.append(ModelCard(
            endpoint=endpoint.name, team=endpoint.team, model=endpoint.model.name,
            requested=endpoint.model.selector, runtime=f"{endpoint.runtime} ({endpoint.format})",
            replicas=f"{endpoint.replicas.min}-{endpoint.replicas.max}", slo=slo,
            locked=context.models.get(endpoint.name)))
    return cards


def audit_plan(spec: Spec, document: Any, plan: dict, as_of: str = "",
               spec_file: Optional[Path] = None) -> AuditReport:
    """Evaluate every rule over a plan document of `spec` (the plan may be mutated, e.g. in tests)."""
    from environments.project import repository_root
    from policies.environment import context_from_spec, levels_from_spec

    context = context_from_spec(spec, spec_file, today=as_of)
    levels = levels_from_spec(spec)
    resources = [Resource.from_plan_entry(entry) for entry in plan["resources"]]
    evaluation = engine.evaluate(resources, context, levels)
    by_urn = {resource.urn: resource for resource in resources}
    where: dict[str, Location] = {}
    for finding in evaluation.findings:
        if finding.subject in where:
            continue
        path = locations.subject_path(finding.subject)  # a spec entry: exactly that entry
        quoted = ""
        if path is None and finding.subject in by_urn:
            path = locations.resource_path(by_urn[finding.subject], spec, by_urn)
            quoted = finding.message  # a resource: the entry's field that sets the value the message quotes
        found = locations.spec_location(document, path or (), quoted)
        if found is not None:
            where[finding.subject] = found
    return AuditReport(
        mode="environment", environment=spec.name, target=spec.source, spec_digest=spec.digest,
        commit=repository_commit(repository_root()), context=context, levels=levels, evaluation=evaluation,
        resources=by_urn, locations=where, exemptions=_exemption_statuses(context, evaluation),
        models=model_cards(spec, context), not_examined=unexamined_releases(resources))


def audit_manifests(path: Path, context_spec: Optional[tuple[Spec, Path]] = None, as_of: str = "") -> AuditReport:
    """Audit Kubernetes manifests; with `context_spec`, under that environment's facts, levels and exemptions."""
    from environments.project import display
    from policies import manifests as manifest_files

    manifest_set = manifest_files.load(path)
    where = dict(manifest_set.locations)
    if context_spec is not None:
        # Only here is a spec read: without --context, the audit of a folder loads none of the spec's modules.
        from environments import loader
        from policies.environment import context_from_spec, levels_from_spec

        spec, spec_file = context_spec
        document, _path = loader.load_document(str(spec_file))
        context, levels = context_from_spec(spec, spec_file, today=as_of), levels_from_spec(spec)
        environment, digest, models = spec.name, spec.digest, model_cards(spec, context)
    else:
        context, levels, environment, digest, models, document = Context(today=as_of), Levels(), "", "", [], None
    evaluation = engine.evaluate(manifest_set.resources, context, levels)
    for finding in evaluation.findings:
        entry = locations.subject_path(finding.subject)
        found = locations.spec_location(document, entry) if entry is not None and document is not None else None
        if found is not None:
            where[finding.subject] = found
    return AuditReport(
        mode="manifests", environment=environment, target=display(path), spec_digest=digest,
        commit=repository_commit(path if path.is_dir() else path.parent), context=context, levels=levels,
        evaluation=evaluation, resources={r.urn: r for r in manifest_set.resources}, locations=where,
        exemptions=_exemption_statuses(context, evaluation), models=models, skipped=manifest_set.skipped,
        files=manifest_set.files, not_examined=unexamined_releases(manifest_set.resources))
