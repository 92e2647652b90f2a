"""From a spec to the rules' facts: the policy section, enforcement levels, the registry lock."""

from __future__ import annotations

import yaml

from environments import loader
from policies.engine import Levels
from policies.environment import context_from_spec, levels_from_spec, lock_path
from policies.rules import RULES_BY_ID
from conftest import run_cli
from policy_variants import write_prod_variant


def test_levels_follow_enforcement_and_overrides(tmp_path):
    dev = loader.load("dev")
    assert {levels_from_spec(dev).of(rule) for rule in RULES_BY_ID.values()} == {"advisory"}
    spec = loader.load(str(write_prod_variant(tmp_path, {"policy": {"rules": {"SY-WKL-013": "disabled"}}})))
    levels = levels_from_spec(spec)
    assert levels.of(RULES_BY_ID["SY-WKL-013"]) == "disabled"
    assert levels.of(RULES_BY_ID["SY-GPU-001"]) == "mandatory"
    assert Levels(default="advisory", overrides={"SY-GPU-001": "mandatory"}).of(RULES_BY_ID["SY-GPU-001"]) == "mandatory"


def test_context_carries_the_environment_facts(tmp_path):
    prod = context_from_spec(loader.load("prod"))
    assert prod.production and prod.max_gpus_per_pod == 8
    assert prod.gpu_pools == ("a10g-inference", "l4-inference", "a100-training")
    assert "nvcr.io/nvidia" in prod.allowed_registries and prod.system_namespaces == ("kube-system",)
    assert not context_from_spec(loader.load("staging")).production
    spec = loader.load(str(write_prod_variant(tmp_path, {"policy": {"production": False}})))
    assert not context_from_spec(spec).production


def test_registry_lock_gives_versions_and_model_cards(tmp_path):
    spec_file = write_prod_variant(tmp_path, {})
    lock_path(spec_file).write_text(yaml.safe_dump({
        "environment": "prod",
        "endpoints": {
            "recsys-ranker": {"model": "recsys-ranker", "version": 7, "source": "s3://models/recsys/7",
                              "run_id": "abc123", "resolved_at": "2025-05-30T10:00:00Z",
                              "tags": {"model_card_url": "https://wiki.example.com/recsys", "owner": "recsys"}},
            "fraud-scorer": {"model": "fraud-xgb", "version": 12, "source": "s3://models/fraud/12", "tags": {}},
        },
    }))
    spec = loader.load(str(spec_file))
    context = context_from_spec(spec, spec_file)
    assert context.lock_file.endswith("prod.lock.yaml")
    ranker = context.models["recsys-ranker"]
    assert (ranker.version, ranker.run_id, ranker.model_card) == (7, "abc123", "https://wiki.example.com/recsys")
    assert context.models["fraud-scorer"].model_card == ""
    assert "image-tagger" not in context.models
    # A list of entries keyed by model name matches the endpoint serving that model and version.
    lock_path(spec_file).write_text(yaml.safe_dump({"models": [
        {"name": "image-tagger", "version": 3, "modelCardUrl": "https://wiki.example.com/tagger"}]}))
    assert context_from_spec(spec, spec_file).models["image-tagger"].model_card == "https://wiki.example.com/tagger"


def test_unknown_rule_ids_are_spec_errors(tmp_path):
    spec_file = write_prod_variant(tmp_path, {"policy": {"rules": {"SY-GPU-010": "advisory"}}})
    done = run_cli("validate", str(spec_file))
    assert done.returncode == 2
    assert "unknown policy rule 'SY-GPU-010'" in done.stderr and "did you mean" in done.stderr
    assert "prod.yaml:" in done.stderr


def test_lock_as_a_list_of_models_matches_endpoints_by_model_version_and_alias(tmp_path):
    """The layout `stackyard lock` writes: models listed by registry name, with version or alias."""
    spec_file = write_prod_variant(tmp_path, {})
    lock_path(spec_file).write_text(yaml.safe_dump({
        "apiVersion": "stackyard.dev/v1", "kind": "RegistryLock", "environment": "prod",
        "models": [
            {"name": "recsys-ranker", "version": 7, "source": "s3://models/14/a", "runId": "r1",
             "tags": {"model_card": "https://cards.example.com/recsys-ranker/v7.md"},
             "resolvedAt": "2026-11-18T09:42:17Z"},
            {"name": "fraud-xgb", "alias": "champion", "version": 12, "source": "s3://models/9/b", "runId": "r2",
             "tags": {"model_card": "https://cards.example.com/fraud-xgb/v12.md"}},
            {"name": "image-tagger", "version": 2, "source": "s3://models/21/old"},
        ]}))
    models = context_from_spec(loader.load(str(spec_file)), spec_file).models
    assert models["fraud-scorer"].version == 12 and models["fraud-scorer"].alias == "champion"
    assert models["recsys-ranker"].model_card.endswith("recsys-ranker/v7.md")
    assert "image-tagger" not in models  # the lock holds version 2; the spec asks for 3
