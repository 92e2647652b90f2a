"""The CrossGuard policy pack configuration of an environment (`--policy-pack-config`).

Shape, per Pulumi: {"<policy name>": {"enforcementLevel": ..., <properties>}}.
Every rule gets its level from the environment (policy.enforcement and
policy.rules) and one property, `context`: the Context JSON the rules read,
exemptions included. The pack's policies declare that property in their
config schema (policies/crossguard.py).
"""

from __future__ import annotations

from pathlib import Path

from environments.spec import Spec
from policies.environment import context_from_spec, levels_from_spec
from policies.rules import RULES


def pack_config(spec: Spec, spec_file: Path) -> dict:
    context = context_from_spec(spec, spec_file).to_json()
    levels = levels_from_spec(spec)
    return {rule.id: {"enforcementLevel": levels.of(rule), "context": context} for rule in RULES}
