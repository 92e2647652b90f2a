"""What the stack program does: load the environment named in config and build it.

The program is a pure function of the spec, its registry lock and the code:
it reads the two files and never the network. `run` is what `pulumi up` runs
(stacks/__main__.py): it loads both itself. `build` is the part after loading;
`stackyard plan`, which has loaded and checked them already, hands it the
loaded spec and models instead of having them read and checked a second time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import pulumi

from components.platform import Platform
from components.serving_endpoint import EndpointFieldError
from environments import loader
from environments.errors import SpecError, SpecProblem
from environments.spec import Spec
from pipelines.compile import compile_spec_pipelines
from stacks import registry_lock, spec_loading, stack_config


def _located(environment: str, spec: Spec, error: EndpointFieldError) -> str:
    """An endpoint field KServe refused, as a spec problem with file:line:column."""
    index = [endpoint.name for endpoint in spec.endpoints].index(error.endpoint)
    path = ("endpoints", index, *error.path)
    document, _path = loader.load_document(environment)
    return str(SpecProblem(loader.locate(document, path), path, error.message))


def run() -> None:
    config = pulumi.Config("stackyard")
    # `specFile` lets the offline plan point at a spec outside environments/.
    environment = config.get("specFile") or config.require("environment")
    # What `plan` and `diff` show is environments/<stack>.yaml: a stack config naming another is refused.
    stack = pulumi.get_stack()
    mismatch = stack_config.problem(stack) or (
        None if config.get("specFile") or environment == stack else
        f"stack {stack} is configured to deploy environment {environment!r}; a stack deploys the environment "
        "of its own name")
    if mismatch:
        raise pulumi.RunError(mismatch)
    try:
        spec = spec_loading.load(environment)
    except SpecError as error:
        raise pulumi.RunError(f"invalid environment spec:\n{error}") from None
    spec_file = loader.spec_path(environment)
    try:
        models = registry_lock.locked_models(spec, spec_file, registry_lock.lock_command(spec_file))
    except registry_lock.LockError as error:
        raise pulumi.RunError(str(error)) from None
    build(spec, spec_file, models)


def build(spec: Spec, spec_file: Path, models: Mapping) -> None:
    """Register the platform of a loaded spec, given the endpoints' models from its checked lock."""
    # Compiled here, not in a component: components never read files. A failure is a
    # PipelineCompileError (a pulumi.RunError) naming the pipeline file and function.
    compiled = compile_spec_pipelines(spec, loader.repository_root())
    try:
        platform = Platform(spec.name, spec, compiled_pipelines=compiled, models=models)
    except EndpointFieldError as error:
        raise pulumi.RunError(_located(str(spec_file), spec, error)) from None
    pulumi.export("environment", spec.name)
    pulumi.export("specDigest", spec.digest)
    if platform.cluster.eks_cluster is not None:
        pulumi.export("clusterEndpoint", platform.cluster.eks_cluster.endpoint)
