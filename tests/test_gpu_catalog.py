"""The GPU instance catalog and the cost bound computed from it."""

from __future__ import annotations

import dataclasses
import json

import pytest

from environments import gpu_catalog, loader
from stacks import cost


def test_catalog_states_its_source_and_date():
    document = json.loads(gpu_catalog.CATALOG_FILE.read_text())
    assert document["source"].startswith("https://aws.amazon.com/ec2/pricing/")
    assert document["asOf"] and document["region"] == "us-east-1" and document["currency"] == "USD"


def test_catalog_covers_the_supported_gpu_families():
    assert gpu_catalog.catalog().families() == ["g4dn", "g5", "g6", "g6e", "p4d", "p5"]


@pytest.mark.parametrize("name, model, gpus, price", [
    ("g4dn.xlarge", "T4", 1, 0.526),
    ("g5.xlarge", "A10G", 1, 1.006),
    ("g5.12xlarge", "A10G", 4, 5.672),
    ("g6.2xlarge", "L4", 1, 0.9776),
    ("g6e.xlarge", "L40S", 1, 1.861),
    ("p4d.24xlarge", "A100", 8, 21.96),
    ("p5.48xlarge", "H100", 8, 55.04),
])
def test_price_and_gpu_lookup(name, model, gpus, price):
    instance = gpu_catalog.catalog().get(name)
    assert (instance.gpu_model, instance.gpus, instance.on_demand_hourly_usd) == (model, gpus, price)


def test_accelerator_label_value():
    assert gpu_catalog.catalog().get("g5.xlarge").accelerator == "nvidia-a10g"
    assert gpu_catalog.catalog().get("g6e.xlarge").accelerator == "nvidia-l40s"


def test_non_gpu_instance_types_are_not_in_the_catalog():
    catalog = gpu_catalog.catalog()
    assert catalog.get("m6i.xlarge") is None
    with pytest.raises(KeyError, match="m5.large"):
        catalog.lookup(["g5.xlarge", "m5.large"])


def test_bigger_sizes_of_a_family_cost_more():
    by_family: dict[str, list] = {}
    for instance in gpu_catalog.catalog().instance_types.values():
        assert instance.on_demand_hourly_usd > 0 and instance.gpus in (1, 4, 8)
        by_family.setdefault(instance.family, []).append(instance)
    for instances in by_family.values():
        ordered = sorted(instances, key=lambda i: (i.vcpus, i.gpus))
        prices = [i.on_demand_hourly_usd for i in ordered if i.gpus == ordered[0].gpus]
        assert prices == sorted(prices)


# --- cost -------------------------------------------------------------------------

def test_prod_max_hourly_cost_per_pool():
    assert cost.max_hourly_cost(loader.load("prod")) == {
        "a10g-inference": 9.696,  # 8 x g5.2xlarge, the pricier of its two types
        "l4-inference": 3.9104,  # 4 x g6.2xlarge
        "a100-training": 43.92,  # gpuLimit 16 / 8 GPUs per p4d.24xlarge = 2 nodes
    }


def test_karpenter_bound_comes_from_the_gpu_limit_not_max_size():
    pool = loader.load("prod").node_pool("a100-training")
    wide = dataclasses.replace(pool, max_size=100, gpu_limit=20)
    bound = cost.pool_cost(wide)
    assert (bound.max_nodes, bound.bound_by) == (2, "gpuLimit")  # 20 // 8


def test_karpenter_bound_picks_the_costliest_type_under_the_limit():
    pool = loader.load("prod").node_pool("a100-training")
    # 8 GPUs fit one g5.48xlarge (16.288) or eight g5.xlarge (8 x 1.006 = 8.048).
    mixed = dataclasses.replace(pool, instance_types=("g5.xlarge", "g5.48xlarge"), gpu_limit=8)
    bound = cost.pool_cost(mixed)
    assert (bound.instance_type, bound.max_nodes, bound.max_hourly_cost) == ("g5.48xlarge", 1, 16.288)


def test_rendered_cost_has_every_pool_and_the_total():
    text = cost.render_cost(loader.load("prod"))
    assert "a10g-inference" in text and "l4-inference" in text and "a100-training" in text
    total_line = next(line for line in text.splitlines() if line.startswith("total"))
    assert total_line.split()[-1] == "57.53"
    assert cost.render_cost(loader.load("local")) == "GPU pools: none (no GPU cost)"
