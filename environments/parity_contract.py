"""The parity contract (environments/parity.yaml): what may differ between two environments.

For each pair `from -> to` (the direction promotions flow) the contract lists
rules by path pattern, each with a relation:

  equal     the two values must be the same
  free      the values may differ
  bounded   numbers: to <= maxRatio x from and/or to >= minRatio x from
  stricter  to is at least as strict as from, by `order` (weakest first); a side
            that does not state the value uses the one at `fallback`
  subset    lists: every item of `to` is also in `from` (items identified by
            `key` fields); items only `from` holds must state `fromOnlyRequires`

A path pattern is a chain of segments: `name` or `.name` selects a mapping key
(write `["a.b/c"]` for keys with dots or slashes), `[name]` selects an item of
a list of named items (endpoints, nodePools, ...) or a resource of the plan.
Each segment is a shell-style glob (`*`, `?`). A pattern matches a path when
it matches the path's first segments, so a rule covers the subtree below it;
when several rules match, the most specific one decides (more segments, then
more literal segments, then the earlier line). Paths no rule matches take the
pair's `otherwise` relation.

Loading gives the same located errors as environment specs (file:line:column,
JSON path, expected vs found) and never lets a YAML or jsonschema error escape.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

from environments import json_schema
from environments.errors import Location, SpecError, SpecProblem
from environments.located_yaml import load_located
from environments.loader import ENVIRONMENTS_DIR, SCHEMA_DIR, display, environments_dir, locate, schema_problems

CONTRACT_FILE = ENVIRONMENTS_DIR / "parity.yaml"  # the shipped contract
SCHEMA_FILE = SCHEMA_DIR / "parity.schema.json"

KEY, ITEM = "key", "item"
Segment = tuple[str, str]  # (KEY or ITEM, text); in patterns the text is a glob

# Parameters each relation takes; any other parameter on a rule is an error.
RELATION_PARAMETERS: dict[str, frozenset[str]] = {
    "equal": frozenset(),
    "free": frozenset(),
    "bounded": frozenset({"maxRatio", "minRatio"}),
    "stricter": frozenset({"order", "fallback"}),
    "subset": frozenset({"key", "fromOnlyRequires"}),
}
# Relations that judge a whole list at once instead of leaf by leaf.
WHOLE_VALUE_RELATIONS = frozenset({"subset"})

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_*?-]+\Z")
_SEGMENT = re.compile(r'\.?([^.\[\]"]+)|\["([^"]+)"\]|\[([^\]"]+)\]')


class PathSyntaxError(ValueError):
    pass


def parse_path(text: str) -> tuple[Segment, ...]:
    """`nodePools[*].maxSize` -> ((key, nodePools), (item, *), (key, maxSize))."""
    segments: list[Segment] = []
    position = 0
    while position < len(text):
        match = _SEGMENT.match(text, position)
        # A bare key needs its dot everywhere but at the start: `a.b`, never `.a` or `a[x]b`.
        dotted = text.startswith(".", position)
        if match is None or (match.group(1) is not None and dotted != (position > 0)):
            raise PathSyntaxError(f"cannot read path {text!r} at character {position + 1}: expected "
                                  "`name`, `.name`, `[\"name\"]` or `[item]`")
        bare, quoted, item = match.groups()
        segments.append((ITEM, item) if item is not None else (KEY, bare if bare is not None else quoted))
        position = match.end()
    if not segments:
        raise PathSyntaxError("empty path")
    return tuple(segments)


def render_path(path: Sequence[Segment]) -> str:
    text = ""
    for kind, name in path:
        if kind == ITEM:
            text += f"[{name}]"
        elif _PLAIN_KEY.match(name):
            text += f".{name}" if text else name
        else:
            text += f'["{name}"]'
    return text


def _has_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


@dataclass(frozen=True)
class ParityRule:
    """One line of the contract. `pattern` is empty for a pair's `otherwise` relation."""

    pattern: tuple[Segment, ...]
    relation: str
    location: Location
    index: int  # position in the pair's rules; -1 for `otherwise`
    max_ratio: Optional[float] = None
    min_ratio: Optional[float] = None
    order: tuple[str, ...] = ()
    fallback: Optional[tuple[Segment, ...]] = None
    key: tuple[str, ...] = ()
    from_only_requires: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        return render_path(self.pattern) if self.pattern else "(otherwise)"

    def matches(self, path: Sequence[Segment]) -> bool:
        if len(self.pattern) > len(path):
            return False
        return all(kind == path_kind and fnmatch.fnmatchcase(name, glob)
                   for (kind, glob), (path_kind, name) in zip(self.pattern, path))

    @property
    def specificity(self) -> tuple[int, int, int]:
        literal = sum(1 for _kind, glob in self.pattern if not _has_glob(glob))
        return (len(self.pattern), literal, -self.index)


@dataclass(frozen=True)
class ParityPair:
    source: str
    target: str
    otherwise: ParityRule
    rules: tuple[ParityRule, ...]

    def rule_for(self, path: Sequence[Segment]) -> ParityRule:
        """The rule that decides `path`: the most specific match, else `otherwise`."""
        matching = [rule for rule in self.rules if rule.matches(path)]
        return max(matching, key=lambda rule: rule.specificity) if matching else self.otherwise


