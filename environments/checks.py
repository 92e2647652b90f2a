"""Semantic checks the JSON Schema cannot express: cross-references and bounds.

Each check takes the typed Spec and yields SpecProblems with the JSON path of
the offending field; the loader attaches file:line:column. Checks stay
standard-library only so `stackyard validate` needs no heavy import.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

from environments.cron import cron_problem
from environments.errors import SpecProblem
from environments.spec import Pipeline, Spec

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent

Check = Callable[[Spec], Iterable[SpecProblem]]


def _problem(path: tuple, message: str) -> SpecProblem:
    return SpecProblem(None, path, message)


def unique_names(spec: Spec) -> Iterator[SpecProblem]:
    sections = {"nodePools": spec.node_pools, "teams": spec.teams, "endpoints": spec.endpoints,
                "pipelines": spec.pipelines}
    for section, items in sections.items():
        seen: set[str] = set()
        for index, item in enumerate(items):
            if item.name in seen:
                yield _problem((section, index, "name"), f"duplicate name {item.name!r} in {section}")
            seen.add(item.name)


def cluster_matches_cloud(spec: Spec) -> Iterator[SpecProblem]:
    if spec.cluster.type == "eks" and spec.cloud.provider != "aws":
        yield _problem(("cluster", "type"), "an EKS cluster needs `cloud.provider: aws`")
    if spec.cloud.provider == "aws" and not spec.cloud.region:
        yield _problem(("cloud",), "missing required field 'region' for cloud provider aws")
    if spec.cluster.endpoint_public_access and not spec.cluster.public_access_cidrs:
        yield _problem(("cluster", "publicAccessCidrs"),
                       "a public API endpoint needs an allow-list: set publicAccessCidrs")
    if "0.0.0.0/0" in spec.cluster.public_access_cidrs:
        yield _problem(("cluster", "publicAccessCidrs"),
                       "expected an allow-list of networks, found 0.0.0.0/0 (the whole internet)")


def pool_sizes(spec: Spec) -> Iterator[SpecProblem]:
    for index, pool in enumerate(spec.node_pools):
        if pool.min_size > pool.max_size:
            yield _problem(("nodePools", index, "minSize"),
                           f"expected minSize <= maxSize ({pool.max_size}), found {pool.min_size}")
        if not pool.min_size <= pool.desired_size <= pool.max_size:
            yield _problem(("nodePools", index, "desiredSize"),
                           f"expected desiredSize between minSize ({pool.min_size}) and maxSize "
                           f"({pool.max_size}), found {pool.desired_size}")
    system = spec.cluster.system_node_group
    if system.min_size > system.max_size:
        yield _problem(("cluster", "systemNodeGroup", "minSize"),
                       f"expected minSize <= maxSize ({system.max_size}), found {system.min_size}")


def endpoint_references(spec: Spec) -> Iterator[SpecProblem]:
    pools = {pool.name for pool in spec.node_pools}
    teams = {team.name for team in spec.teams}
    runtimes = {runtime.name for runtime in spec.serving.runtimes}
    for index, endpoint in enumerate(spec.endpoints):
        if endpoint.gpu and endpoint.gpu.pool not in pools:
            known = f"expected one of {sorted(pools)}" if pools else "this environment defines no nodePools"
            yield _problem(("endpoints", index, "gpu", "pool"), f"unknown node pool {endpoint.gpu.pool!r}; {known}")
        if teams and endpoint.team not in teams:
            yield _problem(("endpoints", index, "team"),
                           f"unknown team {endpoint.team!r}; expected one of {sorted(teams)}")
        if runtimes and endpoint.runtime not in runtimes:
            yield _problem(("endpoints", index, "runtime"),
                           f"unknown serving runtime {endpoint.runtime!r}; expected one of {sorted(runtimes)}")
        if endpoint.replicas.min > endpoint.replicas.max:
            yield _problem(("endpoints", index, "replicas", "min"),
                           f"expected min <= max ({endpoint.replicas.max}), found {endpoint.replicas.min}")


def policy_references(spec: Spec) -> Iterator[SpecProblem]:
    for index, pool in enumerate(spec.node_pools):
        if pool.provisioner == "karpenter" and pool.gpu_limit is None:
            yield _problem(("nodePools", index, "gpuLimit"),
                           "a Karpenter GPU pool needs gpuLimit (the most GPUs it may launch)")


def policy_rule_ids(spec: Spec) -> Iterator[SpecProblem]:
    """Rule ids in policy.rules and policy.exemptions must name rules that exist."""
    import difflib

    from policies.rules import RULES_BY_ID  # standard library only, like this module

    def unknown(rule_id: str) -> str:
        close = difflib.get_close_matches(rule_id, list(RULES_BY_ID), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else " (`stackyard audit` lists the rules)"
        return f"unknown policy rule {rule_id!r}{hint}"

    for rule_id in spec.policy.rules:
        if rule_id not in RULES_BY_ID:
            yield _problem(("policy", "rules", rule_id), unknown(rule_id))
    for index, exemption in enumerate(spec.policy.exemptions):
        if exemption.rule not in RULES_BY_ID:
            yield _problem(("policy", "exemptions", index, "rule"), unknown(exemption.rule))


def _pipeline_function(source: Path, function: str) -> tuple[Optional[ast.FunctionDef], Optional[str]]:
    """The top-level `def function` in `source` (without importing it), or why it cannot be found."""
    try:
        tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    except SyntaxError as error:
        return None, f"{source.name} does not parse: line {error.lineno}: {error.msg}"
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return None, f"cannot read {source.name}: {error}"
    defined = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for node in defined:
        if node.name == function:
            return node, None
    names = sorted(node.name for node in defined)
    return None, f"no function {function!r} defined in {source.name}; defined there: {names or 'none'}"


def _parameters(node: ast.FunctionDef) -> tuple[list[str], set[str]]:
    """All parameter names of a function, and those without a default (the required ones)."""
    args = node.args
    positional = args.posonlyargs + args.args
    required = {a.arg for a in positional[:len(positional) - len(args.defaults)]}
    required |= {a.arg for a, default in zip(args.kwonlyargs, args.kw_defaults) if default is None}
    return [a.arg for a in positional + args.kwonlyargs], required


def pipeline_problems(index: int, pipeline: Pipeline, root: Path) -> Iterator[SpecProblem]:
    """A pipeline's source stays inside `root`/pipelines, defines its function, and its schedules fit it."""
    pipelines_dir = (root / "pipelines").resolve()
    source = (root / pipeline.source).resolve()  # resolves symlinks: a link out of pipelines/ is an escape
    if not source.is_relative_to(pipelines_dir):
        yield _problem(("pipelines", index, "source"),
                       f"expected a file inside the repository's pipelines/ folder, found {pipeline.source!r} "
                       f"resolving to {source}")
        return
    if not source.is_file():
        yield _problem(("pipelines", index, "source"), f"pipeline file {pipeline.source} does not exist")
        return
    node, problem = _pipeline_function(source, pipeline.function)
    if node is None:
        yield _problem(("pipelines", index, "function"), problem)
        return
    parameters, required = _parameters(node)
    seen: set[str] = set()
    for s_index, schedule in enumerate(pipeline.schedules):
        where = ("pipelines", index, "schedules", s_index)
        if schedule.name in seen:
            yield _problem(where + ("name",), f"duplicate schedule name {schedule.name!r}")
        seen.add(schedule.name)
        problem = cron_problem(schedule.cron)
        if problem:
            yield _problem(where + ("cron",), f"invalid cron schedule: {problem}")
        for key in schedule.parameters:
            if key not in parameters:
                yield _problem(where + ("parameters", key),
                               f"unknown parameter {key!r}: {pipeline.function} in {pipeline.source} takes "
                               f"{parameters}")
        missing = sorted(required - set(schedule.parameters))
        if missing:
            yield _problem(where + ("parameters",),
                           f"missing required parameter{'s' if len(missing) > 1 else ''} {missing} "
                           f"of {pipeline.function}")


def pipeline_references(spec: Spec) -> Iterator[SpecProblem]:
    for index, pipeline in enumerate(spec.pipelines):
        yield from pipeline_problems(index, pipeline, REPOSITORY_ROOT)
        pools = {pool.name for pool in spec.node_pools}
        if pipeline.gpu and pipeline.gpu.pool not in pools:
            yield _problem(("pipelines", index, "gpu", "pool"),
                           f"unknown node pool {pipeline.gpu.pool!r}; expected one of {sorted(pools)}")
    if spec.kubeflow.enabled and spec.cloud.provider == "aws" and not spec.kubeflow.artifact_bucket:
        yield _problem(("kubeflow",), "missing required field 'artifactBucket': Kubeflow Pipelines on AWS keeps "
                                      "its artifacts in an S3 bucket")


CHECKS: tuple[Check, ...] = (
    unique_names,
    cluster_matches_cloud,
    pool_sizes,
    endpoint_references,
    policy_references,
    policy_rule_ids,
    pipeline_references,
)


def run(spec: Spec) -> list[SpecProblem]:
    return [problem for check in CHECKS for problem in check(spec)]
