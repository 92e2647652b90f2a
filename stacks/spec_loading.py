"""Load an environment with every check: the loader's own and those of the layers above it.

environments/ sits at the bottom and cannot import policies/, so the spec
checks that need the rules (do the rule ids in `policy:` exist? do the CIDR
lists open the cluster to the internet, by SY-AWS-006's measure?) are handed to
the loader from here. Every command and the Pulumi program load specs this way.
"""

from __future__ import annotations

from environments import loader
from environments.spec import Spec
from policies.environment import network_problems, rule_id_problems


def load(environment: str) -> Spec:
    """`environments.loader.load` plus the policy checks; raises SpecError listing every problem."""
    return loader.load(environment, extra_checks=(rule_id_problems, network_problems))
