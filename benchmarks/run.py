"""Benchmarks: plan, audit and start-up measured against their floors and a peer.

For each size (endpoints; GPU pools, teams and pipelines grow in proportion) the
script generates a valid environment (spec + registry lock, extending the shipped
base.yaml) in a temporary folder and measures, as medians of several runs:

- plan: `stackyard plan` in-process (load, lock check, compile, build) against
  the floor, a bare Pulumi program that registers the very same resources (types,
  names, parents, providers, dependencies, inputs, from the plan) under the same
  mock runtime (stacks/offline.record);
- memory: peak RSS of `stackyard plan ENV --out DIR` in a child process;
- audit: resource-rule evaluations per second of the engine over the plan, and
  `stackyard audit --manifests DIR` against `checkov -d DIR --framework kubernetes`
  on the same rendered manifests (checkov from PyPI in its own virtualenv);
- start-up: benchmarks/startup.py.

Writes benchmarks/results/benchmarks.{md,json} and prints the table.
Run: `python benchmarks/run.py [--quick] [--sizes 10,100] [--runs N] [--no-checkov]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import startup  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
FULL_SIZES = (10, 100, 1000)
QUICK_SIZES = (10, 100)
CHECKOV_VENV = Path(tempfile.gettempdir()) / "stackyard-bench-checkov"
TRACKING_URI = "https://mlflow.example.com"
_FORMATS = (("sklearn", "sklearnserver"), ("xgboost", "xgbserver"),
            ("onnx", "tritonserver"), ("huggingface", "huggingfaceserver"))


# --- generated environments ---------------------------------------------------

def environment_document(size: int) -> dict:
    """A prod-like environment with `size` endpoints, one GPU pool and one team per ten
    endpoints, one pipeline per five (training on the GPU pools, drift checks)."""
    groups = max(1, size // 10)
    pools = [{"name": f"gpu-{i}", "provisioner": "managed", "instanceTypes": ["g5.xlarge", "g5.2xlarge"],
              "capacityType": "on-demand", "minSize": 0, "maxSize": 8, "desiredSize": 1, "diskSizeGib": 200,
              "ami": {"type": "AL2023_x86_64_NVIDIA", "releaseVersion": "1.33.0-20250519"}}
             for i in range(groups)]
    teams = [{"name": f"team-{i}", "owner": f"team-{i}@example.com", "gpuQuota": 64} for i in range(groups)]
    endpoints = []
    for i in range(size):
        model_format, runtime = _FORMATS[i % len(_FORMATS)]
        endpoint = {
            "name": f"ep-{i:04d}", "team": f"team-{i % groups}",
            "model": {"name": f"model-{i:04d}", "version": 1 + i % 5},
            "format": model_format, "runtime": runtime,
            "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
            "replicas": {"min": 2, "max": 6},
            "slo": {"availability": 99.5, "latencyP99Ms": 300},
        }
        if runtime in ("tritonserver", "huggingfaceserver"):
            endpoint["gpu"] = {"pool": f"gpu-{i % groups}", "count": 1}
        if i % 2 == 0:
            endpoint["drift"] = {"enabled": True, "threshold": 0.15}
        endpoints.append(endpoint)
    pipelines = []
    for i in range(max(2, size // 5)):
        team = f"team-{i % groups}"
        if i % 2 == 0:
            pipelines.append({"name": f"train-{i:04d}", "team": team, "source": "pipelines/training.py",
                              "function": "training_pipeline", "gpu": {"pool": f"gpu-{i % groups}", "count": 1},
                              "schedules": [{"name": "nightly", "cron": f"{i % 60} 2 * * *",
                                             "parameters": {"model_name": f"model-{i:04d}", "min_accuracy": 0.8}}]})
        else:
            pipelines.append({"name": f"drift-{i:04d}", "team": team, "source": "pipelines/drift.py",
                              "function": "drift_pipeline",
                              "schedules": [{"name": "hourly", "cron": f"{i % 60} * * * *",
                                             "parameters": {"endpoint": f"ep-{i % size:04d}", "threshold": 0.15}}]})
    return {
        "apiVersion": "stackyard.dev/v1", "kind": "Environment", "extends": "base",
        "metadata": {"name": f"bench-{size}", "owner": "ml-platform@example.com", "costCenter": "cc-4100"},
        "cloud": {"provider": "aws", "region": "us-east-1", "accountId": "123456789012"},
        "cluster": {"type": "eks", "name": f"stackyard-bench-{size}"},
        "nodePools": pools, "teams": teams,
        "serving": {"domain": "ml.example.com",
                    "registry": {"trackingUri": TRACKING_URI, "token": {"config": "mlflowToken"}}},
        "endpoints": endpoints,
        "kubeflow": {"artifactBucket": f"stackyard-bench-{size}-pipeline-artifacts"},
        "pipelines": pipelines,
        "policy": {"enforcement": "mandatory", "maxGpusPerPod": 8},
    }


def generate(size: int, directory: Path) -> Path:
    """Write bench-SIZE.yaml (extending a copy of base.yaml) and its registry lock into `directory`."""
    import yaml

    from environments import loader
    from environments.spec import MODEL_CARD_TAG, ResolvedModel
    from stacks import registry_lock

    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(loader.ENVIRONMENTS_DIR / "base.yaml", directory / "base.yaml")
    spec_file = directory / f"bench-{size}.yaml"
    spec_file.write_text(yaml.safe_dump(environment_document(size), sort_keys=False))
    spec = loader.load(str(spec_file))
    entries = tuple(registry_lock.LockEntry(endpoint.name, endpoint.model, ResolvedModel(
        name=endpoint.model.name, version=endpoint.model.version, run_id=f"{index:032x}",
        resolved_at="2026-01-01T00:00:00Z",
        source=f"s3://stackyard-bench-models/{endpoint.model.name}/{endpoint.model.version}/artifacts",
        tags={MODEL_CARD_TAG: f"https://cards.example.com/{endpoint.model.name}/{endpoint.model.version}"}))
        for index, endpoint in enumerate(spec.endpoints))
    lock = registry_lock.RegistryLock(spec.name, TRACKING_URI, entries)
    registry_lock.lock_path(spec_file).write_text(registry_lock.to_yaml(lock, "stackyard lock"))
    return spec_file


# --- plan against the bare floor ------------------------------------------------

def plan_once(spec_file: Path) -> dict:
    """What `stackyard plan SPEC` does in-process: load and check the spec and lock, build the plan."""
    from stacks import plan as offline_plan
    from stacks.commands.common import check_registry_lock, load_spec

    spec, resolved = load_spec(str(spec_file))
    check_registry_lock(spec, resolved)
    plan = offline_plan.build(spec, resolved)
    offline_plan.render_summary(plan)
    return plan


def bare_program(plan: dict) -> Callable[[], None]:
    """A Pulumi program that registers exactly the plan's resources, parents before children."""
    import pulumi

    entries = {entry["urn"]: entry for entry in plan["resources"]}

    def program() -> None:
        created: dict[str, pulumi.Resource] = {}

        def create(urn: str) -> pulumi.Resource:
            if urn in created:
                return created[urn]
            entry = entries[urn]
            parent = create(entry["parent"]) if entry["parent"] in entries else None
            provider = create(entry["provider"]) if entry["provider"] in entries else None
            depends_on = [create(dependency) for dependency in entry["dependencies"] if dependency in entries]
            opts = pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=depends_on,
                                          protect=entry["protect"])
            type_ = entry["type"]
            if type_.startswith("pulumi:providers:"):
                resource = pulumi.ProviderResource(type_.split(":")[-1], entry["name"], entry["inputs"], opts)
            elif type_.startswith("stackyard:"):
                resource = pulumi.ComponentResource(type_, entry["name"], entry["inputs"], opts)
            else:
                resource = pulumi.CustomResource(type_, entry["name"], entry["inputs"], opts)
            created[urn] = resource
            return resource

        for urn in entries:
            create(urn)

    return program


