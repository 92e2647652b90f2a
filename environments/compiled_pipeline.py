"""The record of one compiled pipeline: what `pipelines/` produces and `components/` registers.

It lives here, below both, so that `pipelines` and `components` need not import
each other (docs/architecture.md, "Layers"). Pure data, no kfp, no Pulumi.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class CompiledPipeline:
    """One pipeline of a spec, compiled: what the KubeflowPipelines component registers."""

    name: str  # the spec's pipeline name (the KFP pipeline)
    source: str  # the file, relative to the repository root
    function: str
    ir_yaml: str
    version: str  # sha256 of ir_yaml, hex
    parameters: tuple[str, ...]  # run parameters the pipeline takes


def version_of(ir_yaml: str) -> str:
    """A pipeline's version: the sha256 of its IR text, so unchanged code keeps its version."""
    return hashlib.sha256(ir_yaml.encode("utf-8")).hexdigest()
