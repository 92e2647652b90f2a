"""KServe objects built from the kserve SDK's typed models, and back to wire form.

Every KServe object Stackyard creates goes through the SDK's generated model
classes (V1beta1InferenceService, V1beta1PredictorSpec, V1alpha1ServingRuntime
...). Their `attribute_map` and `openapi_types` tables are the schema: a field
that is not in them is a misspelling, and it fails while the plan is built with
the path of the field and the closest valid name, instead of being applied and
silently ignored (or rejected) by the cluster.

`import kserve` is heavy (the package's `__init__` starts with its model server:
fastapi, pandas, pyarrow, 0.7 s and more), and so is `import kubernetes`; only
the generated models are needed: `sdk()` and `kubernetes_models()` load those alone.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import re
import sys
import types
from typing import Any, Iterable, Mapping

PathPart = str | int

_LIST_TYPE = re.compile(r"^list\[(.+)\]\Z")
_DICT_TYPE = re.compile(r"^dict\(([^,]+), (.+)\)\Z")
# OpenAPI primitive type names -> the Python types a wire value may have.
_PRIMITIVES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "date": (str,),
    "datetime": (str,),
}
_WIRE_NAMES = {"str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean",
               "date": "a date string", "datetime": "a timestamp string"}


class KServeFieldError(ValueError):
    """A field a KServe model does not have, or a value of the wrong shape.

    `path` is where in the object the problem is, in wire (camelCase) names.
    """

    def __init__(self, path: tuple[PathPart, ...], message: str):
        self.path = path
        self.message = message
        super().__init__(f"{format_path(path)}: {message}" if path else message)


def format_path(path: Iterable[PathPart]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _without_package_init(packages: tuple[str, ...], modules: tuple[str, ...]) -> tuple[types.ModuleType, ...]:
    """Import `modules` without running the `__init__` of `packages` (a package, then its subpackages).

    Where the first package is not imported yet, each of `packages` is stood in
    for by a bare package object (its `__path__` only), `modules` are imported
    under them, and then every module of the first package is taken out of
    `sys.modules` again: a later plain `import` elsewhere in the process runs
    the real packages whole. The modules returned stay usable; only their
    classes' identity differs from that later import's, and nothing here
    compares classes across the two.
    """
    if packages[0] in sys.modules:
        return tuple(importlib.import_module(name) for name in modules)
    try:
        for package in packages:
            package_spec = importlib.util.find_spec(package)
            if package_spec is None or package_spec.submodule_search_locations is None:
                raise ImportError(f"{package} is not installed")
            stand_in = types.ModuleType(package)
            stand_in.__path__ = list(package_spec.submodule_search_locations)
            stand_in.__spec__ = package_spec
            sys.modules[package] = stand_in
        return tuple(importlib.import_module(name) for name in modules)
    finally:
        for name in [name for name in sys.modules if name == packages[0] or name.startswith(packages[0] + ".")]:
            del sys.modules[name]


@functools.lru_cache(maxsize=None)
def _kserve_modules() -> tuple[types.ModuleType, ...]:
    """(`kserve.models`, `kserve.api_client`): `import kserve` would start with its model server
    (fastapi, pandas, pyarrow)."""
    return _without_package_init(("kserve",), ("kserve.models", "kserve.api_client"))


def sdk() -> types.ModuleType:
    """`kserve.models`: every generated KServe model class (V1beta1InferenceService ...)."""
    return _kserve_modules()[0]


@functools.lru_cache(maxsize=None)
def kubernetes_models() -> types.ModuleType:
    """`kubernetes.client.models` (V1Container ...): `import kubernetes` would first load its API
    clients, kubeconfig and cloud auth libraries, none of which an object needs."""
    return _without_package_init(("kubernetes", "kubernetes.client"), ("kubernetes.client.models",))[0]


def model_class(type_name: str) -> type | None:
    """The SDK class an OpenAPI type name refers to (kserve's own or the Kubernetes client's), if any."""
    return getattr(sdk(), type_name, None) or getattr(kubernetes_models(), type_name, None)


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _unknown_field(cls: type, key: str, known: Iterable[str], path: tuple[PathPart, ...]) -> KServeFieldError:
    known = sorted(known)
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else f"; expected one of {known}"
    return KServeFieldError(path, f"the KServe {cls.__name__} has no field {key!r}{hint}")


def fields_from_wire(cls: type, document: Mapping[str, Any], path: tuple[PathPart, ...] = ()) -> dict[str, Any]:
    """Constructor keyword arguments of `cls` from a wire-form (camelCase) mapping, nested models typed too."""
    attribute_of = {wire: attribute for attribute, wire in cls.attribute_map.items()}
    kwargs = {}
    for key, value in document.items():
        if key not in attribute_of:
            raise _unknown_field(cls, key, attribute_of, path + (key,))
        attribute = attribute_of[key]
        kwargs[attribute] = from_wire(cls.openapi_types[attribute], value, path + (key,))
    return kwargs


def from_wire(type_name: str, value: Any, path: tuple[PathPart, ...] = ()) -> Any:
    """`value` (wire form) as the SDK type `type_name` names, checked field by field."""
    if value is None:
        return None
    if match := _LIST_TYPE.match(type_name):
        if not isinstance(value, list):
            raise KServeFieldError(path, f"expected a list, found {_describe(value)}")
        return [from_wire(match.group(1), item, path + (index,)) for index, item in enumerate(value)]
    if match := _DICT_TYPE.match(type_name):
        if not isinstance(value, Mapping):
            raise KServeFieldError(path, f"expected a mapping, found {_describe(value)}")
        return {key: from_wire(match.group(2), item, path + (key,)) for key, item in value.items()}
    if type_name in _PRIMITIVES:
        allowed = _PRIMITIVES[type_name]
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            raise KServeFieldError(path, f"expected {_WIRE_NAMES[type_name]}, found {_describe(value)}")
        return value
    cls = model_class(type_name)
    if cls is None:  # `object`, quantities and other free-form types
        return value
    if not isinstance(value, Mapping):
        raise KServeFieldError(path, f"expected a mapping ({cls.__name__}), found {_describe(value)}")
    return make(cls, path, **fields_from_wire(cls, value, path))


def make(cls: type, where: tuple[PathPart, ...] = (), /, **fields: Any) -> Any:
    """`cls(**fields)`, with unknown fields and the SDK's own value checks reported at `where`.

    `where` is positional-only: models have fields called `path` (V1HTTPGetAction) and the like.
    """
    for attribute in fields:
        if attribute not in cls.openapi_types:
            raise _unknown_field(cls, attribute, cls.openapi_types, where + (attribute,))
    try:
        return cls(**fields)
    except (TypeError, ValueError) as error:
        raise KServeFieldError(where, f"invalid {cls.__name__}: {error}") from None


def to_wire(model: Any) -> Any:
    """A typed SDK object as the plain JSON-able dict the cluster receives (None fields left out)."""
    return _kserve_modules()[1].ApiClient().sanitize_for_serialization(model)
