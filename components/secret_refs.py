"""A spec SecretRef as a Pulumi secret Output: the one way components read secrets.

`config:` refs read this stack's Pulumi config (`pulumi config set --secret
NAME ...`); `arn:` refs read AWS Secrets Manager at deploy time. Either way the
value is a secret Output: Pulumi encrypts it in state and never prints it.
"""

from __future__ import annotations

import pulumi

from environments.spec import SecretRef


def secret_value(ref: SecretRef) -> pulumi.Output[str]:
    if ref.config:
        return pulumi.Config().require_secret(ref.config)
    import pulumi_aws as aws

    version = aws.secretsmanager.get_secret_version_output(secret_id=ref.arn)
    return pulumi.Output.secret(version.secret_string)
