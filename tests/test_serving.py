"""Serving: the KServe installation and the InferenceServices in the offline plans, and their builders."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from components import serving, serving_endpoint
from environments.gpu_scheduling import GPU_RESOURCE, POOL_LABEL, gpu_toleration
from components.kserve_models import KServeFieldError, make
from components.ownership import Ownership
from environments import loader
from environments.errors import SpecError
from environments.spec import ResolvedModel
from stacks import offline, registry_lock
from stacks.errors import StackyardError
from conftest import REPO, plan_for, resources, run_cli

ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
RUNTIME = "kubernetes:serving.kserve.io/v1alpha1:ClusterServingRuntime"
RELEASE = "kubernetes:helm.sh/v3:Release"
ENVIRONMENTS = REPO / "environments"


def services_by_name(plan: dict) -> dict[str, dict]:
    return {r["inputs"]["metadata"]["name"]: r["inputs"] for r in resources(plan, ISVC)}


def prod_models() -> dict[str, ResolvedModel]:
    return registry_lock.locked_models(loader.load("prod"), loader.spec_path("prod"), "stackyard lock prod")


# --- the shipped prod plan ------------------------------------------------------

def test_prod_plan_holds_one_inference_service_per_endpoint_with_resources_and_replicas():
    spec = loader.load("prod")
    services = services_by_name(plan_for("prod"))
    assert sorted(services) == sorted(endpoint.name for endpoint in spec.endpoints)
    models = prod_models()
    for endpoint in spec.endpoints:
        service = services[endpoint.name]
        assert service["metadata"]["namespace"] == spec.serving.namespace
        predictor = service["spec"]["predictor"]
        resources_ = predictor["model"]["resources"]
        assert resources_["requests"] == dict(endpoint.resources.requests)
        assert {k: v for k, v in resources_["limits"].items() if k != GPU_RESOURCE} == dict(endpoint.resources.limits)
        assert (predictor["minReplicas"], predictor["maxReplicas"]) == (endpoint.replicas.min, endpoint.replicas.max)
        assert predictor["model"]["storageUri"] == models[endpoint.name].source
        assert predictor["model"]["runtime"] == endpoint.runtime
        assert predictor["model"]["modelFormat"] == {"name": endpoint.format}
        labels = service["metadata"]["labels"]
        assert labels["stackyard.dev/model-version"] == str(models[endpoint.name].version)
        assert labels["stackyard.dev/team"] == endpoint.team
        assert predictor["logger"] == {"mode": "all", "url": "http://payload-logger.serving.svc.cluster.local"}


def test_prod_gpu_endpoints_get_the_limit_toleration_and_node_selector_of_their_pool():
    spec = loader.load("prod")
    services = services_by_name(plan_for("prod"))
    gpu_endpoints = [endpoint for endpoint in spec.endpoints if endpoint.gpu]
    assert len(gpu_endpoints) == 2
    for endpoint in gpu_endpoints:
        predictor = services[endpoint.name]["spec"]["predictor"]
        assert predictor["model"]["resources"]["limits"][GPU_RESOURCE] == str(endpoint.gpu.count)
        assert predictor["tolerations"] == [gpu_toleration()]
        assert predictor["nodeSelector"] == {POOL_LABEL: endpoint.gpu.pool}
    for endpoint in spec.endpoints:
        if not endpoint.gpu:
            predictor = services[endpoint.name]["spec"]["predictor"]
            assert GPU_RESOURCE not in predictor["model"]["resources"].get("limits", {})
            assert "tolerations" not in predictor and "nodeSelector" not in predictor


def test_prod_endpoints_run_in_raw_deployment_scaled_by_an_hpa():
    services = services_by_name(plan_for("prod"))
    for name, target in (("recsys-ranker", 70), ("fraud-scorer", 80)):  # fraud-scorer: the HPA's default
        annotations = services[name]["metadata"]["annotations"]
        assert annotations["serving.kserve.io/deploymentMode"] == "RawDeployment"
        assert annotations["serving.kserve.io/autoscalerClass"] == "hpa"
        predictor = services[name]["spec"]["predictor"]
        assert (predictor["scaleMetric"], predictor["scaleTarget"]) == ("cpu", target)
        assert "canaryTrafficPercent" not in predictor


def test_prod_installs_kserve_at_the_pinned_versions():
    spec = loader.load("prod")
    releases = {r["inputs"]["name"]: r["inputs"] for r in resources(plan_for("prod"), RELEASE)}
    assert releases["cert-manager"]["version"] == spec.versions.cert_manager
    assert releases["kserve-crd"]["chart"] == "oci://ghcr.io/kserve/charts/kserve-crd"
    assert releases["kserve-crd"]["version"] == releases["kserve"]["version"] == spec.versions.kserve
    assert "knative-operator" not in releases  # no endpoint needs Serverless
    controller = releases["kserve"]["values"]["kserve"]
    assert controller["controller"]["deploymentMode"] == "RawDeployment"
    # KServe's own runtimes are in the kserve-runtime-configs chart, which is not installed.
    assert releases["kserve"]["chart"] == "oci://ghcr.io/kserve/charts/kserve-resources"
    assert "servingruntime" not in controller


def test_prod_predictors_run_restricted_with_a_readiness_probe_and_a_disruption_budget():
    plan = plan_for("prod")
    budgets = {r["inputs"]["metadata"]["name"]: r["inputs"]
               for r in resources(plan, "kubernetes:policy/v1:PodDisruptionBudget")}
    for name, service in services_by_name(plan).items():
        model = service["spec"]["predictor"]["model"]
        # What Pod Security Standards "restricted" requires of a container, read from the plan.
        context = model["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        assert context["runAsNonRoot"] is True
        assert context["seccompProfile"]["type"] in ("RuntimeDefault", "Localhost")
        assert model["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8080}
        assert budgets[f"{name}-predictor"]["spec"] == {
            "maxUnavailable": 1,
            "selector": {"matchLabels": {"serving.kserve.io/inferenceservice": name, "component": "predictor"}}}


def test_a_canary_endpoint_is_serverless_and_brings_knative(tmp_path):
    from stacks import plan as offline_plan

    spec_file = local_spec(tmp_path, (("  kserve: v0.20.0\n", "  kserve: v0.20.0\n  knative: v1.21.1\n"),),
                           "    deploymentMode: Serverless\n    canary: {trafficPercent: 10}\n")
    plan = offline_plan.build(loader.load(str(spec_file)), spec_file)
    service = services_by_name(plan)["recsys-ranker"]
    assert service["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert service["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Serverless"
    assert "serving.kserve.io/autoscalerClass" not in service["metadata"]["annotations"]
    # Knative's autoscaler, on its default metric and target
    assert (service["spec"]["predictor"]["scaleMetric"], service["spec"]["predictor"]["scaleTarget"]) == (
        "concurrency", 100)
    releases = {r["inputs"]["name"]: r["inputs"] for r in resources(plan, RELEASE)}
    assert "knative-v1.21.1/knative-operator-v1.21.1.tgz" in releases["knative-operator"]["chart"]
    assert releases["kserve"]["values"]["kserve"]["controller"]["gateway"]["disableIstioVirtualHost"] is True
    (knative,) = resources(plan, "kubernetes:operator.knative.dev/v1beta1:KnativeServing")
    assert knative["inputs"]["spec"]["version"] == "1.21"
    assert knative["inputs"]["spec"]["config"]["features"]["kubernetes.podspec-tolerations"] == "enabled"


def test_prod_runtimes_are_pinned_cluster_serving_runtimes():
    spec = loader.load("prod")
    runtimes = {r["inputs"]["metadata"]["name"]: r["inputs"] for r in resources(plan_for("prod"), RUNTIME)}
    assert sorted(runtimes) == sorted(runtime.name for runtime in spec.serving.runtimes)
    for runtime in spec.serving.runtimes:
        (container,) = runtimes[runtime.name]["spec"]["containers"]
        assert container["image"] == runtime.image
        formats = [f["name"] for f in runtimes[runtime.name]["spec"]["supportedModelFormats"]]
        assert formats == list(runtime.model_formats)


def test_every_shipped_environment_with_endpoints_plans_from_its_committed_lock():
    for environment in ("dev", "staging", "prod", "local"):
        spec = loader.load(environment)
        assert spec.endpoints
        models = registry_lock.locked_models(spec, loader.spec_path(environment), "x")
        assert all(model.source.startswith("s3://") and model.model_card for model in models.values())
        assert len(resources(plan_for(environment), ISVC)) == len(spec.endpoints)


# --- IRSA: the endpoint's role reads only its model --------------------------------

def test_endpoint_service_account_is_bound_to_a_role_reading_only_the_model_prefix():
    spec = loader.load("prod")
    models = prod_models()
    provider = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC123"
    issuer = "https://oidc.eks.us-east-1.amazonaws.com/id/ABC123"

    def program():
        serving.Serving("irsa", serving.ServingArgs(
            spec.serving, spec.versions, Ownership.of(spec), endpoints=spec.endpoints, models=models,
            teams=spec.teams, region="us-east-1", oidc_provider_arn=provider, oidc_issuer=issuer))

    recorded = [r.as_plan_entry() for r in offline.record("irsa", {}, program=program)]
    plan = {"resources": recorded}
    roles = {r["inputs"]["name"]: r for r in resources(plan, "aws:iam/role:Role")}
    policies = resources(plan, "aws:iam/rolePolicy:RolePolicy")
    accounts = {r["inputs"]["metadata"]["name"]: r["inputs"] for r in resources(plan, "kubernetes:core/v1:ServiceAccount")}
    assert len(roles) == len(policies) == len(spec.endpoints)

    ranker = models["recsys-ranker"]
    role = roles[serving_endpoint.iam_role_name("prod", "recsys-ranker")]
    trust = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Federated": provider}
    assert trust["Condition"]["StringEquals"][
        "oidc.eks.us-east-1.amazonaws.com/id/ABC123:sub"] == "system:serviceaccount:serving:recsys-ranker-model-reader"
    (policy,) = [p for p in policies if p["parent"] == role["parent"]]
    statements = json.loads(policy["inputs"]["policy"])["Statement"]
    prefix = ranker.source.removeprefix("s3://stackyard-ml-models/")
    assert statements[0] == {"Sid": "ReadModelArtifacts", "Effect": "Allow", "Action": "s3:GetObject",
                             "Resource": f"arn:aws:s3:::stackyard-ml-models/{prefix}/*"}
    assert statements[1]["Condition"] == {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}}
    annotations = accounts["recsys-ranker-model-reader"]["metadata"]["annotations"]
    assert annotations[serving_endpoint.IRSA_ROLE_ANNOTATION].endswith("recsys-ranker-model-reader")
    assert annotations["serving.kserve.io/s3-region"] == "us-east-1"


def test_no_role_without_an_oidc_provider():
    assert not resources(plan_for("local"), "aws:iam/role:Role")
    (account,) = [r for r in resources(plan_for("local"), "kubernetes:core/v1:ServiceAccount")
                  if r["inputs"]["metadata"]["name"] == "recsys-ranker-model-reader"]
    assert "annotations" not in account["inputs"]["metadata"]


def test_prod_endpoints_are_bound_to_roles_through_the_clusters_oidc_provider():
    plan = plan_for("prod")
    roles = {r["inputs"].get("name") for r in resources(plan, "aws:iam/role:Role")}
    assert {serving_endpoint.iam_role_name("prod", e.name) for e in loader.load("prod").endpoints} <= roles


def test_iam_role_names_stay_within_64_characters():
    name = serving_endpoint.iam_role_name("a" * 42, "b" * 42)
    assert len(name) == 64
    assert name != serving_endpoint.iam_role_name("a" * 42, "b" * 41 + "c")


def test_s3_prefix_only_for_s3_sources():
    assert serving_endpoint.s3_prefix("s3://bucket/a/b/") == serving_endpoint.S3Prefix("bucket", "a/b")
    assert serving_endpoint.s3_prefix("gs://bucket/a") is None
    assert serving_endpoint.s3_prefix("file:///tmp/model") is None


# --- the InferenceService builder and misspelled fields ----------------------------

def prod_endpoint(name: str):
    spec = loader.load("prod")
    (endpoint,) = [e for e in spec.endpoints if e.name == name]
    return endpoint


def build(endpoint, **overrides) -> dict:
    model = prod_models()[endpoint.name]
    arguments = dict(namespace="serving", deployment_mode="RawDeployment", protocol="v2",
                     labels={"team": endpoint.team}, service_account="sa")
    arguments.update(overrides)
    return serving_endpoint.inference_service(endpoint, model, **arguments)


def with_predictor_fields(endpoint, fields: dict):
    import dataclasses

    return dataclasses.replace(endpoint, predictor_fields=fields)


def test_predictor_fields_reach_the_predictor_typed():
    endpoint = with_predictor_fields(prod_endpoint("fraud-scorer"),
                                     {"timeout": 30, "batcher": {"maxBatchSize": 32, "maxLatency": 500}})
    predictor = build(endpoint)["spec"]["predictor"]
    assert predictor["timeout"] == 30
    assert predictor["batcher"] == {"maxBatchSize": 32, "maxLatency": 500}


@pytest.mark.parametrize("fields, path, message", [
    ({"minReplica": 3}, ("predictorFields", "minReplica"),
     "the KServe V1beta1PredictorSpec has no field 'minReplica'; did you mean 'minReplicas'?"),
    ({"batcher": {"maxBatchSiz": 32}}, ("predictorFields", "batcher", "maxBatchSiz"),
     "the KServe V1beta1Batcher has no field 'maxBatchSiz'; did you mean 'maxBatchSize'?"),
    ({"timeout": "30s"}, ("predictorFields", "timeout"), "expected an integer, found string '30s'"),
    ({"minReplicas": 3}, ("predictorFields", "minReplicas"),
     "'minReplicas' is set by Stackyard from replicas.min; change that instead"),
])
def test_misspelled_or_managed_predictor_fields_fail_with_path_and_suggestion(fields, path, message):
    endpoint = with_predictor_fields(prod_endpoint("fraud-scorer"), fields)
    with pytest.raises(serving_endpoint.EndpointFieldError) as error:
        build(endpoint)
    assert (error.value.endpoint, error.value.path, error.value.message) == ("fraud-scorer", path, message)


def test_a_misspelled_field_in_the_builder_fails_with_the_closest_name():
    from kserve import V1beta1PredictorSpec

    with pytest.raises(KServeFieldError) as error:
        make(V1beta1PredictorSpec, ("spec", "predictor"), min_replica=1)
    assert error.value.path == ("spec", "predictor", "min_replica")
    assert "did you mean 'min_replicas'?" in str(error.value)


# The last line of the endpoint in environments/local.yaml: endpoint fields go after it.
LOCAL_ENDPOINT_END = "      limits: {memory: 512Mi}\n"


def local_spec(directory: Path, replacements: tuple[tuple[str, str], ...] = (), endpoint_lines: str = "",
               with_lock: bool = True) -> Path:
    """A copy of environments/local.yaml (and its lock) in `directory`, edited."""
    text = (ENVIRONMENTS / "local.yaml").read_text()
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    assert LOCAL_ENDPOINT_END in text
    text = text.replace(LOCAL_ENDPOINT_END, LOCAL_ENDPOINT_END + endpoint_lines)
    path = directory / "local.yaml"
    path.write_text(text)
    if with_lock:
        (directory / "local.lock.yaml").write_text((ENVIRONMENTS / "local.lock.yaml").read_text())
    return path


def test_plan_stops_on_a_misspelled_predictor_field_with_its_location(tmp_path):
    spec = local_spec(tmp_path, endpoint_lines="    predictorFields:\n      minReplica: 2\n")
    line = spec.read_text().splitlines().index("      minReplica: 2") + 1
    result = run_cli("plan", str(spec))
    assert result.returncode == 2, result.stderr
    assert re.search(rf"local\.yaml:{line}:\d+: \$\.endpoints\[0\]\.predictorFields\.minReplica: "
                     r"the KServe V1beta1PredictorSpec has no field 'minReplica'; did you mean 'minReplicas'\?",
                     result.stderr), result.stderr
    assert "Traceback" not in result.stderr


# --- the lock seen from plan ---------------------------------------------------------

def test_plan_without_a_lock_says_to_run_stackyard_lock(tmp_path):
    spec = local_spec(tmp_path, with_lock=False)
    result = run_cli("plan", str(spec))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "local.lock.yaml does not exist" in line and f"run `stackyard lock {spec}`" in line


def test_plan_with_a_stale_lock_says_to_run_stackyard_lock(tmp_path):
    spec = local_spec(tmp_path, (("version: 1", "version: 2"),))
    result = run_cli("plan", str(spec))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert ("resolved model 'recsys-ranker' version 1 for endpoint 'recsys-ranker', the spec now names "
            "model 'recsys-ranker' version 2") in line
    assert f"run `stackyard lock {spec}`" in line


def test_a_lock_for_another_registry_is_stale(tmp_path):
    spec = local_spec(tmp_path, (("https://mlflow.dev.example.com", "https://mlflow.example.com"),))
    with pytest.raises(registry_lock.LockError, match="made with the registry at https://mlflow.dev.example.com, "
                                                      "the spec names https://mlflow.example.com"):
        registry_lock.locked_models(loader.load(str(spec)), spec, "stackyard lock x")


def test_the_stack_program_itself_refuses_a_missing_lock(tmp_path):
    """`plan` checks the lock before running the program; the program checks again (pulumi up runs it alone)."""
    from stacks import plan

    spec = local_spec(tmp_path, with_lock=False)
    with pytest.raises(StackyardError, match=r"local\.lock\.yaml does not exist: run `stackyard lock "):
        plan.build(loader.load(str(spec)), spec)


def test_environments_without_endpoints_need_no_lock(tmp_path):
    text = (ENVIRONMENTS / "local.yaml").read_text()
    spec = tmp_path / "bare.yaml"
    spec.write_text(text.split("endpoints:")[0] + "kubeflow:" + text.split("kubeflow:", 1)[1])
    assert registry_lock.locked_models(loader.load(str(spec)), spec, "x") == {}


def test_lock_file_round_trips():
    path = ENVIRONMENTS / "prod.lock.yaml"
    lock = registry_lock.read(path, "stackyard lock prod")
    assert registry_lock.to_yaml(lock, "stackyard lock prod") == path.read_text()


def test_registry_token_comes_from_the_environment_with_a_hint_where_to_find_it():
    spec = loader.load("prod")
    problem = registry_lock.registry_token_problem(spec, {})
    assert "export MLFLOW_TRACKING_TOKEN=$(pulumi config get mlflowToken --stack prod)" in problem
    assert registry_lock.registry_token_problem(spec, {"MLFLOW_TRACKING_TOKEN": "t"}) is None
    assert registry_lock.registry_token_problem(loader.load("dev"), {}) is None


# --- validate-time rules of deployment modes -----------------------------------------

@pytest.mark.parametrize("replacements, endpoint_lines, path, reason", [
    ((), "    canary: {trafficPercent: 20}\n", "$.endpoints[0].canary",
     "canary traffic needs deploymentMode Serverless, found deploymentMode is RawDeployment: KServe splits "
     "traffic between the previous and the new revision only in Serverless (Knative) mode"),
    ((), "    autoscaling: {metric: rps, target: 50}\n", "$.endpoints[0].autoscaling.metric",
     "autoscaling on rps needs deploymentMode Serverless"),
    ((), "    replicas: {min: 0, max: 2}\n", "$.endpoints[0].replicas.min",
     "scaling to zero needs deploymentMode Serverless"),
    ((), "    deploymentMode: Serverless\n", "$.versions", "missing required field 'knative'"),
    ((("name: sklearnserver", "name: kserve-sklearnserver"), ("runtime: sklearnserver", "runtime: kserve-sklearnserver")),
     "", "$.serving.runtimes[0].name", "starts with 'kserve-'"),
    ((("format: sklearn", "format: xgboost"),), "", "$.endpoints[0].format",
     "runtime 'sklearnserver' serves ['sklearn'], found format 'xgboost'"),
])
def test_validate_rejects_what_the_deployment_mode_or_runtime_cannot_do(tmp_path, replacements, endpoint_lines,
                                                                        path, reason):
    spec = local_spec(tmp_path, replacements, endpoint_lines, with_lock=False)
    with pytest.raises(SpecError) as error:
        loader.load(str(spec))
    messages = [str(problem) for problem in error.value.problems]
    assert any(f": {path}: " in message and reason in message for message in messages), messages


def test_validate_cli_explains_why_canary_needs_serverless(tmp_path):
    spec = local_spec(tmp_path, endpoint_lines="    canary: {trafficPercent: 20}\n", with_lock=False)
    result = run_cli("validate", str(spec))
    assert result.returncode == 2
    assert re.search(r"local\.yaml:\d+:\d+: \$\.endpoints\[0\]\.canary: canary traffic needs deploymentMode "
                     r"Serverless", result.stderr), result.stderr


def test_a_lock_holding_an_endpoint_the_spec_no_longer_has_is_stale(tmp_path):
    spec = local_spec(tmp_path)
    lock_file = tmp_path / "local.lock.yaml"
    lock = registry_lock.read(lock_file, "x")
    (entry,) = lock.entries
    extra = dataclasses.replace(entry, endpoint="old-ranker")
    lock_file.write_text(registry_lock.to_yaml(dataclasses.replace(lock, entries=(entry, extra)), "x"))
    with pytest.raises(registry_lock.LockError, match="entry for endpoint 'old-ranker', which the spec no longer has"):
        registry_lock.locked_models(loader.load(str(spec)), spec, "stackyard lock x")


def test_promote_carries_the_resolved_version_into_the_target_lock(tmp_path, monkeypatch):
    """Lock entries are per endpoint, so `stackyard promote` copies staging's resolved version to prod."""
    from stacks import cli
    from stacks.commands import promote

    for name in ("base", "staging", "prod"):
        (tmp_path / f"{name}.yaml").write_text((ENVIRONMENTS / f"{name}.yaml").read_text())
    for name in ("staging", "prod"):
        (tmp_path / f"{name}.lock.yaml").write_text((ENVIRONMENTS / f"{name}.lock.yaml").read_text())
    staging = tmp_path / "staging.yaml"
    staging.write_text(staging.read_text().replace("      name: recsys-ranker\n      version: 7\n",
                                                   "      name: recsys-ranker\n      version: 8\n", 1))
    staging_lock = registry_lock.read(tmp_path / "staging.lock.yaml", "x")
    version_8 = "s3://stackyard-ml-models/14/models/m-0123456789abcdef0123456789abcdef/artifacts"
    entries = tuple(
        dataclasses.replace(entry, ref=dataclasses.replace(entry.ref, version=8),
                            resolved=dataclasses.replace(entry.resolved, version=8, source=version_8))
        if entry.endpoint == "recsys-ranker" else entry for entry in staging_lock.entries)
    (tmp_path / "staging.lock.yaml").write_text(
        registry_lock.to_yaml(dataclasses.replace(staging_lock, entries=entries), "stackyard lock staging"))
    monkeypatch.setattr(promote, "source_audit", lambda environment: (0, "audit: 0 mandatory failures\n"))

    assert cli.main(["promote", str(staging), str(tmp_path / "prod.yaml"), "--endpoint", "recsys-ranker"]) == 0
    prod = tmp_path / "prod.yaml"
    models = registry_lock.locked_models(loader.load(str(prod)), prod, "stackyard lock prod")
    assert (models["recsys-ranker"].version, models["recsys-ranker"].source) == (8, version_8)
