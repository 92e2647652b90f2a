"""A spec SecretRef as a Pulumi secret Output: the one way components read secrets.

`config:` refs read this stack's Pulumi config (`pulumi config set --secret
NAME ...`); `arn:` refs read AWS Secrets Manager at deploy time. Either way the
value is a secret Output: Pulumi encrypts it in state and never prints it.
"""

from __future__ import annotations

from typing import Optional

import pulumi

from environments.spec import SecretRef


def secret_value(ref: SecretRef, parent: Optional[pulumi.Resource] = None) -> pulumi.Output[str]:
    """The value behind `ref`; `parent`: the component whose provider reads Secrets Manager."""
    if ref.config:
        return pulumi.Config().require_secret(ref.config)
    import pulumi_aws as aws

    opts = pulumi.InvokeOutputOptions(parent=parent) if parent is not None else None
    version = aws.secretsmanager.get_secret_version_output(secret_id=ref.arn, opts=opts)
    return pulumi.Output.secret(version.secret_string)
