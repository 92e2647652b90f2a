"""IAM roles for service accounts (IRSA): the trust policy that lets one Kubernetes
service account assume an IAM role through the cluster's OIDC provider.

Pure functions on plain strings, so any component can build the document inside
an `Output.all(cluster.oidc_provider_arn, cluster.oidc_issuer).apply(...)`.
"""

from __future__ import annotations

import json
from typing import Sequence, Union

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
