"""Read the JSON `pulumi preview --json` prints into the same changes an offline diff produces.

The format (Pulumi's engine display JSON): `{"steps": [{"op", "urn", "oldState",
"newState", "diffReasons", "replaceReasons", "detailedDiff"}], "changeSummary",
"diagnostics"}`. A replacement appears as up to three steps for one URN
(create-replacement, replace, delete-replaced); they become one change. Here
the provider decided what is replaced, so no table is consulted for that;
the table only says which resources are stateful.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from stacks.diff import (OPS, PROTECTED, PlanDiff, PropertyChange, ResourceChange, component_of_urn,
                         protection_of, urn_parts, uses_of)
from stacks.errors import ExitCode, StackyardError
from stacks.offline import plain
from stacks.property_paths import ParseError, parse_path, value_at
from stacks.resource_rules import RuleTable

# Pulumi step op -> report op; ops not listed (same, read, refresh, ...) change nothing.
_OPS = {
    "create": "create", "import": "create",
    "update": "update",
    "replace": "replace", "create-replacement": "replace", "delete-replaced": "replace",
    "import-replacement": "replace", "read-replacement": "replace",
    "delete": "delete", "discard": "delete",
}
# Which step of a replacement carries the diff, best first.
_PREFERENCE = ("replace", "update", "create-replacement", "delete-replaced", "create", "import", "delete", "discard",
               "import-replacement", "read-replacement")


def _fail(where: str, message: str) -> StackyardError:
    return StackyardError(f"{where}: {message} (expected the output of `pulumi preview --json`)",
                          ExitCode.INVALID_INPUT)


def read(document: Any, rules: RuleTable, where: str = "preview") -> tuple[PlanDiff, str]:
    """(the changes, the stack name) of a preview document."""
    if not isinstance(document, dict) or not isinstance(document.get("steps"), list):
        raise _fail(where, "no `steps` list at the top level")
    by_urn: dict[str, dict[str, Any]] = {}
    same = stack_same = 0
    stack = ""
    for index, step in enumerate(document["steps"]):
        if not isinstance(step, dict) or not isinstance(step.get("op"), str) or not isinstance(step.get("urn"), str):
            raise _fail(where, f"steps[{index}] needs a string `op` and `urn`")
        if not step["urn"].startswith("urn:pulumi:") or step["urn"].count("::") < 3:
            raise _fail(where, f"steps[{index}].urn is not a Pulumi URN (urn:pulumi:STACK::PROJECT::TYPE::NAME)")
        stack = stack or urn_parts(step["urn"])[0]
        if urn_parts(step["urn"])[2][-1] == "pulumi:pulumi:Stack":
            # The root Stack resource (always in the output) is not part of offline plans either.
            stack_same = int(step["op"] == "same")
            continue
        if step["op"] not in _OPS:
            same += step["op"] == "same"
            continue
        by_urn.setdefault(step["urn"], {})[step["op"]] = step
    # Unchanged resources are listed only with --show-sames; the summary always counts them.
    summary = document.get("changeSummary")
    if isinstance(summary, dict) and "same" in summary:
        if not isinstance(summary["same"], int) or isinstance(summary["same"], bool) or summary["same"] < 0:
            raise _fail(where, "changeSummary.same is not a count")
        unchanged = summary["same"] - stack_same
    else:
        unchanged = same

    changes = []
    for urn, steps in by_urn.items():
        try:
            changes.append(_change(urn, steps, rules))
        except (AttributeError, KeyError, IndexError, TypeError, ValueError) as error:
            # A document of the right outline with fields of the wrong shape: invalid input, not a bug.
            index = next(i for i, step in enumerate(document["steps"]) if isinstance(step, dict)
                         and step.get("urn") == urn)
            raise _fail(where, f"steps[{index}] is malformed ({type(error).__name__}: {error})") from None
    created = [c for c in changes if c.op == "create"]
    inputs = {urn: _inputs(steps, "newState") or _inputs(steps, "oldState") for urn, steps in by_urn.items()}
    resolved = []
    for change in changes:
        if change.op == "delete":
            twin = next((c.urn for c in created if c.type == change.type and inputs[c.urn] == inputs[change.urn]), None)
            change = dataclasses.replace(change, rename_of=twin)
        resolved.append(change)
    resolved.sort(key=lambda c: (c.component, OPS.index(c.op), c.urn))
    return PlanDiff(changes=tuple(resolved), unchanged=int(unchanged)), stack


def error_diagnostics(document: Mapping[str, Any]) -> list[str]:
    """The messages of the preview's error-severity diagnostics: a preview with any did not succeed."""
    diagnostics = document.get("diagnostics")
    if not isinstance(diagnostics, list):
        return []
    errors = []
    for diagnostic in diagnostics:
        if isinstance(diagnostic, dict) and diagnostic.get("severity") == "error":
            where = urn_parts(str(diagnostic["urn"]))[3] if diagnostic.get("urn") else ""
            message = str(diagnostic.get("message") or "").strip() or "(no message)"
            errors.append(f"{where}: {message}" if where else message)
    return errors


