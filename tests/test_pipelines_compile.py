"""pipelines/: the shipped pipelines compile with kfp's compiler, load back with kfp, and version by content."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import pytest
import yaml

from environments.compiled_pipeline import version_of
from pipelines.compile import PipelineCompileError, compile_pipeline

REPO = Path(__file__).resolve().parent.parent
SHIPPED = [("pipelines/training.py", "training_pipeline"), ("pipelines/drift.py", "drift_pipeline")]


@functools.lru_cache(maxsize=None)
def compiled(source: str, function: str, gpu_pool: str | None = None):
    return compile_pipeline(REPO / source, function, gpu_pool=gpu_pool, display=source)


def load_pipeline_spec(ir_yaml: str):
    """Parse IR into kfp's PipelineSpec proto: fails on any field the schema does not know."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    documents = list(yaml.safe_load_all(ir_yaml))
    spec = json_format.ParseDict(documents[0], pipeline_spec_pb2.PipelineSpec())
    platform = None
    if len(documents) > 1:
        platform = json_format.ParseDict(documents[1], pipeline_spec_pb2.PlatformSpec())
    return spec, platform


def kubernetes_executors(platform) -> dict:
    """The kfp-kubernetes executor configs of a parsed PlatformSpec, as plain dicts."""
    from google.protobuf import json_format

    if platform is None or "kubernetes" not in platform.platforms:
        return {}
    config = platform.platforms["kubernetes"].deployment_spec
    return {name: json_format.MessageToDict(struct) for name, struct in config.executors.items()}


@pytest.mark.parametrize("source, function", SHIPPED)
def test_shipped_pipeline_compiles_and_loads_back_with_kfp(source, function):
    from kfp import components

    result = compiled(source, function)
    loaded = components.load_component_from_text(result.ir_yaml)
    assert loaded.name.startswith("stackyard-")
    assert loaded.component_spec.implementation.graph is not None  # a pipeline, not a single component
    assert set(loaded.component_spec.inputs) == set(result.parameters)
    spec, _ = load_pipeline_spec(result.ir_yaml)
    assert spec.pipeline_info.name == loaded.name
    assert set(spec.root.input_definitions.parameters) == set(result.parameters)
    assert result.version == version_of(result.ir_yaml) and len(result.version) == 64


@pytest.mark.parametrize("source, function", SHIPPED)
def test_version_is_stable_across_compilations(source, function):
    first = compile_pipeline(REPO / source, function)
    second = compile_pipeline(REPO / source, function)
    assert first.ir_yaml == second.ir_yaml
    assert first.version == second.version


def test_version_changes_when_a_components_code_changes(tmp_path):
    copy = tmp_path / "training.py"
    shutil.copyfile(REPO / "pipelines/training.py", copy)
    before = compile_pipeline(copy, "training_pipeline")
    text = copy.read_text()
    changed = text.replace("n_estimators=300", "n_estimators=400")
    assert changed != text
    copy.write_text(changed)
    after = compile_pipeline(copy, "training_pipeline")
    assert after.version != before.version
    assert "n_estimators=400" in after.ir_yaml


def test_training_steps_and_threshold_condition_are_in_the_ir():
    spec, _ = load_pipeline_spec(compiled("pipelines/training.py", "training_pipeline").ir_yaml)
    tasks = spec.root.dag.tasks
    assert {"validate-data", "train-model", "evaluate-model", "condition-1"} <= set(tasks)
    condition = tasks["condition-1"].trigger_policy.condition
    assert "evaluate-model-accuracy" in condition and ">=" in condition and "min_accuracy" in condition
    inside = spec.components["comp-condition-1"].dag.tasks
    assert set(inside) == {"register-model", "write-model-card"}
    assert "register-model" in inside["write-model-card"].dependent_tasks


