"""The naming rules of every Kubernetes and AWS name Stackyard derives, and the helpers that make them.

Each `NameRule` row states the limit and the allowed characters one API holds
a name to, and the documentation it comes from. `stackyard validate` checks
every derived name of a spec against its row (environments/derived_names.py);
the components build the names with the same helpers (`shorten`,
`label_value`, `tag_value`, `feast_aws_name`, `endpoint_role_name`), so what
validate checks is what the program creates.

Two kinds of input, two treatments:
- free text (metadata.owner, metadata.team, costCenter, a team's owner) is
  *sanitised*: characters a label value or tag value may not hold become `_`,
  and a value past the limit keeps a readable prefix and a hash of the whole;
- names the user chooses (environment, pool, endpoint, pipeline, schedule,
  label keys and values, tag keys and values) are *refused* when a name made
  from them breaks a rule, so nothing is renamed behind the user's back.

Standard library only: no Pulumi, no components, no policies.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from typing import Callable, Optional

# --- the rules --------------------------------------------------------------------

_K8S_NAMES = "https://kubernetes.io/docs/concepts/overview/working-with-objects/names/"
_K8S_LABELS = "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set"
_IAM_NAMES = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html#reference_iam-quotas-names"
_TAGS = "https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html#tag-conventions"

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"


@dataclass(frozen=True)
class NameRule:
    """What one API accepts as a name: a length range, a character pattern and a few reserved forms."""

    id: str
    what: str  # what the name names, for messages
    max_length: int
    allowed: str  # the allowed characters and shape, in words
    pattern: str  # the whole name must match
    source: str  # the API documentation the row comes from
    min_length: int = 1
    reserved_prefixes: tuple[str, ...] = ()  # compared case-insensitively
    reserved_suffixes: tuple[str, ...] = ()
    no_double_hyphen: bool = False
    extra: Optional[Callable[[str], Optional[str]]] = None  # a check the pattern cannot express

    def problem(self, name: str) -> Optional[str]:
        """Why `name` breaks this rule, or None."""
        if len(name) > self.max_length:
            return f"is {len(name)} characters; {self.what} allows at most {self.max_length}"
        if len(name) < self.min_length:
            return f"is {len(name)} characters; {self.what} needs at least {self.min_length}"
        if not re.fullmatch(self.pattern, name, flags=re.UNICODE):
            return f"is not a valid {self.what}: expected {self.allowed}"
        if self.no_double_hyphen and "--" in name:
            return f"contains '--'; {self.what} may not contain two consecutive hyphens"
        for prefix in self.reserved_prefixes:
            if name.lower().startswith(prefix):
                return f"starts with {prefix!r}, which {self.what} reserves"
        for suffix in self.reserved_suffixes:
            if name.endswith(suffix):
                return f"ends with {suffix!r}, which {self.what} reserves"
        return self.extra(name) if self.extra else None


def _label_key_problem(key: str) -> Optional[str]:
    prefix, slash, name = key.rpartition("/")
    if slash and (len(prefix) > 253 or not re.fullmatch(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*", prefix)):
        return f"has prefix {prefix!r}, which is not a DNS-1123 subdomain of at most 253 characters"
    if "/" in prefix:
        return "has more than one '/'"
    if len(name) > 63 or not re.fullmatch(_QUALIFIED_NAME, name):
        return (f"has name part {name!r}: expected at most 63 letters, digits, '-', '_' or '.', "
                "beginning and ending with a letter or digit")
    return None


def _not_an_ip_address(name: str) -> Optional[str]:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return None
    return "is formatted as an IP address, which S3 bucket names may not be"


def _tag_text(text: str) -> bool:
    """AWS tag keys and values: Unicode letters, digits and spaces, and `_ . : / = + - @`."""
    return all(ch in "_.:/=+-@" or unicodedata.category(ch)[0] in "LNZ" for ch in text)


def _tag_problem(text: str) -> Optional[str]:
    return None if _tag_text(text) else (
        "holds characters AWS tags do not allow: expected Unicode letters, digits, spaces and _ . : / = + - @")


_RULE_LIST = (
    # Kubernetes object names and metadata.
    NameRule("k8s.dns1123-subdomain", "Kubernetes object name (DNS-1123 subdomain)", 253,
             "lowercase letters, digits, '-' and '.', beginning and ending with a letter or digit",
             rf"{_DNS_LABEL}(\.{_DNS_LABEL})*", _K8S_NAMES + "#dns-subdomain-names"),
    NameRule("k8s.dns1123-label", "Kubernetes name (DNS-1123 label)", 63,
             "lowercase letters, digits and '-', beginning and ending with a letter or digit",
             _DNS_LABEL, _K8S_NAMES + "#dns-label-names"),
    NameRule("k8s.dns1035-label", "Kubernetes Service or InferenceService name (DNS-1035 label)", 63,
             "lowercase letters, digits and '-', beginning with a letter and ending with a letter or digit",
             r"[a-z]([-a-z0-9]*[a-z0-9])?", _K8S_NAMES + "#rfc-1035-label-names"),
    NameRule("k8s.cronjob-name", "CronJob name (a DNS-1123 subdomain; the Jobs it creates add 11 characters)",
             52, "lowercase letters, digits, '-' and '.', beginning and ending with a letter or digit",
             rf"{_DNS_LABEL}(\.{_DNS_LABEL})*",
             "https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#writing-a-cronjob-spec"),
    NameRule("helm.release-name", "Helm release name", 53,
             "lowercase letters, digits, '-' and '.', beginning and ending with a letter or digit",
             rf"{_DNS_LABEL}(\.{_DNS_LABEL})*", "https://github.com/helm/helm/commit/52a029dcde7562d1d652a5b2c841c92c25145f15"),
    NameRule("k8s.label-key", "Kubernetes label key", 253 + 1 + 63,
             "an optional DNS-1123 subdomain prefix and '/', then at most 63 letters, digits, '-', '_' or '.'",
             r"[^\s]+", _K8S_LABELS, extra=_label_key_problem),
    NameRule("k8s.label-value", "Kubernetes label value", 63,
             "letters, digits, '-', '_' and '.', beginning and ending with a letter or digit (or empty)",
             rf"({_QUALIFIED_NAME})?", _K8S_LABELS, min_length=0),
    NameRule("k8s.annotations-size", "Kubernetes annotations of one object (total bytes of keys and values)",
             256 * 1024, "any text", r"(?s).*",
             "https://kubernetes.io/docs/concepts/overview/working-with-objects/annotations/#syntax-and-character-set",
             min_length=0),
    # AWS names, per resource.
    NameRule("aws.iam.role-name", "IAM role name", 64, "letters, digits and + = , . @ _ -",
             r"[A-Za-z0-9+=,.@_-]+", _IAM_NAMES),
    NameRule("aws.iam.role-name-prefix", "IAM role name prefix (the provider adds 26 characters)", 38,
             "letters, digits and + = , . @ _ -", r"[A-Za-z0-9+=,.@_-]+",
             "https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/iam_role#name_prefix-1"),
    NameRule("aws.iam.policy-name", "IAM inline policy name", 128, "letters, digits and + = , . @ _ -",
             r"[A-Za-z0-9+=,.@_-]+", "https://docs.aws.amazon.com/IAM/latest/APIReference/API_PutRolePolicy.html"),
    NameRule("aws.s3.bucket", "S3 bucket name", 63,
             "lowercase letters, digits, '.' and '-', beginning and ending with a letter or digit, no '..'",
             r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", "https://docs.aws.amazon.com/AmazonS3/latest/userguide/"
             "bucketnamingrules.html", min_length=3, reserved_prefixes=("xn--", "sthree-", "amzn-s3-demo-"),
             reserved_suffixes=("-s3alias", "--ol-s3", ".mrap", "--x-s3"),
             extra=lambda name: "contains '..', which S3 bucket names may not" if ".." in name
             else _not_an_ip_address(name)),
    NameRule("aws.elasticache.replication-group-id", "ElastiCache replication group id", 40,
             "letters, digits and '-', beginning with a letter, not ending with '-'",
             r"[A-Za-z]([A-Za-z0-9-]*[A-Za-z0-9])?", "https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/"
             "API_CreateReplicationGroup.html", no_double_hyphen=True),
    NameRule("aws.elasticache.subnet-group", "ElastiCache subnet group name", 255, "letters, digits and '-'",
             r"[A-Za-z0-9-]+", "https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/"
             "API_CreateCacheSubnetGroup.html"),
    NameRule("aws.rds.identifier", "RDS DB instance identifier", 63,
             "letters, digits and '-', beginning with a letter, not ending with '-'",
             r"[A-Za-z]([A-Za-z0-9-]*[A-Za-z0-9])?", "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/"
             "API_CreateDBInstance.html", no_double_hyphen=True),
    NameRule("aws.rds.snapshot-identifier", "RDS DB snapshot identifier", 255,
             "letters, digits and '-', beginning with a letter, not ending with '-'",
             r"[A-Za-z]([A-Za-z0-9-]*[A-Za-z0-9])?", "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/"
             "API_CreateDBSnapshot.html", no_double_hyphen=True),
    NameRule("aws.rds.subnet-group", "RDS DB subnet group name", 255,
             "letters, digits, '.', '_', spaces and '-', beginning with a letter, not 'default'",
             r"[A-Za-z][A-Za-z0-9._ -]*", "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/"
             "API_CreateDBSubnetGroup.html", extra=lambda name: "is 'default', which RDS reserves"
             if name.lower() == "default" else None),
    NameRule("aws.kms.alias", "KMS alias name", 256, "'alias/' then letters, digits, '/', '_' and '-'",
             r"alias/[A-Za-z0-9/_-]+", "https://docs.aws.amazon.com/kms/latest/developerguide/alias-create.html",
             reserved_prefixes=("alias/aws/",)),
    NameRule("aws.ec2.security-group", "EC2 security group name", 255,
             "letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*", r"[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]+",
             "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html",
             reserved_prefixes=("sg-",)),
    NameRule("aws.eks.cluster-name", "EKS cluster name", 100,
             "letters, digits, '-' and '_', beginning with a letter or digit", r"[0-9A-Za-z][A-Za-z0-9_-]*",
             "https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateCluster.html"),
    NameRule("aws.eks.nodegroup-name", "EKS node group name", 63,
             "letters, digits, '-' and '_', beginning with a letter or digit", r"[0-9A-Za-z][A-Za-z0-9_-]*",
             "https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateNodegroup.html"),
    NameRule("aws.ec2.launch-template-name", "EC2 launch template name", 128, "letters, digits and ( ) . - / _",
             r"[A-Za-z0-9().\-/_]+", "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/"
             "API_CreateLaunchTemplate.html", min_length=3),
    NameRule("aws.logs.log-group-name", "CloudWatch log group name", 512, "letters, digits and . - _ / #",
             r"[A-Za-z0-9.\-_/#]+", "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/"
             "API_CreateLogGroup.html"),
    NameRule("aws.sqs.queue-name", "SQS queue name", 80, "letters, digits, '-' and '_'", r"[A-Za-z0-9_-]+",
             "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html"),
    NameRule("aws.eventbridge.rule-name", "EventBridge rule name", 64, "letters, digits and . - _",
             r"[A-Za-z0-9.\-_]+", "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html"),
    NameRule("aws.tag-key", "AWS tag key", 128, "Unicode letters, digits, spaces and _ . : / = + - @", r"(?s).+",
             _TAGS, reserved_prefixes=("aws:",), extra=_tag_problem),
    NameRule("aws.tag-value", "AWS tag value", 256, "Unicode letters, digits, spaces and _ . : / = + - @",
             r"(?s).*", _TAGS, min_length=0, reserved_prefixes=("aws:",), extra=_tag_problem),
)

RULES: dict[str, NameRule] = {rule.id: rule for rule in _RULE_LIST}


def problem(rule_id: str, name: str) -> Optional[str]:
    return RULES[rule_id].problem(name)


# Pulumi names these resource types itself when the program gives no name: the logical name,
# '-' and 7 random characters (pulumi-aws provider/resources.go: tfbridge.AutoName(..., maxlen)).
# Type -> (the property Pulumi fills, the rule the name must pass).
AUTONAME_SUFFIX_LENGTH = 8
AUTONAMED = {
    "aws:iam/role:Role": ("name", "aws.iam.role-name"),
    "aws:iam/rolePolicy:RolePolicy": ("name", "aws.iam.policy-name"),
    "aws:eks/nodeGroup:NodeGroup": ("nodeGroupName", "aws.eks.nodegroup-name"),
    "aws:ec2/launchTemplate:LaunchTemplate": ("name", "aws.ec2.launch-template-name"),
    "aws:sqs/queue:Queue": ("name", "aws.sqs.queue-name"),
    "aws:cloudwatch/eventRule:EventRule": ("name", "aws.eventbridge.rule-name"),
}


def autoname_sample(logical_name: str) -> str:
    """The longest name Pulumi's auto-naming gives a resource of this logical name."""
    return f"{logical_name}-{'x' * (AUTONAME_SUFFIX_LENGTH - 1)}"


