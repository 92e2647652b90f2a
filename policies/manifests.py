"""Plain Kubernetes manifests as resources the rules can read.

`load(path)` reads a YAML or JSON file, or every *.yaml / *.yml / *.json file
under a directory: multi-document YAML, JSON objects and arrays, and `kind:
List` (or `FooList`) objects whose items are expanded. Each object becomes a
Resource with the type token pulumi-kubernetes would give it
(`kubernetes:apps/v1:Deployment`), so the same rules apply.

A document that cannot be read (bad syntax, not a mapping, no kind) is not
fatal: it becomes a resource of type UNREADABLE_MANIFEST that SY-GOV-003
reports with its file and line, and reading goes on with the next document.
Documents with neither apiVersion nor kind (a Helm values file, a kustomize
patch) are skipped and listed as such.
"""

from __future__ import annotations

import functools
import json
import os
import pickle
import re
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from environments import collector
from environments.errors import Location
from policies.rules.governance import UNREADABLE_MANIFEST
from policies.rules.model import SECRET, Resource

SUFFIXES = (".yaml", ".yml", ".json")
_NOT_MANIFESTS = ("kubernetes:helm.sh/", "pulumi:providers:")
_SECRET_KINDS = {"Secret"}
_DOCUMENT_MARKER = re.compile(r"^(---|\.\.\.)(\s|$)")


@dataclass
class ManifestSet:
    resources: list[Resource] = field(default_factory=list)
    locations: dict[str, Location] = field(default_factory=dict)  # resource urn -> where its document starts
    skipped: list[str] = field(default_factory=list)  # "file:line: why" for documents that are not objects
    files: list[str] = field(default_factory=list)


def type_token(api_version: str, kind: str) -> str:
    """The pulumi-kubernetes type token of an object: apps/v1 + Deployment -> kubernetes:apps/v1:Deployment."""
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{group_version}:{kind}"


def is_manifest(resource: dict) -> bool:
    """Whether a plan resource is a Kubernetes object that would be applied as a manifest."""
    type_ = resource["type"]
    return (type_.startswith("kubernetes:") and not type_.startswith(_NOT_MANIFESTS)
            and "kind" in resource["inputs"] and "apiVersion" in resource["inputs"])


def manifest(resource: dict) -> dict:
    """The Kubernetes object a plan resource would apply, Secret values masked."""
    inputs = resource["inputs"]
    body = {"apiVersion": inputs["apiVersion"], "kind": inputs["kind"], "metadata": inputs.get("metadata", {})}
    for key, value in inputs.items():
        if key not in body:
            body[key] = value
    if body["kind"] in _SECRET_KINDS:
        for field_name in ("data", "stringData"):
            if isinstance(body.get(field_name), dict):
                body[field_name] = {key: SECRET for key in body[field_name]}
    return body


def manifest_path(body: dict) -> str:
    """Where a plan writes an object under manifests/: <namespace or _cluster>/<kind>-<name>.yaml."""
    metadata = body.get("metadata") or {}
    scope = metadata.get("namespace") or "_cluster"
    name = metadata.get("name") or "unnamed"
    return f"{scope}/{body['kind'].lower()}-{name}.yaml"


def _files(path: Path) -> list[tuple[Path, str]]:
    """The manifest files under `path` (hidden folders and files left out), each with the name
    users see: `path` as displayed, then the file's place under it."""
    from environments.project import display

    shown = display(path)
    if not path.is_dir():
        return [(path, shown)]
    found = []
    for folder, folders, names in os.walk(path):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        relative = os.path.relpath(folder, path)
        for name in names:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in SUFFIXES:
                file = os.path.join(folder, name)
                if os.path.isfile(file):
                    found.append((Path(file), os.path.normpath(os.path.join(shown, relative, name))))
    return sorted(found)


