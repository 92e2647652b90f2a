"""The replacement table (stacks/resource_types.yaml) against the installed provider SDKs and the plans."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import pytest

import pulumi_aws
import pulumi_kubernetes
from stacks.property_paths import WILDCARD, format_path, leaf_changes, parse_path, values_at
from stacks.resource_rules import parse_table, table
from conftest import SHIPPED_ENVIRONMENTS, plan_for

SDKS = {"aws": Path(pulumi_aws.__file__).parent, "kubernetes": Path(pulumi_kubernetes.__file__).parent}


@lru_cache(maxsize=None)
def _registered(package: str) -> dict[str, tuple[str, str]]:
    """Type token -> (module, class) from the SDK's own resource registration."""
    root = SDKS[package]
    text = (root / "__init__.py").read_text()
    modules = json.loads(re.search(r'resource_modules="""(.*?)"""', text, re.S).group(1))
    return {token: (module["fqn"], cls) for module in modules for token, cls in module["classes"].items()}


def _constructor_arguments(package: str, token: str) -> set[str]:
    """The camelCase input names a resource class accepts, read from its source (no import needed)."""
    root = SDKS[package]
    if token.startswith("pulumi:providers:"):
        fqn, cls = f"pulumi_{package}", "Provider"
    else:
        fqn, cls = _registered(package)[token]
    directory = root.parent / fqn.replace(".", "/")
    for source in directory.glob("*.py"):
        text = source.read_text()
        if re.search(rf"^class {cls}\(pulumi\.(Custom|Provider)Resource\)", text, re.M):
            signature = re.search(r"def _internal_init\(__self__,(.*?)\):", text, re.S).group(1)
            names = re.findall(r"^\s*(\w+)[:=]", signature, re.M)
            return {re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), n) for n in names} - {"resourceName", "opts"}
    raise AssertionError(f"no class {cls} in {directory}")


@pytest.mark.parametrize("token", sorted(table().types))
def test_every_rule_names_a_real_type_and_property(token):
    package = "aws" if token.startswith(("aws:", "pulumi:providers:aws")) else "kubernetes"
    if not token.startswith("pulumi:providers:"):
        assert token in _registered(package), f"{token} is not a resource type of the installed pulumi_{package}"
    arguments = _constructor_arguments(package, token)
    rules = table().rules(token)
    for path in rules.replace_on_changes + rules.replace_when_removed:
        assert path[0] in arguments, f"{token}: {format_path(path)} is not an input of the resource"
    assert rules.source, f"{token}: every entry says where its rules come from"


def test_every_cloud_type_in_the_shipped_plans_has_rules():
    """New AWS types need an entry: without one the diff cannot predict their replacement."""
    missing = set()
    for environment in SHIPPED_ENVIRONMENTS:
        for resource in plan_for(environment)["resources"]:
            if not table().known(resource["type"]):
                missing.add(resource["type"])
    assert not missing, f"add these types to stacks/resource_types.yaml: {sorted(missing)}"


def test_kubernetes_kinds_get_the_metadata_rule_and_their_own():
    rules = table().rules("kubernetes:apps/v1:Deployment")
    assert ("metadata", "name") in rules.replace_on_changes
    assert ("spec", "selector") in rules.replace_on_changes
    # A custom resource the provider knows nothing about: only the metadata rule, as in pulumi-kubernetes.
    assert table().rules("kubernetes:serving.kserve.io/v1beta1:InferenceService").replace_on_changes == (
        ("metadata", "name"), ("metadata", "namespace"))


def test_replacement_reasons_follow_the_table():
    cluster = {"name": "stackyard-prod", "roleArn": "arn:role", "version": "1.33",
               "encryptionConfig": {"resources": ["secrets"]}}
    assert table().replacement_reasons("aws:eks/cluster:Cluster", cluster, {**cluster, "version": "1.34"}) == []
    assert table().replacement_reasons("aws:eks/cluster:Cluster", cluster, {**cluster, "name": "other"}) == ["name"]
    without_encryption = {k: v for k, v in cluster.items() if k != "encryptionConfig"}
    assert table().replacement_reasons("aws:eks/cluster:Cluster", cluster, without_encryption) == ["encryptionConfig"]
    # Enabling encryption later is an update: only its removal forces a new cluster.
    assert table().replacement_reasons("aws:eks/cluster:Cluster", without_encryption, cluster) == []


def test_wildcard_rules_compare_every_list_element():
    rules = parse_table({"types": {"t:m:Pod": {"replaceOnChanges": ["spec.containers[*].image"]}}})
    pod = {"spec": {"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}]}}
    renamed = {"spec": {"containers": [{"name": "c", "image": "x:1"}, {"name": "b", "image": "y:1"}]}}
    bumped = {"spec": {"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:2"}]}}
    assert rules.replacement_reasons("t:m:Pod", pod, renamed) == []
    assert rules.replacement_reasons("t:m:Pod", pod, bumped) == ["spec.containers[*].image"]


def test_a_malformed_table_entry_is_named():
    with pytest.raises(ValueError, match=r"t:m:X.replaceOnChanges: not a property path"):
        parse_table({"types": {"t:m:X": {"replaceOnChanges": ["a..b"]}}})


@pytest.mark.parametrize("text, parts", [
    ("name", ("name",)),
    ("vpcConfig.subnetIds[0]", ("vpcConfig", "subnetIds", 0)),
    ('metadata.labels["app.kubernetes.io/name"]', ("metadata", "labels", "app.kubernetes.io/name")),
    ("spec.containers[*].image", ("spec", "containers", WILDCARD, "image")),
    ('["weird key"].x', ("weird key", "x")),
])
def test_property_paths_round_trip(text, parts):
    assert parse_path(text) == parts
    assert format_path(parts) == text


def test_values_at_and_leaf_changes():
    document = {"a": [{"b": 1}, {"b": None}, {"b": 3}]}
    assert values_at(document, ("a", WILDCARD, "b")) == [(("a", 0, "b"), 1), (("a", 2, "b"), 3)]
    changes = list(leaf_changes({"x": 1, "l": [1, 2], "gone": "g"}, {"x": 2, "l": [1], "new": {"k": "v"}}))
    assert changes == [(("gone",), "delete", "g", None), (("l", 1), "delete", 2, None),
                       (("new",), "add", None, {"k": "v"}), (("x",), "update", 1, 2)]