def floor_once(plan: dict) -> list:
    from stacks import offline

    return offline.record(plan["environment"], {}, program=bare_program(plan))


def median_seconds(action: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def peak_rss_mib(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB) of `command` run as a child process."""
    # stderr goes to a file, not a pipe: nobody reads a pipe while wait4 waits, and a full one would block.
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        child = subprocess.Popen(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                                 stdout=subprocess.DEVNULL, stderr=errors)
        _pid, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        if child.returncode != 0:
            errors.seek(0)
            raise RuntimeError(f"{' '.join(command)} failed: {errors.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


# --- audit ----------------------------------------------------------------------

def audit_throughput(spec_file: Path, plan: dict, runs: int) -> tuple[int, float]:
    """(resource-rule evaluations, median seconds) of the rule engine over the plan."""
    from environments import loader
    from policies import engine
    from policies.environment import context_from_spec, levels_from_spec
    from policies.rules import RULES
    from policies.rules.model import RESOURCE_SCOPE, Resource

    spec = loader.load(str(spec_file))
    context, levels = context_from_spec(spec, spec_file), levels_from_spec(spec)
    resources = [Resource.from_plan_entry(entry) for entry in plan["resources"]]
    resource_rules = [rule for rule in RULES if rule.scope == RESOURCE_SCOPE and levels.of(rule) != engine.DISABLED]
    evaluations = len(resource_rules) * len(resources)
    return evaluations, median_seconds(lambda: engine.evaluate(resources, context, levels), runs)


def checkov_executable(venv_dir: Path = CHECKOV_VENV) -> tuple[Optional[Path], str]:
    """checkov in its own virtualenv (created and pip-installed on first use); (None, why) if that fails."""
    executable = venv_dir / "bin" / "checkov"
    if not executable.exists():
        try:
            venv.create(venv_dir, with_pip=True, clear=True)
            subprocess.run([str(venv_dir / "bin" / "pip"), "install", "-q", "checkov"], check=True,
                           capture_output=True, timeout=900)
        except (OSError, subprocess.SubprocessError) as error:
            return None, f"checkov could not be installed: {type(error).__name__}"
    version = subprocess.run([str(executable), "--version"], capture_output=True, text=True).stdout.strip()
    return executable, version


def manifests_wall(manifests: Path, runs: int, checkov: Optional[Path]) -> tuple[float, Optional[float]]:
    """Median wall seconds of `stackyard audit --manifests DIR` and of checkov on the same folder."""
    def run(command: list[str]) -> None:
        # Both exit non-zero when a rule fails: only a crash (no report) is an error here.
        done = subprocess.run(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if done.returncode not in (0, 1, 3) or not done.stdout:
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.decode()[-500:]}")

    ours = median_seconds(lambda: run([sys.executable, "-m", "stacks.cli", "audit", "--manifests",
                                       str(manifests)]), runs)
    if checkov is None:
        return ours, None
    theirs = median_seconds(lambda: run([str(checkov), "-d", str(manifests), "--framework", "kubernetes",
                                         "--quiet", "--compact"]), runs)
    return ours, theirs


# --- the run ----------------------------------------------------------------------

@dataclass
class SizeResult:
    endpoints: int
    resources: int
    manifests: int
    plan_seconds: float
    floor_seconds: float
    plan_ratio: float
    plan_ms_per_resource: float
    floor_ms_per_resource: float
    plan_cli_seconds: float
    plan_peak_rss_mib: float
    rule_evaluations: int
    evaluations_per_second: float
    audit_manifests_seconds: float
    checkov_seconds: Optional[float]
    checkov_ratio: Optional[float]


def measure_size(size: int, workdir: Path, runs: int, checkov: Optional[Path]) -> SizeResult:
    spec_file = generate(size, workdir / f"size-{size}")
    plan = plan_once(spec_file)
    recorded = floor_once(plan)
    if [r.urn for r in recorded] != [entry["urn"] for entry in plan["resources"]]:
        raise RuntimeError(f"size {size}: the bare program did not register the plan's resources")
    plan_seconds = median_seconds(lambda: plan_once(spec_file), runs)
    floor_seconds = median_seconds(lambda: floor_once(plan), runs)
    out = workdir / f"plan-{size}"
    cli_seconds, rss = peak_rss_mib([sys.executable, "-m", "stacks.cli", "plan", str(spec_file), "--out", str(out)])
    evaluations, audit_seconds = audit_throughput(spec_file, plan, runs)
    manifests = out / "manifests"
    ours, theirs = manifests_wall(manifests, runs, checkov)
    count = len(plan["resources"])
    return SizeResult(
        endpoints=size, resources=count, manifests=sum(1 for p in manifests.rglob("*.yaml")),
        plan_seconds=plan_seconds, floor_seconds=floor_seconds, plan_ratio=plan_seconds / floor_seconds,
        plan_ms_per_resource=1000 * plan_seconds / count, floor_ms_per_resource=1000 * floor_seconds / count,
        plan_cli_seconds=cli_seconds, plan_peak_rss_mib=rss, rule_evaluations=evaluations,
        evaluations_per_second=evaluations / audit_seconds, audit_manifests_seconds=ours,
        checkov_seconds=theirs, checkov_ratio=theirs / ours if theirs else None)


def markdown(results: list[SizeResult], start_up: dict[str, float], meta: dict) -> str:
    lines = [f"Run {meta['date']} on {meta['machine']}, Python {meta['python']}, mode {meta['mode']}, "
             f"median of {meta['runs']} runs, {meta['duration_seconds']:.0f} s in all.", "",
             "| endpoints | resources | plan (s) | bare floor (s) | plan / floor | plan ms/resource "
             "| floor ms/resource | `plan --out` CLI (s) | plan peak RSS (MiB) | rule evaluations/s "
             "| `audit --manifests` (s) | checkov (s) | checkov / audit |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        checkov = f"{r.checkov_seconds:.2f}" if r.checkov_seconds is not None else "n/a"
        ratio = f"{r.checkov_ratio:.1f}x" if r.checkov_ratio is not None else "n/a"
        lines.append(f"| {r.endpoints} | {r.resources} | {r.plan_seconds:.2f} | {r.floor_seconds:.2f} "
                     f"| {r.plan_ratio:.2f}x | {r.plan_ms_per_resource:.2f} | {r.floor_ms_per_resource:.2f} "
                     f"| {r.plan_cli_seconds:.2f} | {r.plan_peak_rss_mib:.0f} | {r.evaluations_per_second:,.0f} "
                     f"| {r.audit_manifests_seconds:.2f} | {checkov} | {ratio} |")
    lines += ["", "| start-up | median wall time (s) |", "|---|---:|"]
    lines += [f"| `{name}` | {seconds:.3f} |" for name, seconds in start_up.items()]
    if meta.get("checkov"):
        lines += ["", f"checkov: {meta['checkov']}"]
    return "\n".join(lines) + "\n"


def run(sizes: tuple[int, ...], runs: int, use_checkov: bool, mode: str,
        results_dir: Path = RESULTS, startup_runs: int = 5) -> dict:
    began = time.perf_counter()
    checkov, checkov_note = checkov_executable() if use_checkov else (None, "not run (--no-checkov)")
    with tempfile.TemporaryDirectory(prefix="stackyard-bench-") as scratch:
        results = [measure_size(size, Path(scratch), runs, checkov) for size in sizes]
    start_up = startup.measure(startup_runs)
    meta = {"date": time.strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()} cores, {platform.machine()}",
            "python": platform.python_version(), "mode": mode, "runs": runs, "checkov": checkov_note,
            "duration_seconds": time.perf_counter() - began}
    table = markdown(results, start_up, meta)
    document = {"meta": meta, "sizes": [asdict(r) for r in results], "startup": start_up}
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "benchmarks.md").write_text(table)
    (results_dir / "benchmarks.json").write_text(json.dumps(document, indent=2) + "\n")
    return {**document, "markdown": table}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}, fewer runs")
    parser.add_argument("--sizes", help="comma-separated endpoint counts (default 10,100,1000)")
    parser.add_argument("--runs", type=int, help="repetitions per measurement (default 5, quick 3)")
    parser.add_argument("--no-checkov", action="store_true", help="skip the checkov comparison")
    args = parser.parse_args()
    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else (QUICK_SIZES if args.quick else FULL_SIZES)
    runs = args.runs or (3 if args.quick else 5)
    document = run(sizes, runs, not args.no_checkov, "quick" if args.quick else "full",
                   startup_runs=3 if args.quick else 7)
    print(document["markdown"], end="")


if __name__ == "__main__":
    main()
