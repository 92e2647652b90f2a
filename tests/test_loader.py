"""Loading environments: extends merging, typed immutable Specs, digests."""

from __future__ import annotations

import dataclasses

import pytest

from conftest import SHIPPED_ENVIRONMENTS
from environments import loader
from environments.located_yaml import load_located
from environments.spec import Spec


@pytest.mark.parametrize("name", SHIPPED_ENVIRONMENTS)
def test_shipped_environments_load(name):
    spec = loader.load(name)
    assert isinstance(spec, Spec)
    assert spec.name == name
    assert len(spec.digest) == 64


def test_prod_describes_a_real_platform():
    prod = loader.load("prod")
    assert len(prod.node_pools) >= 2
    assert len(prod.endpoints) >= 2
    assert prod.pipelines and prod.monitoring.enabled and prod.feature_store.enabled
    assert prod.policy.enforcement == "mandatory"


def test_spec_is_immutable():
    spec = loader.load("prod")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.metadata.name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.versions.kubernetes = "1.0"  # type: ignore[misc]
    assert isinstance(spec.endpoints, tuple)


def test_extends_merges_maps_named_lists_and_replaces_other_lists():
    prod = loader.load("prod")
    # maps merge: base's systemNodeGroup instance types survive prod's size override
    assert prod.cluster.system_node_group.instance_types == ("m6i.xlarge",)
    assert prod.cluster.system_node_group.min_size == 3
    # named lists merge by name: base's runtimes are inherited
    assert {r.name for r in prod.serving.runtimes} >= {"sklearnserver", "tritonserver"}
    # other lists replace: base's allow-list of registries is inherited as a whole
    assert prod.policy.allowed_registries == loader.load("staging").policy.allowed_registries
    # the child's own name wins over the base's
    assert prod.metadata.name == "prod" and prod.extends == "base"


def _write(path, text):
    path.write_text(text)
    return path


def test_named_list_items_merge_field_by_field(tmp_path):
    _write(tmp_path / "parent.yaml", "a: {x: 1, y: 2}\nitems:\n  - {name: one, size: 1, keep: true}\n"
                                     "  - {name: two, size: 2}\nplain: [1, 2, 3]\n")
    child = _write(tmp_path / "child.yaml", "extends: parent\na: {y: 20}\nitems:\n  - {name: two, size: 22}\n"
                                            "  - {name: three, size: 3}\nplain: [9]\n")
    merged, chain = loader._read_chain(child)
    assert [p.name for p in chain] == ["child.yaml", "parent.yaml"]
    assert merged["a"] == {"x": 1, "y": 20}
    assert merged["items"] == [{"name": "one", "size": 1, "keep": True}, {"name": "two", "size": 22},
                               {"name": "three", "size": 3}]
    assert merged["plain"] == [9]
    # locations follow the file each value came from
    assert loader.locate(merged, ("items", 0)).file.endswith("parent.yaml")
    assert loader.locate(merged, ("items", 1, "size")).file.endswith("child.yaml")


def test_dates_stay_strings_and_anchors_resolve(tmp_path):
    doc = load_located(str(_write(tmp_path / "x.yaml", "when: 2026-12-31\nbase: &b {k: v}\nuse: *b\n")), "x.yaml")
    assert doc == {"when": "2026-12-31", "base": {"k": "v"}, "use": {"k": "v"}}


def test_alias_bombs_are_refused(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    result_path = _write(tmp_path / "bomb.yaml", "\n".join(lines) + "\n")
    with pytest.raises(loader.SpecError, match="too large or too deeply nested"):
        load_located(str(result_path), "bomb.yaml")


def test_digest_depends_on_content_only(tmp_path):
    prod = loader.load("prod")
    assert loader.load("prod").digest == prod.digest
    copy = tmp_path / "prod.yaml"
    copy.write_text(loader.spec_path("prod").read_text())
    (tmp_path / "base.yaml").write_text(loader.spec_path("base").read_text())
    assert loader.load(str(copy)).digest == prod.digest
    copy.write_text(copy.read_text().replace("maxSize: 8", "maxSize: 9"))
    assert loader.load(str(copy)).digest != prod.digest


@pytest.mark.parametrize("schema_file, pointer, literal", [
    ("environment", "/properties/cloud/properties/provider", "CloudProvider"),
    ("compute", "/$defs/cluster/properties/type", "ClusterType"),
    ("compute", "/$defs/cluster/properties/logging/items", "ControlPlaneLog"),
    ("compute", "/$defs/nodePools/items/properties/provisioner", "Provisioner"),
    ("compute", "/$defs/nodePools/items/properties/capacityType", "CapacityType"),
    ("compute", "/$defs/nodePools/items/properties/ami/properties/type", "AmiType"),
    ("compute", "/$defs/nodePools/items/properties/disruption/properties/consolidationPolicy", "ConsolidationPolicy"),
    ("serving", "/$defs/serving/properties/deploymentMode", "DeploymentMode"),
    ("serving", "/$defs/endpoints/items/properties/deploymentMode", "DeploymentMode"),
    ("serving", "/$defs/serving/properties/runtimes/items/properties/protocol", "InferenceProtocol"),
    ("serving", "/$defs/endpoints/items/properties/format", "ModelFormat"),
    ("serving", "/$defs/endpoints/items/properties/autoscaling/properties/metric", "ScaleMetric"),
    ("feature-store", "/$defs/featureStore/properties/offlineStore/properties/type", "OfflineStoreType"),
    ("feature-store", "/$defs/featureStore/properties/onlineStore/properties/type", "OnlineStoreType"),
    ("feature-store", "/$defs/featureStore/properties/registry/properties/type", "RegistryType"),
    ("monitoring", "/$defs/monitoring/properties/receivers/items/properties/type", "ReceiverType"),
    ("policy", "/$defs/policy/properties/enforcement", "Enforcement"),
    ("policy", "/$defs/level", "RuleLevel"),
])
def test_the_specs_closed_sets_are_the_schemas_enums(schema_file, pointer, literal):
    """Each Literal of environments/spec.py names exactly the values its JSON Schema enum allows."""
    import json
    import typing

    from environments import spec as spec_module

    node = json.loads((loader.SCHEMA_DIR / f"{schema_file}.schema.json").read_text())
    for part in pointer.strip("/").split("/"):
        node = node[part]
    assert set(typing.get_args(getattr(spec_module, literal))) == set(node["enum"])
