"""Safe YAML everywhere: no unsafe loader in the code, and spec paths cannot leave the repository."""

from __future__ import annotations

import ast
import contextlib
import io
import os
import shutil
from pathlib import Path

from conftest import REPO
from stacks.cli import main

UNSAFE_LOADERS = {"Loader", "FullLoader", "UnsafeLoader", "unsafe_load", "full_load", "full_load_all",
                  "unsafe_load_all", "load_all"}


def python_files():
    for path in REPO.rglob("*.py"):
        if not any(part.startswith(".") or part in ("node_modules", "__pycache__") for part in path.parts):
            yield path


def unsafe_uses(tree: ast.AST) -> list[str]:
    """yaml.load(...) without a safe Loader, yaml.<unsafe name>, ruamel YAML(typ='unsafe'), eval/exec."""
    found = []
    # A local `yaml = YAML()` is a ruamel.yaml round-trip instance (safe); its .load is not PyYAML's.
    ruamel_instance = any(isinstance(node, ast.Name) and node.id == "yaml" and isinstance(node.ctx, ast.Store)
                          for node in ast.walk(tree))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "yaml" \
                and node.attr in UNSAFE_LOADERS:
            found.append(f"line {node.lineno}: yaml.{node.attr}")
        if isinstance(node, ast.Call):
            function = node.func
            name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
            owner = function.value.id if isinstance(function, ast.Attribute) and isinstance(function.value,
                                                                                            ast.Name) else ""
            keywords = {k.arg: k.value for k in node.keywords}
            if owner == "yaml" and name == "load" and not ruamel_instance:
                loader = keywords.get("Loader", node.args[1] if len(node.args) > 1 else None)
                if not (isinstance(loader, ast.Attribute) and "Safe" in loader.attr
                        or isinstance(loader, ast.Name) and "Safe" in loader.id):
                    found.append(f"line {node.lineno}: yaml.load without a SafeLoader")
            if name == "YAML" and isinstance(keywords.get("typ"), ast.Constant) \
                    and keywords["typ"].value in ("unsafe", "full"):
                found.append(f"line {node.lineno}: YAML(typ={keywords['typ'].value!r})")
            if isinstance(function, ast.Name) and function.id in ("eval", "exec"):
                found.append(f"line {node.lineno}: {function.id}()")
    return found


def test_no_unsafe_yaml_loader_or_eval_anywhere():
    problems = {str(path.relative_to(REPO)): unsafe_uses(ast.parse(path.read_text(encoding="utf-8")))
                for path in python_files()}
    assert {path: found for path, found in problems.items() if found} == {}


def test_the_scan_finds_an_unsafe_loader():
    tree = ast.parse("import yaml\nyaml.load(text, Loader=yaml.Loader)\nyaml.unsafe_load(t)\neval('1')\n"
                     "from ruamel.yaml import YAML\nYAML(typ='unsafe')\n")
    assert len(unsafe_uses(tree)) == 5


def run(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, err.getvalue()


def test_extends_cannot_leave_the_folder(tmp_path):
    spec = tmp_path / "escape.yaml"
    spec.write_text((REPO / "environments" / "dev.yaml").read_text().replace("extends: base",
                                                                             "extends: ../../etc/passwd"))
    assert "extends: ../../etc/passwd" in spec.read_text()
    code, stderr = run("validate", str(spec))
    assert code == 2 and "Traceback" not in stderr
    assert "$.extends" in stderr and "escape.yaml:" in stderr
    assert "root:" not in stderr  # nothing of the file it names was read


def test_pipeline_source_outside_the_repository_is_rejected(tmp_path):
    spec = tmp_path / "prod.yaml"
    shutil.copy(REPO / "environments" / "base.yaml", tmp_path / "base.yaml")
    spec.write_text((REPO / "environments" / "prod.yaml").read_text().replace(
        "source: pipelines/training.py", "source: ../../etc/passwd.py", 1))
    code, stderr = run("validate", str(spec))
    assert code == 2 and "Traceback" not in stderr and "source" in stderr


def test_pipeline_source_symlinked_out_of_pipelines_is_rejected(tmp_path):
    outside = tmp_path / "evil.py"
    outside.write_text("raise SystemExit('imported!')\n")
    link = REPO / "pipelines" / f"escape_{os.getpid()}.py"
    link.symlink_to(outside)
    try:
        spec = tmp_path / "prod.yaml"
        shutil.copy(REPO / "environments" / "base.yaml", tmp_path / "base.yaml")
        spec.write_text((REPO / "environments" / "prod.yaml").read_text().replace(
            "source: pipelines/training.py", f"source: pipelines/{link.name}", 1))
        code, stderr = run("validate", str(spec))
        assert code == 2 and "Traceback" not in stderr
        assert "inside the repository's pipelines/ folder" in stderr
        code, stderr = run("plan", str(spec))
        assert code == 2 and "imported!" not in stderr
    finally:
        link.unlink()