# --- making names -----------------------------------------------------------------

HASH_LENGTH = 8


def name_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_LENGTH]


def shorten(name: str, limit: int) -> str:
    """`name` if it fits in `limit`; else a readable prefix, '-' and a hash of the whole name.

    Two different names never shorten to one (the hash covers the whole input),
    and a name that fits is never changed, so plans stay byte-identical.
    """
    if len(name) <= limit:
        return name
    prefix = name[:limit - HASH_LENGTH - 1].rstrip("-_.")
    return f"{prefix}-{name_hash(name)}"


def label_value(text: str) -> str:
    """Free text as a valid Kubernetes label value: ASCII letters, digits and `_.-`, at most 63."""
    cleaned = "".join(ch if (ch.isascii() and ch.isalnum()) or ch in "_.-" else "_" for ch in text)
    cleaned = cleaned.strip("_.-")
    if not cleaned and text:
        return f"x{name_hash(text)}"  # nothing readable survives; the hash still tells values apart
    return shorten(cleaned, RULES["k8s.label-value"].max_length)


def tag_value(text: str) -> str:
    """Free text as a valid AWS tag value: disallowed characters become `_`, at most 256."""
    cleaned = "".join(ch if _tag_text(ch) else "_" for ch in text)
    if cleaned.lower().startswith("aws:"):
        cleaned = "_" + cleaned[1:]
    return shorten(cleaned, RULES["aws.tag-value"].max_length)


def feast_aws_name(environment: str, suffix: str = "", limit: int = 40) -> str:
    """The AWS name of one of the feature store's resources: `stackyard-<env>-feast[-<suffix>]`."""
    return shorten(f"stackyard-{environment}-feast" + (f"-{suffix}" if suffix else ""), limit)


def endpoint_role_name(environment: str, endpoint: str) -> str:
    """The IAM role name of an endpoint's model reader."""
    return shorten(f"stackyard-{environment}-{endpoint}-model-reader", RULES["aws.iam.role-name"].max_length)


def autoscaling_tag_slug(text: str) -> str:
    """How a node-template tag key reads inside a Pulumi logical name."""
    return "".join(ch if ch.isalnum() or ch in "-." else "-" for ch in text)


# Namespaces the platform itself installs into or owns (components/serving.py, karpenter.py,
# cluster_autoscaler.py, gpu_software.py) and those Kubernetes creates; a team may take none of them.
PLATFORM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease",
                       "cert-manager", "kserve", "knative-operator", "knative-serving")
