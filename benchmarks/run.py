"""Benchmarks: the goals of issue 22 measured, every comparison interleaved.

For each size (endpoints; GPU pools, teams and pipelines grow in proportion) the
script generates a valid environment (spec + registry lock, extending the shipped
base.yaml) in a temporary folder. Every comparison alternates its two sides
(A B A B ...) over several rounds, so that a shared machine slowing down or
speeding up during the run moves both sides alike; each figure is the median of
its rounds, with the spread (lowest and highest) beside it.

- plan against its floor, in-process: `stackyard plan SPEC --out DIR` (load and
  check the spec and lock, compile, run the program under the mock runtime,
  write plan.json and manifests/ atomically) against the floor, a bare Pulumi
  program that registers the very same resources under the same mock runtime
  (stacks/offline.record) and writes the same bytes with the cheapest writer
  (json.dumps and libyaml's emitter into plain files; checked byte for byte);
- a cold `stackyard plan SPEC --out DIR` in a child process: CPU time per
  resource and peak RSS (benchmarks/measure_child.py). With --quick the 1000-endpoint size has one
  round, and that round's pair is two cold child processes (the plan, giving
  CPU and RSS too, then the floor reading the plan back from its plan.json);
- `stackyard audit --manifests DIR` against `checkov -d DIR --framework kubernetes`
  on the same manifests (checkov pip-installed into its own virtualenv);
- `stackyard plan prod` wall time, and the pull-request review of the three
  shipped environments (`stackyard review dev staging prod --parity staging:prod
  --base HEAD`) with an empty cache (what CI sees) and with a warm one;
- start-up: benchmarks/startup.py.

`--profile` adds the phase breakdown of one cold plan per size (imports, spec and
lock, compile, program, engine, writing, audit), measured in a child process.

Writes benchmarks/results/benchmarks.{md,json} and prints the goals table.
Run: `python benchmarks/run.py [--quick] [--sizes 10,100] [--rounds N] [--no-checkov] [--profile]`.
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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import startup  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
MEASURE_CHILD = REPO / "benchmarks" / "measure_child.py"
FULL_SIZES = (10, 100, 1000)
LARGE = 1000  # from this size on, --quick takes one round
CHECKOV_VENV = Path(tempfile.gettempdir()) / "stackyard-bench-checkov"
TRACKING_URI = "https://mlflow.example.com"
_FORMATS = (("sklearn", "sklearnserver"), ("xgboost", "xgbserver"),
            ("onnx", "tritonserver"), ("huggingface", "huggingfaceserver"))
REVIEW = ("review", "dev", "staging", "prod", "--parity", "staging:prod", "--base", "HEAD")
# The goals of issue 22: (measure, what it was, the goal).
GOALS = {
    "plan_prod": ("`stackyard plan prod` wall", "5.8 s", "< 2.5 s"),
    "review": ("PR review, three shipped environments (diff + audit + parity + report)", "~134 s", "< 30 s"),
    "plan_cpu_1000": ("plan per resource at 1000 endpoints (CPU)", "6.5 ms", "< 3 ms"),
    "rss_1000": ("plan at 1000 endpoints, peak RSS", "1.1 GB", "< 700 MB"),
    "plan_floor": ("plan / floor, interleaved, at 10, 100, 1000", "1.5-3.0x", "<= 1.3x at each"),
    "checkov": ("`audit --manifests` vs checkov, same manifests, at 10, 100, 1000", "7.6-14x", ">= 20x at each"),
}


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

def plan_once(spec_file: Path, out: Optional[Path] = None) -> dict:
    """What `stackyard plan SPEC [--out DIR]` does in-process."""
    from stacks import plan as offline_plan
    from stacks.commands.common import check_registry_lock, load_spec

    spec, resolved = load_spec(str(spec_file))
    models = check_registry_lock(spec, resolved)
    plan = offline_plan.build(spec, resolved, models)
    if out is not None:
        offline_plan.write(plan, out)
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


def floor_once(plan: dict, out: Optional[Path] = None) -> list:
    """The bare program recorded, and (with `out`) the plan's bytes written the cheapest way."""
    from stacks import offline
    from stacks import plan as offline_plan

    recorded = offline.record(plan["environment"], {}, program=bare_program(plan))
    if out is not None:
        document = {key: plan[key] for key in ("stackyard", "environment", "specDigest")}
        document["resources"] = [r.as_plan_entry() for r in recorded]
        out.mkdir(parents=True, exist_ok=True)
        (out / "plan.json").write_text(offline_plan.to_json(document), encoding="utf-8")
        for relative, text in offline_plan.manifests(document).items():
            path = out / "manifests" / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    return recorded


