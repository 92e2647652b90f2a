"""Which pinned versions work together: environments/compatibility.yaml, applied to a spec's `versions`.

Standard library and PyYAML only: `stackyard validate` runs these rules.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

import yaml

from environments.spec import Versions

TABLE = Path(__file__).resolve().parent / "compatibility.yaml"
SDK_PREFIX = "sdk:"
SAME_MINOR_AS = "minor of "
_NUMBERS = re.compile(r"^v?(\d+(?:\.\d+)*)")
_CONSTRAINT = re.compile(r"^(>=|<=|==|>|<)\s*(\S+)\Z")


@dataclass(frozen=True)
class Rule:
    when: Mapping[str, str]  # pin -> major.minor prefix
    requires: Mapping[str, str]  # pin -> constraint
    source: str


@dataclass(frozen=True)
class Verdict:
    rule: Rule
    pin: str  # the required pin
    constraint: str
    found: str
    ok: bool

    @property
    def blamed(self) -> str:
        """The spec field a broken rule is reported at: the required pin, except Kubernetes, which
        everything is checked against: then the pin whose release needs another Kubernetes."""
        own = [key for key in self.rule.when if not key.startswith(SDK_PREFIX)]
        return own[0] if self.pin == "kubernetes" and own else self.pin

    def describe(self, versions: Versions) -> str:
        when = ", ".join(f"{key} {versions.get(key) or installed_sdk(key)}" for key in self.rule.when)
        subject = f"{when} needs" if when else "needs"
        return f"{subject} {self.pin} {self.constraint}, found {self.found} ({self.rule.source})"


@functools.lru_cache(maxsize=1)
def table() -> tuple[str, tuple[Rule, ...]]:
    """(the date the pins were checked, the rules)."""
    data = yaml.safe_load(TABLE.read_text(encoding="utf-8"))
    rules = tuple(Rule(when={str(k): str(v) for k, v in (row.get("when") or {}).items()},
                       requires={str(k): str(v) for k, v in row["requires"].items()},
                       source=" ".join(str(row["source"]).split()))
                  for row in data["rules"])
    return str(data["checked"]), rules


def numbers(version: str) -> Optional[tuple[int, ...]]:
    """`v1.33.0-eksbuild.2` -> (1, 33, 0); None for a version without leading numbers."""
    match = _NUMBERS.match(str(version).strip())
    return tuple(int(part) for part in match.group(1).split(".")) if match else None


def _satisfies(version: tuple[int, ...], constraint: str) -> bool:
    for clause in constraint.split(","):
        operator, bound_text = _CONSTRAINT.match(clause.strip()).groups()
        bound = numbers(bound_text)
        if operator in ("<=", "=="):
            value = version[:len(bound)]  # "<=1.35" admits 1.35.2; "==1.33" any 1.33.x
        else:
            width = max(len(version), len(bound))
            value, bound = version + (0,) * (width - len(version)), bound + (0,) * (width - len(bound))
        if not {">=": value >= bound, ">": value > bound, "<=": value <= bound, "<": value < bound,
                "==": value == bound}[operator]:
            return False
    return True


@functools.lru_cache(maxsize=None)
def installed_sdk(key: str) -> Optional[str]:
    try:
        return importlib.metadata.version(key.removeprefix(SDK_PREFIX))
    except importlib.metadata.PackageNotFoundError:
        return None


def _pin(key: str, versions: Versions) -> Optional[str]:
    return installed_sdk(key) if key.startswith(SDK_PREFIX) else versions.get(key)


def verdicts(versions: Versions) -> list[Verdict]:
    """Every rule that applies to these pins, judged."""
    found = []
    for rule in table()[1]:
        pins = {key: numbers(_pin(key, versions) or "") for key in rule.when}
        if any(value is None or value[:len(numbers(prefix))] != numbers(prefix)
               for (key, value), prefix in zip(pins.items(), rule.when.values())):
            continue
        for key, constraint in rule.requires.items():
            value = _pin(key, versions)
            if value is None or numbers(value) is None:
                continue
            if constraint.startswith(SAME_MINOR_AS):
                other = versions.get(constraint.removeprefix(SAME_MINOR_AS))
                if other is None or numbers(other) is None:
                    continue
                ok = numbers(value)[:2] == numbers(other)[:2]
                constraint = f"of the same minor as {constraint.removeprefix(SAME_MINOR_AS)} {other}"
            else:
                ok = _satisfies(numbers(value), constraint)
            found.append(Verdict(rule, key, constraint, value, ok))
    return found
