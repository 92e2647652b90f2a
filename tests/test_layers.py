"""The layers of docs/architecture.md, enforced by import-linter's own CLI over this checkout.

`.importlinter` holds the contracts: stacks > policies | components | pipelines >
environments; environments never imports Pulumi; policies.rules only the standard
library; no import cycles inside a package. A planted import from environments
into policies, on a copy of the tree, must break them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("environments", "pipelines", "components", "policies", "stacks")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(root: Path) -> subprocess.CompletedProcess:
    # PYTHONPATH=root first: grimp must find this tree's packages, not the venv's editable install of main.
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--config", str(root / ".importlinter")], cwd=root,
                          env=env, capture_output=True, text=True, timeout=120)


def test_the_contracts_hold_on_this_checkout():
    done = _lint(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 4 kept, 0 broken." in done.stdout


def test_an_import_from_environments_into_policies_breaks_the_layers(tmp_path):
    for package in PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / ".importlinter", tmp_path / ".importlinter")
    assert _lint(tmp_path).returncode == 0  # the copy itself is clean: the plant below is what breaks it
    spec = tmp_path / "environments" / "spec.py"
    spec.write_text(spec.read_text() + "\nfrom policies import engine  # planted\n")
    done = _lint(tmp_path)
    assert done.returncode == 1
    assert "environments is not allowed to import policies" in done.stdout
    assert "environments.spec -> policies.engine" in done.stdout


def test_policies_rules_import_only_the_standard_library():
    """The forbidden contract names the third-party packages we know; this asks grimp for all of them."""
    import grimp

    graph = grimp.build_graph("policies", include_external_packages=True, cache_dir=None)
    modules = graph.find_descendants("policies.rules") | {"policies.rules"}
    assert "policies.rules.workloads" in modules
    outside = set()
    for module in modules:
        for imported in graph.find_modules_directly_imported_by(module):
            top = imported.split(".")[0]
            if not imported.startswith("policies.rules") and top not in sys.stdlib_module_names:
                outside.add(f"{module} -> {imported}")
    assert not outside, sorted(outside)
