"""The IR the shipped environments register loads with the pinned KFP backend's own protos.

The backend parses a pipeline with its own proto definitions and drops what they lack, silently
(kfp 2.17's `configMapAsEnv[].optional` on a 2.5.0 backend). So every compiled pipeline of every
shipped environment is parsed with the .proto files of the pinned backend, vendored under
tests/upstream/kubeflow__pipelines@<version>/, into a descriptor pool of its own (kfp's installed
pipeline_spec_pb2 is the SDK's copy, not the backend's), with unknown fields refused.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import yaml

from environments import loader
from pipelines.compile import compile_spec_pipelines
from conftest import REPO, SHIPPED_ENVIRONMENTS
from upstream_install import folder

PIPELINE_SPEC = "api/v2alpha1/pipeline_spec.proto"
KUBERNETES_CONFIG = "kubernetes_platform/proto/kubernetes_executor_config.proto"


@functools.lru_cache(maxsize=None)
def backend_messages(version: str, out: str) -> dict:
    """Message classes of the backend's protos at `version`, compiled with protoc into their own pool."""
    import google.protobuf
    import grpc_tools
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    from grpc_tools import protoc

    protos = folder("kubeflow/pipelines", version)
    descriptor_set = Path(out) / f"kfp-{version}.pb"
    includes = [protos / Path(PIPELINE_SPEC).parent, protos / Path(KUBERNETES_CONFIG).parent,
                Path(grpc_tools.__file__).parent / "_proto",  # google/protobuf/*.proto
                Path(google.protobuf.__file__).parent.parent.parent]  # google/rpc/status.proto
    status = protoc.main(["protoc", *(f"-I{path}" for path in includes), "--include_imports",
                          f"--descriptor_set_out={descriptor_set}", "pipeline_spec.proto",
                          "kubernetes_executor_config.proto"])
    assert status == 0, f"protoc could not compile the vendored protos of KFP {version}"
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(name))
            for name in ("ml_pipelines.PipelineSpec", "ml_pipelines.PlatformSpec",
                         "kfp_kubernetes.KubernetesExecutorConfig")}


def parse_errors(ir_yaml: str, messages: dict) -> list[str]:
    """What the backend's protos refuse in one compiled pipeline (PipelineSpec, PlatformSpec, executors)."""
    from google.protobuf import json_format

    documents = list(yaml.safe_load_all(ir_yaml))
    errors = []

    def parse(value: dict, message: str, where: str) -> None:
        try:
            json_format.ParseDict(value, messages[message](), ignore_unknown_fields=False)
        except json_format.ParseError as error:
            errors.append(f"{where}: {error}")

    parse(documents[0], "ml_pipelines.PipelineSpec", "pipeline spec")
    if len(documents) > 1:
        parse(documents[1], "ml_pipelines.PlatformSpec", "platform spec")
        executors = documents[1].get("platforms", {}).get("kubernetes", {}).get("deploymentSpec", {}).get("executors", {})
        for name, config in executors.items():
            parse(config, "kfp_kubernetes.KubernetesExecutorConfig", f"kubernetes executor {name}")
    return errors


@functools.lru_cache(maxsize=None)
def compiled(environment: str) -> tuple:
    return compile_spec_pipelines(loader.load(environment), REPO)


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("kfp-protos"))


@pytest.mark.parametrize("environment", SHIPPED_ENVIRONMENTS)
def test_every_compiled_pipeline_loads_with_the_pinned_backends_protos(environment, out):
    messages = backend_messages(loader.load(environment).versions.kubeflow_pipelines, out)
    pipelines = compiled(environment)
    assert pipelines
    assert {p.name: parse_errors(p.ir_yaml, messages) for p in pipelines} == {p.name: [] for p in pipelines}


def test_a_field_the_backend_does_not_know_is_refused(out):
    messages = backend_messages(loader.load("prod").versions.kubeflow_pipelines, out)
    documents = list(yaml.safe_load_all(compiled("prod")[0].ir_yaml))
    assert len(documents) == 2, "the shipped pipelines carry kfp-kubernetes config"
    executors = documents[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    name = next(iter(executors))
    executors[name]["configMapAsEnvv"] = []
    documents[0]["pipelineInfo"]["displayNamee"] = "x"
    errors = parse_errors(yaml.safe_dump_all(documents), messages)
    assert any(e.startswith(f"kubernetes executor {name}") and "configMapAsEnvv" in e for e in errors), errors
    assert any(e.startswith("pipeline spec") and "displayNamee" in e for e in errors), errors