@dataclass
class Samples:
    """Repeated measurements of one quantity: median and spread."""

    values: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def text(self, unit: str = " s", digits: int = 2) -> str:
        """`median unit [lowest-highest]`, e.g. `1.21x [1.15-1.30]`."""
        low, high = min(self.values), max(self.values)
        if len(self.values) == 1:
            return f"{self.median:.{digits}f}{unit} (1 round)"
        return f"{self.median:.{digits}f}{unit} [{low:.{digits}f}-{high:.{digits}f}]"


def interleaved(first: Callable[[], object], second: Callable[[], object], rounds: int) -> tuple[Samples, Samples]:
    """Wall seconds of `first` and `second`, alternated A B A B ... over `rounds`."""
    a, b = Samples(), Samples()
    for _ in range(rounds):
        for action, samples in ((first, a), (second, b)):
            start = time.perf_counter()
            action()
            samples.values.append(time.perf_counter() - start)
    return a, b


def ratio_samples(a: Samples, b: Samples) -> Samples:
    """Per-round ratios a/b: each round's two sides ran back to back, under the same load."""
    return Samples([x / y for x, y in zip(a.values, b.values)])


def child_environment(extra: Optional[dict] = None) -> dict:
    """The environment of every measured child: this repository first on the path, and bytecode
    caching on (as for a user; a PYTHONDONTWRITEBYTECODE here would make every run compile the
    project's modules again)."""
    environ = {**os.environ, "PYTHONPATH": str(REPO), **(extra or {})}
    environ.pop("PYTHONDONTWRITEBYTECODE", None)
    return environ


def child_usage(command: list[str], env: Optional[dict] = None) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in MiB) of `command` run as a child process, measured by
    benchmarks/measure_child.py (a fresh small process: see there why)."""
    # stderr goes to a file, not a pipe: nobody reads a pipe while the child runs, and a full one would block.
    with tempfile.TemporaryDirectory(prefix="stackyard-bench-child-") as scratch:
        measured, errors = Path(scratch) / "usage.json", Path(scratch) / "stderr"
        with errors.open("wb") as stderr:
            done = subprocess.run([sys.executable, str(MEASURE_CHILD), str(measured), *command], cwd=REPO,
                                  env=child_environment(env), stdout=subprocess.DEVNULL, stderr=stderr)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {errors.read_text(errors='replace')[-2000:]}")
        usage = json.loads(measured.read_text())
    return usage["wall"], usage["cpu"], usage["peak_rss_mib"]


# --- audit against checkov -------------------------------------------------------

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


def _run_checker(command: list[str]) -> None:
    # Both exit non-zero when a rule fails: only a crash (no report) is an error here.
    done = subprocess.run(command, cwd=REPO, env=child_environment(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if done.returncode not in (0, 1, 3) or not done.stdout:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.decode()[-500:]}")


def audit_against_checkov(manifests: Path, rounds: int, checkov: Optional[Path]) -> tuple[Samples, Optional[Samples]]:
    ours = [sys.executable, "-m", "stacks.cli", "audit", "--manifests", str(manifests)]
    if checkov is None:
        return interleaved(lambda: _run_checker(ours), lambda: None, rounds)[0], None
    theirs = [str(checkov), "-d", str(manifests), "--framework", "kubernetes", "--quiet", "--compact"]
    return interleaved(lambda: _run_checker(ours), lambda: _run_checker(theirs), rounds)


# --- phases (--profile) -------------------------------------------------------------

def phases(spec_file: Path, out: Path) -> dict[str, float]:
    """CPU seconds per phase of one cold plan and audit in this process (run in a fresh child): CPU,
    not wall time, so that other jobs on a shared machine do not show up as a phase's cost."""
    clock = time.process_time
    began = clock()
    import pulumi  # noqa: F401
    import pulumi_aws  # noqa: F401
    import pulumi_kubernetes  # noqa: F401

    from environments import loader
    from policies import audit
    from stacks import program
    from stacks import plan as offline_plan
    from stacks.commands.common import check_registry_lock, load_spec

    timings = {"imports": clock() - began}
    start = clock()
    spec, resolved = load_spec(str(spec_file))
    models = check_registry_lock(spec, resolved)
    timings["spec and lock"] = clock() - start

    spent = {"compile": 0.0, "program": 0.0}
    compile_pipelines, build_program = program.compile_spec_pipelines, program.build

    def timed_compile(*args, **kwargs):
        start = clock()
        try:
            return compile_pipelines(*args, **kwargs)
        finally:
            spent["compile"] += clock() - start

    def timed_build(*args, **kwargs):  # the program's own (synchronous) part: components, first imports
        start = clock()
        try:
            return build_program(*args, **kwargs)
        finally:
            spent["program"] += clock() - start

    program.compile_spec_pipelines, program.build = timed_compile, timed_build
    start = clock()
    plan = offline_plan.build(spec, resolved, models)
    recording = clock() - start
    program.compile_spec_pipelines, program.build = compile_pipelines, build_program
    timings["compile"] = spent["compile"]
    timings["program"] = spent["program"] - spent["compile"]
    timings["engine"] = recording - spent["program"]  # the SDK's registrations, the mock monitor, asyncio
    start = clock()
    offline_plan.write(plan, out)
    timings["writing"] = clock() - start
    start = clock()
    document, _ = loader.load_document(str(resolved))
    audit.audit_plan(spec, document, plan, spec_file=resolved)
    timings["audit"] = clock() - start
    timings["total"] = clock() - began
    timings["resources"] = len(plan["resources"])
    return timings


