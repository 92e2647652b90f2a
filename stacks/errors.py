"""Exit codes of the CLI and the error that carries one (docs/architecture.md, "Exit codes")."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL_ERROR = 1
    INVALID_INPUT = 2
    POLICY_VIOLATION = 3
    UNSAFE_CHANGE = 4
    DEPLOY_FAILED = 5  # `stackyard preview|up`: Pulumi itself failed (its output says why)
    CHANGES_PRESENT = 6  # opt-in: `diff --detailed-exitcode` found changes, `lock --check` a stale lock


class StackyardError(Exception):
    """An error with a message for people and the exit code it ends the command with."""

    def __init__(self, message: str, code: ExitCode = ExitCode.INVALID_INPUT):
        super().__init__(message)
        self.code = code
