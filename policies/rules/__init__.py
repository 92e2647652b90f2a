"""The rule set: every Stackyard policy rule, in one registry.

Standard library only, so the same rules run in the offline audit, over plain
manifests and inside the CrossGuard pack's own virtual environment. Each rule
is one function beside a metadata table (`RULES` in each module).
"""

from __future__ import annotations

from policies.rules import aws, governance, gpu, network_isolation, pod_security, rbac, serving, workloads
from policies.rules.model import Rule

RULES: tuple[Rule, ...] = (*gpu.RULES, *workloads.RULES, *pod_security.RULES, *rbac.RULES,
                          *network_isolation.RULES, *serving.RULES, *aws.RULES, *governance.RULES)
RULES_BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}

if len(RULES_BY_ID) != len(RULES):
    raise RuntimeError("duplicate rule ids in policies.rules")
