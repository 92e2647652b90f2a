"""The offline plan leaves no input without a value that a deploy would give it.

An input built from another resource's output (a VPC id, an ARN, an endpoint) is known at
deploy time. Offline, the mocks stand in for those outputs (`offline.MOCK_OUTPUTS`); an output
they lack resolves to None, and the SDK drops the input from the request: the plan then shows,
say, a security group with no vpcId, which reads as a default-VPC group. conftest's `plan_for`
watches the SDK serialize resource inputs while it plans (`inputs_without_a_value`).
"""

from __future__ import annotations

import pytest

from environments import loader
from stacks import offline, plan
from conftest import SHIPPED_ENVIRONMENTS, UNSET_INPUTS, inputs_without_a_value, plan_for, resources


@pytest.mark.parametrize("environment", SHIPPED_ENVIRONMENTS)
def test_no_input_is_left_without_the_value_a_deploy_gives_it(environment):
    plan_for(environment)
    assert UNSET_INPUTS[environment] == []


def test_a_mock_output_taken_away_leaves_an_input_without_a_value(monkeypatch):
    """The bug this exists for: the cluster's vpcConfig without vpcId, so both feature-store
    security groups were planned with no VPC."""
    cluster = offline.MOCK_OUTPUTS["aws:eks/cluster:Cluster"]

    def without_vpc_id(name, inputs):
        outputs = cluster(name, inputs)
        outputs["vpcConfig"] = {k: v for k, v in outputs["vpcConfig"].items() if k != "vpcId"}
        return outputs

    monkeypatch.setitem(offline.MOCK_OUTPUTS, "aws:eks/cluster:Cluster", without_vpc_id)
    with inputs_without_a_value() as found:
        plan.build(loader.load("prod"), loader.spec_path("prod").resolve())
    assert "aws:ec2/securityGroup:SecurityGroup prod-features-cache-sg.vpc_id" in found
    assert "aws:ec2/securityGroup:SecurityGroup prod-features-registry-sg.vpc_id" in found


def test_the_shipped_security_groups_are_in_the_cluster_vpc():
    groups = resources(plan_for("prod"), "aws:ec2/securityGroup:SecurityGroup")
    assert groups and {group["inputs"].get("vpcId") for group in groups} == {"vpc-prod-cluster-eks"}
