"""Derived names: validate refuses what the APIs would refuse, and the plans hold only names they accept.

The first half feeds the issue's examples through `stackyard validate` (in
process) and expects exit 2 with a line at the offending field. The second
half walks plans — the shipped environments', generated ones' — and checks
every Kubernetes object name, label, annotation size, AWS name (explicit and
auto-named) and tag against environments/naming.py, and that no URN or
manifest repeats: the net that catches a name derived_names.py missed.
"""

from __future__ import annotations

import copy
import re
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import HYPOTHESIS_PROFILE, SHIPPED_ENVIRONMENTS, lock_beside, plan_for, run_cli
from spec_seeds import seed
from environments import loader, naming
from stacks import offline
from stacks import plan as plan_module

LOCATED = re.compile(r"^error: (?P<file>.+?):(?P<line>\d+):(?P<column>\d+): (?P<path>\$.*?): (?P<message>.+)$")


def run(*argv: str) -> tuple[int, str, str]:
    result = run_cli(*argv)
    return result.returncode, result.stdout, result.stderr


def write(folder: Path, document: dict, file_name: str = "spec.yaml") -> Path:
    path = folder / file_name
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def add_two_schedules_that_derive_one_run(document: dict) -> None:
    """Pipelines 'train' (schedule 'x-weekly') and 'train-x' (schedule 'weekly'): both would derive the
    recurring run 'recurring-run-train-x-weekly'."""
    first = document["pipelines"][0]
    first["name"], first["schedules"][0]["name"] = "train", "x-weekly"
    second = copy.deepcopy(first)
    second["name"], second["schedules"][0]["name"] = "train-x", "weekly"
    document["pipelines"].append(second)


def assert_refused(spec: Path, json_path: str, fragment: str) -> None:
    """validate exits 2 with a line located in `spec`, at `json_path`, saying `fragment`; plan too."""
    code, stdout, stderr = run("validate", str(spec))
    assert code == 2 and stdout == "", stderr
    lines = [LOCATED.match(line) for line in stderr.splitlines() if line.startswith("error:")]
    assert lines and all(lines), stderr
    hits = [m for m in lines if m["path"] == json_path and fragment in m["message"]]
    assert hits, stderr
    assert hits[0]["file"] == str(spec) and int(hits[0]["line"]) > 1
    assert run("plan", str(spec))[0] == 2  # none reaches plan


# --- the examples -------------------------------------------------------------------

def test_endpoint_name_starting_with_a_digit(tmp_path):
    document = seed("dev")
    document["endpoints"][0]["name"] = "1ranker"
    assert_refused(write(tmp_path, document), "$.endpoints[0].name",
                   "the InferenceService would be named '1ranker', which is not a valid Kubernetes Service or "
                   "InferenceService name (DNS-1035 label)")


def _rename_pool(document: dict, new: str) -> None:
    old = document["nodePools"][0]["name"]
    document["nodePools"][0]["name"] = new
    for item in document.get("endpoints", []) + document.get("pipelines", []):
        if (item.get("gpu") or {}).get("pool") == old:
            item["gpu"]["pool"] = new


def test_a_39_character_pool_name(tmp_path):
    document = seed("dev")
    _rename_pool(document, "p" * 39)
    assert_refused(write(tmp_path, document), "$.nodePools[0].name",
                   "the pool's node role (Pulumi names it 'dev-pool-ppppppppppppppppppppppppppppppppppppppp-node-role', "
                   "'-' and 7 random characters) would be named")


def test_a_33_character_environment_name(tmp_path):
    document = seed("dev")
    document["metadata"]["name"] = "e" * 33
    assert_refused(write(tmp_path, document), "$.metadata.name", "is 66 characters; IAM role name allows at most 64")


def test_a_25_character_environment_name_with_karpenter_pools(tmp_path):
    document = seed("prod")  # prod has a Karpenter pool: its EventBridge rules carry the longest suffix
    document["metadata"]["name"] = "e" * 25
    assert_refused(write(tmp_path, document), "$.metadata.name",
                   "Karpenter's instance-state-change rule (Pulumi names it")


