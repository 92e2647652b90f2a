"""The one way Stackyard creates an S3 bucket: encrypted, versioned, private, TLS-only, owner-enforced.

Every bucket (the feature store's offline store, Kubeflow Pipelines' artifacts)
gets the same five guards, so SY-AWS rules pass by construction and a new bucket
cannot forget one. The bucket and its guards are children of the calling
component with the names `<name>`, `<name>-ownership`, `<name>-public-access`,
`<name>-versioning`, `<name>-encryption` and `<name>-tls-only`: a function, not a
ComponentResource of its own, so existing buckets keep their URNs (a new parent
would make Pulumi replace them, and production buckets are protected).
"""

from __future__ import annotations

import json
from typing import Optional

import pulumi


def tls_only_bucket_policy(bucket_arn: str) -> str:
    """Deny every request to the bucket and its objects that does not come over TLS."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                       "Resource": [bucket_arn, f"{bucket_arn}/*"],
                       "Condition": {"Bool": {"aws:SecureTransport": "false"}}}],
    }, sort_keys=True)


def secure_bucket(name: str, bucket: Optional[str], kms_key_arn: pulumi.Input[str], tags: dict, *,
                  parent: pulumi.Resource, protect: bool):
    """A bucket encrypted with `kms_key_arn` (bucket keys on), versioned, with every public access
    blocked, ACLs disabled (BucketOwnerEnforced) and plain-HTTP requests denied. `protect`: the
    environment's Ownership.protects_state. Returns the aws.s3.Bucket."""
    import pulumi_aws as aws

    created = aws.s3.Bucket(name, bucket=bucket, force_destroy=False, tags=tags,
                            opts=pulumi.ResourceOptions(parent=parent, protect=protect))
    child = pulumi.ResourceOptions(parent=parent)
    bucket_name = created.bucket
    aws.s3.BucketOwnershipControls(f"{name}-ownership", bucket=bucket_name,
                                   rule={"object_ownership": "BucketOwnerEnforced"}, opts=child)
    aws.s3.BucketPublicAccessBlock(f"{name}-public-access", bucket=bucket_name, block_public_acls=True,
                                   block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True,
                                   opts=child)
    aws.s3.BucketVersioning(f"{name}-versioning", bucket=bucket_name,
                            versioning_configuration={"status": "Enabled"}, opts=child)
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption", bucket=bucket_name,
        rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms",
                                                            "kms_master_key_id": kms_key_arn},
                "bucket_key_enabled": True}], opts=child)
    aws.s3.BucketPolicy(f"{name}-tls-only", bucket=bucket_name, policy=created.arn.apply(tls_only_bucket_policy),
                        opts=child)
    return created