class _Reader:
    def __init__(self, manifests: ManifestSet, file: str):
        self.manifests = manifests
        self.file = file

    def unreadable(self, index: str, line: int, column: int, message: str) -> None:
        urn = f"{self.file}#{index}"
        self.manifests.resources.append(Resource(urn=urn, type=UNREADABLE_MANIFEST, name=urn,
                                                 inputs={"error": f"{self.file}:{line}:{column}: {message}"}))
        self.manifests.locations[urn] = Location(self.file, line, column)

    def document(self, index: str, body: Any, line: int, item_lines: list[int], bounded: bool = False) -> None:
        """One document's value; `bounded` when _bounded_value built it (its depth is already checked)."""
        if body is None:
            return
        if not bounded and _depth(body) > MAX_DEPTH:
            # The rules walk objects recursively; a hostile nesting must be one finding, not the audit's end.
            self.unreadable(index, line, 1, f"document nested deeper than {MAX_DEPTH} levels; not a Kubernetes object")
            return
        if not isinstance(body, dict):
            kind = "a list" if isinstance(body, list) else type(body).__name__
            self.unreadable(index, line, 1, f"expected a Kubernetes object (a mapping), found {kind}")
            return
        api_version, kind = body.get("apiVersion"), body.get("kind")
        if api_version is None and kind is None:
            self.manifests.skipped.append(f"{self.file}:{line}: no apiVersion or kind, not a Kubernetes object")
            return
        if not isinstance(api_version, str) or not api_version or not isinstance(kind, str) or not kind:
            missing = "apiVersion" if not isinstance(api_version, str) or not api_version else "kind"
            self.unreadable(index, line, 1, f"Kubernetes object without a valid {missing}")
            return
        if kind == "List" or (kind.endswith("List") and "items" in body):
            items = body.get("items")
            if not isinstance(items, list):
                self.unreadable(index, line, 1, f"{kind} without an items list")
                return
            for number, item in enumerate(items):
                item_line = item_lines[number] if number < len(item_lines) else line
                self.document(f"{index}/items/{number}", item, item_line, [], bounded)
            return
        metadata = body.get("metadata", {})
        if not isinstance(metadata, dict):
            self.unreadable(index, line, 1, f"{kind} metadata is not a mapping")
            return
        name = metadata.get("name") or metadata.get("generateName") or ""
        namespace = metadata.get("namespace") or ""
        urn = f"{self.file}#{index}:{kind}/{namespace}/{name}"
        self.manifests.resources.append(Resource(urn=urn, type=type_token(api_version, kind), name=str(name),
                                                 inputs=body))
        self.manifests.locations[urn] = Location(self.file, line, 1)


MAX_DEPTH = 100
# Values in one document once its aliases are expanded (as the API server's YAML-to-JSON conversion
# expands them): a few dozen aliases of aliases must be one finding, not an audit that never ends.
# The largest upstream CRDs are far below it.
MAX_VALUES = 1_000_000


def _depth(value: Any) -> int:
    """How deeply `value` nests (iteratively: a hostile document must not exhaust the stack here)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        current, level = pending.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        children = current.values() if isinstance(current, dict) else current if isinstance(current, list) else ()
        pending.extend((child, level + 1) for child in children)
    return deepest


class _TooLarge(Exception):
    """A document deeper than MAX_DEPTH levels, or of more than MAX_VALUES values."""


class _NotPlain(Exception):
    """A node PyYAML's SafeConstructor must build: a merge key, an explicit or unknown tag, a key that is a collection."""


_STR, _SEQ, _MAP = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"
_OTHER_SCALARS = tuple(f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "timestamp", "binary"))


def _bounded_value(node: Any, loader: Any) -> Any:
    """The value of a composed YAML document, as PyYAML's SafeConstructor builds it, only faster.

    Mappings, sequences and strings are built here; other scalars (int, float, bool, null,
    timestamp, binary) by SafeConstructor's own functions, so every value is the one PyYAML
    gives. Aliases are expanded into copies and counted, and depth is bounded, so the result
    needs no further guard. Raises _NotPlain for what only SafeConstructor builds (merge keys,
    explicit tags), _TooLarge beyond MAX_DEPTH levels or MAX_VALUES values.
    """
    import yaml

    scalar_node, sequence_node = yaml.ScalarNode, yaml.SequenceNode
    scalar_constructors = {tag: yaml.SafeLoader.yaml_constructors[tag] for tag in _OTHER_SCALARS}
    count = 0

    def build(current: Any, level: int) -> Any:
        nonlocal count
        count += 1
        if level > MAX_DEPTH or count > MAX_VALUES:
            raise _TooLarge
        tag, kind = current.tag, type(current)
        if kind is scalar_node:
            if tag == _STR:
                return current.value
            constructor = scalar_constructors.get(tag)
            if constructor is None:
                raise _NotPlain
            try:
                return constructor(loader, current)
            except _CONSTRUCTION_ERRORS as error:
                raise _unbuildable(current, error) from None
        if kind is sequence_node:
            if tag != _SEQ:
                raise _NotPlain
            return [build(item, level + 1) for item in current.value]
        if tag != _MAP:
            raise _NotPlain
        mapping = {}
        for key_node, value_node in current.value:
            if key_node.tag == _MERGE or type(key_node) is not scalar_node:
                raise _NotPlain
            mapping[build(key_node, level + 1)] = build(value_node, level + 1)
        return mapping

    return build(node, 1)


