"""AWS rules: encrypted and private storage, hardened nodes, a locked-down EKS control plane, tags.

Written against the resource tokens and wire property names of pulumi-aws 7.
S3 settings are separate resources there (`aws:s3/bucketServerSideEncryption-
Configuration`, `...PublicAccessBlock`, `...Versioning`, and their V2
aliases), so the bucket rules correlate them with the bucket they reference:
by the URN among their dependencies or by the bucket name in their `bucket`
input. The deprecated inline settings of `Bucket`/`BucketV2` are honoured too.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources as package_files
from typing import Callable, Optional, Sequence

from policies.rules import networks
from policies.rules.model import (STACK_SCOPE, UNKNOWN, Context, Frameworks, Resource, Rule, as_list, as_map,
                                  dig, is_true, json_text)

BUCKET_TYPES = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
ENCRYPTION_TYPES = ("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2")
PUBLIC_ACCESS_BLOCK_TYPE = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
VERSIONING_TYPES = ("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")

EKS_CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EC2_INSTANCE = "aws:ec2/instance:Instance"
EBS_VOLUME = "aws:ebs/volume:Volume"
CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")

RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
DYNAMODB_TABLE = "aws:dynamodb/table:Table"
REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
EFS_FILE_SYSTEM = "aws:efs/fileSystem:FileSystem"
STATEFUL_TYPES = (*BUCKET_TYPES, RDS_INSTANCE, RDS_CLUSTER, DYNAMODB_TABLE, REPLICATION_GROUP,
                  "aws:elasticache/cluster:Cluster", EFS_FILE_SYSTEM, EBS_VOLUME)

OWNERSHIP_TAGS = ("owner", "cost-center", "environment")
OWNERSHIP_PREFIX = "stackyard.dev/"
AWS_PROVIDER = "pulumi:providers:aws"


@lru_cache(maxsize=1)
def taggable_types() -> frozenset[str]:
    """Every pulumi-aws resource token with a `tags` input (generated from the SDK; see tests)."""
    text = package_files.files("policies.rules").joinpath("aws_taggable_types.txt").read_text()
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def _of_type(resources: Sequence[Resource], types: Sequence[str]) -> list[Resource]:
    return [r for r in resources if r.type in types]


def _bucket_names(bucket: Resource) -> set[str]:
    return {name for name in (bucket.inputs.get("bucket"), bucket.inputs.get("id"))
            if isinstance(name, str) and name not in ("", UNKNOWN)}


def settings_of_buckets(settings: Sequence[Resource]) -> Callable[[Resource], list[Resource]]:
    """`bucket -> the settings that configure it` (in their order): a bucket-level setting configures
    the bucket it depends on, or the one its `bucket` input names. Indexed by those URNs and names,
    so each bucket costs a few lookups (checking every setting against every bucket was quadratic)."""
    by_key: dict[tuple[str, str], list[int]] = {}
    for order, setting in enumerate(settings):
        for urn in setting.dependencies:
            by_key.setdefault(("urn", urn), []).append(order)
        target = setting.inputs.get("bucket")
        if isinstance(target, str):
            by_key.setdefault(("name", target), []).append(order)

    def of(bucket: Resource) -> list[Resource]:
        keys = [("urn", bucket.urn), *(("name", name) for name in _bucket_names(bucket))]
        return [settings[order] for order in sorted({o for key in keys for o in by_key.get(key, ())})]

    return of


def _bucket_label(bucket: Resource) -> str:
    return f"bucket {bucket.inputs.get('bucket') or bucket.name!r}"


def _inline_algorithms(bucket: Resource) -> list[str]:
    inputs = bucket.inputs
    found = [dig(inputs, "serverSideEncryptionConfiguration", "rule", "applyServerSideEncryptionByDefault",
                 "sseAlgorithm")]
    for configuration in as_list(inputs.get("serverSideEncryptionConfigurations")):
        for rule in as_list(as_map(configuration).get("rules")):
            for default in as_list(as_map(rule).get("applyServerSideEncryptionByDefaults")):
                found.append(as_map(default).get("sseAlgorithm"))
    return [str(a) for a in found if a]


def buckets_encrypted_with_kms(resources: Sequence[Resource], context: Context) -> dict[str, list[str]]:
    configurations = settings_of_buckets(_of_type(resources, ENCRYPTION_TYPES))
    results = {}
    for bucket in _of_type(resources, BUCKET_TYPES):
        algorithms = _inline_algorithms(bucket)
        for configuration in configurations(bucket):
            algorithms += [str(dig(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm") or "")
                               for rule in as_list(configuration.inputs.get("rules"))]
        if not algorithms:
            results[bucket.urn] = [f"{_bucket_label(bucket)} has no server-side encryption configuration"]
        elif not any(a in KMS_ALGORITHMS for a in algorithms):
            results[bucket.urn] = [f"{_bucket_label(bucket)} is encrypted with {', '.join(sorted(set(algorithms)))}, "
                                   "not a KMS key (aws:kms)"]
        else:
            results[bucket.urn] = []
    return results


def buckets_block_public_access(resources: Sequence[Resource], context: Context) -> dict[str, list[str]]:
    blocks = settings_of_buckets(_of_type(resources, (PUBLIC_ACCESS_BLOCK_TYPE,)))
    results = {}
    for bucket in _of_type(resources, BUCKET_TYPES):
        enabled = {flag for block in blocks(bucket)
                   for flag in PUBLIC_ACCESS_FLAGS if is_true(block.inputs.get(flag))}
        missing = [flag for flag in PUBLIC_ACCESS_FLAGS if flag not in enabled]
        if len(missing) == len(PUBLIC_ACCESS_FLAGS):
            results[bucket.urn] = [f"{_bucket_label(bucket)} has no public access block"]
        elif missing:
            results[bucket.urn] = [f"{_bucket_label(bucket)}'s public access block does not set "
                                   f"{', '.join(missing)} to true"]
        else:
            results[bucket.urn] = []
    return results


def buckets_versioned(resources: Sequence[Resource], context: Context) -> dict[str, list[str]]:
    settings = settings_of_buckets(_of_type(resources, VERSIONING_TYPES))
    results = {}
    for bucket in _of_type(resources, BUCKET_TYPES):
        inline = is_true(dig(bucket.inputs, "versioning", "enabled")) or any(
            is_true(as_map(v).get("enabled")) for v in as_list(bucket.inputs.get("versionings")))
        statuses = [str(dig(s.inputs, "versioningConfiguration", "status")) for s in settings(bucket)]
        if inline or "Enabled" in statuses:
            results[bucket.urn] = []
        else:
            found = f" (status {', '.join(statuses)})" if statuses else ""
            results[bucket.urn] = [f"{_bucket_label(bucket)} is not versioned{found}; an overwritten model, "
                                   "feature file or pipeline artifact cannot be recovered"]
    return results


def _mapping_problems(what: str, mappings: list) -> list[str]:
    ebs = [as_map(as_map(m).get("ebs")) for m in mappings if as_map(m).get("ebs")]
    if not ebs:
        return [f"{what} declares no EBS block device mappings, so the root volume takes the AMI's "
                "unencrypted default"]
    return [f"{what} volume {as_map(m).get('deviceName')!r} is not encrypted" for m in mappings
            if as_map(m).get("ebs") and not is_true(as_map(as_map(m).get("ebs")).get("encrypted"))]


def volumes_encrypted(resource: Resource, context: Context) -> Optional[list[str]]:
    inputs = resource.inputs
    if resource.type == LAUNCH_TEMPLATE:
        return _mapping_problems("launch template", as_list(inputs.get("blockDeviceMappings")))
    if resource.type == EBS_VOLUME:
        return [] if is_true(inputs.get("encrypted")) else ["EBS volume is not encrypted"]
    if resource.type == EC2_INSTANCE:
        problems = [] if is_true(dig(inputs, "rootBlockDevice", "encrypted")) else [
            "instance root volume is not encrypted"]
        return problems + [f"instance volume {as_map(d).get('deviceName')!r} is not encrypted"
                           for d in as_list(inputs.get("ebsBlockDevices")) if not is_true(as_map(d).get("encrypted"))]
    if resource.type == NODE_GROUP:
        if as_map(inputs.get("launchTemplate")):
            return []
        return ["managed node group has no launch template: EKS creates its root volumes from diskSize "
                "without explicit encryption"]
    if resource.is_kubernetes_object and resource.kind == "EC2NodeClass":
        return _mapping_problems("EC2NodeClass", as_list(dig(inputs, "spec", "blockDeviceMappings")))
    return None


def _metadata_problem(what: str, options: dict, default_required: bool = False) -> list[str]:
    tokens = options.get("httpTokens") or ("required" if default_required else None)
    if options.get("httpEndpoint") == "disabled" or tokens == "required":
        return []
    found = f"httpTokens {tokens!r}" if tokens else "no metadataOptions.httpTokens (EC2 defaults to optional)"
    return [f"{what} allows IMDSv1 ({found}); pods can steal the node role's credentials with one request"]


def imdsv2_required(resource: Resource, context: Context) -> Optional[list[str]]:
    if resource.type in (LAUNCH_TEMPLATE, EC2_INSTANCE):
        what = "launch template" if resource.type == LAUNCH_TEMPLATE else "instance"
        return _metadata_problem(what, dict(as_map(resource.inputs.get("metadataOptions"))))
    if resource.is_kubernetes_object and resource.kind == "EC2NodeClass":
        # Karpenter v1 defaults httpTokens to required.
        return _metadata_problem("EC2NodeClass", dict(as_map(dig(resource.inputs, "spec", "metadataOptions"))),
                                 default_required=True)
    return None


def eks_api_not_open(resource: Resource, context: Context) -> Optional[list[str]]:
    if resource.type != EKS_CLUSTER:
        return None
    vpc = as_map(resource.inputs.get("vpcConfig"))
    public = vpc.get("endpointPublicAccess")
    if public is False:
        return []
    cidrs = [str(c) for c in as_list(vpc.get("publicAccessCidrs"))]
    if not cidrs:
        return ["EKS API endpoint is public to 0.0.0.0/0 (the default); make it private or allow-list networks "
                "with publicAccessCidrs"]
    exposure = networks.exposure_problem(cidrs)
    if exposure:
        return [f"EKS API endpoint is public to {exposure}; or make it private"]
    return []


IAM_POLICY_TYPES = ("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy", "aws:iam/userPolicy:UserPolicy",
                    "aws:iam/groupPolicy:GroupPolicy")
_S3_ARN = "arn:aws:s3:::"


def _s3_actions(statement: dict) -> list[str]:
    actions = statement.get("Action")
    return [str(a) for a in (actions if isinstance(actions, list) else [actions]) if str(a).lower().startswith(("s3:", "*"))]


def s3_grants_concrete(resource: Resource, context: Context) -> Optional[list[str]]:
    """S3 permissions name concrete buckets: no wildcard in a bucket name, no `*` resource, one bucket per policy."""
    if resource.type not in IAM_POLICY_TYPES:
        return None
    document = json_text(resource.inputs.get("policy"))
    statements = document.get("Statement")
    statements = statements if isinstance(statements, list) else [statements]
    problems, buckets = [], set()
    for statement in statements:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow" or not _s3_actions(statement):
            continue
        targets = statement.get("Resource")
        for target in (targets if isinstance(targets, list) else [targets]):
            target = str(target)
            if not target.startswith(_S3_ARN):
                problems.append(f"grants {', '.join(_s3_actions(statement))} on {target!r}, not a concrete S3 ARN")
                continue
            bucket = target[len(_S3_ARN):].split("/", 1)[0]
            if not bucket or any(c in bucket for c in "*?$"):
                problems.append(f"grants {', '.join(_s3_actions(statement))} on {target!r}: a wildcard bucket")
            buckets.add(bucket)
    if len(buckets) > 1:
        problems.append(f"one policy grants S3 access across buckets {sorted(buckets)}; grant each reader "
                        "its own bucket and prefix")
    return problems


def eks_secrets_encrypted(resource: Resource, context: Context) -> Optional[list[str]]:
    if resource.type != EKS_CLUSTER:
        return None
    configuration = as_map(resource.inputs.get("encryptionConfig"))
    if "secrets" not in [str(r) for r in as_list(configuration.get("resources"))]:
        return ["EKS cluster does not envelope-encrypt Kubernetes secrets with a KMS key (encryptionConfig)"]
    if not dig(configuration, "provider", "keyArn"):
        return ["EKS secrets encryption names no KMS key (encryptionConfig.provider.keyArn)"]
    return []


def eks_control_plane_logged(resource: Resource, context: Context) -> Optional[list[str]]:
    if resource.type != EKS_CLUSTER:
        return None
    enabled = [str(t) for t in as_list(resource.inputs.get("enabledClusterLogTypes"))]
    missing = [t for t in CONTROL_PLANE_LOG_TYPES if t not in enabled]
    return [f"EKS control-plane logging misses {', '.join(missing)}"] if missing else []


def _tag_keys(tags: dict) -> set[str]:
    return {str(key) for key, value in tags.items() if value not in (None, "")}


def resources_tagged(resources: Sequence[Resource], context: Context) -> dict[str, list[str]]:
    taggable = taggable_types()
    providers = {r.urn: r for r in resources if r.type == AWS_PROVIDER}
    results = {}
    for resource in resources:
        if resource.type not in taggable:
            continue
        keys = _tag_keys(dict(as_map(resource.inputs.get("tags"))))
        provider = providers.get(resource.provider)
        if provider is not None:
            keys |= _tag_keys(dict(as_map(json_text(provider.inputs.get("defaultTags")).get("tags"))))
        missing = [key for key in OWNERSHIP_TAGS if OWNERSHIP_PREFIX + key not in keys and key not in keys]
        results[resource.urn] = [] if not missing else [
            f"{resource.type.rsplit(':', 1)[-1]} {resource.name!r} lacks the tag(s) "
            f"{', '.join(OWNERSHIP_PREFIX + key for key in missing)}"]
    return results


def stateful_stores_protected(resource: Resource, context: Context) -> Optional[list[str]]:
    if not context.production or resource.type not in STATEFUL_TYPES:
        return None
    inputs = resource.inputs
    kind = resource.type.rsplit(":", 1)[-1]
    problems = [] if resource.protect else [
        f"{kind} {resource.name!r} is not protected (Pulumi `protect`); a refactor can delete it"]
    if resource.type in (RDS_INSTANCE, RDS_CLUSTER):
        if inputs.get("deletionProtection") is not True:
            problems.append(f"{kind} {resource.name!r} does not set deletionProtection")
        if inputs.get("skipFinalSnapshot") is True:
            problems.append(f"{kind} {resource.name!r} skips the final snapshot on deletion")
    if resource.type == DYNAMODB_TABLE and inputs.get("deletionProtectionEnabled") is not True:
        problems.append(f"Table {resource.name!r} does not set deletionProtectionEnabled")
    if resource.type in BUCKET_TYPES and inputs.get("forceDestroy") is True:
        problems.append(f"{kind} {resource.name!r} sets forceDestroy, which deletes every object with the bucket")
    return problems


def data_stores_encrypted(resource: Resource, context: Context) -> Optional[list[str]]:
    inputs = resource.inputs
    kind = resource.type.rsplit(":", 1)[-1]
    if resource.type in (RDS_INSTANCE, RDS_CLUSTER, EFS_FILE_SYSTEM):
        key = "encrypted" if resource.type == EFS_FILE_SYSTEM else "storageEncrypted"
        return [] if inputs.get(key) is True else [f"{kind} {resource.name!r} is not encrypted at rest ({key})"]
    if resource.type == REPLICATION_GROUP:
        return [f"ReplicationGroup {resource.name!r} does not set {flag}"
                for flag in ("atRestEncryptionEnabled", "transitEncryptionEnabled") if not is_true(inputs.get(flag))]
    return None


RULES = (
    Rule("SY-AWS-001", "S3 buckets are encrypted with a KMS key", "high", "mandatory",
         "Models, features and pipeline artifacts are the organisation's data; a KMS key adds an access "
         "control and an audit trail on every read.",
         "Add an aws.s3.BucketServerSideEncryptionConfiguration for the bucket with sse_algorithm 'aws:kms'.",
         Frameworks(nist_ai_rmf=("MEASURE 2.7",)), buckets_encrypted_with_kms, STACK_SCOPE),
    Rule("SY-AWS-002", "S3 buckets block all four kinds of public access", "critical", "mandatory",
         "One public ACL or bucket policy publishes training data or model weights to the internet.",
         "Add an aws.s3.BucketPublicAccessBlock for the bucket with all four flags true.",
         Frameworks(nist_ai_rmf=("MEASURE 2.7",)), buckets_block_public_access, STACK_SCOPE),
    Rule("SY-AWS-003", "S3 buckets holding models, features and artifacts are versioned", "medium", "mandatory",
         "Versioning makes an overwritten or deleted model, feature file or pipeline artifact recoverable and "
         "lets an audit reproduce what was served.",
         "Add an aws.s3.BucketVersioning for the bucket with status 'Enabled'.",
         Frameworks(nist_ai_rmf=("MANAGE 2.4",)), buckets_versioned, STACK_SCOPE),
    Rule("SY-AWS-004", "EBS and launch-template volumes are encrypted", "high", "mandatory",
         "Node volumes hold container images, model caches and scratch data; unencrypted snapshots of them "
         "can be shared or copied.",
         "Set ebs.encrypted on every launch template block device mapping (and EBS volume, instance and "
         "Karpenter EC2NodeClass); give managed node groups a launch template.",
         Frameworks(nist_ai_rmf=("MEASURE 2.7",)), volumes_encrypted),
    Rule("SY-AWS-005", "Instances require IMDSv2", "high", "mandatory",
         "With IMDSv1 any pod that can make one HTTP request (SSRF included) reads the node role's "
         "credentials.",
         "Set metadata_options.http_tokens='required' (and a hop limit of 1-2) on launch templates and "
         "instances.",
         Frameworks(nist_ai_rmf=("MEASURE 2.7",)), imdsv2_required),
    Rule("SY-AWS-006", "The EKS API endpoint is not public to 0.0.0.0/0", "critical", "mandatory",
         "A public Kubernetes API invites credential stuffing and zero-day exploitation from the whole "
         "internet.",
         "Set cluster.endpointPublicAccess: false, or allow-list networks in cluster.publicAccessCidrs.",
         Frameworks(("5.4.1", "5.4.2"), None, ("MEASURE 2.7",)), eks_api_not_open),
    Rule("SY-AWS-007", "EKS envelope-encrypts Kubernetes secrets with KMS", "high", "mandatory",
         "Without envelope encryption, secrets sit in etcd protected only by the disk encryption AWS "
         "controls.",
         "Give the cluster an encryptionConfig for resources ['secrets'] with a customer-managed KMS key.",
         Frameworks(("5.3.1",), None, ("MEASURE 2.7",)), eks_secrets_encrypted),
    Rule("SY-AWS-008", "EKS control-plane logging is on for all five log types", "medium", "mandatory",
         "Audit and authenticator logs are the only record of who did what to the cluster.",
         "Set cluster.logging to [api, audit, authenticator, controllerManager, scheduler].",
         Frameworks(("2.1.1",), None, ("GOVERN 1.4",)), eks_control_plane_logged),
    Rule("SY-AWS-009", "Taggable AWS resources carry owner, cost-center and environment tags", "low", "mandatory",
         "Untagged spend cannot be attributed and untagged resources cannot be traced to an owner in an "
         "incident.",
         "Pass components.ownership.Ownership.tags() as `tags` (or set them as the AWS provider's "
         "default_tags).",
         Frameworks(nist_ai_rmf=("GOVERN 2.1",)), resources_tagged, STACK_SCOPE),
    Rule("SY-AWS-010", "Stateful stores are protected from deletion in production", "high", "mandatory",
         "A renamed resource or a removed spec section must not delete the feature registry, the online "
         "store or the model bucket.",
         "Create stateful resources with ResourceOptions(protect=True) in production, and set the store's own "
         "deletion protection (RDS deletionProtection, DynamoDB deletionProtectionEnabled, no forceDestroy).",
         Frameworks(nist_ai_rmf=("MANAGE 2.4",)), stateful_stores_protected),
    Rule("SY-AWS-011", "Databases and caches are encrypted at rest and in transit", "high", "mandatory",
         "The feature registry and the online store hold features derived from customer data.",
         "Set storageEncrypted on RDS, encrypted on EFS, and atRestEncryptionEnabled and "
         "transitEncryptionEnabled on ElastiCache replication groups.",
         Frameworks(nist_ai_rmf=("MEASURE 2.7",)), data_stores_encrypted),
    Rule("SY-AWS-012", "IAM policies grant S3 access to one concrete bucket, no wildcards", "critical", "mandatory",
         "A model source or policy naming `*` as bucket lets a workload read every bucket of the account; "
         "registry answers and lock files are untrusted, so the grant must be checked where it is made.",
         "Grant s3 actions on arn:aws:s3:::<bucket>/<prefix>/* of one bucket; lock models stored under a "
         "concrete bucket and prefix (serving.registry.allowedBuckets limits which).",
         Frameworks(nist_ai_rmf=("MEASURE 2.7",)), s3_grants_concrete),
)
