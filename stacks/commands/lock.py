"""`stackyard lock ENV`: resolve the endpoints' models in the MLflow registry into ENV.lock.yaml.

The one command that talks to the registry. It resolves every model reference
first and writes the lock (atomically) only when all of them resolved, so a
failure leaves the previous lock exactly as it was.

Every entry is printed with what it was before (`12 → 11`), and a move to an
older version is flagged as a rollback, so an alias moved back in the registry
is never a silent change. `--check` resolves and compares without writing
(exit 6 when the lock is stale, for CI); `--endpoint NAME` re-resolves only
that endpoint and keeps the other entries as they are. For a production
environment, a version without an approval in the registry (`stackyard approve`)
is refused with exit 3; the approval's tags are recorded in the lock.

A registry with a token: the spec names where the token lives (`token:
{config: NAME}` or `token: {arn: ...}`) and MLflow reads it from
MLFLOW_TRACKING_TOKEN, e.g. `export MLFLOW_TRACKING_TOKEN=$(pulumi config get
NAME --stack ENV)`.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import sys
from typing import Optional

from stacks.commands.common import add_environment_argument, load_spec
from stacks.errors import ExitCode, StackyardError

UNCHANGED, NEW, UPDATED, ROLLBACK, REMOVED = "unchanged", "new", "updated", "rollback", "removed"


def configure(parser) -> None:
    add_environment_argument(parser)
    parser.add_argument("--check", action="store_true",
                        help="resolve and compare with the lock file, write nothing: exit 6 when the lock is stale")
    parser.add_argument("--endpoint", action="append", default=[], metavar="NAME",
                        help="resolve only this endpoint's model (repeatable); the other entries stay as they are")
    parser.add_argument("--format", choices=("table", "json"), default="table",
                        help="what to print on standard output (default: table)")


def _change(before, after) -> str:
    """What locking does to one endpoint's entry."""
    if before is None:
        return NEW
    if before.ref == after.ref and dataclasses.replace(before.resolved, resolved_at="") == \
            dataclasses.replace(after.resolved, resolved_at=""):
        return UNCHANGED
    if before.resolved.name == after.resolved.name and after.resolved.version < before.resolved.version:
        return ROLLBACK
    return UPDATED


def _selected(spec, names: list[str]):
    known = [endpoint.name for endpoint in spec.endpoints]
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else f"; expected one of {known}"
            raise StackyardError(f"--endpoint: environment {spec.name} has no endpoint {name!r}{hint}",
                                 ExitCode.INVALID_INPUT)
    return tuple(endpoint for endpoint in spec.endpoints if endpoint.name in names)


def _resolve(spec, previous, only: list[str], display_path: str):
    """The new lock: every endpoint resolved, or only the named ones with the others kept from `previous`."""
    from stacks import registry_lock

    if not only:
        return registry_lock.resolve(spec, previous)
    subset = registry_lock.resolve(dataclasses.replace(spec, endpoints=_selected(spec, only)), previous)
    entries = []
    for endpoint in spec.endpoints:
        entry = subset.entry(endpoint.name) or (previous.entry(endpoint.name) if previous else None)
        if entry is None:
            raise StackyardError(f"endpoint {endpoint.name!r} has no entry in {display_path}: lock the whole "
                                 f"environment first (`stackyard lock {spec.name}`)", ExitCode.INVALID_INPUT)
        entries.append(entry)
    return dataclasses.replace(subset, entries=tuple(entries))


