"""The policy rule fixtures: tests/fixtures/policy/rules/<RULE-ID>.yaml, read into plan entries.

A fixture file holds the cases of one rule, each expected to `pass` or `fail`:

    rule: SY-WKL-007
    cases:
      - name: privileged-container
        expect: fail
        message: privileged            # optional: a text every problem... one problem must contain
        context: {production: true}    # optional: Context JSON over the default test context
        resources:
          - base: deployment           # a compliant object from bases.yaml ...
            set: {spec.template.spec.containers.0.securityContext.privileged: true}   # ... broken on purpose
                                        # (a dot inside a key: resources.limits.nvidia\\.com/gpu)
            unset: [metadata.labels]
          - manifest: {apiVersion: v1, kind: Pod, ...}      # or a literal Kubernetes object
          - type: aws:s3/bucket:Bucket                       # or a literal plan entry
            name: models
            inputs: {bucket: models}
            dependsOn: [other-name]                         # names of resources of the same case
            protect: true

Every resource becomes a plan entry ({urn, type, name, parent, provider,
dependencies, protect, inputs}), the shape both the offline audit and the
CrossGuard adapter read.
"""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

POLICY_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "policy"
RULE_FIXTURES = POLICY_FIXTURES / "rules"
TEST_CONTEXT = {"environment": "test", "today": "2025-06-01"}


@dataclass(frozen=True)
class Case:
    rule: str
    name: str
    expect: str  # pass | fail
    message: str
    context: dict
    resources: tuple[dict, ...]

    @property
    def id(self) -> str:
        return f"{self.rule}-{self.expect}-{self.name}"


@functools.lru_cache(maxsize=1)
def bases() -> dict:
    return yaml.safe_load((POLICY_FIXTURES / "bases.yaml").read_text())


def _parts(path: str) -> list[str]:
    """A dotted path; a dot inside a key is written `\\.` (nvidia\\.com/gpu)."""
    return [part.replace("\\.", ".") for part in re.split(r"(?<!\\)\.", path)]


def _set(target: Any, path: str, value: Any) -> None:
    parts = _parts(path)
    for part in parts[:-1]:
        key = int(part) if part.isdigit() else part
        if isinstance(target, dict) and key not in target:
            target[key] = {}
        target = target[key]
    last = parts[-1]
    if isinstance(target, list) and int(last) == len(target):
        target.append(value)
    else:
        target[int(last) if last.isdigit() else last] = value


def _unset(target: Any, path: str) -> None:
    parts = _parts(path)
    for part in parts[:-1]:
        target = target[int(part) if part.isdigit() else part]
    last = parts[-1]
    del target[int(last) if last.isdigit() else last]


def type_token(manifest: dict) -> str:
    api_version = manifest["apiVersion"]
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{group_version}:{manifest['kind']}"


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:test::stackyard::{type_}::{name}"


def _entry(spec: dict) -> dict:
    """One resource of a case as {type, name, inputs, protect, dependsOn, provider}."""
    if "base" in spec:
        body = copy.deepcopy(bases()[spec["base"]])
        for path, value in (spec.get("set") or {}).items():
            _set(body, path, copy.deepcopy(value))
        for path in spec.get("unset") or ():
            _unset(body, path)
    else:
        body = copy.deepcopy(spec.get("manifest") or spec)
    if "apiVersion" in body and "kind" in body:
        type_, inputs = type_token(body), body
        name = spec.get("name") or body.get("metadata", {}).get("name") or body["kind"].lower()
    else:
        type_, inputs, name = body["type"], body.get("inputs", {}), spec.get("name") or body["name"]
    options = {key: spec.get(key, body.get(key)) for key in ("protect", "dependsOn", "provider")}
    return {"type": type_, "name": name, "inputs": inputs, **options}


def _plan_entries(specs: list) -> tuple[dict, ...]:
    entries = [_entry(spec) for spec in specs]
    urns = {entry["name"]: urn(entry["type"], entry["name"]) for entry in entries}  # for dependsOn/provider
    return tuple({
        "urn": urn(entry["type"], entry["name"]), "type": entry["type"], "name": entry["name"], "parent": "",
        "provider": urns.get(entry.get("provider") or "", ""),
        # A dependency outside the case (a base's launch template, say) is simply absent.
        "dependencies": sorted(urns[name] for name in entry.get("dependsOn") or () if name in urns),
        "protect": bool(entry.get("protect")), "inputs": entry["inputs"],
    } for entry in entries)


@functools.lru_cache(maxsize=1)
def all_cases() -> tuple[Case, ...]:
    cases = []
    for path in sorted(RULE_FIXTURES.glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        for case in document["cases"]:
            cases.append(Case(rule=document["rule"], name=case["name"], expect=case["expect"],
                              message=case.get("message", ""), context={**TEST_CONTEXT, **(case.get("context") or {})},
                              resources=_plan_entries(case.get("resources") or [])))
    return tuple(cases)
