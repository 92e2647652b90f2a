"""The registry lock: the MLflow model version every endpoint serves, resolved once and committed.

An endpoint names its model in the MLflow registry (`model: {name, version}`
or `model: {name, alias}`), never a storage path. `stackyard lock ENV` asks the
registry named in `serving.registry` and writes `environments/ENV.lock.yaml`
(next to the spec) with, per endpoint, the model reference it resolved, the
resolved version, the storage URI of its artifacts, the run that produced it,
its tags (the model card link among them) and when it was resolved.

`stackyard plan` and the stack program read only the lock, so a plan is a pure
function of spec, lock and code: no network, the same bytes twice. Every entry
records the reference it was made for and the lock the registry it asked, so a
spec that now names something else is stopped with the instruction to lock
again. Entries are per endpoint, so `stackyard promote` can carry one
endpoint's resolved version from staging's lock into prod's.

Reading a lock needs only PyYAML; `mlflow` is imported by `resolve` alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import math
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

from environments import urls
from environments.loader import lock_path
from environments.safe_text import for_message, printable, redact
from environments.spec import ModelRef, ModelRegistry, ResolvedModel, Spec

LOCK_API_VERSION = "stackyard.dev/v1"
LOCK_KIND = "RegistryLock"

# MLflow-internal URI schemes: only the MLflow server can read them, never a
# model server. `resolve` asks the registry for the real storage location.
_REGISTRY_ONLY_SCHEMES = ("models", "runs", "mlflow-artifacts", "dbfs")


class LockError(Exception):
    """The lock is missing, unreadable or does not match the spec; the message says to lock again."""


class RegistryError(Exception):
    """The registry could not resolve a model reference; the previous lock stays as it was."""


def lock_command(spec_file: Path) -> str:
    """The command that writes the lock of `spec_file`, as the user would type it."""
    from environments.loader import display, environments_dir

    spec_file = Path(spec_file)
    if spec_file.resolve().parent == environments_dir().resolve():
        return f"stackyard lock {spec_file.stem}"
    return f"stackyard lock {display(spec_file)}"


def ref_key(ref: ModelRef) -> str:
    """How a reference is written in MLflow's model URIs: `name/7` or `name@champion`."""
    return f"{ref.name}@{ref.alias}" if ref.alias is not None else f"{ref.name}/{ref.version}"


@dataclass(frozen=True)
class LockEntry:
    endpoint: str
    ref: ModelRef  # what the spec named when the entry was resolved
    resolved: ResolvedModel


@dataclass(frozen=True)
class RegistryLock:
    environment: str
    tracking_uri: str
    entries: tuple[LockEntry, ...]

    def entry(self, endpoint: str) -> Optional[LockEntry]:
        return next((entry for entry in self.entries if entry.endpoint == endpoint), None)


# --- the file ----------------------------------------------------------------

def to_yaml(lock: RegistryLock, lock_command: str) -> str:
    """The lock file's text: deterministic for identical content."""
    import yaml

    endpoints = []
    for entry in lock.entries:
        model: dict[str, Any] = {"name": entry.ref.name}
        if entry.ref.alias is not None:
            model["alias"] = entry.ref.alias
        else:
            model["version"] = entry.ref.version
        resolved = entry.resolved
        endpoints.append({
            "name": entry.endpoint,
            "model": model,
            "version": resolved.version,
            "source": resolved.source,
            "runId": resolved.run_id,
            "tags": dict(sorted(resolved.tags.items())),
            "resolvedAt": resolved.resolved_at,
        })
    document = {
        "apiVersion": LOCK_API_VERSION,
        "kind": LOCK_KIND,
        "environment": lock.environment,
        "trackingUri": lock.tracking_uri,
        "endpoints": endpoints,
    }
    header = (f"# Written by `{lock_command}` from the MLflow registry; do not edit.\n"
              "# `stackyard plan` reads the model versions from here and never asks the registry:\n"
              "# commit this file with the spec, and lock again to pick up new versions or aliases.\n")
    return header + yaml.safe_dump(document, sort_keys=False, default_flow_style=False, allow_unicode=True)


def _field(item: Mapping, key: str, kind: type, where: str) -> Any:
    value = item.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ValueError(f"{where}.{key}: expected {kind.__name__}, found {type(value).__name__}")
    return value


