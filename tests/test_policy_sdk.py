"""The AWS rules speak pulumi-aws's language: its taggable types and its wire property names.

Run as a script to regenerate policies/rules/aws_taggable_types.txt after a
pulumi-aws upgrade:  python tests/test_policy_sdk.py
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import re
from pathlib import Path

from policies.rules.aws import taggable_types
from policy_cases import all_cases, bases

TAGGABLE_FILE = Path(__file__).resolve().parent.parent / "policies" / "rules" / "aws_taggable_types.txt"
_REGISTRATION = re.compile(r"super\((\w+), __self__\)\.__init__\(\s*'(aws:[^']+)'")


def taggable_from_sdk() -> set[str]:
    """Every resource token whose class puts a `tags` input into its properties."""
    root = Path(importlib.util.find_spec("pulumi_aws").origin).parent
    found = set()
    for path in root.rglob("*.py"):
        text = path.read_text()
        for match in _REGISTRATION.finditer(text):
            start = text.find(f"class {match.group(1)}(pulumi.CustomResource)")
            if '__props__.__dict__["tags"] = tags' in text[start:match.start()]:
                found.add(match.group(2))
    return found


def test_taggable_types_match_the_installed_sdk():
    assert taggable_types() == taggable_from_sdk()
    assert {"aws:s3/bucket:Bucket", "aws:eks/nodeGroup:NodeGroup", "aws:iam/role:Role"} <= taggable_types()
    assert "aws:iam/rolePolicyAttachment:RolePolicyAttachment" not in taggable_types()


def _input_names(token: str) -> set[str]:
    """The wire names of a resource's top-level inputs, from its Args class."""
    module_path, name = token.split(":")[1].split("/")[0], token.rsplit(":", 1)[1]
    module = importlib.import_module(f"pulumi_aws.{module_path}")
    # A resource whose name clashes with a nested input type has its args in <Name>InitArgs.
    args = getattr(module, f"{name}InitArgs", None) or getattr(module, f"{name}Args")
    return {prop.fget._pulumi_name for prop in vars(args).values() if isinstance(prop, property)}


def test_fixture_inputs_use_real_pulumi_aws_wire_names():
    entries = [entry for case in all_cases() for entry in case.resources]
    entries += [body for body in bases().values() if "type" in body]
    checked = set()
    for entry in entries:
        if not entry["type"].startswith("aws:"):
            continue
        unknown = set(entry["inputs"]) - _input_names(entry["type"])
        assert not unknown, f"{entry['type']} has no inputs {sorted(unknown)}"
        checked.add(entry["type"])
    assert len(checked) >= 12


if __name__ == "__main__":
    version = importlib.metadata.version("pulumi-aws")
    TAGGABLE_FILE.write_text(
        f"# Every pulumi-aws resource token whose resource takes a `tags` input (pulumi-aws {version}).\n"
        "# Generated from the SDK; tests/test_policy_sdk.py checks it and rewrites it when run as a script.\n"
        + "".join(f"{token}\n" for token in sorted(taggable_from_sdk())))
