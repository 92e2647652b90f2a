"""Safe YAML reading that remembers where every key and item came from.

PyYAML's composer gives nodes with marks; we build plain dicts and lists from
them ourselves so that (a) duplicate keys are an error instead of "last one
wins", (b) every value keeps its file:line:column for error messages, and
(c) nothing but the core scalar types can be produced: no tags, no objects.
Timestamps stay strings so dates validate as JSON Schema `format: date`.
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from environments.errors import Location, SpecError, SpecProblem

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_constructor = yaml.constructor.SafeConstructor()

# Bounds that keep hostile input (alias bombs, runaway files) from eating memory.
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 64

_SCALAR_TAGS = {
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
}
# Tags that resolve to plain strings; any other explicit tag (!!python/..., !Ref) is refused.
_STRING_TAGS = {"tag:yaml.org,2002:str", "tag:yaml.org,2002:timestamp", "!"}
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"


class LocatedMap(dict):
    """A dict that knows the location of itself and of each of its keys."""

    location: Location
    locations: dict


class LocatedList(list):
    """A list that knows the location of itself and of each of its items."""

    location: Location
    locations: dict


def _location(file: str, mark: Any) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


def _problem(file: str, mark: Any, message: str, path: tuple = ()) -> SpecError:
    return SpecError([SpecProblem(_location(file, mark) if mark else Location(file, 1, 1), path, message)])


class _Builder:
    def __init__(self, file: str):
        self.file = file
        self.count = 0

    def build(self, node: yaml.Node, path: tuple = ()) -> Any:
        self.count += 1
        if self.count > MAX_NODES or len(path) > MAX_DEPTH:
            raise _problem(self.file, node.start_mark,
                           f"document too large or too deeply nested (more than {MAX_NODES} values "
                           f"or {MAX_DEPTH} levels; check anchors and aliases)", path)
        if isinstance(node, yaml.MappingNode) and node.tag == _MAP_TAG:
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ_TAG:
            result = LocatedList()
            result.location = _location(self.file, node.start_mark)
            result.locations = {}
            for index, item in enumerate(node.value):
                result.locations[index] = _location(self.file, item.start_mark)
                result.append(self.build(item, path + (index,)))
            return result
        if isinstance(node, yaml.ScalarNode) and node.tag in _SCALAR_TAGS:
            value = _constructor.construct_object(node)
            if isinstance(value, float) and not math.isfinite(value):
                # .nan passes every comparison a schema or check makes: an alert that never fires.
                raise _problem(self.file, node.start_mark,
                               f"expected a finite number, found {node.value!r}", path)
            return value
        if isinstance(node, yaml.ScalarNode) and node.tag in _STRING_TAGS:
            return str(node.value)
        raise _problem(self.file, node.start_mark,
                       f"YAML tag {node.tag.replace('tag:yaml.org,2002:', '!!')} is not allowed in a spec "
                       "(specs hold plain data only)", path)

    def _mapping(self, node: yaml.MappingNode, path: tuple) -> LocatedMap:
        result = LocatedMap()
        result.location = _location(self.file, node.start_mark)
        result.locations = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _problem(self.file, key_node.start_mark,
                               "YAML merge keys ('<<') are not supported; use `extends` between environments",
                               path)
            if not isinstance(key_node, yaml.ScalarNode):
                raise _problem(self.file, key_node.start_mark, "mapping keys must be plain strings", path)
            key = str(key_node.value)
            if key in result:
                first = result.locations[key]
                raise _problem(self.file, key_node.start_mark,
                               f"duplicate key {key!r} (first defined at line {first.line}); "
                               "YAML keys must be unique", path + (key,))
            result.locations[key] = _location(self.file, key_node.start_mark)
            result[key] = self.build(value_node, path + (key,))
        return result


def _tab_near(text: str, mark: Any) -> bool:
    lines = text.splitlines()
    return 0 <= mark.line < len(lines) and "\t" in lines[mark.line][: mark.column + 1]


def load_located(path: str, display_name: str) -> Any:
    """Parse one YAML document from `path`; errors are SpecErrors naming `display_name`."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise SpecError([SpecProblem(None, (), f"cannot read {display_name}: {exc.strerror}")]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise SpecError([SpecProblem(Location(display_name, 1, 1), (),
                                     f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError([SpecProblem(Location(display_name, line, column), (),
                                     f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})")]) from None
    try:
        documents = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = exc.problem or exc.context or "invalid YAML"
        if mark is not None and _tab_near(text, mark):
            reason += " (indent with spaces, not tabs)"
        raise _problem(display_name, mark, f"YAML syntax error: {reason}") from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise SpecError([SpecProblem(Location(display_name, line, column), (),
                                     f"character {exc.character!r} is not allowed in YAML ({exc.reason})")]) from None
    except yaml.YAMLError as exc:
        reason = " ".join(str(exc).split())
        raise SpecError([SpecProblem(Location(display_name, 1, 1), (), f"YAML error: {reason}")]) from None
    except RecursionError:
        raise SpecError([SpecProblem(Location(display_name, 1, 1), (),
                                     "document too deeply nested to be a spec")]) from None
    if len(documents) != 1:
        found = "no document" if not documents else f"{len(documents)} documents"
        raise SpecError([SpecProblem(Location(display_name, 1, 1), (),
                                     f"expected exactly one YAML document, found {found}")])
    return _Builder(display_name).build(documents[0])
