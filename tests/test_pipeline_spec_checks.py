"""Bad pipeline specs are rejected with one located message and exit 2: at validate time, or at compile time."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import REPO, lock_beside, run_cli
from environments.checks import pipeline_problems
from environments.spec import Pipeline, Schedule


def write_spec(tmp_path: Path, pipeline: dict, **kubeflow) -> Path:
    """local.yaml (self-contained, no `extends`) with its pipelines replaced by `pipeline`."""
    document = yaml.safe_load((REPO / "environments/local.yaml").read_text())
    document["metadata"]["name"] = "pipelines-fixture"
    document["pipelines"] = [pipeline]
    document["kubeflow"].update(kubeflow)
    path = tmp_path / "pipelines-fixture.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    # local's endpoint serves the model its registry lock pins; `plan` needs the lock beside the spec.
    lock_beside(path, "local")
    return path


def training(**changes) -> dict:
    pipeline = {"name": "train-recsys", "source": "pipelines/training.py", "function": "training_pipeline",
                "schedules": [{"name": "nightly", "cron": "0 2 * * *",
                               "parameters": {"model_name": "recsys-ranker", "min_accuracy": 0.8}}]}
    return {**pipeline, **changes}


def rejected(spec: Path, command: str = "validate") -> str:
    result = run_cli(command, str(spec))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stderr


def test_the_fixture_itself_is_valid(tmp_path):
    result = run_cli("validate", str(write_spec(tmp_path, training())))
    assert result.returncode == 0, result.stderr


def test_nonexistent_pipeline_file(tmp_path):
    message = rejected(write_spec(tmp_path, training(source="pipelines/trainng.py")))
    assert "pipelines-fixture.yaml:" in message
    assert "$.pipelines[0].source: pipeline file pipelines/trainng.py does not exist" in message


def test_nonexistent_function(tmp_path):
    message = rejected(write_spec(tmp_path, training(function="train_pipeline")))
    assert "$.pipelines[0].function: no function 'train_pipeline' defined in training.py" in message
    assert "'training_pipeline'" in message  # lists what is there


@pytest.mark.parametrize("cron, fragment", [("0 0 2 * * *", "expected 5 fields"),
                                            ("0 25 * * *", "hour field '25': expected 0-23, found 25"),
                                            ("*/0 * * * *", "positive step")])
def test_malformed_cron(tmp_path, cron, fragment):
    pipeline = training()
    pipeline["schedules"][0]["cron"] = cron
    message = rejected(write_spec(tmp_path, pipeline))
    assert "$.pipelines[0].schedules[0].cron: invalid cron schedule: " in message and fragment in message


@pytest.mark.parametrize("source", ["pipelines/../stacks/cli.py", "/etc/passwd.py", "stacks/program.py"])
def test_source_outside_pipelines_is_rejected(tmp_path, source):
    message = rejected(write_spec(tmp_path, training(source=source)))
    assert "$.pipelines[0].source: expected a Python file under pipelines/" in message


def test_a_symlink_out_of_pipelines_is_an_escape(tmp_path):
    root = tmp_path / "repo"
    (root / "pipelines").mkdir(parents=True)
    outside = tmp_path / "elsewhere.py"
    outside.write_text("def training_pipeline(model_name):\n    pass\n")
    (root / "pipelines" / "linked.py").symlink_to(outside)
    (root / "pipelines" / "real.py").write_text("def training_pipeline(model_name):\n    pass\n")
    escaped = list(pipeline_problems(0, Pipeline("p", "pipelines/linked.py", "training_pipeline"), root))
    assert len(escaped) == 1 and "expected a file inside the repository's pipelines/ folder" in escaped[0].message
    assert str(outside) in escaped[0].message
    assert list(pipeline_problems(0, Pipeline("p", "pipelines/real.py", "training_pipeline"), root)) == []


def test_schedule_parameters_must_be_parameters_of_the_pipeline(tmp_path):
    pipeline = training()
    pipeline["schedules"][0]["parameters"] = {"model_name": "m", "gpu_pool": "t4-dev"}
    message = rejected(write_spec(tmp_path, pipeline))
    assert "$.pipelines[0].schedules[0].parameters.gpu_pool: unknown parameter 'gpu_pool'" in message


def test_required_parameters_must_be_given(tmp_path):
    pipeline = training()
    pipeline["schedules"][0]["parameters"] = {"min_accuracy": 0.9}
    message = rejected(write_spec(tmp_path, pipeline))
    assert "$.pipelines[0].schedules[0].parameters: missing required parameter ['model_name']" in message


def test_gpu_pool_must_exist(tmp_path):
    message = rejected(write_spec(tmp_path, training(gpu={"pool": "a100-training"})))
    assert "$.pipelines[0].gpu.pool: unknown node pool 'a100-training'" in message


def test_kubeflow_on_aws_needs_an_artifact_bucket():
    from environments.checks import pipeline_references
    from environments import loader
    import dataclasses

    spec = loader.load("dev")
    without_bucket = dataclasses.replace(spec, kubeflow=dataclasses.replace(spec.kubeflow, artifact_bucket=None))
    problems = list(pipeline_references(without_bucket))
    assert [p.path for p in problems] == [("kubeflow",)] and "artifactBucket" in problems[0].message


def test_a_function_that_is_not_a_pipeline_fails_the_plan_with_exit_2(tmp_path):
    spec = write_spec(tmp_path, training(function="validate_data", schedules=[]))
    assert run_cli("validate", str(spec)).returncode == 0  # the function exists; only kfp can tell the rest
    message = rejected(spec, "plan")
    assert "pipeline does not compile: pipelines/training.py:" in message
    assert "validate_data: expected a @dsl.pipeline function, found a kfp component" in message
    assert "pipelines[0] 'train-recsys'" in message


def test_schedule_names_are_unique_within_a_pipeline():
    pipeline = Pipeline("p", "pipelines/training.py", "training_pipeline", schedules=(
        Schedule("nightly", "0 2 * * *", {"model_name": "m"}), Schedule("nightly", "0 3 * * *", {"model_name": "m"})))
    problems = list(pipeline_problems(0, pipeline, REPO))
    assert [p.path for p in problems] == [("pipelines", 0, "schedules", 1, "name")]
