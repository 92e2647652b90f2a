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

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
                      and not any(part.startswith(".") for part in p.relative_to(path).parts))
    return [path]


def _display(path: Path) -> str:
    from environments.loader import display

    return display(path)


class _Reader:
    def __init__(self, manifests: ManifestSet, file: str):
        self.manifests = manifests
        self.file = file

    def unreadable(self, index: str, line: int, column: int, message: str) -> None:
        urn = f"{self.file}#{index}"
        self.manifests.resources.append(Resource(urn=urn, type=UNREADABLE_MANIFEST, name=urn,
                                                 inputs={"error": f"{self.file}:{line}:{column}: {message}"}))
        self.manifests.locations[urn] = Location(self.file, line, column)

    def document(self, index: str, body: Any, line: int, item_lines: list[int]) -> None:
        if body is None:
            return
        if _depth(body) > MAX_DEPTH:
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
                self.document(f"{index}/items/{number}", item, item_line, [])
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


def _yaml_chunks(text: str) -> list[tuple[int, str]]:
    """The documents of a YAML stream as (first line, text), split at `---` lines.

    Splitting ourselves means one broken document does not hide the ones after it.
    """
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


def _parse_yaml(chunk: str, loader_class) -> tuple[Any, Any]:
    """(node, value) of one YAML document; node None for an empty one."""
    loader = loader_class(chunk)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


def _read_yaml(reader: _Reader, text: str) -> None:
    import yaml

    # libyaml's parser where PyYAML has it: the pure-Python one was nine tenths of
    # auditing a large folder. A document libyaml refuses is parsed again by the
    # pure-Python parser, whose messages are the ones users see (and tests pin).
    fast_loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for number, (first_line, chunk) in enumerate(_yaml_chunks(text)):
        try:
            try:
                node, body = _parse_yaml(chunk, fast_loader)
            except yaml.YAMLError:
                node, body = _parse_yaml(chunk, yaml.SafeLoader)
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line = first_line + (mark.line if mark else 0)
            reader.unreadable(str(number), line, (mark.column + 1) if mark else 1,
                              f"YAML syntax error: {error.problem or error.context or 'invalid YAML'}")
            continue
        except yaml.YAMLError as error:
            reader.unreadable(str(number), first_line, 1, f"YAML error: {error}")
            continue
        start = first_line + (node.start_mark.line if node is not None else 0)
        reader.document(str(number), body, start, _item_lines(node, first_line))


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


def load(path: Path) -> ManifestSet:
    """Every Kubernetes object under `path`; raises FileNotFoundError if `path` does not exist."""
    if not path.exists():
        raise FileNotFoundError(str(path))
    manifests = ManifestSet()
    for file in _files(path):
        shown = _display(file)
        manifests.files.append(shown)
        reader = _Reader(manifests, shown)
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reader.unreadable("0", 1, 1, f"cannot read the file: {getattr(error, 'strerror', None) or error}")
            continue
        try:
            (_read_json if file.suffix.lower() == ".json" else _read_yaml)(reader, text)
        except RecursionError:
            reader.unreadable("0", 1, 1, "document too deeply nested to parse")
    return manifests
