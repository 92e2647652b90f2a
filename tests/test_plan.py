"""The offline plan: the real stack program under mocks, recorded in the format of docs/architecture.md."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import SHIPPED_ENVIRONMENTS, plan_for, run_cli
from stacks import offline, plan as offline_plan

PLAN_KEYS = {"stackyard", "environment", "specDigest", "resources"}
RESOURCE_KEYS = {"urn", "type", "name", "parent", "provider", "dependencies", "protect", "inputs"}


@pytest.mark.parametrize("name", SHIPPED_ENVIRONMENTS)
def test_stack_program_runs_under_mocks_for_every_environment(name):
    plan = plan_for(name)
    assert set(plan) == PLAN_KEYS
    assert plan["environment"] == name
    urns = [r["urn"] for r in plan["resources"]]
    assert urns == sorted(urns) and len(set(urns)) == len(urns)
    for resource in plan["resources"]:
        assert set(resource) == RESOURCE_KEYS
        assert resource["urn"].startswith(f"urn:pulumi:{name}::stackyard::")
    platform = [r for r in plan["resources"] if r["type"] == "stackyard:platform:Platform"]
    assert len(platform) == 1
    # every Kubernetes object goes through the cluster's one provider
    providers = {r["provider"] for r in plan["resources"] if r["type"].startswith("kubernetes:")}
    assert len(providers) == 1 and "pulumi:providers:kubernetes" in providers.pop()


def test_plan_cli_writes_identical_bytes_twice(tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    assert run_cli("plan", "prod", "--out", str(first)).returncode == 0
    result = run_cli("plan", "prod", "--out", str(second))
    assert result.returncode == 0, result.stderr
    assert (first / "plan.json").read_bytes() == (second / "plan.json").read_bytes()
    manifests_one = sorted(p.relative_to(first) for p in (first / "manifests").rglob("*.yaml"))
    manifests_two = sorted(p.relative_to(second) for p in (second / "manifests").rglob("*.yaml"))
    assert manifests_one == manifests_two and manifests_one
    for relative in manifests_one:
        assert (first / relative).read_bytes() == (second / relative).read_bytes()
    assert "component" in result.stdout and "resources" in result.stdout
    plan = json.loads((first / "plan.json").read_text())
    assert plan["specDigest"] == plan_for("prod")["specDigest"]


def test_manifests_hold_every_kubernetes_object(tmp_path):
    plan = plan_for("prod")
    offline_plan.write(plan, tmp_path)
    written = {}
    for path in (tmp_path / "manifests").rglob("*.yaml"):
        body = yaml.safe_load(path.read_text())
        written[(body["kind"], body["metadata"].get("namespace"), body["metadata"]["name"])] = body
    expected = {(r["inputs"]["kind"], r["inputs"]["metadata"].get("namespace"), r["inputs"]["metadata"]["name"])
                for r in plan["resources"] if offline_plan.is_manifest(r)}
    assert set(written) == expected and expected


def _secret_program():
    import pulumi
    import pulumi_kubernetes as k8s

    token = pulumi.Config("stackyard").require_secret("apiToken")
    k8s.core.v1.Secret("creds", metadata={"name": "creds", "namespace": "serving"},
                       string_data={"token": token, "plain": "visible-in-inputs"})
    k8s.core.v1.ConfigMap("settings", metadata={"name": "settings", "namespace": "serving"},
                          data={"token": token, "replicas": "3"})


def test_secrets_are_masked_in_plan_and_manifests(tmp_path):
    resources = offline.record("dev", {"apiToken": "s3cr3t-value-4711"}, secret_keys=("apiToken",),
                               program=_secret_program)
    plan = {"stackyard": "test", "environment": "dev", "specDigest": "0" * 64,
            "resources": [r.as_plan_entry() for r in resources]}
    text = offline_plan.to_json(plan)
    assert "s3cr3t-value-4711" not in text
    config_map = next(r for r in plan["resources"] if r["name"] == "settings")
    assert config_map["inputs"]["data"]["token"] == offline.SECRET
    assert config_map["inputs"]["data"]["replicas"] == "3"
    offline_plan.write(plan, tmp_path)
    secret_manifest = (tmp_path / "manifests" / "serving" / "secret-creds.yaml").read_text()
    assert "s3cr3t-value-4711" not in secret_manifest and "visible-in-inputs" not in secret_manifest
    # the Kubernetes SDK marks all of stringData secret, so the plan shows none of it
    assert yaml.safe_load(secret_manifest)["stringData"] == "[secret]"


def test_manifest_masks_secret_values_given_as_plain_data():
    body = offline_plan.manifest({"type": "kubernetes:core/v1:Secret", "inputs": {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"password": "aHVudGVyMg=="}}})
    assert body["data"] == {"password": "[secret]"}


def test_records_parent_dependencies_protect_and_integers():
    def program():
        import pulumi
        import pulumi_kubernetes as k8s

        ns = k8s.core.v1.Namespace("ns", metadata={"name": "team"}, opts=pulumi.ResourceOptions(protect=True))
        k8s.apps.v1.Deployment("web", metadata={"name": "web", "namespace": "team"},
                               spec={"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                                     "template": {"metadata": {"labels": {"app": "web"}},
                                                  "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}},
                               opts=pulumi.ResourceOptions(depends_on=[ns]))
        k8s.core.v1.ConfigMap("child", metadata={"name": "child", "namespace": "team"},
                              opts=pulumi.ResourceOptions(parent=ns))

    by_name = {r.name: r for r in offline.record("dev", {}, program=program)}
    assert by_name["ns"].protect is True and by_name["web"].protect is False
    assert by_name["child"].protect is True  # Pulumi children inherit protect from their parent
    assert by_name["child"].parent == by_name["ns"].urn
    assert by_name["ns"].urn in by_name["web"].dependencies
    assert by_name["web"].inputs["spec"]["replicas"] == 3  # wire floats become integers again


def test_two_plans_in_one_process_do_not_nest():
    from environments import loader

    spec = loader.load("dev")
    first = offline_plan.build(spec, loader.spec_path("dev"))
    second = offline_plan.build(spec, loader.spec_path("dev"))
    assert first == second
    top = [r for r in second["resources"] if r["type"] == "stackyard:platform:Platform"][0]
    assert top["parent"] == "urn:pulumi:dev::stackyard::pulumi:pulumi:Stack::stackyard-dev"


def test_unwritable_output_directory_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run_cli("plan", "dev", "--out", str(blocker / "out"))
    assert result.returncode == 2
    assert "cannot write" in result.stderr and "Traceback" not in result.stderr
