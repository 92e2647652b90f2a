"""Small builders shared by the components that create Kubernetes objects."""

from __future__ import annotations

from typing import Mapping

import pulumi
import pulumi_kubernetes as k8s

from components.network_isolation import isolate


def namespace(resource_name: str, name: str, labels: Mapping[str, str],
              opts: pulumi.ResourceOptions) -> k8s.core.v1.Namespace:
    """A namespace with explicit name (never auto-named, so plans and manifests are stable), isolated:
    it comes with its default-deny NetworkPolicy and the platform's allow rules (network_isolation)."""
    created = k8s.core.v1.Namespace(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, labels=dict(labels)),
        opts=opts,
    )
    isolate(resource_name, name, labels, pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
        depends_on=[created])))
    return created
