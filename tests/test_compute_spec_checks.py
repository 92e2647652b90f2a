"""Specs that would give GPU pools nobody can use are rejected by `stackyard validate` (exit 2),
each with one located message: file:line:column, JSON path, expected vs found."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from conftest import REPO, run_cli

GOOD_POOL = """\
  - name: a10g
    provisioner: managed
    instanceTypes: [g5.xlarge]
    maxSize: 2
    ami: {type: AL2023_x86_64_NVIDIA, releaseVersion: 1.33.0-20250519}
"""


def write_spec(tmp_path: Path, body: str) -> Path:
    """A spec extending the shipped base, with the YAML `body` appended; returns its path."""
    shutil.copy(REPO / "environments" / "base.yaml", tmp_path / "base.yaml")
    spec = tmp_path / "bad.yaml"
    spec.write_text(textwrap.dedent("""\
        apiVersion: stackyard.dev/v1
        kind: Environment
        extends: base
        metadata: {name: bad, owner: ml@example.com, costCenter: cc-1}
        kubeflow: {artifactBucket: stackyard-bad-pipeline-artifacts}
        """) + body)
    return spec


def line_of(path: Path, text: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")


def assert_rejected(spec: Path, marker: str, json_path: str, message: str, located_in: Path | None = None) -> None:
    """`validate spec` exits 2 with an error at the line of `marker` (in `located_in`, default the spec)."""
    result = run_cli("validate", str(spec))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    where = located_in or spec
    expected = f"{where}:{line_of(where, marker)}:"
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert any(expected in line and f"{json_path}:" in line and message in line for line in errors), result.stderr


def test_the_good_pool_is_accepted(tmp_path):
    spec = write_spec(tmp_path, "nodePools:\n" + GOOD_POOL)
    result = run_cli("validate", str(spec))
    assert result.returncode == 0, result.stderr


def test_non_gpu_instance_type(tmp_path):
    spec = write_spec(tmp_path, "nodePools:\n" + GOOD_POOL.replace("[g5.xlarge]", "[g5.xlarge, m5.xlarge]"))
    assert_rejected(spec, "m5.xlarge", "$.nodePools[0].instanceTypes[1]",
                    "expected an NVIDIA GPU instance type (families g4dn, g5, g6, g6e, p4d, p5), found 'm5.xlarge'")


def test_misspelled_gpu_instance_type_gets_a_suggestion(tmp_path):
    spec = write_spec(tmp_path, "nodePools:\n" + GOOD_POOL.replace("[g5.xlarge]", "[g5.xlarg]"))
    assert_rejected(spec, "g5.xlarg", "$.nodePools[0].instanceTypes[0]", "did you mean 'g5.xlarge'?")


def test_min_greater_than_max(tmp_path):
    spec = write_spec(tmp_path, "nodePools:\n" + GOOD_POOL + "    minSize: 3\n")
    assert_rejected(spec, "minSize: 3", "$.nodePools[0].minSize", "expected minSize <= maxSize (2), found 3")


def test_endpoint_on_an_unknown_pool(tmp_path):
    spec = write_spec(tmp_path, "nodePools:\n" + GOOD_POOL + textwrap.dedent("""\
        endpoints:
          - name: tagger
            team: vision
            model: {name: tagger, version: 1}
            format: onnx
            runtime: kserve-tritonserver
            gpu: {pool: a100, count: 1}
        """))
    assert_rejected(spec, "pool: a100", "$.endpoints[0].gpu.pool", "unknown node pool 'a100'; did you mean 'a10g'?")


def test_endpoint_asking_for_more_gpus_than_a_node_has(tmp_path):
    spec = write_spec(tmp_path, "nodePools:\n" + GOOD_POOL + textwrap.dedent("""\
        endpoints:
          - name: tagger
            team: vision
            model: {name: tagger, version: 1}
            format: onnx
            runtime: kserve-tritonserver
            gpu:
              pool: a10g
              count: 2
        """))
    assert_rejected(spec, "count: 2", "$.endpoints[0].gpu.count",
                    "expected at most 1 GPU (the most one node of pool 'a10g' has), found 2")


def test_pipeline_on_an_unknown_pool(tmp_path):
    spec = write_spec(tmp_path, "nodePools:\n" + GOOD_POOL + textwrap.dedent("""\
        pipelines:
          - name: train
            source: pipelines/training.py
            function: training_pipeline
            gpu: {pool: h100-training}
        """))
    assert_rejected(spec, "gpu: {pool: h100-training}", "$.pipelines[0].gpu.pool",
                    "unknown node pool 'h100-training'")


def test_karpenter_pool_without_gpu_limit(tmp_path):
    spec = write_spec(tmp_path, "nodePools:\n" + GOOD_POOL.replace("provisioner: managed", "provisioner: karpenter"))
    assert_rejected(spec, "- name: a10g", "$.nodePools[0].gpuLimit", "a Karpenter GPU pool needs gpuLimit")


def test_karpenter_gpu_limit_below_one_node(tmp_path):
    pool = GOOD_POOL.replace("provisioner: managed", "provisioner: karpenter").replace("g5.xlarge", "p4d.24xlarge")
    spec = write_spec(tmp_path, "nodePools:\n" + pool + "    gpuLimit: 4\n")
    assert_rejected(spec, "gpuLimit: 4", "$.nodePools[0].gpuLimit", "expected gpuLimit >= 8")


def test_pool_without_a_pinned_ami(tmp_path):
    pool = "".join(line for line in GOOD_POOL.splitlines(keepends=True) if "ami:" not in line)
    spec = write_spec(tmp_path, "nodePools:\n" + pool)
    assert_rejected(spec, "- name: a10g", "$.nodePools[0]", "missing required field 'ami'")


def test_latest_ami_is_not_a_pinned_release(tmp_path):
    spec = write_spec(tmp_path, "nodePools:\n" + GOOD_POOL.replace("1.33.0-20250519", "latest"))
    assert_rejected(spec, "latest", "$.nodePools[0].ami.releaseVersion", "found string 'latest'")


def test_ami_release_for_another_kubernetes_version(tmp_path):
    spec = write_spec(tmp_path, "nodePools:\n" + GOOD_POOL.replace("1.33.0-20250519", "1.32.3-20250519"))
    assert_rejected(spec, "1.32.3-20250519", "$.nodePools[0].ami.releaseVersion",
                    "expected an AMI release for Kubernetes 1.33 (versions.kubernetes), found '1.32.3-20250519'")


def test_one_gpu_model_per_pool(tmp_path):
    spec = write_spec(tmp_path, "nodePools:\n" + GOOD_POOL.replace("[g5.xlarge]", "[g5.xlarge, g6.xlarge]"))
    assert_rejected(spec, "g6.xlarge", "$.nodePools[0].instanceTypes",
                    "expected one GPU model per pool (its nodes carry one accelerator label), "
                    "found g5.xlarge (A10G), g6.xlarge (L4)")


def test_managed_pool_needs_one_gpu_count_per_node(tmp_path):
    spec = write_spec(tmp_path, "nodePools:\n" + GOOD_POOL.replace("[g5.xlarge]", "[g5.xlarge, g5.12xlarge]"))
    assert_rejected(spec, "g5.12xlarge", "$.nodePools[0].instanceTypes",
                    "found g5.xlarge (1), g5.12xlarge (4)")


def test_team_named_like_a_platform_namespace(tmp_path):
    spec = write_spec(tmp_path, textwrap.dedent("""\
        teams:
          - name: monitoring
            owner: someone@example.com
        """))
    assert_rejected(spec, "name: monitoring", "$.teams[3].name", "team namespace 'monitoring' is the monitoring namespace")


def test_gpu_pool_on_an_existing_cluster(tmp_path):
    spec = tmp_path / "existing.yaml"
    local = (REPO / "environments" / "local.yaml").read_text()
    spec.write_text(local + "nodePools:\n" + GOOD_POOL)
    assert_rejected(spec, "- name: a10g", "$.nodePools[0]", "GPU node pools need `cluster.type: eks`")


@pytest.mark.parametrize("key", ["karpenter", "clusterAutoscaler", "nvidiaDevicePlugin", "dcgmExporter"])
def test_component_versions_must_be_pinned(tmp_path, key):
    base = tmp_path / "base.yaml"
    pools = "nodePools:\n" + GOOD_POOL + GOOD_POOL.replace("a10g", "a100").replace(
        "provisioner: managed", "provisioner: karpenter").replace("maxSize: 2", "maxSize: 2\n    gpuLimit: 4")
    spec = write_spec(tmp_path, pools)
    base.write_text("".join(line for line in base.read_text().splitlines(keepends=True)
                            if not line.strip().startswith(f"{key}:")))
    assert_rejected(spec, "versions:", "$.versions", f"missing required field {key!r}", located_in=base)


def test_pipeline_asking_for_more_gpus_than_a_node_has(tmp_path):
    spec = write_spec(tmp_path, "nodePools:\n" + GOOD_POOL + textwrap.dedent("""\
        pipelines:
          - name: train
            source: pipelines/training.py
            function: training_pipeline
            gpu: {pool: a10g, count: 4}
        """))
    assert_rejected(spec, "gpu: {pool: a10g, count: 4}", "$.pipelines[0].gpu.count",
                    "expected at most 1 GPU (the most one node of pool 'a10g' has), found 4")
