"""Naming rules (environments/naming.py): each rule at its limit, the sanitisers, and shortening.

Every row of the table is tested at its length limit and one past it, with
characters it allows and characters it refuses; the sanitisers and the
shortening are property-tested: whatever the input, the output passes the
rule, and two different inputs never give one name.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings, strategies as st

from conftest import HYPOTHESIS_PROFILE
from environments import naming

# Cheap properties: a tenth of the profile's examples (100 in ci); the API-model one a 25th.
PROFILE = settings.get_profile(HYPOTHESIS_PROFILE)

# rule id -> (a character the rule allows everywhere, names it accepts, names it refuses)
CASES = {
    "k8s.dns1123-subdomain": ("a", ["a", "a.b-c", "0abc"], ["A", "-a", "a-", "a_b", "a..b", ".a"]),
    "k8s.dns1123-label": ("a", ["a", "a-b", "1ranker"], ["a.b", "A", "-a", "a-", "a_b"]),
    "k8s.dns1035-label": ("a", ["a", "a-b", "ranker1"], ["1ranker", "a.b", "A", "a-"]),
    "k8s.cronjob-name": ("a", ["drift-a", "a.b"], ["Drift", "-a", "a_b"]),
    "helm.release-name": ("a", ["kube-prometheus-stack", "kserve-crd"], ["Kserve", "-a", "a_b"]),
    "k8s.label-key": ("a", ["tier", "example.com/tier", "a.b/c_d-e.f", "k8s.io/x"],
                      ["example.com/", "/tier", "Example.com/tier", "a/b/c", "tier-", "example_com/tier", "ti er"]),
    "k8s.label-value": ("a", ["", "a", "ML_Platform.Core-1"], ["ML Platform (Core)", "café", "-a", "a-", "a/b"]),
    "aws.iam.role-name": ("a", ["a", "Role+=,.@_-1"], ["a b", "a/b", "a:b", "rôle"]),
    "aws.iam.role-name-prefix": ("a", ["a", "stackyard-prod-"], ["a b", "a/b"]),
    "aws.iam.policy-name": ("a", ["feature-store-access"], ["a b", "a/b"]),
    "aws.s3.bucket": ("a", ["abc", "my.bucket-1"], ["ab", "Abc", "a..b", "-ab", "ab-", "192.168.5.4", "xn--abc",
                                                    "sthree-abc", "abc-s3alias", "abc--ol-s3", "a_b"]),
    "aws.elasticache.replication-group-id": ("a", ["a", "stackyard-prod-feast"],
                                             ["1abc", "a--b", "ab-", "a_b", "a.b"]),
    "aws.elasticache.subnet-group": ("a", ["stackyard-prod-feast-cache"], ["a_b", "a b", "a.b"]),
    "aws.rds.identifier": ("a", ["a", "stackyard-prod-feast-registry"], ["1abc", "a--b", "ab-", "a_b"]),
    "aws.rds.snapshot-identifier": ("a", ["a-final"], ["1abc", "a--b", "ab-"]),
    "aws.rds.subnet-group": ("a", ["a", "my_group.1 x-y"], ["default", "Default", "1abc", "a/b"]),
    "aws.kms.alias": ("a", ["alias/a", "alias/stackyard-prod-feast", "alias/a/b_c"],
                      ["a", "alias/", "alias/aws/mine", "alias/a.b", "alias/a b"]),
    "aws.ec2.security-group": ("a", ["a", "stackyard feast (cache) #1"], ["sg-123", "SG-123", "a\tb", "café"]),
    "aws.eks.cluster-name": ("a", ["a", "stackyard-prod", "0_a"], ["-a", "_a", "a.b", "a b"]),
    "aws.eks.nodegroup-name": ("a", ["a", "prod-pool-t4"], ["-a", "a.b"]),
    "aws.ec2.launch-template-name": ("a", ["abc", "a(b)/c.d-e_f"], ["ab", "a b", "a:b"]),
    "aws.logs.log-group-name": ("a", ["/aws/eks/stackyard-prod/cluster", "a#b"], ["a b", "a:b"]),
    "aws.sqs.queue-name": ("a", ["a", "prod-karpenter_interruptions"], ["a.b", "a b", "a.fifo"]),
    "aws.eventbridge.rule-name": ("a", ["a", "prod-karpenter.rebalance_1"], ["a b", "a/b", "a:b"]),
    "aws.tag-key": ("a", ["stackyard.dev/team", "Team Name", "équipe", "a:b=c+d-e@f"],
                    ["", "aws:team", "AWS:team", "team(core)", "a*b"]),
    "aws.tag-value": ("a", ["", "ML Platform", "ml-platform@example.com", "équipe"],
                      ["ML Platform (Core)", "aws:x", "a*b", "a\nb"]),
}


def test_every_rule_has_cases_and_a_source():
    assert set(CASES) == set(naming.RULES) - {"k8s.annotations-size"}
    for rule in naming.RULES.values():
        assert rule.source.startswith("https://"), rule.id
        assert rule.max_length > 0 and rule.allowed and rule.what


def _at_length(rule: naming.NameRule, fill: str, length: int) -> str:
    """A name of `length` characters made of `fill`, in the fixed form the rule asks for."""
    if rule.id == "aws.kms.alias":
        return "alias/" + fill * (length - len("alias/"))
    if rule.id == "k8s.label-key":  # the name part holds at most 63; the rest goes in the prefix
        name = fill * 63
        prefix_length = length - 64
        labels = [fill * 63] * (prefix_length // 64)
        rest = prefix_length - 64 * len(labels)
        return ".".join(labels + ([fill * rest] if rest else [])) + "/" + name
    return fill * length


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_at_its_limit_and_one_past_it(rule_id):
    rule = naming.RULES[rule_id]
    fill, _valid, _invalid = CASES[rule_id]
    assert rule.problem(_at_length(rule, fill, rule.max_length)) is None
    too_long = _at_length(rule, fill, rule.max_length + 1)
    assert len(too_long) == rule.max_length + 1
    assert rule.problem(too_long) is not None


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_allowed_and_refused_examples(rule_id):
    rule = naming.RULES[rule_id]
    _fill, valid, invalid = CASES[rule_id]
    for name in valid:
        assert rule.problem(name) is None, (rule_id, name, rule.problem(name))
    for name in invalid:
        assert rule.problem(name) is not None, (rule_id, name)


def test_minimum_lengths():
    assert naming.problem("aws.s3.bucket", "abc") is None
    assert "at least 3" in naming.problem("aws.s3.bucket", "ab")
    assert naming.problem("aws.iam.role-name", "") is not None
    assert naming.problem("k8s.label-value", "") is None


def test_label_key_name_part_is_limited_to_63():
    assert naming.problem("k8s.label-key", "example.com/" + "a" * 63) is None
    assert "name part" in naming.problem("k8s.label-key", "example.com/" + "a" * 64)


def test_a_message_says_what_and_the_limit():
    assert naming.problem("aws.iam.role-name", "a" * 74) == "is 74 characters; IAM role name allows at most 64"


# --- shortening, sanitising ------------------------------------------------------------

def test_a_name_that_fits_is_never_changed():
    assert naming.shorten("stackyard-prod-feast", 40) == "stackyard-prod-feast"


def test_shortening_keeps_a_readable_prefix_and_a_stable_hash():
    long = "stackyard-" + "a" * 40 + "-feast"
    short = naming.shorten(long, 40)
    assert len(short) == 40 and short.startswith("stackyard-aaaa") and short == naming.shorten(long, 40)
    assert short[-9] == "-" and all(ch in "0123456789abcdef" for ch in short[-8:])


def test_shortening_never_leaves_a_double_hyphen():
    # The prefix would end in '-', and '-' + hash would make '--' (invalid in ElastiCache and RDS ids).
    name = "stackyard-" + "a" * 20 + "-" + "b" * 20
    short = naming.shorten(name, 40)
    assert "--" not in short and naming.problem("aws.elasticache.replication-group-id", short) is None


@settings(parent=PROFILE, max_examples=PROFILE.max_examples // 10)
@given(st.text(min_size=1, max_size=120), st.text(min_size=1, max_size=120), st.integers(min_value=12, max_value=64))
def test_two_different_names_never_shorten_to_one(a, b, limit):
    if a != b:
        assert naming.shorten(a, limit) != naming.shorten(b, limit)
    assert len(naming.shorten(a, limit)) <= limit


@settings(parent=PROFILE, max_examples=PROFILE.max_examples // 10)
@given(st.text(max_size=120))
def test_free_text_becomes_a_valid_label_value_and_tag_value(text):
    assert naming.problem("k8s.label-value", naming.label_value(text)) is None
    assert naming.problem("aws.tag-value", naming.tag_value(text)) is None


def test_sanitising_examples():
    assert naming.label_value("ML Platform (Core)") == "ML_Platform__Core"
    assert naming.label_value("ml-platform@example.com") == "ml-platform_example.com"
    assert naming.label_value("Zoë Müller") == "Zo__M_ller"
    assert naming.label_value("日本") != naming.label_value("中国")  # nothing readable left: the hash differs
    assert naming.tag_value("ML Platform (Core)") == "ML Platform _Core_"
    assert naming.tag_value("Zoë Müller") == "Zoë Müller"  # AWS tags allow Unicode letters
    assert naming.tag_value("aws:owner") == "_ws:owner"


def test_endpoint_role_names_fit_iam_and_differ():
    name = naming.endpoint_role_name("a" * 42, "b" * 42)
    assert naming.problem("aws.iam.role-name", name) is None
    assert name != naming.endpoint_role_name("a" * 42, "b" * 41 + "c")
    assert naming.endpoint_role_name("prod", "ranker") == "stackyard-prod-ranker-model-reader"


# --- against the AWS API models (botocore's service definitions) --------------------------------

# rule -> (service, shape name) where the API model states the limit and the pattern.
BOTOCORE_SHAPES = {
    "aws.iam.role-name": ("iam", "roleNameType"),
    "aws.iam.policy-name": ("iam", "policyNameType"),
    "aws.eventbridge.rule-name": ("events", "RuleName"),
    "aws.kms.alias": ("kms", "AliasNameType"),
    "aws.eks.cluster-name": ("eks", "ClusterName"),
    "aws.logs.log-group-name": ("logs", "LogGroupName"),
    "aws.tag-key": ("resourcegroupstaggingapi", "TagKey"),
    "aws.tag-value": ("resourcegroupstaggingapi", "TagValue"),
}


def _api_shape(service: str, shape: str) -> dict:
    import botocore.session

    return botocore.session.get_session().get_service_model(service).shape_for(shape).metadata


@pytest.mark.parametrize("rule_id", sorted(BOTOCORE_SHAPES))
def test_limits_match_the_aws_api_model(rule_id):
    metadata = _api_shape(*BOTOCORE_SHAPES[rule_id])
    assert naming.RULES[rule_id].max_length == metadata["max"]


@pytest.mark.parametrize("rule_id", sorted(BOTOCORE_SHAPES))
def test_names_a_rule_accepts_the_aws_api_model_accepts(rule_id):
    """Each rule is at least as strict as the API model (the user guides add what the model leaves out)."""
    rule = naming.RULES[rule_id]
    metadata = _api_shape(*BOTOCORE_SHAPES[rule_id])
    api_pattern = re.compile(metadata["pattern"].removeprefix("^").removesuffix("$"), re.ASCII)
    fill, valid, _invalid = CASES[rule_id]
    for name in [*valid, _at_length(rule, fill, rule.max_length)]:
        if rule.problem(name) is None:
            assert api_pattern.fullmatch(name) and len(name) <= metadata["max"], name

    @settings(parent=PROFILE, max_examples=PROFILE.max_examples // 25)
    @given(st.from_regex(rule.pattern, fullmatch=True))
    def accepted(name):
        if rule.problem(name) is None:
            assert api_pattern.fullmatch(name), name

    accepted()
