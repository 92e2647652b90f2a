"""`stackyard rollout status ENV [ENDPOINT]`: where each endpoint's rollout stands, from the spec and the plan.

Offline it shows what the plan sets up: the strategy, the steps or checks, the
gate's limits from the SLO, and the model version the lock hands to the
rollout. Where the rollout is (which step, failed checks, rolled back) lives in
the cluster, in Flagger's Canary status: the command prints the kubectl line
that reads it rather than guessing.
"""

from __future__ import annotations

from stacks.commands.common import add_environment_argument, load_spec
from stacks.errors import StackyardError


def configure(parser) -> None:
    parser.add_argument("action", choices=["status"], help="status: the rollouts of the environment")
    add_environment_argument(parser)
    parser.add_argument("endpoint", nargs="?", metavar="ENDPOINT", help="only this endpoint")


def run(args) -> int:
    from components import rollout_gate, watchlist
    from environments import spec as env
    from stacks import registry_lock
    from stacks.plan import table

    spec, spec_file = load_spec(args.environment)
    endpoints = [e for e in spec.endpoints if args.endpoint in (None, e.name)]
    if args.endpoint and not endpoints:
        names = ", ".join(e.name for e in spec.endpoints) or "none"
        raise StackyardError(f"environment {spec.name} has no endpoint {args.endpoint!r}; its endpoints: {names}")
    try:
        models = registry_lock.locked_models(spec, spec_file, registry_lock.lock_command(spec_file))
    except registry_lock.LockError as error:
        raise StackyardError(str(error)) from None
    # The same watch monitoring derives the gate from (request source of the endpoint's runtime).
    watches = {watch.name: watch for watch in watchlist.build(
        spec.monitoring, spec.serving, tuple(endpoints), (), env.FeatureStore(), env.KubeflowPipelines(), {}
    ).endpoints}
    rows = []
    for endpoint in endpoints:
        model = models[endpoint.name]
        candidate = f"{model.name} v{model.version}"
        if endpoint.rollout is None:
            rows.append((endpoint.name, "none (all traffic on each `up`)", "-", "-", candidate))
            continue
        rollout = endpoint.rollout
        steps = (" -> ".join(f"{w}%" for w in rollout.step_weights) + " -> 100%" if rollout.strategy == env.CANARY
                 else f"{rollout.checks} checks, then 100%")
        gate = ", ".join(f"{check.name} <= {check.limit:g}" for check in rollout_gate.checks(watches[endpoint.name]))
        rows.append((endpoint.name, f"{rollout.strategy} every {rollout.interval_minutes}m, rollback after "
                                    f"{rollout.failure_limit} failed", steps, gate, candidate))
    print(table(["endpoint", "rollout", "steps", "gate", "locked version"], rows))
    rolling = [e.name for e in endpoints if e.rollout is not None]
    if rolling:
        print(f"live state needs the cluster: kubectl get canaries -n {spec.serving.namespace} "
              f"{' '.join(rolling)}  (phase, weight, failed checks)")
    return 0
