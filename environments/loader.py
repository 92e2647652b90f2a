"""Load an environment: read YAML, resolve `extends`, validate, build the Spec.

Every problem comes back as a located SpecProblem (file:line:column, JSON path,
expected vs found, a suggestion for misspelled keys); the loader never lets a
jsonschema or YAML exception escape.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from environments import checks, json_schema, spec_strings
from environments.errors import Location, PathPart, SpecError, SpecProblem, describe_value
from environments.located_yaml import LocatedList, LocatedMap, load_located
from environments.project import ENVIRONMENTS_DIR, display, repository_root  # noqa: F401 - part of the loader's API
from environments.spec import Spec, from_document

SCHEMA_DIR = ENVIRONMENTS_DIR / "schema"
ROOT_SCHEMA = "https://stackyard.dev/schema/v1/environment.schema.json"
_ENV_NAME = re.compile(r"^[a-z0-9][-a-z0-9]*\Z")


def environments_dir() -> Path:
    """The environments/ folder of the project (repository_root)."""
    return repository_root() / "environments"


def spec_path(env: str) -> Path:
    """`env` is an environment name under the project's environments/ or a path to a spec file."""
    if _ENV_NAME.match(env):
        return environments_dir() / f"{env}.yaml"
    return Path(env)


def environment_names() -> list[str]:
    return sorted(p.stem for p in environments_dir().glob("*.yaml")
                  if not p.name.endswith(".lock.yaml") and p.stem not in ("parity",))


def lock_path(spec_file: Path) -> Path:
    """The registry lock beside a spec: environments/prod.yaml -> environments/prod.lock.yaml."""
    spec_file = Path(spec_file)
    return spec_file.with_name(f"{spec_file.stem}.lock.yaml")


# --- extends -----------------------------------------------------------------

def _escape_problem(path: Path, folder: Path) -> Optional[str]:
    """Why `path` is not a plain file of `folder` (a symbolic link, or resolving elsewhere); None if it is."""
    if path.is_symlink():
        return f"{display(path)} is a symbolic link; specs are read only as plain files of {display(folder)}/"
    if path.exists() and path.resolve().parent != folder.resolve():
        return f"{display(path)} resolves outside {display(folder)}/"
    return None


def _is_named_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(item, dict) and "name" in item for item in value)


_SECRET_REF_KEYS = {"config", "arn"}