def test_an_environment_name_with_a_double_hyphen(tmp_path):
    document = seed("prod")  # an ElastiCache online store and an RDS registry
    document["metadata"]["name"] = "pr--od"
    spec = write(tmp_path, document)
    assert_refused(spec, "$.metadata.name", "the online store's replication group would be named "
                                            "'stackyard-pr--od-feast', which contains '--'")
    assert_refused(spec, "$.metadata.name", "the registry database would be named 'stackyard-pr--od-feast-registry'")


@pytest.mark.parametrize("key, fragment", [
    ("aws:team", "starts with 'aws:', which AWS tag key reserves"),
    ("k" * 129, "is 129 characters; AWS tag key allows at most 128"),
    ("team (core)", "holds characters AWS tags do not allow"),
])
def test_refused_tag_keys(tmp_path, key, fragment):
    document = seed("dev")
    document["cloud"]["tags"] = {key: "x"}
    assert_refused(write(tmp_path, document), f"$.cloud.tags.{key}", fragment)


@pytest.mark.parametrize("key, fragment", [
    ("Example.com/tier", "is not a DNS-1123 subdomain"),
    ("example.com/" + "t" * 64, "name part"),
    ("tier/", "name part"),
])
def test_refused_node_label_keys(tmp_path, key, fragment):
    document = seed("dev")
    document["nodePools"][0]["labels"] = {key: "a"}
    assert_refused(write(tmp_path, document), f"$.nodePools[0].labels.{key}", fragment)


def test_refused_node_label_value(tmp_path):
    document = seed("dev")
    document["nodePools"][0]["labels"] = {"example.com/tier": "Gold (best)"}
    assert_refused(write(tmp_path, document), "$.nodePools[0].labels.example.com/tier",
                   "is not a valid Kubernetes label value")


def test_two_pool_labels_that_derive_one_resource(tmp_path):
    document = seed("dev")
    document["nodePools"][0]["labels"] = {"example.com/tier": "a", "example.com-tier": "b"}
    assert_refused(write(tmp_path, document), "$.nodePools[0].labels.example.com-tier",
                   "would be named 'dev-pool-t4-dev-asg-label-example.com-tier', the same name as the Auto Scaling "
                   "group tag resource of label 'example.com/tier' from $.nodePools[0].labels.example.com/tier")


def test_two_schedules_that_derive_one_recurring_run(tmp_path):
    document = seed("dev")
    add_two_schedules_that_derive_one_run(document)
    assert_refused(write(tmp_path, document), "$.pipelines[1].schedules[0].name",
                   "would be named 'recurring-run-train-x-weekly', the same name as the recurring run ConfigMap of "
                   "pipeline 'train' from $.pipelines[0].schedules[0].name")


@pytest.mark.parametrize("team", ["kserve", "cert-manager", "kubeflow", "monitoring", "kube-system",
                                  "knative-serving", "feast"])
def test_a_team_named_like_a_platform_namespace(tmp_path, team):
    document = seed("dev")
    document["teams"][0]["name"] = team
    for item in document.get("endpoints", []) + document.get("pipelines", []):
        if item.get("team") == "recsys":
            item["team"] = team
    assert_refused(write(tmp_path, document), "$.teams[0].name", f"team namespace {team!r} is")


def test_two_component_namespaces_that_are_one(tmp_path):
    document = seed("prod")
    document["monitoring"]["namespace"] = document["kubeflow"].get("namespace", "kubeflow")
    assert_refused(write(tmp_path, document), "$.monitoring.namespace",
                   "the monitoring namespace would be named 'kubeflow', the same name as the Kubeflow Pipelines "
                   "namespace from $.kubeflow.namespace")


# --- walking plans ---------------------------------------------------------------------------

