"""`stackyard approve ENV ENDPOINT --version N --by WHO --evidence URL`: approve a model version in MLflow.

For teams without an approval UI of their own. The approval is three tags on
the registry's model version (environments/spec.py APPROVAL_TAGS): who approved
it, when (now, UTC) and a link to the evidence (the evaluation report or the
reviewed model card). `stackyard lock` refuses to lock an unapproved version
for a production environment and records the tags in the lock; policy rule
SY-SRV-007 fails a production endpoint whose locked version carries none.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlparse

from stacks.commands.common import add_environment_argument, load_spec
from stacks.errors import ExitCode, StackyardError

# An approver: a person's or group's e-mail or a login name, nothing that could pass for a link.
_APPROVER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}\Z")


def configure(parser) -> None:
    add_environment_argument(parser)
    parser.add_argument("endpoint", metavar="ENDPOINT", help="the endpoint whose model is approved")
    parser.add_argument("--version", type=int, required=True, metavar="N",
                        help="the registry version of the endpoint's model to approve")
    parser.add_argument("--by", required=True, metavar="WHO", help="who approves it (e-mail or login)")
    parser.add_argument("--evidence", required=True, metavar="URL",
                        help="https link to the evaluation or model card the approval rests on")


def approval_tags(by: str, evidence: str, at: str) -> dict[str, str]:
    """The approval's registry tags; StackyardError (exit 2) for an approver or link that is not one."""
    from environments.spec import APPROVAL_EVIDENCE_TAG, APPROVED_AT_TAG, APPROVED_BY_TAG

    if not _APPROVER.match(by):
        raise StackyardError(f"--by: expected an e-mail address or login name, found {by!r}")
    link = urlparse(evidence)
    if link.scheme not in ("https", "http") or not link.netloc:
        raise StackyardError(f"--evidence: expected an http(s) link to the evaluation or model card, "
                             f"found {evidence!r}")
    return {APPROVED_BY_TAG: by, APPROVED_AT_TAG: at, APPROVAL_EVIDENCE_TAG: evidence}


def run(args) -> int:
    from environments.spec import ModelRef
    from stacks import registry_lock

    spec, spec_file = load_spec(args.environment)
    endpoint = next((e for e in spec.endpoints if e.name == args.endpoint), None)
    if endpoint is None:
        names = ", ".join(e.name for e in spec.endpoints) or "none"
        raise StackyardError(f"environment {spec.name} has no endpoint {args.endpoint!r}; its endpoints: {names}")
    if args.version < 1:
        raise StackyardError(f"--version: expected a registry version (1 or more), found {args.version}")
    if spec.serving.registry is None:
        raise StackyardError(f"environment {spec.name} names no serving.registry to approve the model in")
    tags = approval_tags(args.by, args.evidence, registry_lock._now())
    token_problem = registry_lock.registry_token_problem(spec, os.environ)
    if token_problem:
        raise StackyardError(token_problem, ExitCode.INVALID_INPUT)
    ref = ModelRef(name=endpoint.model.name, version=args.version)
    try:
        registry_lock.tag_model_version(spec.serving.registry, ref, tags)
    except registry_lock.RegistryError as error:
        raise StackyardError(str(error), ExitCode.INVALID_INPUT) from None
    print(f"approved {ref.name} version {ref.version} for endpoint {endpoint.name} by {args.by} "
          f"({args.evidence}) in {spec.serving.registry.tracking_uri}")
    print(f"next: `{registry_lock.lock_command(spec_file)}` records it in the lock")
    return 0
