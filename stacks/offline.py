"""Run the stack program under the Pulumi SDK's mock runtime and record the graph.

This is the engine behind `stackyard plan`: no Pulumi CLI, no provider plugin,
no cloud credentials. `RecordingMonitor` sees every RegisterResource request,
so it records what `Mocks.new_resource` cannot: parent, provider,
dependencies and `protect`. Inputs are converted from wire form (protobuf
Struct) to plain JSON: secrets become "[secret]", resource references their
URN, integral floats integers.

The mocks echo inputs back as state and add the computed outputs our
components read (`MOCK_OUTPUTS`: ARNs, ids, the EKS endpoint, VPC and OIDC issuer), so every `apply`
runs and the graph is complete and deterministic.
Like the real engine, it refuses two resources with one URN (DuplicateUrnError), naming both.
"""

from __future__ import annotations

import asyncio
import hashlib
import runpy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from environments import collector
from policies.rules.model import SECRET, UNKNOWN  # the plan format's markers, defined where the rules read them

STACK_PROGRAM = Path(__file__).resolve().parent / "__main__.py"
PROJECT = "stackyard"
# The value every secret (config secret or Secrets Manager secret) has in an offline plan.
SECRET_PLACEHOLDER = "offline-plan-placeholder"

_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
_ASSET_SIGS = {"c44067f5952c0a294b673a41bacd8c17": "asset", "0def7320c3a5731c473e5ecbe6d01bc7": "archive"}
_UNKNOWN_WIRE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


@dataclass(frozen=True)
class RecordedResource:
    urn: str
    type: str
    name: str
    parent: str
    provider: str
    dependencies: tuple[str, ...]
    protect: bool
    custom: bool
    inputs: dict

    def as_plan_entry(self) -> dict:
        return {"urn": self.urn, "type": self.type, "name": self.name, "parent": self.parent,
                "provider": self.provider, "dependencies": list(self.dependencies),
                "protect": self.protect, "inputs": self.inputs}


def plain(value: Any) -> Any:
    """A wire-form value (from a protobuf Struct) as plain, masked JSON."""
    if isinstance(value, dict):
        sig = value.get(_SIG_KEY)
        if sig == _SECRET_SIG:
            return SECRET
        if sig == _RESOURCE_SIG:
            return value.get("urn", "")
        if sig == _OUTPUT_SIG:
            if value.get("secret"):
                return SECRET
            return plain(value["value"]) if "value" in value else UNKNOWN
        if sig in _ASSET_SIGS:
            return {_ASSET_SIGS[sig]: plain({k: v for k, v in value.items() if k != _SIG_KEY})}
        return {key: plain(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value == _UNKNOWN_WIRE:
        return UNKNOWN
    return value


def _provider_urn(reference: str) -> str:
    # A provider reference is "<urn>::<id>"; the URN is what identifies it in the plan.
    return reference.rsplit("::", 1)[0] if reference else ""


_ACCOUNT = "000000000000"
_REGION = "us-east-1"


def _aws_id(prefix: str, name: str) -> str:
    """An id of AWS's form (`subnet-` and 17 hex digits), stable per resource name: CRDs that take
    one (Karpenter's subnet selector) check the form."""
    return f"{prefix}-{hashlib.sha256(name.encode()).hexdigest()[:17]}"


def _cluster(name: str, inputs: dict) -> dict:
    # Compute reads the endpoint, CA and OIDC issuer (components/cluster.py, karpenter.py); the
    # feature store puts its security groups in the cluster's VPC (components/feature_store.py).
    return {"endpoint": f"https://{name}.eks.mock.amazonaws.com",
            "certificateAuthority": {"data": "bW9jay1jYQ=="},
            "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.mock.amazonaws.com/id/{name.upper()}"}]}],
            "vpcConfig": {**inputs.get("vpcConfig", {}), "vpcId": f"vpc-{name}", "clusterSecurityGroupId": f"sg-{name}"}}


def _role(name: str, inputs: dict) -> dict:
    role = inputs.get("name") or name
    return {"name": role, "arn": f"arn:aws:iam::{_ACCOUNT}:role/{role}"}


def _oidc_provider(name: str, inputs: dict) -> dict:
    host_path = str(inputs.get("url", name)).removeprefix("https://")
    return {"arn": f"arn:aws:iam::{_ACCOUNT}:oidc-provider/{host_path}"}


def _queue(name: str, inputs: dict) -> dict:
    queue = inputs.get("name") or name
    return {"name": queue, "arn": f"arn:aws:sqs:{_REGION}:{_ACCOUNT}:{queue}",
            "url": f"https://sqs.{_REGION}.amazonaws.com/{_ACCOUNT}/{queue}"}


