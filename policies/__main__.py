"""The Stackyard CrossGuard policy pack.

    pulumi preview --policy-pack policies --policy-pack-config <(stackyard policy-config prod)

Pulumi runs this file in the pack's own virtual environment, built from
requirements.txt beside it. The rules live in the repository's `policies`
package, so the repository root goes on the import path first.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from policies.crossguard import policies  # noqa: E402

PolicyPack(
    name="stackyard",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=policies(),
    description="Stackyard ML platform rules: GPUs, workloads, serving, AWS and governance",
)
