"""Who owns what: the labels and tags every resource Stackyard creates carries.

Policies require owner, team, cost-center and environment on every workload
and taggable cloud resource; building them in one place keeps them identical.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

from environments.spec import Spec


def label_value(value: str) -> str:
    """Kubernetes label values allow [A-Za-z0-9_.-] and 63 characters."""
    cleaned = "".join(ch if ch.isalnum() or ch in "_.-" else "_" for ch in value)
    return cleaned.strip("_.-")[:63]


@dataclass(frozen=True)
class Ownership:
    environment: str
    owner: str
    team: str
    cost_center: str
    extra_tags: Mapping[str, str] = field(default_factory=dict)
    production: bool = False  # Spec.production: the same definition the policy rules use

    @classmethod
    def of(cls, spec: Spec) -> "Ownership":
        return cls(environment=spec.name, owner=spec.metadata.owner, team=spec.metadata.team,
                   cost_center=spec.metadata.cost_center, extra_tags=dict(spec.cloud.tags),
                   production=spec.production)

    @property
    def protects_state(self) -> bool:
        """Whether buckets, databases and caches are protected from deletion (protect=True): in
        production, where SY-AWS-010 requires it."""
        return self.production

    def labels(self, component: str, team: Optional[str] = None,
               extra: Optional[Mapping[str, str]] = None) -> dict[str, str]:
        return {
            "app.kubernetes.io/managed-by": "stackyard",
            "app.kubernetes.io/part-of": "stackyard",
            "app.kubernetes.io/component": component,
            "stackyard.dev/environment": self.environment,
            "stackyard.dev/owner": label_value(self.owner),
            "stackyard.dev/team": team or self.team,
            "stackyard.dev/cost-center": label_value(self.cost_center),
            **(extra or {}),
        }

    def tags(self, extra: Optional[Mapping[str, str]] = None) -> dict[str, str]:
        return {
            **self.extra_tags,
            "stackyard.dev/environment": self.environment,
            "stackyard.dev/owner": self.owner,
            "stackyard.dev/team": self.team,
            "stackyard.dev/cost-center": self.cost_center,
            **(extra or {}),
        }
