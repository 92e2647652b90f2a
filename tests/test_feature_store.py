"""The Feast feature store: its spec checks, its plan, and its feature_store.yaml read by Feast itself."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from components import feature_store as fs
from environments import loader
from environments import spec as env
from conftest import REPO, SHIPPED_ENVIRONMENTS, descendants, plan_for, resources, run_cli

ENVIRONMENTS = REPO / "environments"
FEATURES = "stackyard:features:FeatureStore"


def feast_config_module():
    """feast.repo_config, or a skip outside CI when Feast (a test dependency) is not installed."""
    try:
        from feast import repo_config
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("feast is a test dependency: pip install -e '.[test]'")
        pytest.skip("feast is not installed here: pip install -e '.[test]'")
    return repo_config


def feature_store_yaml(plan: dict) -> str:
    (config_map,) = [r for r in resources(plan, "kubernetes:core/v1:ConfigMap")
                     if r["inputs"]["metadata"]["name"] == fs.CONFIG_MAP]
    return config_map["inputs"]["data"]["feature_store.yaml"]


def one(plan: dict, type_: str, name: str | None = None) -> dict:
    found = [r for r in descendants(plan, "stackyard:features:FeatureStore") if r["type"] == type_
             and (name is None or r["inputs"].get("metadata", {}).get("name") == name)]
    assert len(found) == 1, f"expected one {type_} {name or ''}, found {len(found)}"
    return found[0]


# --- feature_store.yaml against Feast's own configuration classes -----------------

@pytest.mark.parametrize("environment", SHIPPED_ENVIRONMENTS)
def test_rendered_feature_store_yaml_is_accepted_by_feast(environment):
    repo_config = feast_config_module()
    spec = plan_for(environment)
    document = yaml.safe_load(feature_store_yaml(spec))

    config = repo_config.RepoConfig(**document)
    # The store sections are parsed lazily: touch each so Feast validates it with its own class.
    registry, online, offline = config.registry, config.online_store, config.offline_store

    from environments import loader

    store = loader.load(environment).feature_store
    assert config.project == store.project
    assert type(offline).__name__ == "DaskOfflineStoreConfig"
    expected_online = {"redis": "RedisOnlineStoreConfig", "dynamodb": "DynamoDBOnlineStoreConfig"}
    assert type(online).__name__ == expected_online[store.online_store.type]
    expected_registry = {"sql": "SqlRegistryConfig", "s3": "RegistryConfig", "file": "RegistryConfig"}
    assert type(registry).__name__ == expected_registry[store.registry.type]
    if store.registry.type == "s3":
        assert registry.path == f"s3://{store.offline_store.bucket}/registry/registry.pb"


def test_feast_expands_credentials_from_the_environment(tmp_path, monkeypatch):
    """What `feast serve` does with the prod file: passwords come from the pod's environment, verbatim."""
    repo_config = feast_config_module()
    (tmp_path / "feature_store.yaml").write_text(feature_store_yaml(plan_for("prod")))
    redis_password, registry_password = "r3dis:#!x y", "pg%pass:#@{}"
    monkeypatch.setenv(fs.REDIS_PASSWORD_VARIABLE, redis_password)
    monkeypatch.setenv(fs.REGISTRY_PASSWORD_VARIABLE, registry_password)

    config = repo_config.load_repo_config(tmp_path, tmp_path / "feature_store.yaml")

    assert config.online_store.connection_string.endswith(f",ssl=true,password={redis_password}")
    assert config.registry.sqlalchemy_config_kwargs["connect_args"]["password"] == registry_password
    assert config.registry.path.startswith("postgresql+psycopg://feast@")
    assert registry_password not in config.registry.path


def test_feast_rejects_what_the_template_would_get_wrong():
    """The Feast check is not a rubber stamp: a section Feast does not know fails its validation."""
    repo_config = feast_config_module()
    document = yaml.safe_load(feature_store_yaml(plan_for("prod")))
    document["online_store"]["connection_strin"] = document["online_store"].pop("connection_string")
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="connection_strin"):
        repo_config.RepoConfig(**document)


def test_server_image_and_test_dependency_are_the_same_feast():
    """The configuration is proven against the Feast the server runs: versions.feast and the test extra agree."""
    from environments import loader

    feast_version = loader.load("prod").versions.feast
    pyproject = (REPO / "pyproject.toml").read_text()
    major_minor = ".".join(feast_version.split(".")[:2])
    assert f"feast[aws,redis]>={major_minor}," in pyproject


