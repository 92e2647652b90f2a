"""The levers that make a plan fast keep it the same plan: light kserve models, the collector policy
while recording, cached kfp compiles, kfp's caller lookup, the label-selector index of the policy rules."""

from __future__ import annotations

import gc
import random
import subprocess
import sys
from pathlib import Path

import pytest

from environments import collector
from pipelines import compile as pipeline_compile
from policies.rules.kube import SelectorIndex, selector_matches
from stacks import offline
from conftest import REPO


def test_kserve_and_kubernetes_models_load_alone_and_both_packages_still_import_whole():
    script = (
        "import sys\n"
        "from components.kserve_models import from_wire, kubernetes_models, make, sdk, to_wire\n"
        "spec = make(sdk().V1beta1ModelFormat, (), name='sklearn')\n"
        "meta = make(kubernetes_models().V1ObjectMeta, (), name='m', labels={'a': 'b'})\n"
        "toleration = from_wire('V1Toleration', {'key': 'gpu', 'effect': 'NoSchedule'})\n"
        "assert to_wire(spec) == {'name': 'sklearn'} and to_wire(meta) == {'name': 'm', 'labels': {'a': 'b'}}\n"
        "assert to_wire(toleration) == {'key': 'gpu', 'effect': 'NoSchedule'}\n"
        "heavy = sorted({'fastapi', 'pandas', 'pyarrow', 'kubernetes.config', 'google.auth'} & set(sys.modules))\n"
        "assert not heavy, heavy\n"
        "import kserve, kubernetes\n"  # the real packages, whole, after the light loads
        "assert kserve.Model and kserve.models.V1beta1InferenceService and 'fastapi' in sys.modules\n"
        "assert kubernetes.config.load_kube_config and kubernetes.client.CoreV1Api\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert result.returncode == 0, result.stderr


def test_the_collector_is_relaxed_while_recording_and_restored_after():
    seen = {}

    def program():
        seen["threshold"] = gc.get_threshold()[0]
        seen["frozen"] = gc.get_freeze_count()

    before = gc.get_threshold()
    offline.record("dev", {}, program=program)
    assert seen["threshold"] == collector.GROWING_HEAP_THRESHOLD and seen["frozen"] > 0
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0

    def failing():
        raise RuntimeError("boom")

    with pytest.raises(Exception):
        offline.record("dev", {}, program=failing)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


@pytest.fixture
def pipeline_file(tmp_path, monkeypatch) -> Path:
    """A copy of pipelines/drift.py outside the package, with a fresh cache folder."""
    monkeypatch.setenv("STACKYARD_CACHE_DIR", str(tmp_path / "cache"))
    copy = tmp_path / "drift_copy.py"
    copy.write_text((REPO / "pipelines" / "drift.py").read_text())
    return copy


def test_a_compile_is_reused_only_while_the_pipeline_and_what_it_imports_are_unchanged(pipeline_file, monkeypatch):
    first = pipeline_compile.compile_pipeline(pipeline_file, "drift_pipeline")

    def no_compile(*args, **kwargs):
        raise AssertionError("compiled again")

    with monkeypatch.context() as patch:
        patch.setattr(pipeline_compile, "_compile", no_compile)
        again = pipeline_compile.compile_pipeline(pipeline_file, "drift_pipeline", name="renamed")
    assert (again.ir_yaml, again.version, again.parameters) == (first.ir_yaml, first.version, first.parameters)
    assert again.name == "renamed"

    # The pipeline's own bytes are part of the key: a changed default compiles again, to other IR.
    pipeline_file.write_text(pipeline_file.read_text().replace("threshold: float = 0.2", "threshold: float = 0.3"))
    changed = pipeline_compile.compile_pipeline(pipeline_file, "drift_pipeline")
    assert changed.version != first.version


def test_the_cache_key_covers_every_repository_module_a_pipeline_imports():
    modules = {str(p.relative_to(REPO)) for p in pipeline_compile.local_modules(REPO / "pipelines" / "training.py")}
    # training.py imports pipelines.platform, which imports environments.gpu_scheduling.
    assert {"pipelines/training.py", "pipelines/platform.py", "environments/gpu_scheduling.py"} <= modules
    assert all(not name.startswith(("kfp", "mlflow")) for name in modules)


def test_kfp_compiles_without_calling_inspect_stack(pipeline_file, monkeypatch):
    import inspect

    from kfp.dsl import pipeline_task

    monkeypatch.setenv("STACKYARD_CACHE_DIR", "off")

    def forbidden(*args, **kwargs):
        raise AssertionError("inspect.stack() called")

    monkeypatch.setattr(inspect, "stack", forbidden)
    compiled = pipeline_compile.compile_pipeline(REPO / "pipelines" / "training.py", "training_pipeline",
                                                 gpu_pool="gpu-a100")
    assert compiled.ir_yaml and pipeline_task.inspect is inspect


@pytest.mark.parametrize("seed", range(3))
def test_the_selector_index_finds_exactly_what_checking_every_selector_finds(seed):
    rng = random.Random(seed)
    keys, values = ["app", "team", "tier", "serving.kserve.io/inferenceservice"], ["a", "b", "c", "d"]

    def selector() -> dict:
        match_labels = {key: rng.choice(values) for key in rng.sample(keys, rng.randint(0, 3))}
        expressions = [{"key": rng.choice(keys), "operator": rng.choice(["In", "NotIn", "Exists", "DoesNotExist"]),
                        "values": rng.sample(values, 2)} for _ in range(rng.randint(0, 2))]
        return {"matchLabels": match_labels, "matchExpressions": expressions}

    entries = [(f"object-{i}", selector()) for i in range(60)]
    index = SelectorIndex(entries)
    for _ in range(200):
        labels = {key: rng.choice(values) for key in rng.sample(keys, rng.randint(0, 4))}
        assert index.matching(labels) == [name for name, sel in entries if selector_matches(sel, labels)]


def test_bucket_settings_are_found_by_dependency_or_by_name_as_before():
    from policies.rules.aws import settings_of_buckets
    from policies.rules.model import Resource

    rng = random.Random(7)
    names = ["models", "features", "artifacts", "[unknown]", ""]

    def bucket(i: int) -> Resource:
        return Resource.from_plan_entry({"urn": f"urn:bucket-{i}", "type": "aws:s3/bucketV2:BucketV2", "name": f"b{i}",
                                         "inputs": {"bucket": rng.choice(names), "id": rng.choice([None, *names])},
                                         "dependencies": []})

    buckets = [bucket(i) for i in range(12)]
    settings = [Resource.from_plan_entry({
        "urn": f"urn:setting-{i}", "type": "aws:s3/bucketVersioningV2:BucketVersioningV2", "name": f"s{i}",
        "inputs": {"bucket": rng.choice([*names, 3, None])},
        "dependencies": rng.sample([b.urn for b in buckets], rng.randint(0, 2))}) for i in range(40)]

    def configures(setting: Resource, target: Resource) -> bool:  # the rule's meaning, one pair at a time
        wanted = {target.inputs.get("bucket"), target.inputs.get("id")} - {None, "", "[unknown]"}
        return target.urn in setting.dependencies or (isinstance(setting.inputs["bucket"], str)
                                                      and setting.inputs["bucket"] in wanted)

    of = settings_of_buckets(settings)
    for target in buckets:
        assert of(target) == [s for s in settings if configures(s, target)]


def test_monitor_calls_are_answered_in_the_recording_thread(monkeypatch):
    import threading

    import pulumi

    answered_in, made = set(), offline._make_mocks

    def watched_mocks():
        mocks = made()
        new_resource = mocks.new_resource

        def recording(args):
            answered_in.add(threading.get_ident())
            return new_resource(args)

        mocks.new_resource = recording
        return mocks

    monkeypatch.setattr(offline, "_make_mocks", watched_mocks)
    threads = threading.active_count()
    recorded = offline.record("dev", {}, program=lambda: [
        pulumi.CustomResource("test:index:Thing", f"thing-{i}", {"i": i}) for i in range(20)])
    assert len(recorded) == 20 and answered_in == {threading.get_ident()}
    assert threading.active_count() == threads  # no worker thread was started


def test_a_monitor_call_that_fails_fails_the_recording():
    # In a fresh interpreter: after a failed registration the SDK keeps that run's tasks in its
    # process-wide settings, and the next recording in the process would wait on them.
    script = (
        "import pulumi\n"
        "from stacks import offline\n"
        "made = offline._make_mocks\n"
        "def refusing():\n"
        "    mocks = made()\n"
        "    def new_resource(args):\n"
        "        raise ValueError('the mock refuses ' + args.name)\n"
        "    mocks.new_resource = new_resource\n"
        "    return mocks\n"
        "offline._make_mocks = refusing\n"
        "offline.record('dev', {}, program=lambda: pulumi.CustomResource('test:index:Thing', 'this-one', {}))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 1 and "ValueError: the mock refuses this-one" in done.stderr, done.stderr