def _model_ref(item: Mapping, where: str) -> ModelRef:
    model = item.get("model")
    if not isinstance(model, dict):
        raise ValueError(f"{where}.model: expected a mapping")
    name = _field(model, "name", str, f"{where}.model")
    if "alias" in model:
        return ModelRef(name=name, alias=_field(model, "alias", str, f"{where}.model"))
    return ModelRef(name=name, version=_field(model, "version", int, f"{where}.model"))


_CONFLICT_MARKER = re.compile(r"^(<{7}|={7}|>{7})(\s|$)", re.MULTILINE)


def _strict_safe_loader():
    """libyaml's safe loader where PyYAML has it (a lock of a thousand endpoints is read on every plan),
    refusing what a safe loader lets through silently: duplicate keys (the last would win) and
    non-finite numbers."""
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class StrictSafeLoader(base):  # type: ignore[misc, valid-type]
        def construct_mapping(self, node, deep=False):
            seen: dict = {}
            for key_node, _value in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise ValueError(f"line {key_node.start_mark.line + 1}: duplicate key {key!r} (first at line "
                                     f"{seen[key]}); the last would silently win")
                seen[key] = key_node.start_mark.line + 1
            return super().construct_mapping(node, deep=deep)

        def construct_yaml_float(self, node):
            value = super().construct_yaml_float(node)
            if not math.isfinite(value):
                raise ValueError(f"line {node.start_mark.line + 1}: {node.value!r} is not a finite number")
            return value

    StrictSafeLoader.add_constructor("tag:yaml.org,2002:float", StrictSafeLoader.construct_yaml_float)
    StrictSafeLoader.add_constructor("tag:yaml.org,2002:map", StrictSafeLoader.construct_yaml_map)
    return StrictSafeLoader


def entry_problem(resolved: ResolvedModel, allowed_buckets: tuple[str, ...] = ()) -> Optional[str]:
    """Why a registry answer or lock entry may not be served; None when it may.

    Both are untrusted: the storage URI becomes an IAM grant and every string reaches
    manifests, CI logs and reports."""
    problem = urls.model_source_problem(resolved.source, allowed_buckets)
    if problem:
        return f"source {printable(resolved.source)!r}: {problem}"
    texts = {"model name": resolved.name, "runId": resolved.run_id, "resolvedAt": resolved.resolved_at,
             **{f"tag {key!r}": f"{key}{value}" for key, value in resolved.tags.items()}}
    for what, text in texts.items():
        if printable(text) != text:
            return f"{printable(what)}: control characters are not allowed ({printable(text)!r})"
    card = resolved.model_card
    if card is not None:
        problem = urls.url_problem(card)
        if problem:
            return f"model card link {printable(card)!r}: {problem}"
    return None


