"""Promotion: carry one environment's pinned versions into another's spec file as a minimal diff.

What an item is pinned by:
  endpoint  its `model` (registry name, and `version` or `alias`)
  pipeline  its `source` file and `function` (the code; schedules and parameters stay per environment)

The target file is edited with ruamel.yaml's round-trip mode, so comments, key
order, quoting and flow style stay as they are and the pull request shows only
the pinned lines. A file whose formatting ruamel.yaml cannot reproduce exactly
is refused rather than reformatted.

Only the target's own file is edited. An item the target inherits through
`extends` is refused: changing the shared file would change other
environments too.

Pure text in, text out: reading, auditing and writing files is the command's
job (stacks/commands/promote.py).
"""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

ENDPOINT_SECTION, PIPELINE_SECTION = "endpoints", "pipelines"
MODEL_SELECTORS = ("version", "alias")  # an endpoint's model has exactly one of these
PIPELINE_PINS = ("source", "function")

# Indentation styles tried, (mapping, sequence, offset); the one that reproduces the file is used.
_INDENT_STYLES = ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (4, 4, 0))


class PromotionError(Exception):
    """Promotion cannot proceed; the message says why and what to do (exit 2)."""


@dataclass(frozen=True)
class Selection:
    """The items to promote, and the source's items the target does not have (skipped)."""

    endpoints: tuple[str, ...]
    pipelines: tuple[str, ...]
    skipped: tuple[str, ...] = ()


@dataclass(frozen=True)
class Change:
    section: str  # endpoints | pipelines
    name: str
    field: str  # e.g. model.version
    old: Any
    new: Any

    def __str__(self) -> str:
        old = "(none)" if self.old is None else self.old
        new = "(removed)" if self.new is None else self.new
        return f"{self.section}[{self.name}].{self.field}: {old} -> {new}"


def _names(document: Mapping, section: str) -> list[str]:
    return [item["name"] for item in document.get(section) or ()]


def select(source: Mapping, target: Mapping, endpoints: Sequence[str], pipelines: Sequence[str]) -> Selection:
    """Which items to promote. None named: every endpoint and pipeline both environments have."""
    source_name, target_name = source["metadata"]["name"], target["metadata"]["name"]
    chosen: dict[str, list[str]] = {}
    skipped: list[str] = []
    everything = not endpoints and not pipelines
    for section, named in ((ENDPOINT_SECTION, endpoints), (PIPELINE_SECTION, pipelines)):
        in_source, in_target = _names(source, section), _names(target, section)
        singular = section[:-1]
        if everything:
            chosen[section] = [name for name in in_source if name in in_target]
            skipped += [f"{singular} {name}" for name in in_source if name not in in_target]
            continue
        for name in named:
            if name not in in_source:
                raise PromotionError(f"{source_name} has no {singular} {name!r} (it has: {', '.join(in_source) or 'none'})")
            if name not in in_target:
                raise PromotionError(f"{target_name} has no {singular} {name!r}: promote carries pinned versions, "
                                     f"not definitions; add the {singular} to {target_name} first")
        chosen[section] = list(dict.fromkeys(named))
    return Selection(tuple(chosen[ENDPOINT_SECTION]), tuple(chosen[PIPELINE_SECTION]), tuple(skipped))


# --- round-trip YAML -------------------------------------------------------------

def _yaml(style: tuple[int, int, int]):
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line
    mapping, sequence, offset = style
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def _dump(yaml, data: Any) -> str:
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def round_trip(text: str, display: str):
    """(yaml, data) such that dumping `data` unchanged gives back `text` byte for byte."""
    from ruamel.yaml import YAMLError

    for style in _INDENT_STYLES:
        yaml = _yaml(style)
        try:
            data = yaml.load(text)
        except YAMLError as error:
            raise PromotionError(f"{display}: cannot read it for editing: {error}") from None
        if _dump(yaml, data) == text:
            return yaml, data
    raise PromotionError(f"{display}: cannot edit this file without reformatting lines promote does not change "
                         "(its indentation or layout is not one ruamel.yaml reproduces); edit the pins by hand")


def _like(old: Any, new: Any) -> Any:
    """`new` written the way `old` was: a quoted string stays quoted in the same style. A string
    that YAML 1.1 readers (PyYAML: the loader, every lock reader) would take for something else
    unquoted (`yes`, `off`, `null`, `1e3`, `2024-01-01`) is quoted whatever `old` was: ruamel writes
    YAML 1.2, where `yes` is a string, and the promoted alias would come back as `true`."""
    import yaml as pyyaml
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString, ScalarString

    if isinstance(old, ScalarString) and isinstance(new, str):
        return type(old)(new)
    if isinstance(new, str) and not isinstance(new, ScalarString):
        try:
            plain = pyyaml.safe_load(new)
        except pyyaml.YAMLError:
            plain = None
        if plain != new:
            return DoubleQuotedScalarString(new)
    return new


