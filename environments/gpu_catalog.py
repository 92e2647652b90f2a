"""The GPU instance catalog: which EC2 instance types carry which NVIDIA GPUs, and what they cost.

The data lives in `gpu_instances.json` beside this module (with its source and
date). Standard library only: `stackyard validate` uses it to reject non-GPU
instance types, the components use it for node labels and autoscaler hints,
and the plan uses it for the cost of each pool.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping, Optional

CATALOG_FILE = Path(__file__).resolve().parent / "gpu_instances.json"


@dataclass(frozen=True)
class GpuInstanceType:
    name: str  # e.g. g5.xlarge
    family: str  # e.g. g5
    gpu_model: str  # e.g. A10G
    gpu_memory_gib: int  # per GPU
    gpus: int  # per node
    vcpus: int
    memory_gib: int
    on_demand_hourly_usd: float

    @property
    def accelerator(self) -> str:
        """The `k8s.amazonaws.com/accelerator` label value (cluster-autoscaler's GPU label), e.g. nvidia-a10g."""
        return f"nvidia-{self.gpu_model.lower()}"


@dataclass(frozen=True)
class GpuCatalog:
    source: str
    as_of: str
    region: str
    currency: str
    instance_types: Mapping[str, GpuInstanceType]

    def get(self, name: str) -> Optional[GpuInstanceType]:
        return self.instance_types.get(name)

    def families(self) -> list[str]:
        return sorted({instance.family for instance in self.instance_types.values()})

    def lookup(self, names: Iterable[str]) -> list[GpuInstanceType]:
        """The catalog entries of `names`; KeyError names the first type the catalog does not know."""
        found = []
        for name in names:
            instance = self.get(name)
            if instance is None:
                raise KeyError(f"{name!r} is not a known GPU instance type")
            found.append(instance)
        return found


def load_catalog(path: Path) -> GpuCatalog:
    document = json.loads(path.read_text())
    families = document["families"]
    instance_types = {}
    for name, entry in document["instanceTypes"].items():
        family = name.split(".", 1)[0]
        instance_types[name] = GpuInstanceType(
            name=name, family=family, gpu_model=families[family]["gpuModel"],
            gpu_memory_gib=families[family]["gpuMemoryGib"], gpus=entry["gpus"], vcpus=entry["vcpus"],
            memory_gib=entry["memoryGib"], on_demand_hourly_usd=float(entry["onDemandHourlyUsd"]))
    return GpuCatalog(source=document["source"], as_of=document["asOf"], region=document["region"],
                      currency=document["currency"], instance_types=instance_types)


@lru_cache(maxsize=1)
def catalog() -> GpuCatalog:
    """The catalog shipped with Stackyard."""
    return load_catalog(CATALOG_FILE)