def parse(text: str) -> RegistryLock:
    """A lock from its text; ValueError says what is wrong."""
    import yaml

    marker = _CONFLICT_MARKER.search(text)
    if marker:
        line = text.count("\n", 0, marker.start()) + 1
        raise ValueError(f"line {line}: unresolved merge conflict marker {marker.group(1)!r}; "
                         "do not merge lock files by hand")
    try:
        StrictSafeLoader = _strict_safe_loader()
        document = yaml.load(text, Loader=StrictSafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise ValueError(f"{where}not YAML ({error.problem or error.context})") from None
    except yaml.YAMLError as error:
        raise ValueError(f"not YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(document, dict):
        raise ValueError("expected a mapping at the top level")
    if document.get("apiVersion") != LOCK_API_VERSION or document.get("kind") != LOCK_KIND:
        raise ValueError(f"expected apiVersion {LOCK_API_VERSION} and kind {LOCK_KIND}")
    items = document.get("endpoints")
    if not isinstance(items, list):
        raise ValueError("endpoints: expected a list")
    entries = []
    for index, item in enumerate(items):
        where = f"endpoints[{index}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: expected a mapping")
        ref = _model_ref(item, where)
        tags = item.get("tags") or {}
        if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
            raise ValueError(f"{where}.tags: expected a mapping of strings")
        resolved = ResolvedModel(
            name=ref.name,
            version=_field(item, "version", int, where),
            source=_field(item, "source", str, where),
            run_id=_field(item, "runId", str, where),
            resolved_at=_field(item, "resolvedAt", str, where),
            tags={str(k): v for k, v in tags.items()},
        )
        problem = entry_problem(resolved)
        if problem:
            raise ValueError(f"{where}.{problem}" if problem.startswith("source") else f"{where}: {problem}")
        endpoint = _field(item, "name", str, where)
        if any(entry.endpoint == endpoint for entry in entries):
            raise ValueError(f"{where}.name: endpoint {endpoint!r} appears twice; a lock has one entry per endpoint")
        entries.append(LockEntry(endpoint, ref, resolved))
    tracking_uri = _field(document, "trackingUri", str, "$")
    problem = urls.url_problem(tracking_uri)
    if problem:
        raise ValueError(f"trackingUri {printable(redact(tracking_uri))!r}: {problem}")
    return RegistryLock(
        environment=_field(document, "environment", str, "$"),
        tracking_uri=tracking_uri,
        entries=tuple(entries),
    )


def read(path: Path | str, lock_command: str) -> RegistryLock:
    if Path(path).is_symlink():
        raise LockError(f"{path} is a symbolic link; a registry lock is read only as a plain file beside its spec")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LockError(f"{path} does not exist: run `{lock_command}` to resolve the endpoints' models "
                        "from the registry, then commit the lock file") from None
    except OSError as error:
        raise LockError(f"cannot read {path}: {error.strerror}") from None
    try:
        return parse(text)
    except ValueError as error:
        raise LockError(f"{path} is not a valid registry lock ({error}): run `{lock_command}` "
                        "to write it again") from None


def locked_models(spec: Spec, spec_file: Path, lock_command: str) -> dict[str, ResolvedModel]:
    """Endpoint name -> its model version from the lock next to `spec_file`; LockError if it is stale.

    Stale: made with another registry, missing an endpoint, resolved for
    another model reference than the endpoint names now, or holding an endpoint
    the spec no longer has. An environment without endpoints needs no lock.
    """
    from environments.loader import display

    if not spec.endpoints:
        return {}
    path = display(lock_path(spec_file))
    lock = read(path, lock_command)
    registry = spec.serving.registry
    if lock.environment != spec.name:
        raise LockError(f"{path} is the lock of environment {printable(lock.environment)!r}, not {spec.name!r}: "
                        f"run `{lock_command}`")
    if registry is None or lock.tracking_uri != registry.tracking_uri:
        named = registry.tracking_uri if registry else "none"
        raise LockError(f"{path} was made with the registry at {lock.tracking_uri}, the spec names {named}: "
                        f"run `{lock_command}`")
    models = {}
    for endpoint in spec.endpoints:
        entry = lock.entry(endpoint.name)
        wanted = f"model {endpoint.model.name!r} {endpoint.model.selector}"
        if entry is None:
            raise LockError(f"{path} has no entry for endpoint {endpoint.name!r} ({wanted}): run `{lock_command}`")
        if entry.ref != endpoint.model:
            raise LockError(f"{path} resolved model {entry.ref.name!r} {entry.ref.selector} for endpoint "
                            f"{endpoint.name!r}, the spec now names {wanted}: run `{lock_command}`")
        problem = entry_problem(entry.resolved, registry.allowed_buckets)
        if problem:
            raise LockError(f"{path}: endpoint {endpoint.name!r}: {problem}")
        models[endpoint.name] = entry.resolved
    extra = sorted({entry.endpoint for entry in lock.entries} - set(models))
    if extra:
        raise LockError(f"{path} has an entry for endpoint {extra[0]!r}, which the spec no longer has: "
                        f"run `{lock_command}`")
    return models


# --- resolving against the registry -------------------------------------------

@contextlib.contextmanager
def _registry_http_settings(timeout_seconds: float) -> Iterator[None]:
    """MLflow's client reads its HTTP settings from the environment on every request.

    Its defaults (120 s per request, 7 retries with exponential backoff) keep a
    command waiting for minutes on an unreachable registry; the spec's timeout
    is the whole budget of each request, with no retries. MLflow takes whole
    seconds, so a fractional timeout is rounded up.
    """
    settings = {
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, math.ceil(timeout_seconds))),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
    }
    saved = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _network_failure(error: BaseException) -> Optional[BaseException]:
    """The connection error or timeout behind an MLflow exception, if that is what it was."""
    import requests

    seen = set()
    current: Optional[BaseException] = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
            return current
        current = current.__cause__ or current.__context__
    return None


