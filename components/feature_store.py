"""The Feast feature store: its namespace and services on the cluster."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

import pulumi

from components.kube import namespace
from components.ownership import Ownership
from environments import spec as env


@dataclass(frozen=True)
class FeatureStoreArgs:
    feature_store: env.FeatureStore
    versions: Mapping[str, str]
    ownership: Ownership


class FeatureStore(pulumi.ComponentResource):
    def __init__(self, name: str, args: FeatureStoreArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("stackyard:features:FeatureStore", name, None, opts)
        store = args.feature_store
        self.namespace = namespace(f"{name}-ns", store.namespace, args.ownership.labels("feature-store"),
                                   pulumi.ResourceOptions(parent=self))
        self.register_outputs({"namespace": store.namespace})
