"""The CrossGuard adapter: every rule as a Pulumi policy with the same id, level and verdict.

Imported only where `pulumi-policy` is installed (the pack's own virtual
environment, see requirements.txt); policies/__main__.py builds the pack from
`policies()`. Resource rules become ResourceValidationPolicies, stack rules
StackValidationPolicies. Each reads the environment's Context (facts and
exemptions) from its config property `context`, which `stackyard policy-config`
writes, and reports exactly what policies.engine.violations yields, so the
pack and `stackyard audit` agree by construction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

from pulumi_policy import (EnforcementLevel, PolicyComplianceFramework, PolicyConfigSchema, PolicyResource,
                           ReportViolation, ResourceValidationArgs, ResourceValidationPolicy, Severity,
                           StackValidationArgs, StackValidationPolicy)
from pulumi_policy.proxy import UnknownValueError

from policies import engine
from policies.rules import RULES
from policies.rules.model import RESOURCE_SCOPE, UNKNOWN, Context, Resource, Rule

CONFIG_SCHEMA = PolicyConfigSchema(properties={
    "context": {"type": "object", "description": "environment facts and exemptions (stackyard policy-config)"},
})


def plain(value: Any) -> Any:
    """CrossGuard props (unknown-checking proxies) as the plain wire values the rules read.

    Values a preview cannot know become UNKNOWN, as in the offline plan, and
    whole floats (all numbers arrive as floats) become integers.
    """
    if isinstance(value, Mapping):
        result = {}
        for key in value:
            try:
                result[str(key)] = plain(value[key])
            except UnknownValueError:
                result[str(key)] = UNKNOWN
        return result
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        items = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError:
                items.append(UNKNOWN)
        return items
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def context_of(config: Mapping[str, Any]) -> Context:
    return Context.from_json(plain(config.get("context") or {}))


def resource_of(args: ResourceValidationArgs) -> Resource:
    return Resource(urn=args.urn, type=args.resource_type, name=args.name, inputs=plain(args.props),
                    parent=args.opts.parent or "", provider=args.provider.urn if args.provider else "",
                    protect=bool(args.opts.protect))


def stack_resources(resources: Sequence[PolicyResource]) -> list[Resource]:
    """The stack's resources, plus the providers they name (for provider default tags)."""
    found = [Resource(urn=r.urn, type=r.resource_type, name=r.name, inputs=plain(r.props),
                      parent=r.parent.urn if r.parent else (r.opts.parent or ""),
                      provider=r.provider.urn if r.provider else "",
                      dependencies=tuple(d.urn for d in r.dependencies), protect=bool(r.opts.protect))
             for r in resources]
    known = {resource.urn for resource in found}
    for r in resources:
        if r.provider is not None and r.provider.urn not in known:
            known.add(r.provider.urn)
            found.append(Resource(urn=r.provider.urn, type=r.provider.resource_type, name=r.provider.name,
                                  inputs=plain(r.provider.props)))
    return found


def _framework(rule: Rule) -> Optional[PolicyComplianceFramework]:
    frameworks = rule.frameworks
    if frameworks.cis_eks:
        return PolicyComplianceFramework(name="CIS Amazon EKS Benchmark", version="1.5.0",
                                         reference=", ".join(frameworks.cis_eks))
    if frameworks.nist_ai_rmf:
        return PolicyComplianceFramework(name="NIST AI RMF", version="1.0",
                                         reference=", ".join(frameworks.nist_ai_rmf))
    return None


def _resource_validation(rule: Rule):
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for _subject, message in engine.violations(rule, [resource_of(args)], context_of(args.get_config())):
            report_violation(message, None)
    return validate


def _stack_validation(rule: Rule):
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = stack_resources(args.resources)
        for subject, message in engine.violations(rule, resources, context_of(args.get_config())):
            # Findings about spec entries (exemptions) belong to the stack as a whole.
            report_violation(message, subject if subject.startswith("urn:") else None)
    return validate


def policy(rule: Rule):
    common = dict(name=rule.id, description=rule.title, enforcement_level=EnforcementLevel(rule.enforcement),
                  config_schema=CONFIG_SCHEMA, severity=Severity(rule.severity), framework=_framework(rule),
                  tags=rule.frameworks.labels(), remediation_steps=rule.remediation)
    if rule.scope == RESOURCE_SCOPE:
        return ResourceValidationPolicy(validate=_resource_validation(rule), **common)
    return StackValidationPolicy(validate=_stack_validation(rule), **common)


def policies() -> list:
    return [policy(rule) for rule in RULES]