# Explicit AWS names in plan inputs: (type, property) -> rule.
PLAN_AWS_NAMES = {
    ("aws:iam/role:Role", "name"): "aws.iam.role-name",
    ("aws:iam/role:Role", "namePrefix"): "aws.iam.role-name-prefix",
    ("aws:iam/rolePolicy:RolePolicy", "name"): "aws.iam.policy-name",
    ("aws:s3/bucket:Bucket", "bucket"): "aws.s3.bucket",
    ("aws:elasticache/replicationGroup:ReplicationGroup", "replicationGroupId"):
        "aws.elasticache.replication-group-id",
    ("aws:elasticache/replicationGroup:ReplicationGroup", "finalSnapshotIdentifier"):
        "aws.elasticache.replication-group-id",
    ("aws:elasticache/subnetGroup:SubnetGroup", "name"): "aws.elasticache.subnet-group",
    ("aws:rds/instance:Instance", "identifier"): "aws.rds.identifier",
    ("aws:rds/instance:Instance", "finalSnapshotIdentifier"): "aws.rds.snapshot-identifier",
    ("aws:rds/subnetGroup:SubnetGroup", "name"): "aws.rds.subnet-group",
    ("aws:kms/alias:Alias", "name"): "aws.kms.alias",
    ("aws:ec2/securityGroup:SecurityGroup", "name"): "aws.ec2.security-group",
    ("aws:eks/cluster:Cluster", "name"): "aws.eks.cluster-name",
    ("aws:cloudwatch/logGroup:LogGroup", "name"): "aws.logs.log-group-name",
    **{(type_, prop): rule for type_, (prop, rule) in naming.AUTONAMED.items()},
}
# Kubernetes kinds whose names are stricter than a DNS-1123 subdomain.
KIND_RULES = {"Namespace": "k8s.dns1123-label", "Service": "k8s.dns1035-label",
              "InferenceService": "k8s.dns1035-label", "CronJob": "k8s.cronjob-name"}


