"""`stackyard parity`: the shipped staging and prod pass; each kind of forbidden drift is caught
with the contract line that forbids it; output is sorted and byte-for-byte deterministic."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from environments import loader
from environments.parity_contract import load_contract
from policies import parity
from conftest import plan_for, run_cli
from test_parity_contract import contract_line


@pytest.fixture
def environments(tmp_path) -> Path:
    """A copy of the shipped environments (and their locks) to break; `extends` resolves inside it."""
    for path in loader.ENVIRONMENTS_DIR.glob("*.yaml"):
        if path.name != "parity.yaml":
            shutil.copy(path, tmp_path / path.name)
    return tmp_path


def edit(path: Path, change) -> None:
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def item(document: dict, section: str, name: str) -> dict:
    return next(entry for entry in document[section] if entry["name"] == name)


def report_for(source: str, target: str, with_plans: bool = False) -> parity.ParityReport:
    contract = load_contract()
    source_document, _ = loader.load_document(source)
    target_document, _ = loader.load_document(target)
    pair = contract.pair(source_document["metadata"]["name"], target_document["metadata"]["name"])
    plans = (plan_for(source), plan_for(target)) if with_plans else (None, None)
    return parity.compare(pair, contract.file, source_document, target_document, *plans)


def only_forbidden(report: parity.ParityReport) -> dict[str, parity.Difference]:
    return {d.path_text: d for d in report.differences if d.verdict == parity.FORBIDDEN}


def assert_forbidden_by(report: parity.ParityReport, path: str, rule_text: str) -> parity.Difference:
    forbidden = only_forbidden(report)
    assert path in forbidden, f"{path} not forbidden; forbidden: {sorted(forbidden)}"
    difference = forbidden[path]
    line = contract_line(rule_text)
    assert difference.rule.location.line == line
    row = next(r for r in parity.render_table(report).splitlines() if r.startswith(path + " "))
    assert "forbidden" in row and f"{report.contract}:{line}" in row
    return difference


# --- the shipped environments ---------------------------------------------------

def test_shipped_staging_and_prod_pass_and_output_is_byte_identical_across_runs():
    first = run_cli("parity", "staging", "prod")
    second = run_cli("parity", "staging", "prod")
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout == second.stdout
    assert "0 forbidden" in first.stdout
    assert "nodePools[a10g-inference].maxSize" in first.stdout  # bounded, and shown


def test_shipped_report_is_sorted_and_complete_in_every_format():
    report = report_for("staging", "prod", with_plans=True)
    assert not report.forbidden
    paths = [d.path_text for d in report.differences]
    spec_paths = [p for p in paths if not p.startswith("plan[")]
    assert paths == sorted(spec_paths) + sorted(p for p in paths if p.startswith("plan["))
    assert {d.verdict for d in report.differences} == {parity.ALLOWED, parity.BOUNDED}
    document = json.loads(parity.render_json(report))
    assert document["passed"] is True
    assert [d["path"] for d in document["differences"]] == paths
    maximum = next(d for d in document["differences"] if d["path"] == "nodePools[a10g-inference].maxSize")
    assert (maximum["from"], maximum["to"], maximum["verdict"]) == (4, 8, "bounded")
    assert maximum["rule"]["line"] == contract_line('"nodePools[*].maxSize"')
    markdown = parity.render_markdown(report).splitlines()
    assert markdown[0] == "### Parity `staging` -> `prod`"
    assert markdown.count("| path | staging | prod | verdict | contract | reason |") == 1
    assert len([line for line in markdown if line.startswith("| `")]) == len(paths)


def test_the_plans_agree_once_environment_names_are_taken_out():
    staging = parity.plan_inventory(plan_for("staging"))
    prod = parity.plan_inventory(plan_for("prod"))
    # Only the recurring-run sync Job differs: it is named by the schedules it applies.
    schedules_job = "kubernetes:batch/v1:Job"
    assert {k: v for k, v in staging.items() if k != schedules_job} == \
        {k: v for k, v in prod.items() if k != schedules_job}
    differing = set(staging[schedules_job]) ^ set(prod[schedules_job])
    assert len(differing) == 2 and all(name.startswith("kubeflow/sync-recurring-runs-") for name in differing)
    assert "{env}-cluster-eks" in staging["aws:eks/cluster:Cluster"]


def test_environment_names_are_replaced_as_whole_words_only():
    assert parity.without_environment("prod-serving-ns", "prod") == "{env}-serving-ns"
    assert parity.without_environment("stackyard-prod-artifacts", "prod") == "stackyard-{env}-artifacts"
    assert parity.without_environment("production-metrics", "prod") == "production-metrics"


# --- each kind of forbidden drift -----------------------------------------------

def test_a_version_drift_is_forbidden(environments):
    edit(environments / "prod.yaml", lambda d: d.setdefault("versions", {}).update(kserve="v0.20.1"))
    report = report_for(str(environments / "staging.yaml"), str(environments / "prod.yaml"))
    difference = assert_forbidden_by(report, "versions.kserve", '{path: "versions", relation: equal}')
    assert (difference.source_value, difference.target_value) == ("v0.20.0", "v0.20.1")


def test_a_runtime_drift_is_forbidden(environments):
    def newer_sklearn_image(document):
        document["serving"]["runtimes"] = yaml.safe_load(
            (loader.ENVIRONMENTS_DIR / "base.yaml").read_text())["serving"]["runtimes"]
        item(document["serving"], "runtimes", "sklearnserver")["image"] = "docker.io/kserve/sklearnserver:v0.16.0"

    edit(environments / "staging.yaml", newer_sklearn_image)
    report = report_for(str(environments / "staging.yaml"), str(environments / "prod.yaml"))
    assert_forbidden_by(report, "serving.runtimes[sklearnserver].image",
                        '{path: "serving.runtimes", relation: equal}')


def test_an_endpoint_runtime_or_model_drift_is_forbidden(environments):
    def drift(document):
        item(document, "endpoints", "image-tagger")["runtime"] = "huggingfaceserver"
        item(document, "endpoints", "recsys-ranker")["model"]["version"] = 6

    edit(environments / "prod.yaml", drift)
    report = report_for(str(environments / "staging.yaml"), str(environments / "prod.yaml"))
    assert_forbidden_by(report, "endpoints[image-tagger].runtime", '"endpoints[*].runtime"')
    assert_forbidden_by(report, "endpoints[recsys-ranker].model.version", '"endpoints[*].model"')


def test_a_missing_endpoint_is_forbidden_in_spec_and_plan(environments):
    edit(environments / "prod.yaml",
         lambda d: d.update(endpoints=[e for e in d["endpoints"] if e["name"] != "fraud-scorer"]))
    report = report_for(str(environments / "staging.yaml"), str(environments / "prod.yaml"))
    difference = assert_forbidden_by(report, "endpoints[fraud-scorer]", '{path: "endpoints", relation: equal}')
    assert difference.target_value is parity.ABSENT
    assert difference.source_value["model"] == {"name": "fraud-xgb", "alias": "champion"}


def test_a_component_missing_from_the_plan_is_forbidden(environments):
    edit(environments / "staging.yaml", lambda d: d.update(kubeflow={"enabled": False}))
    report = report_for(str(environments / "staging.yaml"), "prod", with_plans=True)
    assert_forbidden_by(report, "kubeflow.enabled", "otherwise: equal")
    namespace = assert_forbidden_by(report, "plan[kubernetes:core/v1:Namespace][kubeflow]",
                                    '{path: "plan", relation: equal}')
    assert (namespace.source_value, namespace.target_value) == (parity.ABSENT, parity.PRESENT)
    assert report.differences[-1].path_text.startswith("plan[")  # plan rows after spec rows


def test_weaker_enforcement_in_prod_is_forbidden(environments):
    edit(environments / "prod.yaml", lambda d: d["policy"].update(enforcement="advisory"))
    report = report_for(str(environments / "staging.yaml"), str(environments / "prod.yaml"))
    difference = assert_forbidden_by(report, "policy.enforcement", '"policy.enforcement", relation: stricter')
    assert difference.reason == "prod advisory is weaker than staging mandatory"


def test_a_rule_weakened_in_prod_only_is_forbidden_through_the_fallback(environments):
    edit(environments / "prod.yaml", lambda d: d["policy"].update(rules={"SY-GPU-001": "advisory"}))
    report = report_for(str(environments / "staging.yaml"), str(environments / "prod.yaml"))
    difference = assert_forbidden_by(report, "policy.rules.SY-GPU-001", '"policy.rules.*", relation: stricter')
    assert "staging mandatory (its policy.enforcement)" in difference.reason


def test_stricter_prod_is_allowed_as_bounded(environments):
    edit(environments / "staging.yaml", lambda d: d["policy"].update(rules={"SY-GPU-001": "advisory"}))
    report = report_for(str(environments / "staging.yaml"), str(environments / "prod.yaml"))
    assert not report.forbidden
    (difference,) = [d for d in report.differences if d.path_text == "policy.rules.SY-GPU-001"]
    assert difference.verdict == parity.BOUNDED


def test_an_out_of_bounds_size_is_forbidden(environments):
    edit(environments / "prod.yaml", lambda d: item(d, "nodePools", "a10g-inference").update(maxSize=20))
    report = report_for(str(environments / "staging.yaml"), str(environments / "prod.yaml"))
    difference = assert_forbidden_by(report, "nodePools[a10g-inference].maxSize", '"nodePools[*].maxSize"')
    assert difference.reason == "prod 20 > 4 x staging 4"


def test_fewer_replicas_in_prod_than_staging_is_forbidden(environments):
    edit(environments / "prod.yaml", lambda d: item(d, "endpoints", "recsys-ranker").update(replicas={"min": 1, "max": 12}))
    report = report_for(str(environments / "staging.yaml"), str(environments / "prod.yaml"))
    assert_forbidden_by(report, "endpoints[recsys-ranker].replicas.min", '"endpoints[*].replicas"')


def test_exemptions_only_in_prod_are_forbidden_and_only_in_staging_allowed(environments):
    exemption = {"rule": "SY-GPU-003", "resource": "serving/image-tagger",
                 "justification": "driver rollout in progress", "owner": "vision-leads@example.com",
                 "expires": "2030-01-31"}
    edit(environments / "prod.yaml", lambda d: d["policy"].update(exemptions=[exemption]))
    report = report_for(str(environments / "staging.yaml"), str(environments / "prod.yaml"))
    difference = assert_forbidden_by(report, "policy.exemptions", '"policy.exemptions", relation: subset')
    assert difference.reason == "only prod has SY-GPU-003/serving/image-tagger"

    shutil.copy(loader.ENVIRONMENTS_DIR / "prod.yaml", environments / "prod.yaml")
    # Both inherit the shipped exemptions from base.yaml; staging's list replaces them, so it keeps them too.
    shipped = yaml.safe_load((loader.ENVIRONMENTS_DIR / "base.yaml").read_text())["policy"].get("exemptions", [])
    edit(environments / "staging.yaml", lambda d: d["policy"].update(exemptions=[*shipped, exemption]))
    report = report_for(str(environments / "staging.yaml"), str(environments / "prod.yaml"))
    assert not report.forbidden
    assert [d.verdict for d in report.differences if d.path_text == "policy.exemptions"] == [parity.BOUNDED]


# --- the command ----------------------------------------------------------------

def test_cli_exits_3_and_names_the_contract_line(environments):
    edit(environments / "prod.yaml", lambda d: d.setdefault("versions", {}).update(kserve="v0.20.1"))
    result = run_cli("parity", str(environments / "staging.yaml"), str(environments / "prod.yaml"),
                     "--format", "json")
    assert result.returncode == 3, result.stderr
    document = json.loads(result.stdout)
    assert document["passed"] is False
    (forbidden,) = [d for d in document["differences"] if d["verdict"] == "forbidden"]
    assert forbidden["path"] == "versions.kserve"
    assert forbidden["rule"] == {"file": "environments/parity.yaml", "relation": "equal", "path": "versions",
                                 "line": contract_line('{path: "versions", relation: equal}')}


def test_cli_refuses_a_pair_the_contract_does_not_have():
    result = run_cli("parity", "prod", "staging")
    assert result.returncode == 2
    assert "no contract for prod -> staging" in result.stderr and "compare staging prod" in result.stderr


def test_cli_reports_an_invalid_contract_with_its_location(tmp_path):
    contract = tmp_path / "parity.yaml"
    contract.write_text("apiVersion: stackyard.dev/v1\nkind: ParityContract\npairs: []\n")
    result = run_cli("parity", "staging", "prod", "--contract", str(contract))
    assert result.returncode == 2
    assert "parity.yaml:3:" in result.stderr and "Traceback" not in result.stderr
