"""The replacement and data-loss rules of stacks/resource_types.yaml, as functions.

`replacement_reasons(type, old, new)` predicts which property changes force
Pulumi to replace a resource; `stateful_reason(type)` says what data losing
the resource loses. The table file documents where each rule comes from.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Optional

from stacks.property_paths import ParseError, Part, format_path, parse_path, values_at

TABLE_FILE = Path(__file__).resolve().parent / "resource_types.yaml"
_KUBERNETES = "kubernetes:"
# Kubernetes provider types that are not API objects, so have no metadata (Helm releases, YAML and
# Kustomize groups): their own entry is the whole rule.
_NOT_OBJECTS = ("kubernetes:helm.sh/", "kubernetes:yaml", "kubernetes:kustomize")


@dataclass(frozen=True)
class TypeRules:
    replace_on_changes: tuple[tuple[Part, ...], ...] = ()
    replace_when_removed: tuple[tuple[Part, ...], ...] = ()
    stateful: Optional[str] = None
    source: str = ""


@dataclass(frozen=True)
class RuleTable:
    types: Mapping[str, TypeRules]
    kubernetes_common: tuple[tuple[Part, ...], ...]

    def known(self, type_: str) -> bool:
        """Whether the table says anything about `type_` (Kubernetes kinds always have the metadata rule)."""
        return type_ in self.types or type_.startswith(_KUBERNETES) or type_.startswith("stackyard:")

    def rules(self, type_: str) -> TypeRules:
        rules = self.types.get(type_, TypeRules())
        if type_.startswith(_KUBERNETES) and not type_.startswith(_NOT_OBJECTS):
            rules = TypeRules(self.kubernetes_common + rules.replace_on_changes, rules.replace_when_removed,
                              rules.stateful, rules.source)
        return rules

    def stateful_reason(self, type_: str) -> Optional[str]:
        return self.rules(type_).stateful

    def replacement_reasons(self, type_: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
        """The rule paths (Pulumi property paths) whose values differ between old and new inputs."""
        rules = self.rules(type_)
        reasons = []
        for path in rules.replace_on_changes:
            if [value for _, value in values_at(old, path)] != [value for _, value in values_at(new, path)]:
                reasons.append(format_path(path))
        for path in rules.replace_when_removed:
            if values_at(old, path) and not values_at(new, path):
                reasons.append(format_path(path))
        return reasons


def _paths(entries: Any, where: str) -> tuple[tuple[Part, ...], ...]:
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise ValueError(f"{TABLE_FILE.name}: {where}: expected a list of property paths")
    try:
        return tuple(parse_path(entry) for entry in entries)
    except (ParseError, TypeError) as error:
        raise ValueError(f"{TABLE_FILE.name}: {where}: {error}") from None


def parse_table(document: Mapping[str, Any]) -> RuleTable:
    types = {}
    for type_, entry in (document.get("types") or {}).items():
        entry = entry or {}
        types[type_] = TypeRules(
            replace_on_changes=_paths(entry.get("replaceOnChanges"), f"{type_}.replaceOnChanges"),
            replace_when_removed=_paths(entry.get("replaceWhenRemoved"), f"{type_}.replaceWhenRemoved"),
            stateful=entry.get("stateful"),
            source=entry.get("source", ""),
        )
    common = _paths((document.get("kubernetes") or {}).get("replaceOnChanges"), "kubernetes.replaceOnChanges")
    return RuleTable(types=types, kubernetes_common=common)


@lru_cache(maxsize=1)
def table() -> RuleTable:
    import yaml

    return parse_table(yaml.safe_load(TABLE_FILE.read_text(encoding="utf-8")))