def _label_maps(value, path=""):
    """Every `labels`/`matchLabels` mapping inside a Kubernetes object."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("labels", "matchLabels") and isinstance(item, dict) and \
                    all(isinstance(v, str) for v in item.values()):
                yield f"{path}.{key}", item
            else:
                yield from _label_maps(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _label_maps(item, f"{path}[{index}]")


def plan_name_problems(plan: dict) -> list[str]:
    """Every name in a plan that breaks a naming rule, and every name that repeats in its scope."""
    problems: list[str] = []

    def check(rule: str, name: str, where: str) -> None:
        problem = naming.problem(rule, name)
        if problem:
            problems.append(f"{where}: {name!r} {problem}")

    aws_names: dict[tuple[str, str], str] = {}
    for resource in plan["resources"]:
        type_, inputs, urn = resource["type"], resource["inputs"], resource["urn"]
        for (rule_type, prop), rule in PLAN_AWS_NAMES.items():
            if type_ != rule_type:
                continue
            name = inputs.get(prop)
            if name is None and type_ in naming.AUTONAMED and prop == naming.AUTONAMED[type_][0] \
                    and "namePrefix" not in inputs:
                name = naming.autoname_sample(resource["name"])
            if isinstance(name, str) and name != offline.UNKNOWN:
                check(rule, name, f"{urn} {prop}")
                if prop in ("name", "bucket", "replicationGroupId", "identifier") and not name.endswith("x" * 7):
                    previous = aws_names.setdefault((type_, name.lower()), urn)
                    if previous != urn:
                        problems.append(f"{urn}: AWS name {name!r} also used by {previous}")
        for tags_field in ("tags",):
            for key, value in (inputs.get(tags_field) or {}).items() if type_.startswith("aws:") else ():
                check("aws.tag-key", key, f"{urn} tag key")
                check("aws.tag-value", value, f"{urn} tag {key}")
        if type_ == "kubernetes:helm.sh/v3:Release":
            check("helm.release-name", inputs["name"], f"{urn} release name")
            check("k8s.dns1123-label", inputs["namespace"], f"{urn} release namespace")
        if type_ == "aws:autoscaling/tag:Tag":
            check("aws.tag-key", inputs["tag"]["key"], f"{urn} tag key")
            check("aws.tag-value", inputs["tag"]["value"], f"{urn} tag value")
        if plan_module.is_manifest(resource):
            body = plan_module.manifest(resource)
            metadata = body.get("metadata") or {}
            check(KIND_RULES.get(body["kind"], "k8s.dns1123-subdomain"), metadata.get("name", ""), f"{urn} name")
            if metadata.get("namespace"):
                check("k8s.dns1123-label", metadata["namespace"], f"{urn} namespace")
            for where, labels in _label_maps(body):
                for key, value in labels.items():
                    check("k8s.label-key", key, f"{urn} {where} key")
                    check("k8s.label-value", value, f"{urn} {where}[{key}]")
            annotations = metadata.get("annotations") or {}
            size = sum(len(k.encode()) + len(str(v).encode()) for k, v in annotations.items())
            if size > naming.RULES["k8s.annotations-size"].max_length:
                problems.append(f"{urn}: annotations of {size} bytes")
            for key in annotations:
                check("k8s.label-key", key, f"{urn} annotation key")
    urns = [resource["urn"] for resource in plan["resources"]]
    problems += [f"URN {urn} repeats" for urn in sorted(set(urns)) if urns.count(urn) > 1]
    try:
        plan_module.manifests(plan)
    except Exception as error:  # two resources writing one manifest
        problems.append(str(error))
    return problems


def test_the_plan_walker_finds_bad_names():
    plan = {"resources": [
        {"urn": "u1", "type": "aws:iam/role:Role", "name": "r" * 60, "inputs": {}},
        {"urn": "u2", "type": "kubernetes:core/v1:Namespace", "name": "n",
         "inputs": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "Bad_NS",
                                                                          "labels": {"team": "ML (Core)"}}}},
        {"urn": "u3", "type": "aws:s3/bucket:Bucket", "name": "b", "inputs": {"bucket": "x", "tags": {"aws:k": "v"}}},
    ]}
    problems = plan_name_problems(plan)
    assert any("u1 name" in p and "is 68 characters" in p for p in problems)
    assert any("u2 name" in p for p in problems) and any("labels[team]" in p for p in problems)
    assert any("u3 bucket" in p for p in problems) and any("u3 tag key" in p for p in problems)


@pytest.mark.parametrize("environment", SHIPPED_ENVIRONMENTS)
def test_every_name_in_the_shipped_plans_passes_the_rules(environment):
    assert plan_name_problems(plan_for(environment)) == []


def test_the_platform_namespaces_of_the_shipped_plans_are_reserved():
    """Every namespace a shipped plan puts something in, other than a team's, is one no team may take."""
    for environment in SHIPPED_ENVIRONMENTS:
        spec = loader.load(environment)
        teams = {team.name for team in spec.teams}
        configured = {spec.serving.namespace, spec.kubeflow.namespace, spec.feature_store.namespace,
                      spec.monitoring.namespace, *spec.cluster.system_namespaces}
        used = set()
        for resource in plan_for(environment)["resources"]:
            inputs = resource["inputs"]
            used.add((inputs.get("metadata") or {}).get("namespace") or inputs.get("namespace"))
        used -= {None} | teams
        assert used <= set(naming.PLATFORM_NAMESPACES) | configured, environment


def _plan_file(folder: Path, document: dict, file_name: str) -> dict:
    spec = write(folder, document, file_name)
    lock_beside(spec, "dev")
    return plan_module.build(loader.load(str(spec)), spec)


def _aws_names(plan: dict) -> set[str]:
    """The account-wide AWS names of a plan (an inline policy's name is scoped to its role)."""
    names = set()
    for resource in plan["resources"]:
        for (type_, prop), _rule in PLAN_AWS_NAMES.items():
            if type_ == "aws:iam/rolePolicy:RolePolicy":
                continue
            if resource["type"] == type_ and isinstance(resource["inputs"].get(prop), str):
                names.add(resource["inputs"][prop])
    return names


