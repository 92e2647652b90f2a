"""Variants of the shipped prod environment, for the audit and CrossGuard tests.

`write_prod_variant` writes prod.yaml with changes merged in (maps merge, lists
replace) beside a copy of base.yaml and prod's registry lock; `plan_variant`
loads and plans it offline; `add_resources` appends fixture resources
(tests/policy_cases.py syntax) to a plan, for breakage the spec cannot express.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml

from policy_cases import _plan_entries

ENVIRONMENTS = Path(__file__).resolve().parent.parent / "environments"


def _merge(base, changes):
    if isinstance(base, dict) and isinstance(changes, dict):
        merged = dict(base)
        for key, value in changes.items():
            merged[key] = _merge(base.get(key), value)
        return merged
    return copy.deepcopy(changes)


def write_prod_variant(directory: Path, changes: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(ENVIRONMENTS / "base.yaml", directory / "base.yaml")
    lock = ENVIRONMENTS / "prod.lock.yaml"
    if lock.is_file():
        shutil.copy(lock, directory / "prod.lock.yaml")
    document = yaml.safe_load((ENVIRONMENTS / "prod.yaml").read_text())
    path = directory / "prod.yaml"
    path.write_text(yaml.safe_dump(_merge(document, changes), sort_keys=False))
    return path


def plan_variant(spec_file: Path, replan: bool = True):
    """(spec, spec file, plan) of a variant. A variant that changes only the `policy` section
    builds the same resources as prod, so `replan=False` reuses prod's cached plan."""
    from environments import loader
    from stacks import plan as offline_plan
    from conftest import plan_for

    spec = loader.load(str(spec_file))
    plan = offline_plan.build(spec, spec_file) if replan else copy.deepcopy(plan_for("prod"))
    return spec, spec_file, plan


def add_resources(plan: dict, specs: list) -> dict:
    changed = copy.deepcopy(plan)
    changed["resources"] = sorted(changed["resources"] + list(_plan_entries(specs)), key=lambda r: r["urn"])
    return changed


BROKEN_PROD_SPEC = {
    "policy": {
        "rules": {"SY-WKL-013": "advisory", "SY-WKL-011": "disabled"},
        "exemptions": [
            {"rule": "SY-WKL-007", "resource": "Deployment/team-a/web", "owner": "team-a@example.com",
             "justification": "vendor GPU agent needs privileges until its v2 release", "expires": "2999-12-31"},
            {"rule": "SY-WKL-010", "resource": "Deployment/*/*", "owner": "ml-platform@example.com",
             "justification": "temporary host networking during the CNI migration", "expires": "2020-01-31"},
        ],
    },
}
BROKEN_PROD_RESOURCES = [
    {"base": "deployment", "set": {"spec.template.spec.containers.0.securityContext.privileged": True}},
    {"base": "deployment", "name": "unlabelled", "unset": ["metadata.labels", "spec.template.spec.securityContext.seccompProfile"],
     "set": {"metadata.name": "unlabelled", "spec.template.spec.hostNetwork": True}},
    {"base": "bucket", "set": {"inputs.bucket": "stackyard-prod-scratch"}},
]


@pytest.fixture(scope="module")
def broken_prod(tmp_path_factory):
    """(spec, spec file, plan) of prod with overrides, an active and an expired exemption, and breakage."""
    spec_file = write_prod_variant(tmp_path_factory.mktemp("broken-prod"), BROKEN_PROD_SPEC)
    spec, spec_file, plan = plan_variant(spec_file, replan=False)  # only `policy` differs from prod
    return spec, spec_file, add_resources(plan, BROKEN_PROD_RESOURCES)
