"""IAM roles for service accounts (IRSA): the trust policy that lets one Kubernetes
service account assume an IAM role through the cluster's OIDC provider.

`irsa_trust_policy` is a pure function on plain strings; `irsa_role` is the one
way a component creates such a role, from the cluster's OIDC provider ARN and
issuer (Outputs of the Cluster component, handed down in each component's args).
"""

from __future__ import annotations

import json
from typing import Any, Optional, Sequence, Union

import pulumi

STS_AUDIENCE = "sts.amazonaws.com"


def issuer_host_path(issuer: str) -> str:
    """IAM condition keys name the issuer without its scheme: oidc.eks.<region>.amazonaws.com/id/<ID>."""
    for scheme in ("https://", "http://"):
        if issuer.startswith(scheme):
            return issuer[len(scheme):]
    return issuer


def service_account_subject(namespace: str, service_account: str) -> str:
    return f"system:serviceaccount:{namespace}:{service_account}"


def irsa_trust_policy(oidc_provider_arn: str, issuer: str, namespace: str,
                      service_account: Union[str, Sequence[str]]) -> str:
    """The assume-role policy for exactly these service accounts of `namespace`, only with the STS audience."""
    host_path = issuer_host_path(issuer)
    accounts = [service_account] if isinstance(service_account, str) else list(service_account)
    subjects = [service_account_subject(namespace, account) for account in accounts]
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": oidc_provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                f"{host_path}:aud": STS_AUDIENCE,
                f"{host_path}:sub": subjects[0] if len(subjects) == 1 else subjects,
            }},
        }],
    }, sort_keys=True)


def irsa_role(resource_name: str, oidc_provider_arn: Optional[pulumi.Input[str]],
              oidc_issuer: Optional[pulumi.Input[str]], namespace: str, service_account: Union[str, Sequence[str]],
              opts: pulumi.ResourceOptions, **role_args: Any):
    """An IAM role that exactly these service accounts of `namespace` assume through the cluster's OIDC
    provider (EKS only). `role_args`: the rest of aws.iam.Role (name, description, tags)."""
    import pulumi_aws as aws

    if oidc_provider_arn is None or oidc_issuer is None:
        raise ValueError("IAM roles for service accounts need an EKS cluster (its OIDC provider)")
    trust = pulumi.Output.all(oidc_provider_arn, oidc_issuer).apply(
        lambda oidc: irsa_trust_policy(oidc[0], oidc[1], namespace, service_account))
    return aws.iam.Role(resource_name, assume_role_policy=trust, opts=opts, **role_args)