def test_environments_sharing_a_long_prefix_plan_to_disjoint_aws_names(tmp_path):
    prefix = "shared-prefix-of-thirty-chars-"  # 30 characters; aws_name() used to cut to 40 in all
    documents = []
    for last in "ab":
        document = seed("dev")
        document["metadata"]["name"] = prefix + last
        document["cluster"]["name"] = f"stackyard-{last}"  # chosen by the user, not derived
        document["featureStore"]["onlineStore"] = {"type": "redis", "authToken": {"config": "redisAuthToken"}}
        document["featureStore"]["registry"] = {"type": "sql", "password": {"config": "registryPassword"}}
        document["kubeflow"]["artifactBucket"] = f"stackyard-{last}-pipeline-artifacts"
        document["featureStore"]["offlineStore"]["bucket"] = f"stackyard-{last}-feast-offline"
        documents.append(document)
    first, second = (_plan_file(tmp_path, document, f"{document['metadata']['name']}.yaml") for document in documents)
    assert plan_name_problems(first) == [] and plan_name_problems(second) == []
    cut = {name[:40] for name in _aws_names(first) if name.startswith("stackyard-shared")}
    assert cut & {name[:40] for name in _aws_names(second)}, "the case is one where cutting to 40 collides"
    assert _aws_names(first).isdisjoint(_aws_names(second))


def test_free_text_owner_and_team_become_valid_labels_and_tags(tmp_path):
    document = seed("dev")
    document["metadata"]["team"] = "ML Platform (Core)"
    document["metadata"]["owner"] = "Zoë Müller <zoë@example.com>"
    plan = _plan_file(tmp_path, document, "dev.yaml")
    assert plan_name_problems(plan) == []
    namespace = next(r for r in plan["resources"] if r["inputs"].get("kind") == "Namespace"
                     and r["inputs"]["metadata"]["name"] == "serving")
    labels = namespace["inputs"]["metadata"]["labels"]
    assert labels["stackyard.dev/team"] == "ML_Platform__Core" and labels["stackyard.dev/owner"] == "Zo__M_ller__zo__example.com"
    bucket = next(r for r in plan["resources"] if r["type"] == "aws:s3/bucket:Bucket")
    assert bucket["inputs"]["tags"]["stackyard.dev/team"] == "ML Platform _Core_"


# --- the offline engine --------------------------------------------------------------------

def test_the_offline_engine_refuses_duplicate_urns():
    def program():
        import pulumi_kubernetes as k8s

        k8s.core.v1.ConfigMap("same", metadata={"name": "first"})
        k8s.core.v1.ConfigMap("same", metadata={"name": "second"})

    with pytest.raises(offline.DuplicateUrnError) as raised:
        offline.record("test", {}, program=program)
    message = str(raised.value)
    assert "urn:pulumi:test::stackyard::kubernetes:core/v1:ConfigMap::same" in message
    assert "one with metadata.name = 'first', the other with 'second'" in message


def test_plan_refuses_a_duplicate_urn_that_validate_did_not_catch(tmp_path, monkeypatch):
    """The engine's own refusal, with the real components: validate's name check switched off."""
    from environments import checks
    from environments.derived_names import name_problems

    monkeypatch.setattr(checks, "CHECKS", tuple(check for check in checks.CHECKS if check is not name_problems))
    document = seed("dev")
    add_two_schedules_that_derive_one_run(document)
    spec = write(tmp_path, document, "dev.yaml")
    lock_beside(spec, "dev")
    code, stdout, stderr = run("plan", str(spec), "--out", str(tmp_path / "out"))
    assert code == 2 and not (tmp_path / "out").exists(), stderr
    assert "duplicate resource URN urn:pulumi:dev::stackyard::" in stderr
    assert "ConfigMap::dev-pipelines-configmap-recurring-run-train-x-weekly" in stderr
    assert "metadata.labels.stackyard.dev/pipeline = 'train', the other with 'train-x'" in stderr


def test_a_manifest_is_never_silently_dropped():
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "one"}}
    plan = {"resources": [{"urn": f"urn:{n}", "type": "kubernetes:core/v1:Namespace", "inputs": namespace}
                          for n in ("a", "b")]}
    with pytest.raises(plan_module.StackyardError, match="urn:a and urn:b are one Kubernetes object") as raised:
        plan_module.manifests(plan)
    assert raised.value.code == 2


