"""Environment names resolve in the project of the working directory, as Pulumi finds its project.

A second clone, a git worktree or a CI checkout that runs another clone's
installation must read its own specs, not the installed package's.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from environments import loader
from conftest import REPO, run_cli


def _second_clone(target: Path) -> Path:
    """The parts of a checkout that commands read: the project file, the specs, the pipelines."""
    target.mkdir()
    shutil.copy(REPO / "Pulumi.yaml", target / "Pulumi.yaml")
    for folder in ("environments", "pipelines"):
        shutil.copytree(REPO / folder, target / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_the_first_clones_installation_reads_the_second_clones_spec(tmp_path):
    clone = _second_clone(tmp_path / "second-clone")
    spec = clone / "environments" / "prod.yaml"
    spec.write_text(spec.read_text().replace("metadata:\n", "metadata:\n  colour: blue\n", 1))
    # The code is this checkout's (PYTHONPATH), the working directory a subfolder of the other clone.
    (clone / "docs").mkdir()
    result = run_cli("validate", "prod", cwd=clone / "docs")
    assert result.returncode == 2
    assert "unknown key 'colour'" in result.stderr
    assert f"{clone.resolve()}/environments/prod.yaml:" in result.stderr
    spec.write_text(spec.read_text().replace("  colour: blue\n", "", 1))
    valid = run_cli("validate", "prod", cwd=clone)
    assert valid.returncode == 0, valid.stderr
    assert valid.stdout.startswith("environments/prod.yaml: environment prod is valid")


def test_the_root_is_the_nearest_folder_with_pulumi_yaml_and_environments(tmp_path, monkeypatch):
    clone = _second_clone(tmp_path / "clone")
    monkeypatch.chdir(clone / "pipelines")
    assert loader.repository_root() == clone.resolve()
    shutil.copy(clone / "environments" / "dev.yaml", clone / "environments" / "qa.yaml")
    assert "qa" in loader.environment_names()
    assert loader.spec_path("prod") == clone.resolve() / "environments" / "prod.yaml"
    monkeypatch.chdir(tmp_path)  # in no project: the installed package's own checkout
    assert loader.repository_root() == REPO