def _is_secret_ref(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and set(value) <= _SECRET_REF_KEYS


def _duplicate_names(items: Any, path: tuple) -> Iterable[SpecProblem]:
    """A located problem for each item of a named list whose name an earlier item already has.

    Merging by name would keep only the last of them, silently (a team's quota of 1 becoming 64)."""
    first: dict[Any, int] = {}
    for index, item in enumerate(items):
        name = item["name"]
        if name in first:
            where = items.locations.get(index) if hasattr(items, "locations") else None
            shown = f" (first at line {items.locations[first[name]].line})" if hasattr(items, "locations") \
                and first[name] in items.locations else ""
            yield SpecProblem(where, path + (index, "name"),
                              f"duplicate name {name!r}{shown}; each item is defined once")
        else:
            first[name] = index


def merge(base: Any, overlay: Any, path: tuple = ()) -> Any:
    """Deep merge: maps merge key by key, lists of named items by `name`, others replace.

    A secret reference is one value: a child's `{arn: ...}` replaces an inherited `{config: ...}`."""
    if _is_secret_ref(base) and _is_secret_ref(overlay):
        return overlay
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = LocatedMap(base)
        merged.location = overlay.location
        merged.locations = {**base.locations, **overlay.locations}
        for key, value in overlay.items():
            merged[key] = merge(base[key], value, path + (key,)) if key in base else value
        return merged
    if _is_named_list(base) and _is_named_list(overlay):
        duplicates = [*_duplicate_names(base, path), *_duplicate_names(overlay, path)]
        if duplicates:
            raise SpecError(duplicates)
        merged = LocatedList()
        merged.location = overlay.location
        merged.locations = {}
        overlay_by_name = {item["name"]: (i, item) for i, item in enumerate(overlay)}
        for i, item in enumerate(base):
            if item["name"] in overlay_by_name:
                j, replacement = overlay_by_name.pop(item["name"])
                merged.locations[len(merged)] = overlay.locations[j]
                merged.append(merge(item, replacement, path + (len(merged),)))
            else:
                merged.locations[len(merged)] = base.locations[i]
                merged.append(item)
        for j, item in overlay_by_name.values():
            merged.locations[len(merged)] = overlay.locations[j]
            merged.append(item)
        return merged
    return overlay


def _read_chain(path: Path) -> tuple[Any, list[Path]]:
    """The document of `path` merged over everything it extends, and the files read."""
    chain: list[Path] = []
    current = path
    documents = []
    while True:
        if current.resolve() in [p.resolve() for p in chain]:
            names = " -> ".join(p.stem for p in chain + [current])
            raise SpecError([SpecProblem(_extends_location(documents[-1]), ("extends",),
                                         f"extends cycle: {names}")])
        chain.append(current)
        document = load_located(str(current), display(current))
        if not isinstance(document, dict):
            raise SpecError([SpecProblem(getattr(document, "location", Location(display(current), 1, 1)), (),
                                         f"expected a mapping at the top level, found {describe_value(document)}")])
        documents.append(document)
        parent = document.get("extends")
        if parent is None:
            break
        current = _parent_file(parent, current, document)
    resolved = documents[-1]
    for document in reversed(documents[:-1]):
        resolved = merge(resolved, document)
    if "extends" in documents[0]:
        resolved["extends"] = documents[0]["extends"]
    else:
        resolved.pop("extends", None)
    return resolved, chain


def _extends_location(document: LocatedMap) -> Location:
    return document.locations.get("extends", document.location)


def _parent_file(parent: Any, child: Path, document: LocatedMap) -> Path:
    where = _extends_location(document)
    if not isinstance(parent, str) or not _ENV_NAME.match(parent):
        raise SpecError([SpecProblem(where, ("extends",),
                                     "expected the name of an environment in the same folder "
                                     f"(like 'base'), found {describe_value(parent)}")])
    candidate = child.parent / f"{parent}.yaml"
    escape = _escape_problem(candidate, child.parent)
    if escape:
        # Refused before a byte of it is read: a PR could link a file from outside the repository
        # and have its contents quoted back in an error message (and the PR comment).
        raise SpecError([SpecProblem(where, ("extends",), escape)])
    if not candidate.is_file():
        known = sorted(p.stem for p in child.parent.glob("*.yaml") if p != child)
        hint = _did_you_mean(parent, known)
        raise SpecError([SpecProblem(where, ("extends",),
                                     f"no environment {parent!r} to extend ({display(candidate)} does not exist){hint}")])
    return candidate


# --- schema ------------------------------------------------------------------

@lru_cache(maxsize=1)
def _validator():
    import jsonschema
    import referencing

    resources = []
    for path in sorted(SCHEMA_DIR.glob("*.schema.json")):
        contents = json.loads(path.read_text())
        resources.append((contents["$id"], referencing.Resource.from_contents(contents)))
    registry = referencing.Registry().with_resources(resources)
    root = registry.contents(ROOT_SCHEMA)
    return json_schema.validator_class()(
        root, registry=registry, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _did_you_mean(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def locate(document: Any, path: Sequence[PathPart]) -> Optional[Location]:
    """The location of `path` in a located document: the deepest node that has one."""
    node = document
    found = getattr(document, "location", None)
    for part in path:
        locations = getattr(node, "locations", None)
        if locations is None or part not in locations:
            break
        found = locations[part]
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
    return found


def _not_shown(value: Any) -> str:
    return "a value that is not shown (a secret reference field may hold a pasted secret)"


def _schema_problem(error, document: Any) -> list[SpecProblem]:
    path = tuple(error.absolute_path)
    instance = error.instance
    schema = error.schema
    keyword = error.validator
    # Whatever was written in a secret reference field may be the secret itself: say what was
    # expected, never what was found.
    describe = _not_shown if schema.get("x-stackyard-secret-ref-field") else describe_value
    if keyword == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        problems = []
        for key in sorted(set(instance) - set(allowed)):
            if schema.get("patternProperties"):
                continue
            problems.append(SpecProblem(
                locate(document, path + (key,)), path + (key,),
                f"unknown key {key!r}{_did_you_mean(key, allowed) or f'; expected one of {allowed}'}"))
        return problems
    if keyword == "type" and schema.get("x-stackyard-secret-ref") and isinstance(instance, (str, int, float)):
        message = ("secret value written inline; a secret must be a reference: "
                   "{config: <pulumi config secret name>} or {arn: <secrets manager ARN>}")
    elif keyword == "type":
        message = f"expected {_types(error.validator_value)}, found {describe(instance)}"
    elif keyword == "required":
        missing = [k for k in error.validator_value if k not in instance]
        message = f"missing required field {missing[0]!r}"
    elif keyword in ("enum", "const"):
        options = error.validator_value if keyword == "enum" else [error.validator_value]
        hint = _did_you_mean(instance, [str(o) for o in options]) if isinstance(instance, str) else ""
        message = f"expected one of {options}, found {describe(instance)}{hint}"
    elif keyword == "pattern":
        what = schema.get("description") or f"a string matching {error.validator_value}"
        message = f"expected {what}, found {describe(instance)}"
    elif keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        op = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[keyword]
        message = f"expected a number {op} {error.validator_value}, found {describe(instance)}"
    elif keyword in ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"):
        message = f"expected {keyword} {error.validator_value}, found {describe(instance)}"
    elif keyword == "oneOf" and isinstance(instance, dict) and "alias" in instance and "version" in instance:
        message = "set either `version` or `alias`, not both"
    elif keyword == "oneOf":
        message = f"expected exactly one of the allowed forms, found {describe(instance)}"
    elif keyword == "propertyNames":
        message = f"key {error.instance!r} is not allowed here: {error.message}"
    elif keyword == "format":
        message = f"expected a {error.validator_value} (YYYY-MM-DD), found {describe(instance)}"
    elif keyword == "uniqueItems":
        message = "expected unique items, found duplicates"
    elif describe is _not_shown:
        message = f"not a valid secret reference ({keyword} {error.validator_value!r})"
    else:
        message = error.message
    return [SpecProblem(locate(document, path), path, message)]


def _types(value: Any) -> str:
    names = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer",
             "number": "a number", "boolean": "a boolean (true/false)", "null": "null"}
    if isinstance(value, list):
        return " or ".join(names.get(v, v) for v in value)
    return names.get(value, value)


def _leaf_errors(errors) -> Iterable:
    """Descend into anyOf/oneOf/allOf to the errors a person can act on."""
    for error in errors:
        if error.context and error.validator in ("anyOf", "allOf"):
            yield from _leaf_errors(error.context)
        else:
            yield error


def schema_problems(validator, document: Any) -> list[SpecProblem]:
    """Every problem `validator` (a jsonschema validator) finds in a located `document`, with
    file:line:column, expected and found: the spec's schema and the parity contract's use this."""
    problems: list[SpecProblem] = []
    for error in _leaf_errors(validator.iter_errors(document)):
        problems.extend(_schema_problem(error, document))
    return problems


def validate_document(document: Any) -> list[SpecProblem]:
    return schema_problems(_validator(), document)


# --- public API --------------------------------------------------------------

def _sort_key(problem: SpecProblem):
    loc = problem.location
    return (loc.file, loc.line, loc.column) if loc else ("", 0, 0)


def _json_default(value: Any) -> Any:
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def digest_of(document: Any) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(canonical.encode()).hexdigest()


def load_document(env: str) -> tuple[Any, Path]:
    """The resolved (extends-merged), schema-valid located document of `env`."""
    path = spec_path(env)
    escape = _escape_problem(path, environments_dir()) if _ENV_NAME.match(env) else None
    if escape:
        raise SpecError([SpecProblem(None, (), escape)])
    if not path.is_file():
        names = environment_names()
        hint = _did_you_mean(env, names) if _ENV_NAME.match(env) else ""
        raise SpecError([SpecProblem(None, (), f"no environment {env!r}: {display(path)} does not exist"
                                               f"{hint or f' (known: {names})'}")])
    document, _chain = _read_chain(path)
    problems = validate_document(document)
    problems += [SpecProblem(p.location or locate(document, p.path), p.path, p.message)
                 for p in spec_strings.problems(document)]
    if problems:
        raise SpecError(sorted(problems, key=_sort_key))
    return document, path


def load(env: str, extra_checks: Sequence[checks.Check] = ()) -> Spec:
    """Load, validate and check one environment; raises SpecError listing every problem.

    `extra_checks` are the checks of the layers above, which this layer cannot import
    (policy rule ids): stacks/spec_loading.py passes them."""
    document, path = load_document(env)
    spec = from_document(Spec, document)
    spec = _with_provenance(spec, display(path), digest_of(document))
    found = [*checks.run(spec), *(problem for check in extra_checks for problem in check(spec))]
    problems = [SpecProblem(locate(document, p.path) if p.location is None else p.location, p.path, p.message)
                for p in found]
    if problems:
        raise SpecError(sorted(problems, key=_sort_key))
    return spec


def _with_provenance(spec: Spec, source: str, digest: str) -> Spec:
    import dataclasses

    return dataclasses.replace(spec, source=source, digest=digest)