# --- generated names ---------------------------------------------------------------------------

FIELDS = {
    "environment": lambda d, v: d["metadata"].__setitem__("name", v),
    "pool": lambda d, v: _rename_pool(d, v),
    "endpoint": lambda d, v: d["endpoints"][0].__setitem__("name", v),
    "pipeline": lambda d, v: d["pipelines"][0].__setitem__("name", v),
    "schedule": lambda d, v: d["pipelines"][0]["schedules"][0].__setitem__("name", v),
    "team": lambda d, v: d["teams"][2].__setitem__("name", v),  # nlp: nothing in dev refers to it
    "label key": lambda d, v: d["nodePools"][0].__setitem__("labels", {v: "x", "example.com/tier": "y"}),
}
NAMES = st.one_of(
    st.from_regex(r"\A[a-z][a-z0-9-]{0,44}[a-z0-9]\Z"),  # plausible, sometimes too long
    st.from_regex(r"\A[0-9][a-z0-9-]{0,10}\Z"),  # digits first
    st.from_regex(r"\A[a-z]{1,8}[._][a-z]{1,8}\Z"),  # dots, underscores
    st.from_regex(r"\A[a-z]{1,6}--[a-z]{1,6}\Z"),
    st.text(min_size=1, max_size=12),  # unicode
    st.sampled_from(["example.com-tier", "example.com/tier", "t4-dev", "recsys", "kserve", "x" * 64]),  # collisions
)


# Planning is the expensive part: 8 generated specs in the ci profile, 200 in thorough.
@settings(parent=settings.get_profile(HYPOTHESIS_PROFILE),
          max_examples=max(4, settings.get_profile(HYPOTHESIS_PROFILE).max_examples // 125),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.sampled_from(sorted(FIELDS)), NAMES)
def test_generated_names_are_refused_or_plan_to_valid_unique_names(field, name):
    document = seed("dev")
    FIELDS[field](document, name)
    with tempfile.TemporaryDirectory() as folder:
        spec = write(Path(folder), document, "dev.yaml")
        code, stdout, stderr = run("validate", str(spec))
        assert "Traceback" not in stderr and code in (0, 2), stderr
        if code == 2:
            # split("\n"): splitlines() would also split inside a key holding \x1c-\x1e or \x85
            assert all(LOCATED.match(line) for line in stderr.split("\n") if line.startswith("error:")), stderr
            return
        lock_beside(spec, "dev")
        assert plan_name_problems(plan_module.build(loader.load(str(spec)), spec)) == []


# --- the limits the README states -----------------------------------------------------------

def _validate_code(folder: Path, document: dict) -> int:
    return run("validate", str(write(folder, document)))[0]


@pytest.mark.parametrize("seed_name, longest", [("dev", 31), ("prod", 24)])  # prod: Karpenter pools
def test_the_longest_environment_name(tmp_path, seed_name, longest):
    document = seed(seed_name)
    document["metadata"]["name"] = "e" * longest
    assert _validate_code(tmp_path, document) == 0
    document["metadata"]["name"] = "e" * (longest + 1)
    assert _validate_code(tmp_path, document) == 2


def test_the_longest_managed_pool_name_is_40_less_the_environment_name(tmp_path):
    document = seed("dev")  # environment "dev": 3 characters
    _rename_pool(document, "p" * 37)
    assert _validate_code(tmp_path, document) == 0
    _rename_pool(document, "p" * 38)
    assert _validate_code(tmp_path, document) == 2


def test_the_longest_endpoint_name_is_52_less_the_serving_namespace(tmp_path):
    document = seed("dev")
    document["endpoints"][0]["name"] = "r" * 42
    document["serving"]["namespace"] = "s" * 10
    assert _validate_code(tmp_path, document) == 0
    document["serving"]["namespace"] = "s" * 11
    assert _validate_code(tmp_path, document) == 2