def _reason(failure: BaseException) -> str:
    import requests

    if isinstance(failure, requests.exceptions.Timeout):
        return "timed out"
    errno = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(failure))
    return errno.group(1).strip() if errno else type(failure).__name__


class _Registry:
    """The questions `resolve` asks MLflow, each failure turned into one clear RegistryError."""

    def __init__(self, registry: ModelRegistry):
        from mlflow import MlflowClient

        self.uri = registry.tracking_uri
        self.timeout = registry.timeout_seconds
        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    def _call(self, what: str, function, *args):
        from mlflow.exceptions import MlflowException

        try:
            return function(*args), None
        except MlflowException as error:
            failure = _network_failure(error)
            if failure is not None:
                raise RegistryError(
                    f"the MLflow registry at {self.uri} is unreachable: {what} got no answer within "
                    f"the timeout of {self.timeout:g} s (serving.registry.timeoutSeconds; no retries): "
                    f"{_reason(failure)}") from None
            return None, error

    def _refused(self, what: str, error) -> RegistryError:
        # The answer is untrusted text: a server may echo the request's Authorization header back.
        message = (getattr(error, "message", None) or str(error)).splitlines() or [""]
        return RegistryError(f"the MLflow registry at {redact(self.uri)} refused {what}: {for_message(message[0])}")

    def _missing_model(self, name: str) -> RegistryError:
        found, error = self._call("listing models", self.client.search_registered_models, None, 1000)
        names = [model.name for model in found or []]
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return RegistryError(f"no registered model {name!r} in the MLflow registry at {self.uri}{hint}")

    def _registered_model(self, name: str):
        model, error = self._call(f"looking up model {name!r}", self.client.get_registered_model, name)
        if error is not None:
            if getattr(error, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                raise self._missing_model(name)
            raise self._refused(f"looking up model {name!r}", error)
        return model

    def model_version(self, ref: ModelRef):
        if ref.alias is not None:
            found, error = self._call(f"resolving {ref_key(ref)}", self.client.get_model_version_by_alias,
                                      ref.name, ref.alias)
            if error is None:
                return found
            aliases = self._registered_model(ref.name).aliases or {}
            if ref.alias not in aliases:
                listing = ", ".join(f"@{alias} -> version {version}" for alias, version in sorted(aliases.items()))
                raise RegistryError(f"model {ref.name!r} has no alias @{ref.alias} in the MLflow registry at "
                                    f"{self.uri}; " + (f"its aliases: {listing}" if listing else "it has no aliases"))
            raise self._refused(f"resolving {ref_key(ref)}", error)
        found, error = self._call(f"resolving {ref_key(ref)}", self.client.get_model_version,
                                  ref.name, str(ref.version))
        if error is None:
            return found
        if getattr(error, "error_code", "") != "RESOURCE_DOES_NOT_EXIST":
            raise self._refused(f"resolving {ref_key(ref)}", error)
        self._registered_model(ref.name)
        quoted = ref.name.replace("'", "\\'")
        versions, error = self._call(f"listing versions of {ref.name!r}", self.client.search_model_versions,
                                     f"name = '{quoted}'")
        if error is not None:
            raise self._refused(f"listing versions of {ref.name!r}", error)
        numbers = sorted(int(version.version) for version in versions if str(version.version).isdigit())
        listing = ", ".join(map(str, numbers)) if numbers else "none"
        raise RegistryError(f"model {ref.name!r} has no version {ref.version} in the MLflow registry at "
                            f"{self.uri}; its versions: {listing}")

    def storage_location(self, name: str, version: str) -> str:
        """Where the version's artifacts are stored (a `models:/` source resolved to its storage URI)."""
        location, error = self._call(f"locating the artifacts of {name}/{version}",
                                     self.client.get_model_version_download_uri, name, version)
        if error is not None:
            raise self._refused(f"locating the artifacts of {name}/{version}", error)
        return location


def _version_number(ref: ModelRef, version: Any, uri: str) -> int:
    """The registry's version as the integer MLflow promises; anything else is a hostile or broken answer."""
    text = str(version)
    if not re.fullmatch(r"[1-9][0-9]{0,9}", text):
        raise RegistryError(f"the MLflow registry at {redact(uri)} answered {ref_key(ref)} with version "
                            f"{printable(text)[:40]!r}, not a positive integer; nothing was locked")
    return int(text)


def tag_model_version(registry: ModelRegistry, ref: ModelRef, tags: Mapping[str, str]) -> None:
    """Set `tags` on the registry's version `ref` (e.g. an approval); RegistryError if it does not exist."""
    with _registry_http_settings(registry.timeout_seconds):
        client = _Registry(registry)
        # A missing model or version fails here, naming the ones that exist.
        number = _version_number(ref, client.model_version(ref).version, registry.tracking_uri)
        for key, value in tags.items():
            _, error = client._call(f"tagging {ref_key(ref)}", client.client.set_model_version_tag,
                                    ref.name, str(number), key, value)
            if error is not None:
                raise client._refused(f"tagging {ref_key(ref)} with {key}", error)


def _check_source(ref: ModelRef, version: int, source: str, uri: str) -> None:
    scheme = source.split(":", 1)[0] if ":" in source else ""
    if not scheme or scheme in _REGISTRY_ONLY_SCHEMES:
        raise RegistryError(
            f"model {ref.name!r} version {version} is stored at {printable(source)!r}, which only the MLflow server "
            f"at {uri} can read, not a model server: run the registry with an artifact store KServe can "
            "download from (e.g. `--default-artifact-root s3://...` with `--no-serve-artifacts`)")


def registry_token_problem(spec: Spec, environ: Mapping[str, str]) -> Optional[str]:
    """Why the registry's token is not available to the MLflow client, if it is not.

    The spec holds a reference, never the token; MLflow reads the token from
    MLFLOW_TRACKING_TOKEN, so the user puts it there from where the reference points.
    """
    registry = spec.serving.registry
    if registry is None or registry.token is None or environ.get("MLFLOW_TRACKING_TOKEN"):
        return None
    token = registry.token
    if token.config:
        fetch = f"$(pulumi config get {token.config} --stack {spec.name})"
        where = f"the Pulumi config secret {token.config!r} of stack {spec.name}"
    else:
        fetch = f"$(aws secretsmanager get-secret-value --secret-id {token.arn} --query SecretString --output text)"
        where = f"the Secrets Manager secret {token.arn}"
    return (f"the registry at {registry.tracking_uri} needs the token in {where}: "
            f"export MLFLOW_TRACKING_TOKEN={fetch}")


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def resolve(spec: Spec, previous: Optional[RegistryLock] = None, now: Optional[str] = None) -> RegistryLock:
    """Ask the spec's registry for every endpoint's model; RegistryError on the first failure.

    Each distinct reference is asked once. An entry that resolves exactly as in
    `previous` keeps its resolvedAt, so locking again without a change in the
    registry rewrites the same bytes.
    """
    registry = spec.serving.registry
    if registry is None:
        raise RegistryError("the spec has endpoints but no serving.registry to resolve their models from")
    resolved_at = now or _now()
    by_ref: dict[str, ResolvedModel] = {}
    entries = []
    with _registry_http_settings(registry.timeout_seconds):
        client = _Registry(registry)
        for endpoint in spec.endpoints:
            ref = endpoint.model
            if ref_key(ref) not in by_ref:
                version = client.model_version(ref)
                number = _version_number(ref, version.version, registry.tracking_uri)
                source = client.storage_location(ref.name, str(number))
                _check_source(ref, number, source, registry.tracking_uri)
                answer = ResolvedModel(
                    name=ref.name, version=number, source=source, run_id=version.run_id or "",
                    resolved_at=resolved_at, tags=dict(sorted((version.tags or {}).items())))
                problem = entry_problem(answer, registry.allowed_buckets)
                if problem:
                    raise RegistryError(f"the MLflow registry at {redact(registry.tracking_uri)} answered for "
                                        f"{ref_key(ref)} with {problem}; nothing was locked")
                by_ref[ref_key(ref)] = answer
            model = by_ref[ref_key(ref)]
            earlier = previous.entry(endpoint.name) if previous is not None else None
            if (earlier is not None and earlier.ref == ref
                    and dataclasses.replace(earlier.resolved, resolved_at=resolved_at) == model):
                model = earlier.resolved
            entries.append(LockEntry(endpoint.name, ref, model))
    return RegistryLock(environment=spec.name, tracking_uri=registry.tracking_uri, entries=tuple(entries))