# --- broken specs stop at Stackyard ------------------------------------------------

def broken_spec(tmp_path: Path, parent: str, feature_store: dict, **top: object) -> Path:
    """A spec extending a shipped environment with a featureStore override, beside copies of the shipped ones."""
    for source in ENVIRONMENTS.glob("*.yaml"):
        shutil.copy(source, tmp_path / source.name)
    document = {"apiVersion": "stackyard.dev/v1", "kind": "Environment", "extends": parent,
                "metadata": {"name": "broken", "owner": "ml-platform@example.com", "costCenter": "cc-1"},
                "featureStore": feature_store, **top}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.mark.parametrize("parent, feature_store, top, expected", [
    ("prod", {"onlineStore": {"type": "cassandra"}}, {},
     "$.featureStore.onlineStore.type: expected one of ['redis', 'dynamodb'], found string 'cassandra'"),
    ("prod", {"materializationSchedule": "every 15 minutes"}, {},
     "$.featureStore.materializationSchedule: expected 5 fields"),
    ("prod", {"materializationSchedule": "*/15 25 * * *"}, {},
     "hour field '25': expected 0-23, found 25"),
    ("local", {"registry": {"type": "s3"}}, {},
     "an s3 registry is an object in the offline store bucket"),
    ("local", {"offlineStore": {"type": "s3", "bucket": "local-features"}}, {},
     "an s3 offline store needs `cloud.provider: aws`"),
    ("local", {"onlineStore": {"type": "dynamodb"}}, {},
     "a dynamodb online store needs `cloud.provider: aws`"),
    ("local", {"registry": {"type": "sql"}}, {},
     "a sql registry runs on RDS PostgreSQL"),
    ("prod", {"registry": {"type": "file"}}, {},
     "a file registry lives on one volume"),
    ("prod", {"offlineStore": {"type": "s3", "bucket": None}}, {},
     "expected a string, found null"),
    ("dev", {"onlineStore": {"type": "redis"}}, {},
     "missing required field 'authToken' for an ElastiCache Redis online store"),
    ("prod", {"onlineStore": {"authToken": "hunter2"}}, {},
     "secret value written inline"),
    ("prod", {"server": {"replicas": {"min": 0, "max": 2}}}, {},
     "expected at least 1 feature server replica"),
    ("local", {"onlineStore": {"type": "redis", "authToken": {
        "arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:redis-AbCdEf"}}}, {},
     "a Secrets Manager reference needs `cloud.provider: aws`"),
])
def test_broken_feature_store_section_is_rejected_before_feast_sees_it(tmp_path, parent, feature_store, top,
                                                                       expected):
    spec_file = broken_spec(tmp_path, parent, feature_store, **top)
    validated = run_cli("validate", str(spec_file))
    assert validated.returncode == 2, validated.stderr
    assert expected in validated.stderr
    assert "broken.yaml:" in validated.stderr  # located in the file that is wrong
    assert "Traceback" not in validated.stderr


def test_a_rejected_spec_renders_no_feature_store_yaml(tmp_path):
    spec_file = broken_spec(tmp_path, "prod", {"onlineStore": {"type": "cassandra"}})
    planned = run_cli("plan", str(spec_file), "--out", str(tmp_path / "plan"))
    assert planned.returncode == 2
    assert not (tmp_path / "plan").exists()


# --- what `stackyard plan prod` holds ----------------------------------------------

@pytest.fixture(scope="module")
def prod():
    return plan_for("prod")


