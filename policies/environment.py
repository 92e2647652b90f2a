"""From an environment spec to what the rules need: the Context, the Levels, the registry lock.

This module runs in the main environment (it reads YAML); the objects it builds
are the standard-library ones in policies.rules.model and policies.engine, so
they travel unchanged into the CrossGuard pack as JSON.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

from environments.errors import SpecProblem
from environments.loader import lock_path
from environments.spec import Spec
from policies.engine import Levels
from policies.rules import networks
from policies.rules.model import Context, Exemption, LockedModel


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _field(entry: Mapping[str, Any], *names: str) -> Any:
    """A lock field by any of its spellings (runId, run_id, run-id)."""
    wanted = {_key(name) for name in names}
    for key, value in entry.items():
        if _key(str(key)) in wanted:
            return value
    return None


def _model_card(entry: Mapping[str, Any], tags: Mapping[str, str]) -> str:
    direct = _field(entry, "modelCard", "modelCardUrl")
    if isinstance(direct, str) and direct:
        return direct
    return next((value for key, value in sorted(tags.items()) if "modelcard" in _key(key) and value), "")


def _locked_model(endpoint: str, model: str, entry: Mapping[str, Any]) -> LockedModel:
    tags = {str(k): str(v) for k, v in (_field(entry, "tags") or {}).items()}
    named = _field(entry, "model", "modelName")
    if isinstance(named, Mapping):
        named = named.get("name")
    version = _field(entry, "version", "resolvedVersion", "modelVersion")
    try:
        version = int(version) if version is not None else None
    except (TypeError, ValueError):
        version = None
    return LockedModel(
        endpoint=endpoint, model=str(named or model), version=version, alias=str(_field(entry, "alias") or ""),
        source=str(_field(entry, "source", "artifactSource", "storageUri") or ""),
        run_id=str(_field(entry, "runId") or ""), model_card=_model_card(entry, tags),
        resolved_at=str(_field(entry, "resolvedAt", "resolved") or ""), tags=tags)


def read_lock(path: Path) -> list[LockedModel]:
    """Every model entry of a registry lock.

    The serving component owns the lock format; this reader asks only for what
    the rules and the audit report use. Entries are a list (each naming its
    model, and its endpoint if the lock records it) or a mapping keyed by
    endpoint or model name; `endpoint` is "" where the lock does not say.
    """
    import yaml

    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(document, Mapping):
        return []
    entries = _field(document, "endpoints", "models") or {}
    if isinstance(entries, Mapping):
        items = [(str(key), str(key), entry) for key, entry in entries.items()]
    else:
        items = [(str(_field(entry, "endpoint") or ""), str(_field(entry, "name") or ""), entry)
                 for entry in entries if isinstance(entry, Mapping)]
    return [_locked_model(endpoint, model, entry) for endpoint, model, entry in items if isinstance(entry, Mapping)]


def _serves(locked: LockedModel, endpoint) -> bool:
    """Whether a lock entry resolved the model reference of a spec endpoint."""
    reference = endpoint.model
    if locked.model != reference.name:
        return False
    if reference.version is not None:
        return locked.version == reference.version
    return bool(reference.alias) and locked.alias in (reference.alias, "")


def _models_by_endpoint(spec: Spec, locked: list[LockedModel]) -> dict[str, LockedModel]:
    """Match lock entries to the spec's endpoints: by endpoint name, else by model name and version or alias."""
    by_endpoint = {model.endpoint: model for model in locked if model.endpoint}
    matched = {}
    for endpoint in spec.endpoints:
        found = by_endpoint.get(endpoint.name) or next((m for m in locked if _serves(m, endpoint)), None)
        if found is not None:
            matched[endpoint.name] = dataclasses.replace(found, endpoint=endpoint.name)
    return matched


def context_from_spec(spec: Spec, spec_file: Optional[Path] = None, today: str = "") -> Context:
    lock = lock_path(spec_file) if spec_file is not None else None
    models: dict[str, LockedModel] = {}
    if lock is not None and lock.is_file():
        models = _models_by_endpoint(spec, read_lock(lock))
    return Context(
        environment=spec.name,
        production=spec.production,
        max_gpus_per_pod=spec.policy.max_gpus_per_pod,
        allowed_registries=tuple(spec.policy.allowed_registries),
        system_namespaces=tuple(spec.cluster.system_namespaces),
        gpu_pools=tuple(pool.name for pool in spec.node_pools),
        default_deployment_mode=spec.serving.deployment_mode,
        lock_file=_relative(lock) if lock is not None and lock.is_file() else "",
        models=models,
        exemptions=tuple(Exemption(e.rule, e.resource, e.justification, e.owner, e.expires)
                         for e in spec.policy.exemptions),
        today=today,
    )


def levels_from_spec(spec: Spec) -> Levels:
    return Levels(default=spec.policy.enforcement, overrides=dict(spec.policy.rules))


def _relative(path: Path) -> str:
    from environments.loader import display

    return display(path)


def rule_id_problems(spec: Spec) -> Iterator[SpecProblem]:
    """Rule ids in policy.rules and policy.exemptions must name rules that exist.

    A spec check that needs the rules, so it lives here and the loader gets it from
    stacks/spec_loading.py (environments/ cannot import policies/)."""
    from policies.rules import RULES_BY_ID

    def unknown(rule_id: str) -> str:
        close = difflib.get_close_matches(rule_id, list(RULES_BY_ID), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else " (`stackyard audit` lists the rules)"
        return f"unknown policy rule {rule_id!r}{hint}"

    for rule_id in spec.policy.rules:
        if rule_id not in RULES_BY_ID:
            yield SpecProblem(None, ("policy", "rules", rule_id), unknown(rule_id))
    for index, exemption in enumerate(spec.policy.exemptions):
        if exemption.rule not in RULES_BY_ID:
            yield SpecProblem(None, ("policy", "exemptions", index, "rule"), unknown(exemption.rule))


def network_problems(spec: Spec) -> Iterator[SpecProblem]:
    """Every CIDR parses; the public endpoint's allow-list is judged by the address space it opens.

    The same judgement as SY-AWS-006 (policies/rules/networks.py), so it lives here and the loader
    gets it from stacks/spec_loading.py like rule_id_problems."""
    cidrs = spec.cluster.public_access_cidrs
    invalid = False
    for index, cidr in enumerate(cidrs):
        problem = networks.cidr_problem(cidr)
        if problem:
            invalid = True
            yield SpecProblem(None, ("cluster", "publicAccessCidrs", index), problem)
    if not invalid and spec.cluster.endpoint_public_access:
        exposure = networks.exposure_problem(cidrs)
        if exposure:
            yield SpecProblem(None, ("cluster", "publicAccessCidrs"),
                              f"expected an allow-list of networks for the public API endpoint, found {exposure}")
    vpc = spec.cluster.vpc
    if vpc is not None and vpc.subnet_ids is None:
        problem = networks.cidr_problem(vpc.cidr)
        if problem:
            yield SpecProblem(None, ("cluster", "vpc", "cidr"), problem)
        elif not 16 <= networks.parse([vpc.cidr])[0].prefixlen <= 28:
            yield SpecProblem(None, ("cluster", "vpc", "cidr"),
                              f"expected a VPC CIDR between /16 and /28 (the sizes AWS allows), found {vpc.cidr!r}")

