"""Who owns what: the labels and tags every resource Stackyard creates carries.

Policies require owner, team, cost-center and environment on every workload
and taggable cloud resource; building them in one place keeps them identical.
Owner, team and cost center are free text: they are sanitised into valid label
and tag values (environments/naming.py), never copied raw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

from environments.naming import label_value, tag_value
from environments.spec import Spec


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
            "stackyard.dev/team": label_value(team or self.team),
            "stackyard.dev/cost-center": label_value(self.cost_center),
            **(extra or {}),
        }

    def tags(self, extra: Optional[Mapping[str, str]] = None) -> dict[str, str]:
        return {
            **self.extra_tags,
            "stackyard.dev/environment": self.environment,
            "stackyard.dev/owner": tag_value(self.owner),
            "stackyard.dev/team": tag_value(self.team),
            "stackyard.dev/cost-center": tag_value(self.cost_center),
            **(extra or {}),
        }