def profile(spec_file: Path, out: Path) -> dict[str, float]:
    result = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--phases-of", str(spec_file),
                             "--phases-out", str(out)], cwd=REPO, env=child_environment(),
                            capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise RuntimeError(f"phases of {spec_file} failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- the run ----------------------------------------------------------------------

@dataclass
class SizeResult:
    endpoints: int
    resources: int
    manifests: int
    rounds: int
    plan: Samples
    floor: Samples
    ratio: Samples
    cold_wall_seconds: float
    cold_cpu_seconds: float
    peak_rss_mib: float
    audit: Samples
    checkov: Optional[Samples]
    checkov_ratio: Optional[Samples]
    phases: Optional[dict] = None

    @property
    def cpu_ms_per_resource(self) -> float:
        return 1000 * self.cold_cpu_seconds / self.resources


def warm_compile_cache(spec_file: Path) -> None:
    """Compile the environment's pipelines into the compile cache, as its first plan would: every
    plan measured here, as `plan prod`, is one with a warm cache (a user's second plan)."""
    from environments import loader
    from pipelines.compile import compile_spec_pipelines

    compile_spec_pipelines(loader.load(str(spec_file)), loader.repository_root())


def measure_size(size: int, workdir: Path, rounds: int, checkov: Optional[Path], with_profile: bool,
                 warm_up: bool = True) -> SizeResult:
    """One size's measurements; `warm_up` first runs an unmeasured pair (the first size of a run:
    imports and first-use caches), later sizes find this process warm already."""
    spec_file = generate(size, workdir / f"size-{size}")
    warm_compile_cache(spec_file)
    plan_out, floor_out = workdir / f"plan-{size}", workdir / f"floor-{size}"
    plan_command = [sys.executable, "-m", "stacks.cli", "plan", str(spec_file), "--out"]
    if rounds == 1 and size >= LARGE:
        # One round at a large size (--quick): one cold A B pair, each side a fresh process, the
        # plan's also giving its CPU time and peak RSS. An in-process pair and a separate cold plan
        # would cost a minute more for the same round.
        (wall, cpu, rss), floor_usage = child_usage([*plan_command, str(plan_out)]), child_usage(
            [sys.executable, str(Path(__file__).resolve()), "--floor-of", str(plan_out / "plan.json"),
             "--floor-out", str(floor_out)])
        plan = json.loads((plan_out / "plan.json").read_text(encoding="utf-8"))
        plan_samples, floor_samples = Samples([wall]), Samples([floor_usage[0]])
    else:
        if warm_up:
            floor_once(plan_once(spec_file, plan_out), floor_out)
        outcome = {}
        plan_samples, floor_samples = interleaved(lambda: outcome.update(plan=plan_once(spec_file, plan_out)),
                                                  lambda: outcome.update(recorded=floor_once(outcome["plan"], floor_out)),
                                                  rounds)
        plan = outcome["plan"]
        check_floor(plan, outcome["recorded"])
        wall, cpu, rss = child_usage([*plan_command, str(workdir / f"cold-{size}")])
    if _tree_bytes(plan_out) != _tree_bytes(floor_out):
        raise RuntimeError(f"size {size}: the floor did not write the plan's bytes")
    manifests = plan_out / "manifests"
    ours, theirs = audit_against_checkov(manifests, rounds, checkov)
    return SizeResult(
        endpoints=size, resources=len(plan["resources"]), manifests=sum(1 for _ in manifests.rglob("*.yaml")),
        rounds=rounds, plan=plan_samples, floor=floor_samples, ratio=ratio_samples(plan_samples, floor_samples),
        cold_wall_seconds=wall, cold_cpu_seconds=cpu, peak_rss_mib=rss, audit=ours, checkov=theirs,
        checkov_ratio=ratio_samples(theirs, ours) if theirs else None,
        phases=profile(spec_file, workdir / f"profile-{size}") if with_profile else None)


def check_floor(plan: dict, recorded: list) -> None:
    if [r.urn for r in recorded] != [entry["urn"] for entry in plan["resources"]]:
        raise RuntimeError(f"{plan['environment']}: the bare program did not register the plan's resources")


def _floor_child(plan_file: Path, out: Path) -> None:
    """The floor as a fresh process (--floor-of): the plan read back from its plan.json."""
    plan = json.loads(plan_file.read_text(encoding="utf-8"))
    check_floor(plan, floor_once(plan, out))


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def measure_commands(rounds: int) -> dict[str, Samples]:
    """`stackyard plan prod` (warm compile cache) and the review of the shipped environments, with an
    empty cache (as in CI: base plans and compiles all done) and then a warm one."""
    plan_prod = Samples()
    review_cold, review_warm = Samples(), Samples()
    command = [sys.executable, "-m", "stacks.cli"]
    child_usage([*command, "plan", "prod"])  # fills the compile cache of the user's cache folder
    for _ in range(rounds):
        plan_prod.values.append(child_usage([*command, "plan", "prod"])[0])
        with tempfile.TemporaryDirectory(prefix="stackyard-bench-cache-") as cache:
            review_cold.values.append(child_usage([*command, *REVIEW], env={"STACKYARD_CACHE_DIR": cache})[0])
            review_warm.values.append(child_usage([*command, *REVIEW], env={"STACKYARD_CACHE_DIR": cache})[0])
    return {"plan_prod": plan_prod, "review_cold": review_cold, "review_warm": review_warm}


def load_note() -> str:
    one, five, _ = os.getloadavg()
    cores = os.cpu_count() or 1
    # The benchmark keeps about one process runnable itself: beyond that, half a core is "other jobs".
    quiet = five < 1.5
    return (f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {cores} cores at the end: "
            f"{'a quiet machine' if quiet else 'NOT a quiet machine (other jobs were running)'}")


def goals_table(results: list[SizeResult], commands: dict[str, Samples]) -> list[str]:
    by_size = {r.endpoints: r for r in results}
    large = by_size.get(LARGE)

    def verdict(met: bool) -> str:
        return "met" if met else "not met"

    rows = []
    plan_prod, cold, warm = commands.get("plan_prod"), commands.get("review_cold"), commands.get("review_warm")
    if plan_prod:
        rows.append(("plan_prod", plan_prod.text(), verdict(plan_prod.median < 2.5)))
    if cold:
        rows.append(("review", f"{cold.text()} with an empty cache; {warm.text()} warm", verdict(cold.median < 30)))
    if large:
        rows.append(("plan_cpu_1000", f"{large.cpu_ms_per_resource:.2f} ms ({large.resources} resources)",
                     verdict(large.cpu_ms_per_resource < 3)))
        rows.append(("rss_1000", f"{large.peak_rss_mib:.0f} MiB", verdict(large.peak_rss_mib * 1.048576 < 700)))
    if results:
        rows.append(("plan_floor", "; ".join(f"{r.endpoints}: {r.ratio.text('x')}" for r in results),
                     verdict(all(r.ratio.median <= 1.3 for r in results))))
        if all(r.checkov_ratio for r in results):
            rows.append(("checkov", "; ".join(f"{r.endpoints}: {r.checkov_ratio.text('x', digits=1)}" for r in results),
                         verdict(all(r.checkov_ratio.median >= 20 for r in results))))
    lines = ["| measure | was | goal | measured (median [spread]) | |", "|---|---|---|---|---|"]
    for key, measured, met in rows:
        name, was, goal = GOALS[key]
        lines.append(f"| {name} | {was} | {goal} | {measured} | {met} |")
    return lines


def markdown(results: list[SizeResult], commands: dict[str, Samples], start_up: dict[str, float], meta: dict) -> str:
    lines = [f"Run {meta['date']} on {meta['machine']}, Python {meta['python']}, mode {meta['mode']}, "
             f"{meta['duration_seconds']:.0f} s in all; {meta['load']}.", "",
             *goals_table(results, commands), "",
             "| endpoints | resources | rounds | plan --out (s) | floor (s) | plan / floor | plan ms/resource "
             "| floor ms/resource | cold `plan --out`: wall (s) | CPU ms/resource | peak RSS (MiB) "
             "| `audit --manifests` (s) | checkov (s) | checkov / audit |",
             "|---:|---:|---:|---|---|---|---:|---:|---:|---:|---:|---|---|---|"]
    for r in results:
        checkov = r.checkov.text("") if r.checkov else "n/a"
        ratio = r.checkov_ratio.text("x", digits=1) if r.checkov_ratio else "n/a"
        lines.append(f"| {r.endpoints} | {r.resources} | {r.rounds} | {r.plan.text('')} | {r.floor.text('')} "
                     f"| {r.ratio.text('x')} | {1000 * r.plan.median / r.resources:.2f} "
                     f"| {1000 * r.floor.median / r.resources:.2f} | {r.cold_wall_seconds:.1f} "
                     f"| {r.cpu_ms_per_resource:.2f} | {r.peak_rss_mib:.0f} | {r.audit.text('')} | {checkov} | {ratio} |")
    profiled = [r for r in results if r.phases]
    if profiled:
        names = [name for name in profiled[0].phases if name not in ("total", "resources")]
        lines += ["", "Phases of one cold plan and audit (CPU s, a child process per size):", "",
                  "| endpoints | " + " | ".join(names) + " | total |", "|---:|" + "---:|" * (len(names) + 1)]
        lines += [f"| {r.endpoints} | " + " | ".join(f"{r.phases[n]:.2f}" for n in names)
                  + f" | {r.phases['total']:.2f} |" for r in profiled]
    lines += ["", "| start-up | median wall time (s) |", "|---|---:|"]
    lines += [f"| `{name}` | {seconds:.3f} |" for name, seconds in start_up.items()]
    if meta.get("checkov"):
        lines += ["", f"checkov: {meta['checkov']}"]
    return "\n".join(lines) + "\n"


def run(sizes: tuple[int, ...], rounds: int, use_checkov: bool, mode: str, results_dir: Path = RESULTS,
        startup_runs: int = 5, command_rounds: int = 3, with_profile: bool = False, large_rounds: int = 0) -> dict:
    began = time.perf_counter()
    checkov, checkov_note = checkov_executable() if use_checkov else (None, "not run (--no-checkov)")
    with tempfile.TemporaryDirectory(prefix="stackyard-bench-") as scratch:
        results = [measure_size(size, Path(scratch), (large_rounds or rounds) if size >= LARGE else rounds, checkov,
                                with_profile, warm_up=index == 0) for index, size in enumerate(sizes)]
    commands = measure_commands(command_rounds) if command_rounds else {}
    start_up = startup.measure(startup_runs)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": f"{os.cpu_count()} cores, {platform.machine()}", "python": platform.python_version(),
            "mode": mode, "rounds": rounds, "checkov": checkov_note, "load": load_note(),
            "duration_seconds": time.perf_counter() - began}
    table = markdown(results, commands, start_up, meta)
    document = {"meta": meta, "sizes": [{**asdict(r), "cpu_ms_per_resource": r.cpu_ms_per_resource} for r in results],
                "commands": {name: asdict(samples) for name, samples in commands.items()}, "startup": start_up}
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "benchmarks.md").write_text(table)
    (results_dir / "benchmarks.json").write_text(json.dumps(document, indent=2) + "\n")
    return {**document, "markdown": table}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="every goal, fewer rounds: 2 (1 at 1000 endpoints), review once")
    parser.add_argument("--sizes", help="comma-separated endpoint counts (default 10,100,1000)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per comparison (default 5, quick 2)")
    parser.add_argument("--no-checkov", action="store_true", help="skip the checkov comparison")
    parser.add_argument("--no-commands", action="store_true", help="skip `plan prod` and the review")
    parser.add_argument("--profile", action="store_true", help="add the phase breakdown of a cold plan per size")
    parser.add_argument("--phases-of", type=Path, help=argparse.SUPPRESS)  # the --profile child
    parser.add_argument("--phases-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--floor-of", type=Path, help=argparse.SUPPRESS)  # the cold floor at a large size
    parser.add_argument("--floor-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_of:
        _floor_child(args.floor_of, args.floor_out)
        return
    if args.phases_of:
        print(json.dumps(phases(args.phases_of, args.phases_out)))
        return
    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else FULL_SIZES
    rounds = args.rounds or (2 if args.quick else 5)
    document = run(sizes, rounds, not args.no_checkov, "quick" if args.quick else "full",
                   startup_runs=3 if args.quick else 7, command_rounds=0 if args.no_commands else (1 if args.quick else 3),
                   with_profile=args.profile, large_rounds=1 if args.quick else 0)
    print(document["markdown"], end="")


if __name__ == "__main__":
    main()
