"""Small builders shared by the components that create Kubernetes objects."""

from __future__ import annotations

from typing import Mapping

import pulumi
import pulumi_kubernetes as k8s


def namespace(resource_name: str, name: str, labels: Mapping[str, str],
              opts: pulumi.ResourceOptions) -> k8s.core.v1.Namespace:
    """A namespace with explicit name (never auto-named, so plans and manifests are stable)."""
    return k8s.core.v1.Namespace(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, labels=dict(labels)),
        opts=opts,
    )