def run(args) -> int:
    from environments.loader import display
    from policies.text_table import table
    from stacks import atomic, progress, registry_lock

    spec, spec_file = load_spec(args.environment)
    if not spec.endpoints:
        print(f"environment {spec.name} has no endpoints: nothing to lock")
        return 0
    if args.endpoint:
        _selected(spec, args.endpoint)  # a misspelt name fails before the registry is asked
    token_problem = registry_lock.registry_token_problem(spec, os.environ)
    if token_problem:
        raise StackyardError(token_problem, ExitCode.INVALID_INPUT)
    command = registry_lock.lock_command(spec_file)
    path = registry_lock.lock_path(spec_file)
    previous = None
    if path.exists():
        try:
            previous = registry_lock.read(path, command)
        except registry_lock.LockError:
            previous = None  # unreadable: every entry gets a fresh resolvedAt
    try:
        registry = spec.serving.registry
        with progress.phase(f"asking the registry at {registry.tracking_uri if registry else '(none)'}"):
            lock = _resolve(spec, previous, args.endpoint, display(path))
    except registry_lock.RegistryError as error:
        unchanged = f" ({display(path)} is unchanged)" if path.exists() else ""
        raise StackyardError(f"{error}{unchanged}", ExitCode.INVALID_INPUT) from None
    if spec.production:
        resolved_now = [entry for entry in lock.entries if not args.endpoint or entry.endpoint in args.endpoint]
        _require_approvals(resolved_now, args.environment, f" ({display(path)} is unchanged)" if path.exists() else "")

    changes = _changes(previous, lock)
    stale = any(change["change"] != UNCHANGED for change in changes) or previous is None
    if not args.check:
        atomic.write_text(path, registry_lock.to_yaml(lock, command))
    if args.format == "json":
        print(json.dumps({"environment": spec.name, "lockFile": display(path), "trackingUri": lock.tracking_uri,
                          "written": not args.check, "stale": stale, "entries": changes}, indent=2))
    else:
        rows = [(c["endpoint"], c["model"], _versions(c), c["change"] if c["change"] != UNCHANGED else "",
                 c["source"]) for c in changes]
        print(table(["endpoint", "model", "version", "change", "source"], rows))
    for change in changes:
        if change["change"] == ROLLBACK:
            print(f"warning: {change['endpoint']}: {change['model']} moves back from version {change['before']} to "
                  f"{change['version']} (a rollback)", file=sys.stderr)
    status = sys.stderr if args.format == "json" else sys.stdout  # standard output stays one JSON document
    if args.check:
        if stale:
            print(f"{display(path)} is stale: run `{command}`", file=sys.stderr)
            return int(ExitCode.CHANGES_PRESENT)
        print(f"{display(path)} is up to date with {lock.tracking_uri}", file=status)
        return 0
    print(f"wrote {display(path)} from {lock.tracking_uri}", file=status)
    return 0


def _require_approvals(entries, environment: str, unchanged: str) -> None:
    """Production serves approved versions only: refuse (exit 3) to lock one without an approval."""
    missing = [entry for entry in entries if not entry.resolved.approved]
    if not missing:
        return
    first = missing[0]
    others = f" (and {len(missing) - 1} more endpoint{'s' if len(missing) > 2 else ''})" if len(missing) > 1 else ""
    raise StackyardError(
        f"production endpoint {first.endpoint!r} would serve model {first.resolved.name!r} version "
        f"{first.resolved.version}, which has no approval in the registry{others}: approve it with "
        f"`stackyard approve {environment} {first.endpoint} --version {first.resolved.version} --by WHO "
        f"--evidence URL`, then lock again{unchanged}", ExitCode.POLICY_VIOLATION)


def _changes(previous, lock) -> list[dict]:
    rows = []
    for entry in lock.entries:
        before = previous.entry(entry.endpoint) if previous else None
        rows.append({"endpoint": entry.endpoint, "model": f"{entry.ref.name} {entry.ref.selector}",
                     "before": before.resolved.version if before else None, "version": entry.resolved.version,
                     "change": _change(before, entry), "source": entry.resolved.source})
    kept = {entry.endpoint for entry in lock.entries}
    for entry in previous.entries if previous else ():
        if entry.endpoint not in kept:
            rows.append({"endpoint": entry.endpoint, "model": f"{entry.ref.name} {entry.ref.selector}",
                         "before": entry.resolved.version, "version": None, "change": REMOVED,
                         "source": entry.resolved.source})
    return rows


def _versions(change: dict) -> str:
    before: Optional[int] = change["before"]
    if change["version"] is None:
        return f"{before} → (none)"
    if before is None or before == change["version"]:
        return str(change["version"])
    return f"{before} → {change['version']}"
