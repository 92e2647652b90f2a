"""Runs inside the CrossGuard pack's virtual environment (pulumi-policy, protobuf 5), driven by the tests.

Reads a JSON job on stdin and prints the verdicts as JSON:

  {"mode": "validate", "cases": [{"id", "config", "resources"}]}
      calls every policy's validate() with ResourceValidationArgs / StackValidationArgs
      built by hand from plan entries, the way docs/architecture.md describes;

  {"mode": "grpc", "config", "resources"}
      starts the real pack (policies/__main__.py) as Pulumi would, and talks to it over
      gRPC like the Pulumi CLI: GetAnalyzerInfo, Configure with the --policy-pack-config
      JSON, Analyze for every resource, AnalyzeStack for the stack.

`config` is what `stackyard policy-config` writes. A violation comes back as
[policy name, URN or "", message, enforcement level].
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from google.protobuf import json_format, struct_pb2  # noqa: E402
from pulumi_policy import (PolicyCustomTimeouts, PolicyProviderResource, PolicyResource,  # noqa: E402
                           PolicyResourceOptions, ResourceValidationArgs, ResourceValidationPolicy,
                           StackValidationArgs)
from pulumi_policy.proxy import unknown_checking_proxy  # noqa: E402

from policies.crossguard import policies  # noqa: E402


def _options(entry: dict) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect=entry["protect"], ignore_changes=[], delete_before_replace=None,
                                 aliases=[], custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
                                 additional_secret_outputs=[], parent=entry["parent"] or None)


def _provider(entry: dict, by_urn: dict):
    provider = by_urn.get(entry["provider"])
    if provider is None:
        return None
    return PolicyProviderResource(provider["type"], unknown_checking_proxy(provider["inputs"]), provider["urn"],
                                  provider["name"])


def _stack(entries: list[dict]) -> list[PolicyResource]:
    by_urn = {entry["urn"]: entry for entry in entries}
    resources = {entry["urn"]: PolicyResource(entry["type"], unknown_checking_proxy(entry["inputs"]), entry["urn"],
                                              entry["name"], _options(entry), _provider(entry, by_urn), None, [], {})
                 for entry in entries}
    for entry in entries:
        resource = resources[entry["urn"]]
        resource.parent = resources.get(entry["parent"])
        resource.dependencies = [resources[urn] for urn in entry["dependencies"] if urn in resources]
    return list(resources.values())


def validate_case(config: dict, entries: list[dict]) -> list[list]:
    by_urn = {entry["urn"]: entry for entry in entries}
    found = []
    for policy in policies():
        settings = dict(config.get(policy.name) or {})
        level = settings.pop("enforcementLevel", policy.enforcement_level.value)
        if level == "disabled":
            continue
        if isinstance(policy, ResourceValidationPolicy):
            for entry in entries:
                args = ResourceValidationArgs(entry["type"], unknown_checking_proxy(entry["inputs"]), entry["urn"],
                                              entry["name"], _options(entry), _provider(entry, by_urn), settings)
                policy.validate(args, lambda message, _urn=None, u=entry["urn"]: found.append(
                    [policy.name, u, message, level]))
        else:
            args = StackValidationArgs(_stack(entries), settings)
            policy.validate(args, lambda message, urn=None: found.append([policy.name, urn or "", message, level]))
    return found


def _struct(value: dict) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


def grpc_run(config: dict, entries: list[dict]) -> dict:
    import grpc
    from pulumi.runtime.proto import analyzer_pb2 as proto
    from pulumi.runtime.proto import analyzer_pb2_grpc
    from google.protobuf import empty_pb2

    server = subprocess.Popen([sys.executable, str(REPO / "policies" / "__main__.py")], stdout=subprocess.PIPE,
                              text=True, cwd=REPO / "policies")
    try:
        port = int(server.stdout.readline().strip())
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        analyzer = analyzer_pb2_grpc.AnalyzerStub(channel)
        info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=60)
        levels = {value: name.lower() for name, value in proto.EnforcementLevel.items()}
        # What the CLI does with --policy-pack-config: a level per policy, the rest as properties.
        request = proto.ConfigureAnalyzerRequest()
        for policy in info.policies:
            settings = dict(config.get(policy.name) or {})
            level = settings.pop("enforcementLevel", levels[policy.enforcementLevel])
            request.policyConfig[policy.name].CopyFrom(proto.PolicyConfig(
                enforcementLevel=proto.EnforcementLevel.Value(level.upper()), properties=_struct(settings)))
        analyzer.Configure(request, timeout=60)

        by_urn = {entry["urn"]: entry for entry in entries}

        def provider(entry):
            found = by_urn.get(entry["provider"])
            return None if found is None else proto.AnalyzerProviderResource(
                type=found["type"], properties=_struct(found["inputs"]), urn=found["urn"], name=found["name"])

        def options(entry):
            return proto.AnalyzerResourceOptions(protect=entry["protect"], parent=entry["parent"])

        diagnostics = []
        for entry in entries:
            response = analyzer.Analyze(proto.AnalyzeRequest(
                type=entry["type"], properties=_struct(entry["inputs"]), urn=entry["urn"], name=entry["name"],
                options=options(entry), provider=provider(entry)), timeout=60)
            diagnostics += [(d, entry["urn"]) for d in response.diagnostics]
        response = analyzer.AnalyzeStack(proto.AnalyzeStackRequest(resources=[proto.AnalyzerResource(
            type=entry["type"], properties=_struct(entry["inputs"]), urn=entry["urn"], name=entry["name"],
            options=options(entry), provider=provider(entry), parent=entry["parent"],
            dependencies=entry["dependencies"]) for entry in entries]), timeout=120)
        diagnostics += [(d, d.urn) for d in response.diagnostics]
        violations = [[d.policyName, d.urn or urn, d.message.removeprefix(d.description + "\n"),
                       levels[d.enforcementLevel]] for d, urn in diagnostics]
        policies_info = [json_format.MessageToDict(policy) for policy in info.policies]
        return {"violations": violations, "policies": policies_info, "pack": info.name}
    finally:
        server.kill()
        server.wait(timeout=30)


def main() -> None:
    job = json.load(sys.stdin)
    if job["mode"] == "validate":
        result = {case["id"]: validate_case(case["config"], case["resources"]) for case in job["cases"]}
    else:
        result = grpc_run(job["config"], job["resources"])
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