def _bucket(name: str, inputs: dict) -> dict:
    bucket = inputs.get("bucket") or name
    return {"bucket": bucket, "arn": f"arn:aws:s3:::{bucket}"}


# The outputs a deploy computes that components read, one row per resource type: what the
# offline engine invents in their place (fixed values, so plans are reproducible). Every
# aws: resource also gets an `arn` and an `id`; everything else is echoed from the inputs.
# tests/test_offline_outputs.py checks that no input of a shipped plan is left without a value.
MOCK_OUTPUTS: dict[str, Callable[[str, dict], dict]] = {
    "aws:eks/cluster:Cluster": _cluster,
    "aws:iam/role:Role": _role,
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": _oidc_provider,
    "aws:kms/key:Key": lambda name, inputs: {"arn": f"arn:aws:kms:{_REGION}:{_ACCOUNT}:key/{name}", "keyId": name},
    "aws:ec2/subnet:Subnet": lambda name, inputs: {"id": _aws_id("subnet", name)},
    "aws:ec2/launchTemplate:LaunchTemplate": lambda name, inputs: {"latestVersion": 1},
    "aws:eks/nodeGroup:NodeGroup": lambda name, inputs: {"resources": [{"autoscalingGroups": [{"name": f"eks-{name}-asg"}]}]},
    "aws:sqs/queue:Queue": _queue,
    # Auto-named by the provider (Karpenter's interruption rules): the logical name stands in for it.
    "aws:cloudwatch/eventRule:EventRule": lambda name, inputs: {"name": inputs.get("name") or name},
    "aws:s3/bucketV2:BucketV2": _bucket,
    "aws:s3/bucket:Bucket": _bucket,
    "aws:elasticache/replicationGroup:ReplicationGroup":
        lambda name, inputs: {"primaryEndpointAddress": f"{name}.cache.mock.amazonaws.com"},
    "aws:rds/instance:Instance": lambda name, inputs: {"address": f"{name}.rds.mock.amazonaws.com", "port": 5432},
    "aws:dynamodb/table:Table":
        lambda name, inputs: {"arn": f"arn:aws:dynamodb:{_REGION}:{_ACCOUNT}:table/{inputs.get('name', name)}"},
}


def _computed_outputs(type_: str, name: str, inputs: dict) -> dict:
    outputs: dict[str, Any] = {}
    if type_.startswith("aws:"):
        outputs = {"arn": f"arn:aws:mock:{_REGION}:{_ACCOUNT}:{type_.split(':')[-1].lower()}/{name}", "id": f"{name}-id"}
    row = MOCK_OUTPUTS.get(type_)
    if row is not None:
        outputs.update(row(name, inputs))
    return outputs


_INVOKE_RESULTS: dict[str, dict] = {
    "aws:index/getCallerIdentity:getCallerIdentity": {
        "accountId": "000000000000", "arn": "arn:aws:iam::000000000000:user/mock", "userId": "mock"},
    "aws:index/getPartition:getPartition": {"partition": "aws", "dnsSuffix": "amazonaws.com"},
    "aws:index/getRegion:getRegion": {"name": "us-east-1", "region": "us-east-1"},
    "aws:secretsmanager/getSecretVersion:getSecretVersion": {"secretString": SECRET_PLACEHOLDER},
}


def _make_mocks():
    import pulumi

    class OfflineMocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs):
            state = dict(args.inputs)
            state.update(_computed_outputs(args.typ, args.name, args.inputs))
            return state.get("id", f"{args.name}-id"), state

        def call(self, args: pulumi.runtime.MockCallArgs):
            return _INVOKE_RESULTS.get(args.token, {})

    return OfflineMocks()


def _make_monitor(mocks, recorded: list[RecordedResource]):
    from google.protobuf import json_format
    from pulumi.runtime import settings
    from pulumi.runtime.mocks import MockMonitor

    class RecordingMonitor(MockMonitor):
        def make_urn(self, parent: str, type_: str, name: str) -> str:
            # The engine's URN rule, which the SDK's mock shortens: a child's type is prefixed
            # with its parent's whole type chain, except under the root Stack. Plans then name
            # resources exactly as `pulumi preview` and policy packs do.
            qualified = parent.split("::")[2] if parent else ""
            if qualified and qualified != "pulumi:pulumi:Stack":
                type_ = f"{qualified}${type_}"
            return f"urn:pulumi:{settings.get_stack()}::{settings.get_project()}::{type_}::{name}"

        def RegisterResource(self, request):
            response = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                recorded.append(RecordedResource(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    parent=request.parent,
                    provider=_provider_urn(request.provider),
                    dependencies=tuple(sorted(set(request.dependencies))),
                    protect=bool(request.protect),
                    custom=bool(request.custom),
                    inputs=plain(json_format.MessageToDict(request.object)),
                ))
            return response

    return RecordingMonitor(mocks)


