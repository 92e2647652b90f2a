"""Upstream test data under tests/upstream/<owner>__<repo>@<tag>/, and the comparisons that read it.

Each folder holds files rendered or copied from one upstream repository at one tag, with a
PROVENANCE.md saying which and how. These helpers only read them; the tests say what must hold.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Iterable, Mapping, Optional

import yaml

UPSTREAM = Path(__file__).resolve().parent / "upstream"
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: the CRDs are megabytes of YAML

# What "*" grants among the verbs a Role rule can name.
STANDARD_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")


def folder(owner_repo: str, tag: str) -> Path:
    """tests/upstream/<owner>__<repo>@<tag>/, which must exist (a bump vendors the new tag first)."""
    path = UPSTREAM / f"{owner_repo.replace('/', '__')}@{tag}"
    if not path.is_dir():
        raise FileNotFoundError(f"{path.relative_to(UPSTREAM.parent.parent)} is missing: vendor {owner_repo} "
                                f"at {tag} (see another folder's PROVENANCE.md for how)")
    return path


@functools.lru_cache(maxsize=None)
def load_all(path: Path) -> tuple[dict, ...]:
    with path.open(encoding="utf-8") as stream:
        loader = _SafeLoader(stream)  # what yaml.load_all does, with the safe loader named
        try:
            documents = []
            while loader.check_data():
                documents.append(loader.get_data())
        finally:
            loader.dispose()
    return tuple(document for document in documents if document)


# --- CRDs -------------------------------------------------------------------------------------

def crd_identity(crd: Mapping) -> dict:
    """What clients and controllers depend on in a CRD, schema aside."""
    spec = crd["spec"]
    names = spec["names"]
    return {
        "group": spec["group"], "scope": spec["scope"], "kind": names["kind"], "plural": names["plural"],
        "singular": names.get("singular", names["kind"].lower()), "listKind": names.get("listKind"),
        "shortNames": sorted(names.get("shortNames") or []),
        "versions": [{"name": version["name"], "served": version["served"], "storage": version["storage"],
                      "status subresource": "status" in (version.get("subresources") or {})}
                     for version in spec["versions"]],
    }


# --- RBAC -------------------------------------------------------------------------------------

Grant = tuple[str, str, str, Optional[str]]  # api group, resource, verb, resource name (None: any)


def _expanded(rule: Mapping) -> Iterable[Grant]:
    verbs = rule.get("verbs") or []
    verbs = STANDARD_VERBS if "*" in verbs else verbs
    names = rule.get("resourceNames") or [None]
    for group in rule.get("apiGroups") or [""]:
        for resource in rule.get("resources") or []:
            for verb in verbs:
                for name in names:
                    yield group, resource, verb, name


def grants_by_subject(objects: Iterable[Mapping]) -> dict[str, set[Grant]]:
    """Subject name (service account, or group) -> every grant its Roles and ClusterRoles bind to it."""
    objects = list(objects)
    rules = {(obj["kind"], obj["metadata"]["name"]): obj.get("rules") or [] for obj in objects
             if obj["kind"] in ("Role", "ClusterRole")}
    grants: dict[str, set[Grant]] = {}
    for binding in objects:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        role = rules.get((binding["roleRef"]["kind"], binding["roleRef"]["name"]), [])
        for subject in binding.get("subjects") or []:
            grants.setdefault(subject["name"], set()).update(g for rule in role for g in _expanded(rule))
    return grants


def covers(held: set[Grant], wanted: Grant) -> bool:
    """A grant without resource names covers the same grant restricted to some names."""
    group, resource, verb, name = wanted
    return wanted in held or (name is not None and (group, resource, verb, None) in held)


def workload_names(objects: Iterable[Mapping]) -> set[str]:
    return {obj["metadata"]["name"] for obj in objects if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet")}
