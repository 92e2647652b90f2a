"""The most a spec's GPU pools can cost per hour, from the spec and the GPU catalog.

A pure function of the spec (no plan needed), so `stackyard plan` prints it
and a diff of two specs can compare it. Prices are on-demand list prices
(environments/gpu_instances.json): an upper bound for spot pools too, since
spot never costs more than on-demand.

How many nodes a pool can have at most:
- managed node group: `maxSize`, the Auto Scaling group's hard limit, each node
  priced as the pool's most expensive instance type;
- Karpenter: the NodePool's GPU limit (`gpuLimit`) is what Karpenter enforces,
  not `maxSize`; the bound is the instance type for which
  floor(gpuLimit / GPUs per node) nodes cost the most. (Karpenter checks
  limits between launches, so a burst of launches can briefly overshoot.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from environments.gpu_catalog import GpuCatalog, catalog
from environments.spec import NodePool, Spec


@dataclass(frozen=True)
class PoolCost:
    pool: str
    provisioner: str
    instance_type: str  # the instance type the bound assumes
    max_nodes: int
    hourly_price: float  # of one node of instance_type
    bound_by: str  # the spec field that limits the node count: maxSize or gpuLimit

    @property
    def max_hourly_cost(self) -> float:
        return round(self.max_nodes * self.hourly_price, 4)


def pool_cost(pool: NodePool, gpu_catalog: Optional[GpuCatalog] = None) -> PoolCost:
    instances = (gpu_catalog or catalog()).lookup(pool.instance_types)
    if pool.provisioner == "karpenter":
        best = max(instances, key=lambda i: ((pool.gpu_limit or 0) // i.gpus * i.on_demand_hourly_usd, i.name))
        return PoolCost(pool.name, pool.provisioner, best.name, (pool.gpu_limit or 0) // best.gpus,
                        best.on_demand_hourly_usd, "gpuLimit")
    priciest = max(instances, key=lambda i: (i.on_demand_hourly_usd, i.name))
    return PoolCost(pool.name, pool.provisioner, priciest.name, pool.max_size, priciest.on_demand_hourly_usd,
                    "maxSize")


def pool_costs(spec: Spec, gpu_catalog: Optional[GpuCatalog] = None) -> list[PoolCost]:
    return [pool_cost(pool, gpu_catalog) for pool in spec.node_pools]


def max_hourly_cost(spec: Spec) -> dict[str, float]:
    """Pool name -> the most it can cost per hour, in USD at on-demand list prices."""
    return {cost.pool: cost.max_hourly_cost for cost in pool_costs(spec)}


def render_cost(spec: Spec) -> str:
    """The per-pool and total maximum hourly GPU cost, as a table for the plan summary."""
    from policies.text_table import table

    costs = pool_costs(spec)
    if not costs:
        return "GPU pools: none (no GPU cost)"
    gpu_catalog = catalog()
    rows = [(c.pool, c.provisioner, c.instance_type, f"{c.max_nodes} ({c.bound_by})",
             f"{c.hourly_price:.4f}", f"{c.max_hourly_cost:.2f}") for c in costs]
    total = sum(c.max_hourly_cost for c in costs)
    rows.append(("total", "", "", "", "", f"{total:.2f}"))
    region_note = "" if spec.cloud.region in (None, gpu_catalog.region) else \
        f"; this environment runs in {spec.cloud.region}, prices differ"
    return (f"maximum GPU cost per hour ({gpu_catalog.currency}, on-demand list prices in {gpu_catalog.region} "
            f"as of {gpu_catalog.as_of}{region_note})\n"
            + table(["pool", "provisioner", "instance type", "max nodes", "$/node-hour", "max $/hour"], rows))
