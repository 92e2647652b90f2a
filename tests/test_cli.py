"""The CLI surface: help, exit codes, and the Pulumi CLI wrappers where the CLI is missing."""

from __future__ import annotations

import os

import pytest

from conftest import run_cli


def test_help_lists_commands_and_exit_codes():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("validate", "plan", "preview", "up"):
        assert command in result.stdout
    assert "2 invalid input" in result.stdout


def test_validate_reports_a_valid_environment():
    result = run_cli("validate", "dev")
    assert result.returncode == 0, result.stderr
    assert "environment dev is valid" in result.stdout


def test_validate_does_not_import_heavy_libraries():
    code = ("import sys; from stacks.cli import main; rc = main(['validate', 'dev']); "
            "heavy = sorted(m for m in ('pulumi', 'pulumi_aws', 'pulumi_kubernetes', 'kfp', 'kserve', 'mlflow') "
            "if m in sys.modules); print('HEAVY', heavy); sys.exit(rc)")
    import subprocess
    import sys

    from conftest import REPO

    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout


@pytest.mark.parametrize("command", ["preview", "up"])
def test_pulumi_wrappers_explain_how_to_install_the_cli(command, tmp_path):
    # A PATH with python but without any `pulumi` executable.
    result = run_cli(command, "dev", "--yes" if command == "up" else "--backend=file:///tmp/x",
                     env={"PATH": str(tmp_path)})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Pulumi CLI is not installed" in lines[0]
    assert "Traceback" not in result.stderr


def test_missing_command_is_a_usage_error():
    result = run_cli()
    assert result.returncode == 2
    assert "usage:" in result.stderr