def _replace_key(mapping, old_key: str, new_key: str, value: Any) -> None:
    """Swap `old_key` for `new_key` at the same position, keeping the comment that followed it."""
    position = list(mapping).index(old_key)
    comment = mapping.ca.items.pop(old_key, None)
    del mapping[old_key]
    mapping.insert(position, new_key, value)
    if comment is not None:
        mapping.ca.items[new_key] = comment


def _own_item(data: Any, section: str, name: str, display: str):
    for item in (data.get(section) or ()) if isinstance(data, Mapping) else ():
        if isinstance(item, Mapping) and item.get("name") == name:
            return item
    raise PromotionError(f"{display} does not declare {section[:-1]} {name!r} itself (it comes from the "
                         "environment it extends); promote edits only the target's own file: declare the "
                         f"{section[:-1]} there, then promote")


def _set(mapping, key: str, value: Any, section: str, name: str, field: str, changes: list) -> None:
    old = mapping.get(key)
    if old != value:
        mapping[key] = _like(old, value)
        changes.append(Change(section, name, field, old, value))


def _promote_model(target_item, source_model: Mapping, name: str, display: str, changes: list) -> None:
    model = target_item.get("model")
    if not isinstance(model, Mapping):
        raise PromotionError(f"{display}: endpoint {name!r} does not state its model here; "
                             "declare `model:` in this file, then promote")
    _set(model, "name", source_model["name"], ENDPOINT_SECTION, name, "model.name", changes)
    wanted = next(key for key in MODEL_SELECTORS if key in source_model)
    stated = next((key for key in MODEL_SELECTORS if key in model), None)
    if stated is None or stated == wanted:
        _set(model, wanted, source_model[wanted], ENDPOINT_SECTION, name, f"model.{wanted}", changes)
        return
    changes.append(Change(ENDPOINT_SECTION, name, f"model.{stated}", model[stated], None))
    changes.append(Change(ENDPOINT_SECTION, name, f"model.{wanted}", None, source_model[wanted]))
    _replace_key(model, stated, wanted, _like(None, source_model[wanted]))


def promote_spec_text(target_text: str, display: str, source: Mapping,
                      selection: Selection) -> tuple[str, list[Change]]:
    """The target spec file with the selected items carrying `source`'s pins (resolved document)."""
    yaml, data = round_trip(target_text, display)
    changes: list[Change] = []
    source_endpoints = {item["name"]: item for item in source.get(ENDPOINT_SECTION) or ()}
    source_pipelines = {item["name"]: item for item in source.get(PIPELINE_SECTION) or ()}
    for name in selection.endpoints:
        item = _own_item(data, ENDPOINT_SECTION, name, display)
        _promote_model(item, source_endpoints[name]["model"], name, display, changes)
    for name in selection.pipelines:
        item = _own_item(data, PIPELINE_SECTION, name, display)
        for key in PIPELINE_PINS:
            _set(item, key, source_pipelines[name][key], PIPELINE_SECTION, name, key, changes)
    return (_dump(yaml, data) if changes else target_text), changes


# --- the registry lock -------------------------------------------------------------

def _lock_entries(data: Any, display: str):
    """(get, put) over a lock's endpoint entries, whether keyed by name or a list of named items."""
    entries = data.get(ENDPOINT_SECTION) if isinstance(data, Mapping) else None
    if isinstance(entries, Mapping):
        return entries.get, entries.__setitem__
    if isinstance(entries, list):
        def get(name: str) -> Optional[Any]:
            return next((e for e in entries if isinstance(e, Mapping) and e.get("name") == name), None)

        def put(name: str, entry: Any) -> None:
            current = get(name)
            if current is None:
                entries.append(entry)
            else:
                entries[entries.index(current)] = entry
        return get, put
    raise PromotionError(f"{display}: expected an `{ENDPOINT_SECTION}:` section of resolved models")


def promote_lock_text(source_lock: Optional[str], source_display: str, target_lock: str, target_display: str,
                      endpoints: Sequence[str], source_environment: str) -> str:
    """The target lock with the promoted endpoints' entries copied from the source lock.

    The resolved version is what the source environment proved, so it travels
    with the pin; without it the target would resolve an alias afresh.
    """
    if not endpoints:
        return target_lock
    if source_lock is None:
        raise PromotionError(f"{source_display} does not exist, so the versions {source_environment} resolved "
                             f"cannot travel with the pins: run `stackyard lock {source_environment}` first")
    _source_yaml, source_data = round_trip(source_lock, source_display)
    target_yaml, target_data = round_trip(target_lock, target_display)
    source_get, _ = _lock_entries(source_data, source_display)
    target_get, target_put = _lock_entries(target_data, target_display)
    changed = False
    for name in endpoints:
        entry = source_get(name)
        if entry is None:
            raise PromotionError(f"{source_display} has no entry for endpoint {name!r}: "
                                 f"run `stackyard lock {source_environment}` first")
        if target_get(name) != entry:
            target_put(name, copy.deepcopy(entry))
            changed = True
    return _dump(target_yaml, target_data) if changed else target_lock
