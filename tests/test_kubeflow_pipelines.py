"""The KubeflowPipelines component in the offline plans: install, artifact store, registrations, schedules."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from components.irsa import irsa_trust_policy
from components.kubeflow_pipelines import artifact_access_policy
from conftest import descendants, plan_for, resources
from environments import loader
from pipelines.compile import compile_spec_pipelines

REPO = Path(__file__).resolve().parent.parent
ROLE = "stackyard.dev/kfp-object"


def k8s_objects(plan: dict, kind: str, role: str | None = None) -> list[dict]:
    found = [r["inputs"] for r in plan["resources"]
             if r["type"].startswith("kubernetes:") and r["inputs"].get("kind") == kind]
    if role is not None:
        found = [o for o in found if o["metadata"]["labels"].get(ROLE) == role]
    return found


def named(objects: list[dict], name: str) -> dict:
    (found,) = [o for o in objects if o["metadata"]["name"] == name]
    return found


def recurring_runs(plan: dict) -> list[dict]:
    return [json.loads(value) for cm in k8s_objects(plan, "ConfigMap", "recurring-run") for value in cm["data"].values()]


@pytest.fixture(scope="module")
def prod():
    return plan_for("prod")


def test_prod_installs_kfp_at_the_spec_version(prod):
    spec = loader.load("prod")
    version = spec.versions.kubeflow_pipelines
    deployments = k8s_objects(prod, "Deployment")
    api = named(deployments, "ml-pipeline")
    assert api["metadata"]["namespace"] == spec.kubeflow.namespace
    assert api["spec"]["template"]["spec"]["containers"][0]["image"] == f"ghcr.io/kubeflow/kfp-api-server:{version}"
    assert {d["metadata"]["name"] for d in deployments} >= {
        "ml-pipeline", "ml-pipeline-persistenceagent", "ml-pipeline-scheduledworkflow", "ml-pipeline-ui",
        "metadata-grpc-deployment", "workflow-controller"}
    crds = {c["metadata"]["name"] for c in k8s_objects(prod, "CustomResourceDefinition")}
    assert {"workflows.argoproj.io", "scheduledworkflows.kubeflow.org"} <= crds
    # Namespaced install: every grant is a Role, none cluster-wide.
    assert not k8s_objects(prod, "ClusterRole") and k8s_objects(prod, "Role")
    for deployment in deployments:
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert not container["image"].endswith(":latest") and "memory" in container["resources"]["limits"]


def test_prod_artifacts_go_to_an_encrypted_versioned_private_bucket_through_irsa(prod):
    spec = loader.load("prod")
    kfp = {"plan": "kfp", "resources": descendants(prod, "stackyard:pipelines:KubeflowPipelines")}
    (bucket,) = resources(kfp, "aws:s3/bucket:Bucket")
    assert bucket["inputs"]["bucket"] == spec.kubeflow.artifact_bucket
    (blocks,) = resources(kfp, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert all(blocks["inputs"][k] is True for k in
               ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    (versioning,) = resources(kfp, "aws:s3/bucketVersioning:BucketVersioning")
    assert versioning["inputs"]["versioningConfiguration"]["status"] == "Enabled"
    (encryption,) = resources(kfp, "aws:s3/bucketServerSideEncryptionConfiguration:"
                                    "BucketServerSideEncryptionConfiguration")
    (key,) = resources(kfp, "aws:kms/key:Key")
    assert key["inputs"]["enableKeyRotation"] is True
    default = encryption["inputs"]["rules"][0]["applyServerSideEncryptionByDefault"]
    assert default["sseAlgorithm"] == "aws:kms" and default["kmsMasterKeyId"].startswith("arn:")

    (role,) = [r for r in resources(prod, "aws:iam/role:Role") if r["name"].endswith("artifacts-irsa")]
    trust = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"][0]
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    subjects = next(v for k, v in trust["Condition"]["StringEquals"].items() if k.endswith(":sub"))
    assert "system:serviceaccount:kubeflow:pipeline-runner" in subjects
    runner = named(k8s_objects(prod, "ServiceAccount"), "pipeline-runner")
    assert runner["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith("artifacts-irsa")
    launcher = named(k8s_objects(prod, "ConfigMap"), "kfp-launcher")
    assert launcher["data"]["defaultPipelineRoot"] == f"s3://{spec.kubeflow.artifact_bucket}/v2/artifacts"
    assert "fromEnv: true" in launcher["data"]["providers"]  # no static keys
    assert not [s for s in k8s_objects(prod, "Secret") if s["metadata"]["name"] == "mlpipeline-minio-artifact"]


@pytest.mark.parametrize("environment", ["prod", "dev"])
def test_one_registration_per_pipeline_version_with_the_ir_in_the_plan(environment):
    plan = plan_for(environment)
    spec = loader.load(environment)
    compiled = {c.name: c for c in compile_spec_pipelines(spec, REPO)}
    assert set(compiled) == {p.name for p in spec.pipelines}

    jobs = k8s_objects(plan, "Job", "register-version")
    registered = sorted((j["metadata"]["labels"]["stackyard.dev/pipeline"],
                         j["metadata"]["annotations"]["stackyard.dev/pipeline-version"]) for j in jobs)
    assert registered == sorted((name, c.version) for name, c in compiled.items())

    for name, result in compiled.items():
        ir = named(k8s_objects(plan, "ConfigMap", "pipeline-version"), f"pipeline-{name}-{result.version[:10]}")
        assert ir["data"]["pipeline.yaml"] == result.ir_yaml
        assert ir["immutable"] is True
        job = named(jobs, f"register-{name}-{result.version[:10]}")
        volumes = job["spec"]["template"]["spec"]["volumes"]
        assert {"name": "pipeline-ir", "configMap": {"name": ir["metadata"]["name"]}} in volumes


def test_prod_has_one_recurring_run_per_schedule_with_prod_parameters(prod):
    spec = loader.load("prod")
    versions = {c.name: c.version for c in compile_spec_pipelines(spec, REPO)}
    expected = sorted((p.name, s.name, s.cron, json.dumps(dict(s.parameters), sort_keys=True), versions[p.name])
                      for p in spec.pipelines for s in p.schedules)
    found = sorted((r["pipeline"], r["schedule"], r["cron"], json.dumps(r["parameters"], sort_keys=True), r["version"])
                   for r in recurring_runs(prod))
    assert found == expected
    assert ("train-recsys", "nightly", "0 2 * * *", json.dumps({"min_accuracy": 0.82, "model_name": "recsys-ranker"}),
            versions["train-recsys"]) in found
    (sync,) = k8s_objects(prod, "Job", "sync-recurring-runs")
    assert sync["spec"]["template"]["spec"]["containers"][0]["args"][:3] == ["recurring-runs", "--environment", "prod"]
    sources = sync["spec"]["template"]["spec"]["volumes"][-1]["projected"]["sources"]
    assert len(sources) == len(expected)


def test_dev_runs_dev_schedule_on_the_dev_gpu_pool():
    dev = plan_for("dev")
    (run,) = recurring_runs(dev)
    assert (run["pipeline"], run["schedule"], run["cron"]) == ("train-recsys", "weekly", "0 6 * * 1")
    assert run["parameters"] == {"min_accuracy": 0.7, "model_name": "recsys-ranker"}
    ir = k8s_objects(dev, "ConfigMap", "pipeline-version")[0]["data"]["pipeline.yaml"]
    assert "stackyard.dev/pool: t4-dev" in ir
    prod_versions = {r["pipeline"]: r["version"] for r in recurring_runs(plan_for("prod"))}
    assert run["version"] != prod_versions["train-recsys"]  # a different pool compiles to a different version


def test_registration_is_ordered_after_the_install_and_the_sync_after_registrations(prod):
    by_name = {r["name"]: r for r in prod["resources"]}
    urns = {r["urn"]: r for r in prod["resources"]}
    sync = next(r for r in prod["resources"] if r["type"] == "kubernetes:batch/v1:Job" and "sync-recurring" in r["name"])
    depends = {urns[u]["name"] for u in sync["dependencies"]}
    assert {n for n in by_name if "-job-register-" in n} <= depends
    register = next(r for r in prod["resources"] if "-job-register-train-recsys" in r["name"])
    assert "prod-pipelines-deployment-ml-pipeline" in {urns[u]["name"] for u in register["dependencies"]}


def test_local_uses_in_cluster_seaweedfs_and_no_cloud():
    local = plan_for("local")
    assert not [r for r in local["resources"] if r["type"].startswith("aws:")]
    store = named(k8s_objects(local, "StatefulSet"), "seaweedfs")
    assert store["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    assert named(k8s_objects(local, "Service"), "minio-service")["spec"]["selector"] == {"app": "seaweedfs"}
    launcher = named(k8s_objects(local, "ConfigMap"), "kfp-launcher")
    assert launcher["data"]["defaultPipelineRoot"].startswith("minio://")
    assert recurring_runs(local) == []  # local names a pipeline but schedules nothing
    assert len(k8s_objects(local, "Job", "register-version")) == 1


def test_platform_configmap_tells_steps_where_mlflow_and_the_pushgateway_are(prod):
    data = named(k8s_objects(prod, "ConfigMap"), "stackyard-platform")["data"]
    assert data["MLFLOW_TRACKING_URI"] == "https://mlflow.example.com"
    assert data["PUSHGATEWAY_URL"].startswith("http://") and data["STACKYARD_ENVIRONMENT"] == "prod"


def test_irsa_trust_policy_names_exactly_the_service_accounts():
    policy = json.loads(irsa_trust_policy("arn:aws:iam::1:oidc-provider/oidc.eks.x/id/AB", "https://oidc.eks.x/id/AB",
                                          "kubeflow", ["ml-pipeline", "pipeline-runner"]))
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"Federated": "arn:aws:iam::1:oidc-provider/oidc.eks.x/id/AB"}
    assert statement["Condition"]["StringEquals"] == {
        "oidc.eks.x/id/AB:aud": "sts.amazonaws.com",
        "oidc.eks.x/id/AB:sub": ["system:serviceaccount:kubeflow:ml-pipeline",
                                 "system:serviceaccount:kubeflow:pipeline-runner"]}


def test_artifact_access_policy_is_scoped_to_the_bucket_and_key():
    statements = json.loads(artifact_access_policy("arn:aws:s3:::b", "arn:aws:kms:k"))["Statement"]
    resources_ = {s["Sid"]: s["Resource"] for s in statements}
    assert resources_ == {"ListBucket": "arn:aws:s3:::b", "ReadWriteArtifacts": "arn:aws:s3:::b/*",
                          "UseBucketKey": "arn:aws:kms:k"}
    assert not any("*" == a or a.endswith(":*") for s in statements for a in s["Action"])


def test_an_unknown_kfp_release_is_input_the_component_refuses():
    """A pulumi.RunError, which `stackyard plan` turns into exit 2 (stacks/plan.py), not an internal error."""
    import pulumi

    from components import kfp_install

    known = re.escape(str(sorted(kfp_install.KFP_RELEASES)))
    with pytest.raises(pulumi.RunError, match=r"versions.kubeflowPipelines '9.9.9' is not a release Stackyard "
                                              rf"knows how to install; known: {known}"):
        kfp_install.release("9.9.9")