def _yaml_chunks(text: str) -> list[tuple[int, str]]:
    """The documents of a YAML stream as (first line, text), split at `---` lines.

    Splitting ourselves means one broken document does not hide the ones after it.
    """
    if "---" not in text and "..." not in text:  # most files: one document, no line to look at
        return [(1, text)] if text.strip() and not _only_comments(text) else []
    chunks, current, start = [], [], 1
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        if _DOCUMENT_MARKER.match(line):
            chunks.append((start, "".join(current)))
            current, start = [line[3:] if line.startswith("---") else "\n"], number
        else:
            current.append(line)
    chunks.append((start, "".join(current)))
    return [(line, chunk) for line, chunk in chunks if chunk.strip() and not _only_comments(chunk)]


def _only_comments(chunk: str) -> bool:
    return all(not line.strip() or line.lstrip().startswith("#") for line in chunk.splitlines())


def _item_lines(node: Any, offset: int) -> list[int]:
    """Lines of the entries of a mapping's `items` sequence (for List objects)."""
    import yaml

    if not isinstance(node, yaml.MappingNode):
        return []
    for key, value in node.value:
        if getattr(key, "value", None) == "items" and isinstance(value, yaml.SequenceNode):
            return [offset + item.start_mark.line for item in value.value]
    return []


def _parse_yaml(chunk: str, loader_class) -> tuple[Any, Any, bool]:
    """(node, value, bounded) of one YAML document; node None for an empty one. `bounded` when
    _bounded_value built the value (depth and size checked), False when SafeConstructor had to."""
    loader = loader_class(chunk)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None, True
        try:
            return node, _bounded_value(node, loader), True
        except _NotPlain:
            try:
                return node, loader.construct_document(node), False
            except _CONSTRUCTION_ERRORS as error:
                raise _unbuildable(node, error) from None
    finally:
        loader.dispose()


# What PyYAML's constructors raise, besides its own errors, for a value its tag cannot hold
# (`!!int yes`, `!!timestamp x`, `!!binary` that is not base64).
_CONSTRUCTION_ERRORS = (ValueError, TypeError, AttributeError, OverflowError)


def _unbuildable(node: Any, error: Exception) -> Exception:
    import yaml

    if isinstance(node, yaml.ScalarNode):
        problem = f"the value {node.value[:80]!r} is not a valid !!{node.tag.rsplit(':', 1)[-1]}"
    else:
        problem = f"a value its tag cannot hold ({error})"
    return yaml.constructor.ConstructorError(None, None, problem, node.start_mark)


@functools.cache
def _fast_loader() -> type:
    """libyaml's parser, with tag resolution remembered: the composer asks for the tag of every
    node, PyYAML tries its regular expressions on every plain scalar, and most scalars of a folder
    repeat (keys, images, labels). SafeLoader has no path resolvers, so a tag depends only on the
    arguments asked with."""
    import yaml

    resolve = functools.lru_cache(maxsize=16_384)(yaml.resolver.Resolver().resolve)

    class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        def __init__(self, stream):
            super().__init__(stream)
            self.resolve = resolve  # an instance attribute: a cache hit is answered without a Python frame

    return Loader


def _read_yaml(reader: _Reader, text: str) -> None:
    import yaml

    # libyaml's parser where PyYAML has it: the pure-Python one was nine tenths of
    # auditing a large folder. A document libyaml refuses is parsed again by the
    # pure-Python parser, whose messages are the ones users see (and tests pin).
    fast_loader = _fast_loader()
    for number, (first_line, chunk) in enumerate(_yaml_chunks(text)):
        try:
            try:
                node, body, bounded = _parse_yaml(chunk, fast_loader)
            except yaml.YAMLError:
                node, body, bounded = _parse_yaml(chunk, yaml.SafeLoader)
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line = first_line + (mark.line if mark else 0)
            what = "YAML error" if isinstance(error, yaml.constructor.ConstructorError) else "YAML syntax error"
            reader.unreadable(str(number), line, (mark.column + 1) if mark else 1,
                              f"{what}: {error.problem or error.context or 'invalid YAML'}")
            continue
        except yaml.YAMLError as error:
            reader.unreadable(str(number), first_line, 1, f"YAML error: {error}")
            continue
        except _TooLarge:
            reader.unreadable(str(number), first_line, 1,
                              f"document nested deeper than {MAX_DEPTH} levels or with more than {MAX_VALUES:,} "
                              "values once its aliases are expanded; not a Kubernetes object")
            continue
        start = first_line + (node.start_mark.line if node is not None else 0)
        reader.document(str(number), body, start, _item_lines(node, first_line), bounded)