@dataclass(frozen=True)
class ParityContract:
    file: str
    pairs: tuple[ParityPair, ...]

    def pair(self, source: str, target: str) -> ParityPair:
        """The contract between `source` and `target`; LookupError names the pairs there are."""
        for pair in self.pairs:
            if (pair.source, pair.target) == (source, target):
                return pair
        known = ", ".join(f"{p.source} -> {p.target}" for p in self.pairs)
        hint = ""
        if any((p.source, p.target) == (target, source) for p in self.pairs):
            hint = f"; the contract runs the other way: compare {target} {source}"
        raise LookupError(f"{self.file} has no contract for {source} -> {target} (it has: {known}){hint}")


@lru_cache(maxsize=1)
def _validator():
    schema = json.loads(SCHEMA_FILE.read_text())
    return json_schema.validator_class()(schema)


def _semantic_problems(document: Any) -> Iterator[SpecProblem]:
    seen_pairs: dict[tuple[str, str], int] = {}
    for p, pair in enumerate(document["pairs"]):
        names = (pair["from"], pair["to"])
        if names[0] == names[1]:
            yield SpecProblem(None, ("pairs", p, "to"), f"a pair compares two environments, found {names[0]!r} twice")
        if names in seen_pairs:
            yield SpecProblem(None, ("pairs", p), f"second contract for {names[0]} -> {names[1]} "
                                                  f"(the first is pairs[{seen_pairs[names]}])")
        seen_pairs.setdefault(names, p)
        seen_patterns: dict[tuple, int] = {}
        for r, rule in enumerate(pair["rules"]):
            where = ("pairs", p, "rules", r)
            try:
                pattern = parse_path(rule["path"])
            except PathSyntaxError as error:
                yield SpecProblem(None, where + ("path",), str(error))
                continue
            if pattern in seen_patterns:
                yield SpecProblem(None, where + ("path",), f"path {rule['path']!r} already has a rule "
                                                           f"(rules[{seen_patterns[pattern]}])")
            seen_patterns.setdefault(pattern, r)
            relation = rule["relation"]
            for parameter in sorted(set(rule) - {"path", "relation"} - RELATION_PARAMETERS[relation]):
                owners = sorted(name for name, params in RELATION_PARAMETERS.items() if parameter in params)
                yield SpecProblem(None, where + (parameter,),
                                  f"{parameter!r} applies to relation {' or '.join(owners)}, not {relation!r}")
            if relation == "bounded" and "maxRatio" not in rule and "minRatio" not in rule:
                yield SpecProblem(None, where, "a bounded rule needs maxRatio, minRatio or both")
            if relation == "bounded" and rule.get("minRatio", 0) > rule.get("maxRatio", float("inf")):
                yield SpecProblem(None, where + ("minRatio",),
                                  f"expected minRatio <= maxRatio ({rule['maxRatio']}), found {rule['minRatio']}")
            if relation == "stricter" and "order" not in rule:
                yield SpecProblem(None, where, "a stricter rule needs `order`: its values, weakest first")
            if "fallback" in rule:
                try:
                    parse_path(rule["fallback"])
                except PathSyntaxError as error:
                    yield SpecProblem(None, where + ("fallback",), str(error))


def _rule(entry: Any, index: int, location: Location) -> ParityRule:
    return ParityRule(
        pattern=parse_path(entry["path"]),
        relation=entry["relation"],
        location=location,
        index=index,
        max_ratio=entry.get("maxRatio"),
        min_ratio=entry.get("minRatio"),
        order=tuple(entry.get("order", ())),
        fallback=parse_path(entry["fallback"]) if "fallback" in entry else None,
        key=tuple(entry.get("key", ())),
        from_only_requires=tuple(entry.get("fromOnlyRequires", ())),
    )


def load_contract(path: Optional[Path] = None) -> ParityContract:
    """Read, validate and check a contract (default environments/parity.yaml); raises SpecError."""
    path = Path(path) if path is not None else environments_dir() / CONTRACT_FILE.name
    name = display(path)
    if not path.is_file():
        raise SpecError([SpecProblem(None, (), f"no parity contract: {name} does not exist")])
    document = load_located(str(path), name)
    problems = schema_problems(_validator(), document)
    if not problems:
        problems = [SpecProblem(locate(document, p.path), p.path, p.message) for p in _semantic_problems(document)]
    if problems:
        raise SpecError(sorted(problems, key=lambda p: (p.location.line, p.location.column) if p.location else (0, 0)))
    pairs = []
    for p, entry in enumerate(document["pairs"]):
        rules = tuple(_rule(rule, r, entry["rules"].locations[r]) for r, rule in enumerate(entry["rules"]))
        otherwise = ParityRule((), entry["otherwise"], entry.locations["otherwise"], -1)
        pairs.append(ParityPair(entry["from"], entry["to"], otherwise, rules))
    return ParityContract(name, tuple(pairs))