class _InlineExecutorLoop(asyncio.SelectorEventLoop):
    """An event loop that answers the SDK's executor calls in its own thread, at once.

    The SDK hands every monitor call (register, read, invoke, supports-feature) to a thread pool,
    because a real monitor is a gRPC server that takes its time. The mock monitor answers in
    Python, under the GIL, in microseconds: the trip to a worker thread and back was about a tenth
    of recording a plan, most of it waiting in epoll. A worker thread runs the call with an event
    loop of its own (the mock serializes properties with `_sync_await`, which runs that loop), so
    the call runs here the same way: with this loop set aside and a second, private one current.
    The plan is the same: the recorded resources are sorted by URN, whatever order they came in.
    """

    def __init__(self) -> None:
        super().__init__()
        self._calls = asyncio.new_event_loop()

    def run_in_executor(self, executor, func, *args):
        future = self.create_future()
        asyncio.events._set_running_loop(None)
        asyncio.set_event_loop(self._calls)
        try:
            future.set_result(func(*args))
        except Exception as error:  # the awaiting task sees it, as it would from a worker thread
            future.set_exception(error)
        finally:
            asyncio.set_event_loop(self)
            asyncio.events._set_running_loop(self)
        return future

    def close(self) -> None:
        self._calls.close()
        super().close()


def record(stack: str, config: dict[str, str], secret_keys: tuple[str, ...] = (),
           program: Optional[Callable[[], None]] = None) -> list[RecordedResource]:
    """Run `program` (default: the real stack program) under mocks; return every resource.

    Each call gets a fresh event loop, monitor and root Stack, so several plans
    can run in one process without nesting under each other.
    """
    import pulumi
    from pulumi.runtime import settings
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    recorded: list[RecordedResource] = []
    loop = _InlineExecutorLoop()
    asyncio.set_event_loop(loop)
    try:
        settings.ROOT.set(None)
        mocks = _make_mocks()
        pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False,
                                 monitor=_make_monitor(mocks, recorded))
        pulumi.runtime.set_all_config({f"{PROJECT}:{k}" if ":" not in k else k: v for k, v in config.items()},
                                      [f"{PROJECT}:{k}" if ":" not in k else k for k in secret_keys])
        run = program or (lambda: runpy.run_path(str(STACK_PROGRAM), run_name="__main__"))
        with collector.growing_heap():
            _sync_await(run_pulumi_func(run))
    except KeyboardInterrupt:
        # Ctrl-C abandons the program's tasks mid-flight; when they are collected asyncio would log
        # each one's traceback ("Task exception was never retrieved"). The CLI says "interrupted".
        loop.set_exception_handler(lambda _loop, _context: None)
        raise
    finally:
        settings.ROOT.set(None)
        asyncio.set_event_loop(None)
        loop.close()
    resources = sorted(recorded, key=lambda r: r.urn)
    refuse_duplicate_urns(resources)
    return resources


class DuplicateUrnError(ValueError):
    """Two resources registered with one URN: the real engine refuses the program, so the plan does too."""


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    """A plan input as {dotted path: leaf value}."""
    if isinstance(value, dict) and value:
        return {k: v for key, item in value.items() for k, v in _leaves(item, f"{path}.{key}" if path else key).items()}
    if isinstance(value, list) and value:
        return {k: v for index, item in enumerate(value) for k, v in _leaves(item, f"{path}[{index}]").items()}
    return {path: value}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def refuse_duplicate_urns(resources: list[RecordedResource]) -> None:
    """Raise DuplicateUrnError for the first URN that repeats (`resources` sorted by URN), telling the
    two registrations apart by the first input where they differ (what the spec gave each)."""
    for first, second in zip(resources, resources[1:]):
        if first.urn != second.urn:
            continue
        one, other = _leaves(first.inputs), _leaves(second.inputs)
        differing = sorted((key not in one or key not in other, key) for key in one.keys() | other.keys()
                           if one.get(key) != other.get(key))  # values both set come first: they read best
        key = differing[0][1] if differing else None
        # Registration order is the event loop's: name the two values in a fixed order instead.
        low, high = sorted((one.get(key), other.get(key)), key=repr) if key else (None, None)
        told_apart = f": one with {key} = {_short(low)}, the other with {_short(high)}" if key else ""
        raise DuplicateUrnError(f"duplicate resource URN {first.urn}: two {first.type} resources under "
                                f"{first.parent or 'the stack'} have one name{told_apart}; the Pulumi engine "
                                "refuses this, and a plan would keep only one of them")