def _read_json(reader: _Reader, text: str) -> None:
    if not text.strip():
        return
    try:
        body = json.loads(text)
    except json.JSONDecodeError as error:
        reader.unreadable("0", error.lineno, error.colno, f"JSON syntax error: {error.msg}")
        return
    documents = body if isinstance(body, list) else [body]
    for number, document in enumerate(documents):
        reader.document(str(number), document, 1, [])


# Below this many files one process reads them all: a fork would cost more than it saves.
PARALLEL_FROM_FILES = 64
# What reading a file costs besides its bytes (opening it, a parser, a resource), in bytes of YAML
# read in the same time: measured over the manifests of a plan, about 5 KB.
FILE_COST_IN_BYTES = 5_000


def load(path: Path) -> ManifestSet:
    """Every Kubernetes object under `path`; raises FileNotFoundError if `path` does not exist.

    A large folder is read on every core the process may use, each reading a contiguous share
    of the sorted files; the shares are joined in order, so the result is the one a single
    process gives.
    """
    if not path.exists():
        raise FileNotFoundError(str(path))
    files = _files(path)
    with collector.growing_heap():
        shares = _shares(files, _usable_cores() if len(files) >= PARALLEL_FROM_FILES else 1)
        return _read_shares(shares)


def _usable_cores() -> int:
    # Only a single-threaded process forks: a thread holding a lock at the fork would leave the
    # child waiting on it forever (the in-process test runner has threads; the CLI has none).
    if threading.active_count() > 1 or not hasattr(os, "fork"):
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _shares(files: list[tuple[Path, str]], count: int) -> list[list[tuple[Path, str]]]:
    """`files` cut into at most `count` contiguous shares that take about as long to read."""
    if count <= 1 or len(files) < 2:
        return [files]
    sizes = [FILE_COST_IN_BYTES + _size(file) for file, _shown in files]
    target, shares, current, filled = sum(sizes) / count, [], [], 0
    for entry, size in zip(files, sizes):
        current.append(entry)
        filled += size
        if filled >= target * (len(shares) + 1) and len(shares) < count - 1:
            shares.append(current)
            current = []
    return [share for share in (*shares, current) if share]


def _size(file: Path) -> int:
    try:
        return file.stat().st_size
    except OSError:
        return 0  # read (and reported) as unreadable later


def _read_shares(shares: list[list[tuple[Path, str]]]) -> ManifestSet:
    """Read the first share here and every other in a forked child, which sends its ManifestSet
    back pickled. A child that fails for any reason has its share read here instead."""
    _fast_loader()  # built before the fork, once for all
    children = [_fork_reader(share) for share in shares[1:]]
    manifests = ManifestSet()
    for file, shown in shares[0]:
        _read_file(manifests, file, shown)
    for share, child in zip(shares[1:], children):
        data, status = b"", 1
        if child is not None:
            pid, pipe = child
            with os.fdopen(pipe, "rb") as incoming:
                data = incoming.read()  # before waiting: the child cannot finish while its pipe is full
            _pid, status = os.waitpid(pid, 0)
        if status != 0 or not data:
            part = ManifestSet()
            for file, shown in share:
                _read_file(part, file, shown)
        else:
            part = pickle.loads(data)  # written by our own fork a moment ago, never by anybody else
        manifests.resources.extend(part.resources)
        manifests.locations.update(part.locations)
        manifests.skipped.extend(part.skipped)
        manifests.files.extend(part.files)
    return manifests


def _fork_reader(share: list[tuple[Path, str]]) -> Optional[tuple[int, int]]:
    """(pid, read end of its pipe) of a child that reads `share` and writes its ManifestSet to the
    pipe; None when no child can be started (no processes or memory left): the share is read here."""
    try:
        read_end, write_end = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return None
    if pid != 0:
        os.close(write_end)
        return pid, read_end
    status = 1
    try:  # the child: read, send, and leave without running any of the parent's exit handlers
        os.close(read_end)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        part = ManifestSet()
        for file, shown in share:
            _read_file(part, file, shown)
        with os.fdopen(write_end, "wb") as outgoing:
            pickle.dump(part, outgoing, protocol=pickle.HIGHEST_PROTOCOL)
        status = 0
    finally:
        os._exit(status)


def _read_file(manifests: ManifestSet, file: Path, shown: str) -> None:
    manifests.files.append(shown)
    reader = _Reader(manifests, shown)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reader.unreadable("0", 1, 1, f"cannot read the file: {getattr(error, 'strerror', None) or error}")
        return
    try:
        (_read_json if file.suffix.lower() == ".json" else _read_yaml)(reader, text)
    except RecursionError:
        reader.unreadable("0", 1, 1, "document too deeply nested to parse")
