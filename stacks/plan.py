"""The offline plan: the resource graph of one environment as plan.json and manifests.

`build(spec)` runs the real stack program under mocks (stacks/offline.py) and
returns the plan document of docs/architecture.md ("Plan format"); `write(plan, out)` writes plan.json and
every Kubernetes object as YAML under manifests/. Both are pure functions of
the spec and the code: sorted by URN, keys sorted, no timestamps.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path
from typing import Any, Mapping, Optional

from environments.spec import ResolvedModel, SecretRef, Spec
from environments import __version__
from policies.manifests import is_manifest, manifest, manifest_path
from policies.text_table import table
from stacks import atomic, offline
from stacks.errors import ExitCode, StackyardError

# Kubernetes resource types that are not objects in the cluster API.


def config_secret_names(value: Any) -> set[str]:
    """Every Pulumi config secret a spec refers to (`secret: {config: NAME}` anywhere in it)."""
    if isinstance(value, SecretRef):
        return {value.config} if value.config else set()
    if dataclasses.is_dataclass(value):
        return set().union(*(config_secret_names(getattr(value, f.name)) for f in dataclasses.fields(value)))
    if isinstance(value, (tuple, list)):
        return set().union(*(config_secret_names(item) for item in value))
    return set()


def build(spec: Spec, spec_file: Path, models: Optional[Mapping[str, ResolvedModel]] = None) -> dict:
    """Run the stack program for `spec` offline and return the plan document.

    `models` are the endpoints' models from the registry lock, when the caller
    has checked it already (stackyard plan); otherwise the lock is checked here.
    The program is handed the loaded spec and models (stacks.program.build), so
    neither is read twice.

    The plan needs no real secrets: every config secret the spec refers to gets a
    placeholder marked secret, so it shows as "[secret]" like a real one would.

    The program refuses input it cannot build (a pipeline that does not
    compile, a stale registry lock, a field KServe does not have) with a
    pulumi.RunError: that is invalid input, exit 2.
    """
    import pulumi

    from stacks import program, registry_lock

    if models is None:
        try:
            models = registry_lock.locked_models(spec, spec_file, registry_lock.lock_command(spec_file))
        except registry_lock.LockError as error:
            raise StackyardError(str(error), ExitCode.INVALID_INPUT) from None
    secrets = sorted(config_secret_names(spec))
    config = {"environment": spec.name, "specFile": str(spec_file),
              **{name: offline.SECRET_PLACEHOLDER for name in secrets}}
    try:
        resources = offline.record(spec.name, config, secret_keys=tuple(secrets),
                                   program=lambda: program.build(spec, spec_file, models))
    except pulumi.RunError as error:
        from pipelines.compile import PipelineCompileError

        what = "pipeline does not compile: " if isinstance(error, PipelineCompileError) else ""
        raise StackyardError(f"{what}{error}", ExitCode.INVALID_INPUT) from None
    except offline.DuplicateUrnError as error:
        raise StackyardError(str(error), ExitCode.INVALID_INPUT) from None
    return {
        "stackyard": __version__,
        "environment": spec.name,
        "specDigest": spec.digest,
        "resources": [resource.as_plan_entry() for resource in resources],
    }


def to_json(plan: dict) -> str:
    return json.dumps(plan, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def manifests(plan: dict) -> dict[str, str]:
    """Relative path -> YAML text for every Kubernetes object in the plan."""
    import yaml

    # libyaml's C emitter, always: PyYAML's pure-Python one was the largest single cost of a large
    # plan, and the two fold long strings differently, so falling back would change the bytes.
    dumper = getattr(yaml, "CSafeDumper", None)
    if dumper is None:
        raise StackyardError("PyYAML was built without libyaml; manifests are written with libyaml's emitter "
                             "(install PyYAML from its wheel)", ExitCode.INTERNAL_ERROR)
    files: dict[str, str] = {}
    writers: dict[str, str] = {}
    for resource in plan["resources"]:
        if is_manifest(resource):
            body = manifest(resource)
            path = manifest_path(body)
            if path in writers:  # two resources would apply one object: never keep just one of them
                raise StackyardError(f"resources {writers[path]} and {resource['urn']} are one Kubernetes object "
                                     f"(manifests/{path}): two names in the spec derive the same object name",
                                     ExitCode.INVALID_INPUT)
            writers[path] = resource["urn"]
            files[path] = yaml.dump(body, Dumper=dumper, sort_keys=False, default_flow_style=False)
    return dict(sorted(files.items()))


PLAN_FILE = "plan.json"
MANIFESTS_DIR = "manifests"
# What earlier versions left beside a plan when interrupted; replacing the directory drops them.
_OLD_LEFTOVERS = (f".{PLAN_FILE}.", f".{MANIFESTS_DIR}.")


def write(plan: dict, out: Path) -> None:
    """Write `out` as one unit: plan.json and manifests/ are staged in a sibling directory that
    replaces `out` in one atomic exchange. A reader, a full disk, Ctrl-C, SIGTERM or SIGKILL at any
    instant leaves the whole previous plan or the whole new one, and nothing else, in `out`.

    `out` belongs to the plan: a directory holding anything else is refused, not overwritten."""
    out = Path(out)
    if out.is_dir():
        foreign = sorted(entry.name for entry in out.iterdir()
                         if entry.name not in (PLAN_FILE, MANIFESTS_DIR) and not entry.name.startswith(_OLD_LEFTOVERS))
        if foreign:
            raise StackyardError(f"{out} holds {foreign[0]!r}, which is not part of a plan; `--out` names a "
                                 "directory of its own (it is replaced whole), nothing was written",
                                 ExitCode.INVALID_INPUT)
    files = {PLAN_FILE: to_json(plan), **{f"{MANIFESTS_DIR}/{name}": text for name, text in manifests(plan).items()}}
    atomic.replace_directory(out, files, synced=(PLAN_FILE,))


def component_of(resource: dict, by_urn: dict[str, dict]) -> str:
    """The capability component a resource belongs to: its ancestor directly under the Platform."""
    current = resource
    while current["parent"] in by_urn:
        parent = by_urn[current["parent"]]
        if parent["type"] == "stackyard:platform:Platform":
            return current["type"].rsplit(":", 1)[-1]
        current = parent
    return current["type"].rsplit(":", 1)[-1]


def summary_rows(plan: dict) -> list[tuple[str, str, int]]:
    by_urn = {resource["urn"]: resource for resource in plan["resources"]}
    counts: Counter = Counter()
    for resource in plan["resources"]:
        if resource["type"].startswith("stackyard:"):
            continue
        counts[(component_of(resource, by_urn), resource["type"])] += 1
    return sorted((component, type_, count) for (component, type_), count in counts.items())


def render_summary(plan: dict) -> str:
    """The headline counts every resource in plan.json, as the diff and the reports do."""
    rows = summary_rows(plan)
    provisioned = sum(count for _, _, count in rows)
    components = len(plan["resources"]) - provisioned
    return (f"environment {plan['environment']}: {len(plan['resources'])} resources ({provisioned} provisioned, "
            f"{components} Stackyard components; spec {plan['specDigest'][:12]})\n"
            + table(["component", "type", "count"], rows))


def summary_document(plan: dict) -> dict:
    """The plan summary for machines (`stackyard plan --format json`)."""
    rows = summary_rows(plan)
    return {"environment": plan["environment"], "specDigest": plan["specDigest"],
            "resources": len(plan["resources"]), "provisioned": sum(count for _, _, count in rows),
            "types": [{"component": component, "type": type_, "count": count} for component, type_, count in rows]}
