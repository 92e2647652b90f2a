"""The one way Stackyard creates a KMS key: rotated yearly, 30 days' grace before deletion, aliased.

Used for the cluster's envelope encryption of Secrets, the feature store
(bucket, cache, registry database) and the Kubeflow Pipelines artifact bucket.
"""

from __future__ import annotations

from typing import Optional

import pulumi


def kms_key(name: str, description: str, tags: dict, *, parent: pulumi.Resource, protect: bool,
            alias: Optional[str] = None):
    """A customer-managed key; `protect` where what it encrypts is protected (deleting the key makes
    that data unreadable); `alias`: `alias/...`, targeting the key's ARN. Returns the aws.kms.Key."""
    import pulumi_aws as aws

    key = aws.kms.Key(name, description=description, enable_key_rotation=True, deletion_window_in_days=30,
                      tags=tags, opts=pulumi.ResourceOptions(parent=parent, protect=protect))
    if alias is not None:
        aws.kms.Alias(f"{name}-alias", name=alias, target_key_id=key.arn, opts=pulumi.ResourceOptions(parent=parent))
    return key
