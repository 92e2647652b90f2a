"""`stackyard diff` on a real git repository: the base commit planned by its own code, the checkout untouched.

Each test gets a copy of a small repository: this project's files, a `main`
commit with environments/pr.yaml = tests/fixtures/diff/pr-base.yaml and a
`feature` commit (checked out) with pr-head.yaml.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from stacks import change_report
from conftest import FIXTURES, plan_for, repository_copy, run_cli

GIT_IDENTITY = ("-c", "user.name=Stackyard Tests", "-c", "user.email=tests@stackyard.invalid")


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", "--no-optional-locks", "-C", str(repo), *GIT_IDENTITY, *args],
                            capture_output=True, text=True, check=True)
    return result.stdout


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    repo = repository_copy(tmp_path_factory.mktemp("template") / "repo")
    shutil.copy(FIXTURES / "diff" / "pr-base.yaml", repo / "environments" / "pr.yaml")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "checkout", "-q", "-b", "feature")
    shutil.copy(FIXTURES / "diff" / "pr-head.yaml", repo / "environments" / "pr.yaml")
    git(repo, "commit", "-q", "-am", "head")
    return repo


@pytest.fixture
def repo(template, tmp_path) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(template, copy, symlinks=True)
    return copy


def snapshot(repo: Path) -> dict:
    """Everything a user would notice: status, HEAD, branch, worktrees and every file's bytes."""
    files = {str(p.relative_to(repo)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(repo.rglob("*")) if p.is_file() and ".git" not in p.relative_to(repo).parts}
    return {"status": git(repo, "status", "--porcelain", "--untracked-files=all", "--ignored"),
            "head": git(repo, "rev-parse", "HEAD"), "branch": git(repo, "symbolic-ref", "HEAD"),
            "worktrees": git(repo, "worktree", "list", "--porcelain"),
            "index": hashlib.sha256((repo / ".git" / "index").read_bytes()).hexdigest(), "files": files}


def diff(repo: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    """Run `stackyard diff` from the repository as a user would; assert it left the checkout as it was."""
    before = snapshot(repo)
    result = run_cli("diff", *args, "--format", "json", cwd=repo,
                     env={"PYTHONPATH": str(repo), "PYTHONDONTWRITEBYTECODE": "1"})
    assert snapshot(repo) == before, "stackyard diff changed the checkout"
    assert result.returncode in (0, 4), result.stderr
    return result, json.loads(result.stdout)


def changes(report: dict) -> dict[tuple[str, str], dict]:
    return {(c["op"], c["name"]): c for c in report["changes"]}


def test_diff_against_the_merge_base_with_the_default_branch(repo):
    result, report = diff(repo, "pr")
    assert report["base"]["label"].startswith("merge base with main")
    assert report["base"]["commit"] == git(repo, "rev-parse", "main").strip()
    found = changes(report)
    assert ("create", "pr-monitoring-ns") in found
    updated = found[("update", "pr-cluster-eks")]
    assert {p["path"]: p["old"] for p in updated["properties"]} == {
        "enabledClusterLogTypes[2]": "authenticator", "enabledClusterLogTypes[3]": "controllerManager",
        "enabledClusterLogTypes[4]": "scheduler"}
    replaced = found[("replace", "pr-serving-ns")]
    assert replaced["replaceReasons"] == ["metadata.name"]
    assert [(p["path"], p["old"], p["new"]) for p in replaced["properties"]] == [("metadata.name", "serving", "inference")]
    assert ("delete", "pr-pipelines-ns") in found
    # Both namespaces hold data: deleting or replacing them without an acknowledgement is blocked.
    assert result.returncode == 4
    assert {r["name"] for r in report["dataLoss"]["risks"] if r["acknowledgement"] is None} >= {
        "pr-serving-ns", "pr-pipelines-ns"}
    assert "data-loss guard" in result.stderr


def _acknowledge(spec: Path, glob: str, reason: str) -> None:
    text = spec.read_text()
    spec.write_text(text + f"\nacknowledgements:\n  - resource: \"{glob}\"\n    reason: {reason}\n"
                           "    by: ana@example.com\n")


def test_a_spec_acknowledgement_applies_only_to_the_change_that_adds_it(repo):
    spec = repo / "environments" / "pr.yaml"
    _acknowledge(spec, "pr-*", "namespaces move; Kubeflow runs are archived")
    result, report = diff(repo, "pr", "--base", "main")
    assert result.returncode == 0
    assert report["dataLoss"]["status"] == "acknowledged"
    assert {r["acknowledgement"]["source"] for r in report["dataLoss"]["risks"]} == {"environments/pr.yaml"}
    markdown = change_report.render_markdown(report)
    assert "by ana@example.com (environments/pr.yaml): namespaces move; Kubeflow runs are archived" in markdown

    # The same acknowledgement already in the base spec was for an earlier change: it does not apply again.
    git(repo, "stash", "-q")
    git(repo, "checkout", "-q", "-b", "acknowledged-earlier", "main")
    _acknowledge(spec, "pr-*", "namespaces move; Kubeflow runs are archived")
    git(repo, "commit", "-q", "-am", "an earlier acknowledgement")
    shutil.copy(FIXTURES / "diff" / "pr-head.yaml", spec)
    _acknowledge(spec, "pr-*", "namespaces move; Kubeflow runs are archived")
    result, report = diff(repo, "pr", "--base", "HEAD")
    assert result.returncode == 4
    assert [a["resource"] for a in report["dataLoss"]["carriedOver"]] == ["pr-*"]


def test_replacing_the_prod_cluster_is_blocked_until_acknowledged(repo):
    prod = repo / "environments" / "prod.yaml"
    prod.write_text(prod.read_text().replace("name: stackyard-prod\n", "name: stackyard-prod-b\n"))
    result, report = diff(repo, "prod", "--base", "HEAD")
    assert result.returncode == 4
    replaced = changes(report)[("replace", "prod-cluster-eks")]
    assert replaced["replaceReasons"] == ["name"] and replaced["stateful"].startswith("the Kubernetes control plane")
    assert "prod-cluster-eks" in [r["name"] for r in report["dataLoss"]["risks"] if r["acknowledgement"] is None]

    result, report = diff(repo, "prod", "--base", "HEAD", "--allow-data-loss", "prod-*",
                          "--reason", "blue/green move to the new cluster; volumes restored from snapshots",
                          "--by", "ana")
    assert result.returncode == 0
    acknowledged = {r["name"]: r["acknowledgement"] for r in report["dataLoss"]["risks"]}
    assert acknowledged["prod-cluster-eks"] == {
        "resource": "prod-*", "by": "ana", "source": "command line",
        "reason": "blue/green move to the new cluster; volumes restored from snapshots"}


def _feature_store_buckets() -> list[dict]:
    from stacks.plan import component_of

    plan = plan_for("prod")
    by_urn = {r["urn"]: r for r in plan["resources"]}
    return [r for r in plan["resources"] if r["type"].startswith("aws:s3/bucket")
            and r["type"].rsplit(":", 1)[-1] in ("Bucket", "BucketV2") and component_of(r, by_urn) == "FeatureStore"]


def test_deleting_the_prod_feature_store_offline_bucket_is_blocked_unacknowledged_and_while_protected(repo):
    buckets = _feature_store_buckets()
    assert buckets, "prod's feature store keeps its offline features in an S3 bucket"
    prod = repo / "environments" / "prod.yaml"
    document = yaml.safe_load(prod.read_text())
    # On AWS the offline store is always a bucket: removing the bucket means removing the feature store.
    document["featureStore"]["enabled"] = False
    prod.write_text(yaml.safe_dump(document, sort_keys=False))
    result, report = diff(repo, "prod", "--base", "HEAD")
    assert result.returncode == 4
    blocked = {r["urn"] for r in report["dataLoss"]["risks"] if r["acknowledgement"] is None}
    assert {b["urn"] for b in buckets} <= blocked

    document["acknowledgements"] = [{"resource": b["name"], "reason": "offline features move to the data lake",
                                     "by": "ana@example.com"} for b in buckets]
    prod.write_text(yaml.safe_dump(document, sort_keys=False))
    # The spec's acknowledgement comes first; the command line covers whatever else the change touches.
    result, report = diff(repo, "prod", "--base", "HEAD", "--allow-data-loss", "*",
                          "--reason", "everything else this change deletes is rebuilt")
    named = {r["urn"]: r["acknowledgement"] for r in report["dataLoss"]["risks"]}
    assert all(named[b["urn"]]["reason"] == "offline features move to the data lake" for b in buckets)
    # Acknowledged, yet prod protects its state (protect=true): Pulumi would refuse the delete after the
    # merge, so the guard still blocks, naming the protection; every other acknowledged risk passes.
    assert result.returncode == 4 and "which Pulumi refuses" in result.stderr
    blocked = [r for r in report["dataLoss"]["risks"] if r["blocked"]]
    assert {b["urn"] for b in buckets} <= {r["urn"] for r in blocked}
    assert all(r["protection"] == "kept" and r["acknowledgement"] for r in blocked)


def test_environments_added_and_removed_in_the_working_tree(repo):
    added = repo / "environments" / "pr2.yaml"
    added.write_text((FIXTURES / "diff" / "pr-head.yaml").read_text().replace("name: pr\n", "name: pr2\n"))
    result, report = diff(repo, "pr2", "--base", "HEAD")
    assert result.returncode == 0
    assert report["changes"] and {c["op"] for c in report["changes"]} == {"create"}

    (repo / "environments" / "pr.yaml").unlink()
    result, report = diff(repo, "pr", "--base", "HEAD")
    assert result.returncode == 4
    assert {c["op"] for c in report["changes"]} == {"delete"}
    assert "pr-cluster-eks" in {r["name"] for r in report["dataLoss"]["risks"]}


def test_bad_revisions_and_missing_repositories_are_reported(repo, tmp_path):
    env = {"PYTHONPATH": str(repo), "PYTHONDONTWRITEBYTECODE": "1"}
    unknown = run_cli("diff", "pr", "--base", "no-such-branch", cwd=repo, env=env)
    assert unknown.returncode == 2 and "unknown git revision 'no-such-branch'" in unknown.stderr
    nowhere = run_cli("diff", "nowhere", "--base", "HEAD", cwd=repo, env=env)
    assert nowhere.returncode == 2 and "no environment 'nowhere'" in nowhere.stderr
    shutil.rmtree(repo / ".git")
    outside = run_cli("diff", "pr", cwd=repo, env=env)
    assert outside.returncode == 2 and "not inside a git repository" in outside.stderr
    assert os.listdir(tmp_path) == ["repo"]


def test_the_base_worktree_is_removed_even_when_planning_fails(repo):
    from stacks import git_base

    before = snapshot(repo)
    with pytest.raises(RuntimeError):
        with git_base.checkout(repo, git(repo, "rev-parse", "main").strip()) as worktree:
            assert (worktree / "environments" / "pr.yaml").read_text() == (FIXTURES / "diff" / "pr-base.yaml").read_text()
            raise RuntimeError("the base plan failed")
    assert not worktree.exists()
    assert snapshot(repo) == before