def test_prod_offline_store_bucket_is_encrypted_versioned_private_and_expiring(prod):
    bucket = one(prod, "aws:s3/bucket:Bucket")
    assert bucket["inputs"]["bucket"] == "stackyard-prod-feast-offline"
    assert bucket["protect"] is True
    name = bucket["inputs"]["bucket"]

    key = one(prod, "aws:kms/key:Key")
    assert key["protect"] is True and key["inputs"]["enableKeyRotation"] is True
    encryption = one(prod, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    (rule,) = encryption["inputs"]["rules"]
    assert encryption["inputs"]["bucket"] == name
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    assert rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"].endswith(":key/prod-features-key")

    versioning = one(prod, "aws:s3/bucketVersioning:BucketVersioning")
    assert versioning["inputs"] == {"bucket": name, "versioningConfiguration": {"status": "Enabled"}}

    public_access = one(prod, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")["inputs"]
    assert public_access["bucket"] == name
    assert all(public_access[flag] is True for flag in
               ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))

    lifecycle = one(prod, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")["inputs"]
    expiry = {rule["id"]: rule for rule in lifecycle["rules"]}["expire-offline-feature-data"]
    assert expiry["expiration"] == {"days": 730}  # prod's retentionDays
    assert expiry["filter"] == {"prefix": "offline/"}  # never the registry/ object


def test_prod_online_store_is_encrypted_authenticated_and_protected(prod):
    cache = one(prod, "aws:elasticache/replicationGroup:ReplicationGroup")
    inputs = cache["inputs"]
    assert cache["protect"] is True
    assert inputs["atRestEncryptionEnabled"] is True and inputs["transitEncryptionEnabled"] is True
    assert inputs["authToken"] == "[secret]"
    assert inputs["kmsKeyId"].endswith(":key/prod-features-key")
    assert inputs["nodeType"] == "cache.r7g.large" and inputs["numCacheClusters"] == 2
    assert inputs["automaticFailoverEnabled"] is True and inputs["multiAzEnabled"] is True
    assert inputs["engineVersion"] == "7.1"  # versions.redis
    ingress = [r["inputs"] for r in resources(prod, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
               if r["inputs"]["fromPort"] == fs.REDIS_PORT]
    assert [rule["referencedSecurityGroupId"] for rule in ingress] == ["sg-prod-cluster-eks"]  # the cluster's security group
    assert "cidrIpv4" not in ingress[0]


def test_prod_registry_database_is_protected_encrypted_and_snapshotted(prod):
    database = one(prod, "aws:rds/instance:Instance")
    inputs = database["inputs"]
    assert database["protect"] is True
    assert inputs["engine"] == "postgres" and inputs["engineVersion"] == "16.8"
    assert inputs["storageEncrypted"] is True and inputs["kmsKeyId"].endswith(":key/prod-features-key")
    assert inputs["deletionProtection"] is True
    assert inputs["skipFinalSnapshot"] is False
    assert inputs["finalSnapshotIdentifier"] == "stackyard-prod-feast-registry-final"
    assert inputs["publiclyAccessible"] is False
    assert inputs["password"] == "[secret]"


def test_prod_feature_server_deployment(prod):
    deployment = one(prod, "kubernetes:apps/v1:Deployment", fs.FEATURE_SERVER)
    assert deployment["inputs"]["metadata"]["namespace"] == "feast"
    assert deployment["inputs"]["metadata"]["labels"]["app.kubernetes.io/name"] == fs.FEATURE_SERVER
    pod = deployment["inputs"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "quay.io/feastdev/feature-server:0.67.0"
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert "tcpSocket" in container["livenessProbe"]
    assert container["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"},
                                      "limits": {"cpu": "1", "memory": "2Gi"}}
    assert {"name": "metrics", "containerPort": 8000, "protocol": "TCP"} in container["ports"]
    assert "--metrics" in container["command"]
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["serviceAccountName"] == fs.SERVICE_ACCOUNT
    assert container["envFrom"] == [{"secretRef": {"name": fs.CREDENTIALS_SECRET}}]
    assert {"name": "feature-store-config", "configMap": {"name": fs.CONFIG_MAP}} in pod["volumes"]
    assert "replicas" not in deployment["inputs"]["spec"]  # the autoscaler owns the count


def test_prod_service_autoscaler_and_disruption_budget(prod):
    service = one(prod, "kubernetes:core/v1:Service", fs.FEATURE_SERVER)["inputs"]["spec"]
    assert {port["name"]: port["port"] for port in service["ports"]} == {"http": 6566, "metrics": 8000}
    assert service["selector"]["app.kubernetes.io/name"] == fs.FEATURE_SERVER

    autoscaler = one(prod, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", fs.FEATURE_SERVER)["inputs"]["spec"]
    assert autoscaler["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": fs.FEATURE_SERVER}
    assert (autoscaler["minReplicas"], autoscaler["maxReplicas"]) == (2, 6)

    budget = one(prod, "kubernetes:policy/v1:PodDisruptionBudget", fs.FEATURE_SERVER)["inputs"]["spec"]
    assert budget == {"minAvailable": 1, "selector": {"matchLabels": fs.selector_labels()}}


def test_prod_materialization_cronjob(prod):
    cronjob = one(prod, "kubernetes:batch/v1:CronJob", fs.MATERIALIZATION_JOB)["inputs"]["spec"]
    assert cronjob["schedule"] == "*/15 * * * *"
    assert cronjob["concurrencyPolicy"] == "Forbid"
    pod = cronjob["jobTemplate"]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert "materialize-incremental" in container["command"][-1]
    assert container["image"] == "quay.io/feastdev/feature-server:0.67.0"
    assert pod["spec"]["serviceAccountName"] == fs.SERVICE_ACCOUNT
    # The job's pods must not look like servers to the Service, autoscaler or budget.
    assert pod["metadata"]["labels"]["app.kubernetes.io/name"] == fs.MATERIALIZATION_JOB


def test_prod_iam_role_trusts_one_service_account_and_reaches_only_this_store(prod):
    (role,) = [r for r in resources(prod, "aws:iam/role:Role") if r["parent"].endswith(f"{FEATURES}::prod-features")]
    trust = json.loads(role["inputs"]["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    # the cluster's one OIDC provider (the mock account stands in for the real one)
    assert statement["Principal"]["Federated"].startswith("arn:aws:iam::000000000000:oidc-provider/oidc.eks.")
    conditions = statement["Condition"]["StringEquals"]
    assert sorted(conditions.values()) == ["sts.amazonaws.com", "system:serviceaccount:feast:feast"]

    service_account = one(prod, "kubernetes:core/v1:ServiceAccount", fs.SERVICE_ACCOUNT)["inputs"]
    assert service_account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(f"/{role['inputs'].get('name', role['name'])}")

    (policy,) = [r for r in resources(prod, "aws:iam/rolePolicy:RolePolicy") if r["parent"] == role["parent"]]
    document = json.loads(policy["inputs"]["policy"])
    named = {arn for statement in document["Statement"] for arn in statement["Resource"]}
    bucket = one(prod, "aws:s3/bucket:Bucket")["inputs"]["bucket"]
    key_arn = one(prod, "aws:elasticache/replicationGroup:ReplicationGroup")["inputs"]["kmsKeyId"]
    assert named == {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*", key_arn}
    assert all(statement["Effect"] == "Allow" and "*" not in statement["Action"] for statement in document["Statement"])


def test_stateful_resources_are_protected_in_production_only():
    """Protection follows Spec.production, the definition the policy uses: prod (named so) protects,
    staging and dev (no `policy.production`, other names) do not."""
    stateful = ("aws:s3/bucket:Bucket", "aws:kms/key:Key", "aws:elasticache/replicationGroup:ReplicationGroup",
                "aws:rds/instance:Instance")
    assert all(one(plan_for("prod"), type_)["protect"] for type_ in stateful)
    assert not any(one(plan_for("staging"), type_)["protect"] for type_ in stateful)
    dev = plan_for("dev")
    assert one(dev, "aws:s3/bucket:Bucket")["protect"] is False
    assert one(dev, "aws:kms/key:Key")["protect"] is False


def test_production_is_one_definition_for_protection_and_policy():
    """A copy of prod named `live` with `policy.production: true` is production for both; one named
    prod with `production: false` for neither."""
    import dataclasses

    from components.ownership import Ownership
    from policies.environment import context_from_spec

    prod = loader.load("prod")
    for name, production in (("live", True), ("prod", False)):
        spec = dataclasses.replace(prod, metadata=dataclasses.replace(prod.metadata, name=name),
                                   policy=dataclasses.replace(prod.policy, production=production))
        assert spec.production is production
        assert Ownership.of(spec).protects_state is production
        assert context_from_spec(spec).production is production


def test_dev_dynamodb_scope_is_the_projects_tables():
    dev = plan_for("dev")
    (policy,) = [r for r in resources(dev, "aws:iam/rolePolicy:RolePolicy") if "features" in r["name"]]
    statements = {s["Sid"]: s for s in json.loads(policy["inputs"]["policy"])["Statement"]}
    assert statements["ReadWriteStoreTables"]["Resource"] == [
        "arn:aws:dynamodb:us-east-1:210987654321:table/stackyard_dev.*"]
    assert "dynamodb:CreateTable" not in statements["ReadWriteStoreTables"]["Action"]
    assert resources(dev, "aws:elasticache/replicationGroup:ReplicationGroup") == []


def test_local_runs_redis_and_a_file_registry_in_the_cluster():
    local = plan_for("local")
    assert not [r for r in local["resources"] if r["type"].startswith("aws:")]
    redis = one(local, "kubernetes:apps/v1:StatefulSet", fs.IN_CLUSTER_REDIS)["inputs"]["spec"]
    assert redis["template"]["spec"]["containers"][0]["image"] == "docker.io/library/redis:7.2"
    one(local, "kubernetes:core/v1:Service", fs.IN_CLUSTER_REDIS)
    one(local, "kubernetes:core/v1:PersistentVolumeClaim", fs.DATA_VOLUME_CLAIM)
    config = yaml.safe_load(feature_store_yaml(local))
    assert config["registry"]["path"] == "/data/registry.db"
    assert config["online_store"]["connection_string"] == "feast-redis.feast.svc.cluster.local:6379"


# --- outputs -------------------------------------------------------------------------

def test_component_outputs_online_endpoint_registry_and_server_url():
    from components.ownership import Ownership
    from environments import loader
    from stacks import offline

    spec = loader.load("prod")
    seen: dict[str, str] = {}

    def program():
        import pulumi

        store = fs.FeatureStore("features", fs.FeatureStoreArgs(
            spec.feature_store, spec.cloud, spec.versions, Ownership.of(spec),
            oidc_provider_arn="arn:aws:iam::123456789012:oidc-provider/oidc.example/id/X",
            oidc_issuer="https://oidc.example/id/X"))
        store.online_store_endpoint.apply(lambda value: seen.setdefault("online", value))
        store.registry_location.apply(lambda value: seen.setdefault("registry", value))
        seen["server"] = store.feature_server_url
        pulumi.export("unused", "")

    offline.record("prod", {"feastRedisAuthToken": "x"}, secret_keys=("feastRedisAuthToken",), program=program)
    assert seen == {
        "online": "features-online.cache.mock.amazonaws.com:6379",
        "registry": "postgresql+psycopg://feast@features-registry.rds.mock.amazonaws.com:5432/feast?sslmode=require",
        "server": "http://feast-feature-server.feast.svc.cluster.local:6566",
    }


# --- the pure builders ------------------------------------------------------------------

@pytest.mark.parametrize("text", ["plain", "it's", "a: b # c", "${VAR}", "{project}.{table_name}", "'", ""])
def test_yaml_quote_round_trips(text):
    assert yaml.safe_load(f"key: {fs.yaml_quote(text)}") == {"key": text}


def test_resources_merge_key_by_key_over_the_defaults():
    merged = fs.resource_requirements(env.Resources(requests={"cpu": "2"}, limits={"memory": "4Gi"}))
    assert merged == {"requests": {"cpu": "2", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "4Gi"}}


@pytest.mark.parametrize("minimum, budget", [(1, {"maxUnavailable": 1}), (2, {"minAvailable": 1}),
                                             (5, {"minAvailable": 1})])
def test_disruption_budget_never_blocks_drains_of_a_single_server(minimum, budget):
    spec = fs.disruption_budget_spec(env.Replicas(min=minimum, max=6))
    assert {k: v for k, v in spec.items() if k != "selector"} == budget


def test_access_policy_without_bucket_or_tables_names_only_the_key():
    policy = json.loads(fs.store_access_policy(None, None, "arn:aws:kms:us-east-1:1:key/k"))
    assert [s["Resource"] for s in policy["Statement"]] == [["arn:aws:kms:us-east-1:1:key/k"]]


def test_in_cluster_redis_takes_its_password_from_the_credentials_secret():
    spec = fs.in_cluster_redis_statefulset_spec("docker.io/library/redis:7.2", {}, password=True)
    (container,) = spec["template"]["spec"]["containers"]
    assert container["command"][-2:] == ["--requirepass", "$(FEAST_REDIS_PASSWORD)"]
    assert container["env"] == [{"name": "FEAST_REDIS_PASSWORD", "valueFrom": {
        "secretKeyRef": {"name": fs.CREDENTIALS_SECRET, "key": "FEAST_REDIS_PASSWORD"}}}]
    without = fs.in_cluster_redis_statefulset_spec("docker.io/library/redis:7.2", {}, password=False)
    assert "--requirepass" not in without["template"]["spec"]["containers"][0]["command"]
