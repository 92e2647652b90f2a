"""What the stack program does: load the environment named in config and build it."""

from __future__ import annotations

import pulumi

from components.platform import Platform
from environments import loader
from environments.errors import SpecError
from pipelines.compile import compile_spec_pipelines


def run() -> None:
    config = pulumi.Config("stackyard")
    # `specFile` lets the offline plan point at a spec outside environments/.
    environment = config.get("specFile") or config.require("environment")
    try:
        spec = loader.load(environment)
    except SpecError as error:
        raise pulumi.RunError(f"invalid environment spec:\n{error}") from None
    # Compiled here, not in a component: components never read files. A failure is a
    # PipelineCompileError (a pulumi.RunError) naming the pipeline file and function.
    compiled = compile_spec_pipelines(spec, loader.repository_root())
    platform = Platform(spec.name, spec, compiled_pipelines=compiled)
    pulumi.export("environment", spec.name)
    pulumi.export("specDigest", spec.digest)
    if platform.cluster.eks_cluster is not None:
        pulumi.export("clusterEndpoint", platform.cluster.eks_cluster.endpoint)
