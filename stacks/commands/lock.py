"""`stackyard lock ENV`: resolve the endpoints' models in the MLflow registry into ENV.lock.yaml.

The one command that talks to the registry. It resolves every model reference
first and writes the lock (atomically) only when all of them resolved, so a
failure leaves the previous lock exactly as it was.

A registry with a token: the spec names where the token lives (`token:
{config: NAME}` or `token: {arn: ...}`) and MLflow reads it from
MLFLOW_TRACKING_TOKEN, e.g. `export MLFLOW_TRACKING_TOKEN=$(pulumi config get
NAME --stack ENV)`.
"""

from __future__ import annotations

import os

from stacks.commands.common import add_environment_argument, load_spec
from stacks.errors import ExitCode, StackyardError


def configure(parser) -> None:
    add_environment_argument(parser)


def run(args) -> int:
    from environments.loader import display
    from stacks import atomic, registry_lock
    from policies.text_table import table

    spec, spec_file = load_spec(args.environment)
    if not spec.endpoints:
        print(f"environment {spec.name} has no endpoints: nothing to lock")
        return 0
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
        lock = registry_lock.resolve(spec, previous)
    except registry_lock.RegistryError as error:
        unchanged = f" ({display(path)} is unchanged)" if path.exists() else ""
        raise StackyardError(f"{error}{unchanged}", ExitCode.INVALID_INPUT) from None
    atomic.write_text(path, registry_lock.to_yaml(lock, command))

    rows = [(entry.endpoint, f"{entry.ref.name} {entry.ref.selector}", entry.resolved.version,
             entry.resolved.source) for entry in lock.entries]
    print(table(["endpoint", "model", "version", "source"], rows))
    print(f"wrote {display(path)} from {lock.tracking_uri}")
    return 0
