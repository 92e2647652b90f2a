"""Which entry of the environment spec a finding comes from, so reports can point at its line.

A resource belongs to the spec entry it was built from: an endpoint, a node
pool, a pipeline or a team when its name says so, else the section of the
component that created it (cluster, serving, featureStore, kubeflow,
monitoring). `spec:` subjects (exemptions) name their path directly.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Mapping, Optional

from environments.errors import Location, PathPart
from policies.rules.model import Resource

if TYPE_CHECKING:  # annotations only: the spec's classes are not loaded where no spec is read
    from environments.spec import Spec

# Component areas (stackyard:<area>:<Kind>) -> the spec section they are built from.
AREA_SECTIONS = {"compute": ("cluster",), "serving": ("serving",), "features": ("featureStore",),
                 "pipelines": ("kubeflow",), "monitoring": ("monitoring",), "policy": ("policy",)}
_SPEC_SUBJECT = re.compile(r"^spec:(?P<path>.+)\Z")
_PATH_PART = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def subject_path(subject: str) -> Optional[tuple[PathPart, ...]]:
    """`spec:policy.exemptions[2]` -> ("policy", "exemptions", 2); None for other subjects."""
    match = _SPEC_SUBJECT.match(subject)
    if not match:
        return None
    return tuple(int(index) if index else name for name, index in _PATH_PART.findall(match.group("path")))


def _named_sections(spec: Spec) -> list[tuple[tuple[str, ...], tuple]]:
    return [(("endpoints",), spec.endpoints), (("nodePools",), spec.node_pools), (("pipelines",), spec.pipelines),
            (("teams",), spec.teams), (("serving", "runtimes"), spec.serving.runtimes)]


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"(^|[-_./]){re.escape(name)}($|[-_./])", text) is not None


def _area(resource: Resource, by_urn: Mapping[str, Resource]) -> Optional[str]:
    """The area of the component directly under the Platform that created the resource."""
    current: Optional[Resource] = resource
    area = None
    while current is not None:
        if current.type.startswith("stackyard:") and current.type != "stackyard:platform:Platform":
            area = current.type.split(":")[1]
        current = by_urn.get(current.parent)
    return area


def resource_path(resource: Resource, spec: Spec, by_urn: Mapping[str, Resource]) -> tuple[PathPart, ...]:
    names = [resource.object_name, resource.name] if resource.is_kubernetes_object else [resource.name]
    best: Optional[tuple[int, tuple]] = None
    for section, items in _named_sections(spec):
        for index, item in enumerate(items):
            if any(text == item.name or _mentions(text, item.name) for text in names):
                score = len(item.name)
                if best is None or score > best[0]:
                    best = (score, (*section, index))
    if best is not None:
        return best[1]
    area = _area(resource, by_urn)
    return AREA_SECTIONS.get(area or "", ())


def spec_location(document: Any, path: tuple[PathPart, ...], message: str = "") -> Optional[Location]:
    """Where `path` is set in a located document (through `extends`: the file that sets it).

    When the message quotes a value ('docker.io/kserve/sklearnserver:v0.15.2')
    that the entry at `path` sets in one of its fields, the field's own line:
    an inherited image points at the base spec's `image:` line, not at the
    environment's section header. Only the entry is searched: a value derived
    elsewhere (an image built from `versions:`) is not claimed by a field that
    merely holds the same text.
    """
    from environments.loader import locate

    field = _field_quoted_in(_node_at(document, path), tuple(path), set(_QUOTED.findall(message)))
    return locate(document, field if field is not None else path)


_QUOTED = re.compile(r"'([^'\n]{3,})'")


def _node_at(document: Any, path: tuple[PathPart, ...]) -> Any:
    node = document
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _field_quoted_in(node: Any, path: tuple[PathPart, ...], quoted: set[str]) -> Optional[tuple[PathPart, ...]]:
    """The path of the first scalar field under `node` whose value the message quotes."""
    if not quoted:
        return None
    if isinstance(node, dict):
        children = list(node.items())
    elif isinstance(node, list):
        children = list(enumerate(node))
    else:
        return path if str(node) in quoted and path else None
    for key, child in children:
        found = _field_quoted_in(child, (*path, key), quoted)
        if found is not None:
            return found
    return None