def test_gpu_step_is_placed_on_the_compile_time_pool():
    from environments.gpu_scheduling import POOL_LABEL, gpu_scheduling

    result = compiled("pipelines/training.py", "training_pipeline", "a100-training")
    spec, platform = load_pipeline_spec(result.ir_yaml)
    expected = gpu_scheduling("a100-training", 1)
    train = spec.deployment_spec["executors"]["exec-train-model"]["container"]
    assert train["resources"]["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert train["resources"]["accelerator"]["resourceCount"] == "1"
    executors = kubernetes_executors(platform)
    assert executors["exec-train-model"]["nodeSelector"]["labels"] == {POOL_LABEL: "a100-training"}
    assert executors["exec-train-model"]["tolerations"] == expected.tolerations
    # Only the GPU step is placed; and the pool is part of the version.
    placed = {name for name, executor in executors.items() if "nodeSelector" in executor}
    assert placed == {"exec-train-model"}
    assert result.version != compiled("pipelines/training.py", "training_pipeline", "t4-dev").version
    assert result.version != compiled("pipelines/training.py", "training_pipeline").version


def test_without_a_pool_the_pipeline_runs_on_cpu():
    _, platform = load_pipeline_spec(compiled("pipelines/training.py", "training_pipeline").ir_yaml)
    executors = kubernetes_executors(platform)
    assert not any("nodeSelector" in e or "tolerations" in e for e in executors.values())
    # Steps still get the platform endpoints (MLflow, Pushgateway) from the platform ConfigMap.
    assert executors["exec-register-model"]["configMapAsEnv"][0]["configMapName"] == "stackyard-platform"


def test_drift_pipeline_publishes_the_drift_metric_by_endpoint():
    result = compiled("pipelines/drift.py", "drift_pipeline")
    assert set(result.parameters) >= {"endpoint", "threshold"}
    assert "stackyard_model_drift_score" in result.ir_yaml
    assert "/metrics/job/{job}/endpoint/" in result.ir_yaml


def test_every_step_image_is_pinned():
    for source, function in SHIPPED:
        spec, _ = load_pipeline_spec(compiled(source, function).ir_yaml)
        for executor in spec.deployment_spec["executors"].values():
            image = executor["container"]["image"]
            assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image


# --- errors point at the file and the function ---------------------------------------

def test_missing_file():
    with pytest.raises(PipelineCompileError, match=r"pipelines/nope\.py: no such pipeline file"):
        compile_pipeline(REPO / "pipelines/nope.py", "training_pipeline", display="pipelines/nope.py")


def test_missing_function_lists_the_pipelines_that_exist():
    with pytest.raises(PipelineCompileError,
                       match=r"pipelines/training\.py: no function 'trainin_pipeline'.*'training_pipeline'"):
        compile_pipeline(REPO / "pipelines/training.py", "trainin_pipeline", display="pipelines/training.py")


def test_a_component_is_not_a_pipeline():
    with pytest.raises(PipelineCompileError,
                       match=r"pipelines/training\.py:\d+: validate_data: expected a @dsl.pipeline function, "
                             r"found a kfp component"):
        compile_pipeline(REPO / "pipelines/training.py", "validate_data", display="pipelines/training.py")


def test_a_kfp_error_names_the_line_and_function(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text(
        "from kfp import dsl\n\n"
        "@dsl.component(base_image='docker.io/library/python:3.11.13-slim')\n"
        "def add(a: int, b: int) -> int:\n    return a + b\n\n"
        "@dsl.pipeline(name='broken')\n"
        "def broken_pipeline(x: int):\n"
        "    add(a=x)\n")  # b is missing: kfp refuses while building the graph
    with pytest.raises(PipelineCompileError) as raised:
        compile_pipeline(broken, "broken_pipeline", display="pipelines/broken.py")
    message = str(raised.value)
    assert message.startswith("pipelines/broken.py:9: ")
    assert "broken_pipeline" in message and "b" in message


def test_a_syntax_error_names_the_line(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("from kfp import dsl\n\ndef broken_pipeline(:\n    pass\n")
    with pytest.raises(PipelineCompileError, match=r"^pipelines/broken\.py:3: syntax error"):
        compile_pipeline(broken, "broken_pipeline", display="pipelines/broken.py")


def test_compile_command_line(tmp_path):
    from pipelines.compile import main

    out = tmp_path / "training.yaml"
    training = str(REPO / "pipelines/training.py")
    assert main([training, "training_pipeline", "--gpu-pool", "t4-dev", "--out", str(out)]) == 0
    assert version_of(out.read_text()) == compiled("pipelines/training.py", "training_pipeline", "t4-dev").version
    assert main([training, "nothing_here"]) == 2
