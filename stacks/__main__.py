"""The Pulumi program. `pulumi up -s <env>` and `stackyard plan <env>` both run this file."""

from stacks.program import run

run()