def _inputs(steps: Mapping[str, dict], state: str) -> dict:
    for op in _PREFERENCE:
        if op in steps and isinstance(steps[op].get(state), dict):
            return plain(steps[op][state].get("inputs") or {})
    return {}


def _state(steps: Mapping[str, dict], state: str) -> dict:
    for op in _PREFERENCE:
        if op in steps and isinstance(steps[op].get(state), dict):
            return steps[op][state]
    return {}


def _change(urn: str, steps: Mapping[str, dict], rules: RuleTable) -> ResourceChange:
    main = next(steps[op] for op in _PREFERENCE if op in steps)
    op = _OPS[main["op"]]
    old_state, new_state = _state(steps, "oldState"), _state(steps, "newState")
    old, new = _inputs(steps, "oldState"), _inputs(steps, "newState")
    type_ = new_state.get("type") or old_state.get("type") or urn_parts(urn)[2][-1]
    replace_reasons = [str(reason) for reason in main.get("replaceReasons") or ()]
    properties: list[PropertyChange] = []
    if op in ("update", "replace"):
        detailed = main.get("detailedDiff")
        if isinstance(detailed, dict) and detailed:
            for path, diff in sorted(detailed.items()):
                kind = str((diff or {}).get("kind", "update"))
                replaces = kind.endswith("-replace") or path in replace_reasons
                if replaces and path not in replace_reasons:
                    replace_reasons.append(path)
                properties.append(PropertyChange(path, kind.replace("-replace", ""), _lookup(old, path),
                                                 _lookup(new, path), replaces))
        else:
            for key in sorted(main.get("diffReasons") or ()):
                properties.append(PropertyChange(str(key), "update", old.get(key), new.get(key), key in replace_reasons))
    protected = bool(old_state.get("protect"))
    own, dependencies = component_of_urn(urn), _dependencies(new_state or old_state)
    return ResourceChange(
        urn=urn, type=type_, name=urn_parts(urn)[3], component=own, op=op,
        properties=tuple(properties), replace_reasons=tuple(replace_reasons), dependencies=dependencies,
        stateful=rules.stateful_reason(type_) or (PROTECTED if protected else None),
        uses=uses_of(own, dependencies, component_of_urn),
        protection=protection_of(op, protected, bool(new_state.get("protect"))))


def _dependencies(state: Mapping[str, Any]) -> tuple[str, ...]:
    # A provider reference is "<urn>::<id>".
    provider = str(state.get("provider") or "").rsplit("::", 1)[0]
    return tuple(state.get("dependencies") or ()) + ((provider,) if provider else ())


def _lookup(inputs: Mapping[str, Any], path: str) -> Any:
    try:
        return value_at(inputs, parse_path(path))
    except ParseError:
        return inputs.get(path)
