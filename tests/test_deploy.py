"""`stackyard preview|up`: the policy configuration reaches the pack, `up` never deploys unasked,
and a failed deploy is reported in full with exit 5.

This machine has no Pulumi CLI (DESIGN.md), so the Automation API's stack is
replaced by a recorder of what the command asks of it; everything before
(spec, lock, pack configuration, the prompt) and after (exit codes, messages)
is the real command, run in-process.
"""

from __future__ import annotations

import io
import json

import pytest

from stacks import cli
from stacks.commands import deploy


class RecordingStack:
    """Stands in for pulumi.automation.Stack: records calls in order, reads the pack config it is given."""

    def __init__(self, fail_on: str = ""):
        self.calls: list[str] = []
        self.policy_configs: list[dict] = []
        self.fail_on = fail_on

    def set_config(self, key, value):
        self.calls.append(f"config {key}")

    def _operation(self, name, on_output=None, policy_packs=None, policy_pack_configs=None):
        from pulumi.automation import errors
        from pulumi.automation._cmd import CommandResult

        self.calls.append(name)
        for path in policy_pack_configs or ():
            with open(path, encoding="utf-8") as handle:
                self.policy_configs.append(json.load(handle))
        if name == self.fail_on:
            raise errors.CommandError(CommandResult(
                stdout="Updating (prod)\n", code=255,
                stderr="error: update failed\n  aws:eks:Cluster prod-cluster: AccessDenied: not authorized\n"
                       "  second line of the provider's account"))

    def preview(self, **kwargs):
        self._operation("preview", **kwargs)

    def up(self, **kwargs):
        self._operation("up", **kwargs)


@pytest.fixture
def pulumi_stack(monkeypatch, tmp_path):
    from pulumi import automation

    stack = RecordingStack()
    monkeypatch.setattr(deploy.shutil, "which", lambda name: f"/usr/local/bin/{name}")
    monkeypatch.setattr(automation, "create_or_select_stack", lambda **kwargs: stack)
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path}")
    return stack


def _stdin(monkeypatch, terminal: bool, answer: str = ""):
    fake = io.StringIO(answer)
    fake.isatty = lambda: terminal
    monkeypatch.setattr("sys.stdin", fake)


def test_up_refuses_to_run_unattended_without_yes(pulumi_stack, monkeypatch, capsys):
    _stdin(monkeypatch, terminal=False)
    assert cli.main(["up", "dev"]) == 2
    assert "standard input is not a terminal: pass --yes" in capsys.readouterr().err
    assert pulumi_stack.calls == []


def test_up_shows_the_preview_before_it_asks(pulumi_stack, monkeypatch, capsys):
    _stdin(monkeypatch, terminal=True, answer="n\n")
    asked = []
    monkeypatch.setattr(deploy, "_confirm", lambda question: asked.append(list(pulumi_stack.calls)) or False)
    assert cli.main(["up", "dev"]) == 0
    assert asked == [["config stackyard:environment", "preview"]]  # the preview ran before the question
    assert "up" not in pulumi_stack.calls and "cancelled" in capsys.readouterr().out


def test_the_policy_pack_runs_with_the_environments_configuration(pulumi_stack, monkeypatch):
    from environments import loader
    from policies.pack_config import pack_config

    _stdin(monkeypatch, terminal=False)
    assert cli.main(["up", "prod", "--yes", "--policy-pack", "policies"]) == 0
    assert pulumi_stack.calls == ["config stackyard:environment", "up"]
    spec = loader.load("prod")
    assert pulumi_stack.policy_configs == [pack_config(spec, loader.spec_path("prod").resolve())]
    context = pulumi_stack.policy_configs[0]["SY-WKL-004"]["context"]
    assert context["production"] is True and context["models"]  # production flag and the lock


def test_a_failed_deploy_is_reported_in_full_with_exit_5(pulumi_stack, monkeypatch, capsys):
    _stdin(monkeypatch, terminal=False)
    pulumi_stack.fail_on = "up"
    assert cli.main(["up", "dev", "--yes"]) == 5
    err = capsys.readouterr().err
    assert "pulumi up of dev failed" in err
    assert "AccessDenied: not authorized" in err and "second line of the provider's account" in err
    assert "Traceback" not in err
