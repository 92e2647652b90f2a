"""Every values key Stackyard sets on a Helm release is one the pinned chart reads.

Helm ignores a key its chart does not know, silently: KServe's chart once got eleven
`servingruntime.<name>.disabled: true` switches it has no such key for, and installed every
runtime. So each key of each release in each shipped plan must be one the pinned chart reads
(its files vendored under tests/upstream/): in its values.yaml, or referenced by its templates
though commented out there (`values-read-by-templates.txt`), or below a default that is no
non-empty map (a list or scalar replaced whole, a free-form map such as podLabels: {}), or below
a map the templates render whole (FREE_FORM). Where the chart ships a values.schema.json the
values must pass it too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Optional

import jsonschema
import pytest

from conftest import SHIPPED_ENVIRONMENTS, plan_for, resources
from upstream_install import folder, load_all

RELEASE = "kubernetes:helm.sh/v3:Release"


# chart name -> (repository, tag of the chart version, chart folder, has values.schema.json).
# A chart Stackyard starts installing must be added here: the test fails on a release it cannot place.
CHARTS: dict[str, tuple[str, str, str, bool]] = {
    "cluster-autoscaler": ("kubernetes/autoscaler", "cluster-autoscaler-chart-{version}", "charts/cluster-autoscaler",
                           False),
    "dcgm-exporter": ("NVIDIA/dcgm-exporter", "{dcgm_tag}", "deployment", False),
    "nvidia-device-plugin": ("NVIDIA/k8s-device-plugin", "v{version}", "deployments/helm/nvidia-device-plugin", False),
    "karpenter": ("aws/karpenter-provider-aws", "v{version}", "charts/karpenter", False),
    "karpenter-crd": ("aws/karpenter-provider-aws", "v{version}", "charts/karpenter-crd", False),
    "prometheus-pushgateway": ("prometheus-community/helm-charts", "prometheus-pushgateway-{version}",
                               "charts/prometheus-pushgateway", False),
    "kube-prometheus-stack": ("prometheus-community/helm-charts", "kube-prometheus-stack-{version}",
                              "charts/kube-prometheus-stack", False),
    "cert-manager": ("cert-manager/cert-manager", "{version}", "deploy/charts/cert-manager", True),
    "kserve-resources": ("kserve/kserve", "{version}", "charts/kserve-resources", False),
    "kserve-crd": ("kserve/kserve", "{version}", "charts/kserve-crd", False),
    "flagger": ("fluxcd/flagger", "v{version}", "charts/flagger", False),  # rollouts (tests/test_rollouts.py)
}
# dcgm-exporter tags name the DCGM version and the chart's: <dcgm>-<chart>.
DCGM_TAGS = {"4.8.2": "4.5.3-4.8.2"}
# Values a chart hands to a dependency: top-level key -> (repository, tag, chart folder); the tag takes the
# versions pinned in the parent's vendored Chart.yaml `dependencies`.
SUBCHARTS: dict[str, dict[str, tuple[str, str, str]]] = {
    "kube-prometheus-stack": {"grafana": ("grafana-community/helm-charts", "grafana-{grafana}", "charts/grafana")},
}
# Maps whose defaults have example keys but whose every key the templates render (chart -> path: where).
FREE_FORM: dict[str, dict[str, str]] = {
    "cluster-autoscaler": {"extraArgs": "templates/deployment.yaml: range $key, $value := .Values.extraArgs"},
    "karpenter": {"nodeSelector": "templates/deployment.yaml: with .Values.nodeSelector, toYaml"},
}


@dataclass(frozen=True)
class Chart:
    name: str
    version: str
    defaults: Any  # values.yaml
    template_reads: frozenset[str]
    free_form: frozenset[str]
    schema: Optional[dict] = None

    def reads(self, path: tuple[str, ...]) -> bool:
        node = self.defaults
        for depth, key in enumerate(path):
            if not isinstance(node, dict) or (not node and depth):
                return True  # replaced whole, or a free-form map
            if key not in node:
                return ".".join(path) in self.template_reads or ".".join(path[:depth]) in self.free_form
            node = node[key]
        return True


def chart_name(release: Mapping[str, Any]) -> str:
    return str(release["chart"]).rstrip("/").rsplit("/", 1)[-1]


def _chart(name: str, version: str, repository: str, tag: str, path: str, has_schema: bool = False) -> Chart:
    here = folder(repository, tag) / path
    (defaults,) = load_all(here / "values.yaml") or ({},)
    reads = [line for line in (here / "values-read-by-templates.txt").read_text().splitlines()
             if line and not line.startswith("#")]
    schema = json.loads((here / "values.schema.json").read_text()) if has_schema else None
    return Chart(name, version, defaults, frozenset(reads), frozenset(FREE_FORM.get(name, {})), schema)


def chart_facts(release: Mapping[str, Any]) -> tuple[Chart, dict[str, Chart]]:
    """The release's chart at its version, and the charts its dependencies' values go to."""
    name, version = chart_name(release), str(release["version"])
    if name not in CHARTS:
        pytest.fail(f"Helm chart {name!r} has no vendored values: add it to CHARTS and tests/upstream/")
    repository, tag, path, has_schema = CHARTS[name]
    tag = tag.format(version=version, dcgm_tag=DCGM_TAGS.get(version, version))
    chart = _chart(name, version, repository, tag, path, has_schema)
    subcharts = {}
    if name in SUBCHARTS:
        (chart_yaml,) = load_all(folder(repository, tag) / path / "Chart.yaml")
        pinned = {dependency["name"]: dependency["version"] for dependency in chart_yaml["dependencies"]}
        for key, (sub_repository, sub_tag, sub_path) in SUBCHARTS[name].items():
            sub_tag = sub_tag.format(**pinned)
            subcharts[key] = _chart(key, sub_tag, sub_repository, sub_tag, sub_path)
    return chart, subcharts


def leaf_paths(values: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for key, value in values.items():
        if isinstance(value, dict) and value:
            yield from leaf_paths(value, prefix + (key,))
        else:
            yield prefix + (key,)


def releases(environment: str) -> list[dict]:
    return [r["inputs"] for r in resources(plan_for(environment), RELEASE)]


def problems(release: Mapping[str, Any]) -> list[str]:
    chart, subcharts = chart_facts(release)
    values = release.get("values") or {}
    found = [f"{chart.name} {chart.version} does not read {'.'.join(path)}" for path in leaf_paths(values)
             if not chart.reads(path) and not (path[0] in subcharts and subcharts[path[0]].reads(path[1:]))]
    if chart.schema is not None:
        found += [f"{chart.name} {chart.version} values.schema.json: {error.message} at "
                  f"{'.'.join(map(str, error.absolute_path))}"
                  for error in jsonschema.Draft7Validator(chart.schema).iter_errors(values)]
    return found


@pytest.mark.parametrize("environment", SHIPPED_ENVIRONMENTS)
def test_every_helm_value_is_one_the_pinned_chart_reads(environment):
    assert [problem for release in releases(environment) for problem in problems(release)] == []


def _release(environment: str, chart: str) -> dict:
    (release,) = [r for r in releases(environment) if chart_name(r) == chart]
    return release


def test_a_misspelled_helm_key_and_the_old_kserve_runtime_switches_are_found():
    kserve = _release("prod", "kserve-resources")
    misspelled = {**kserve, "values": {"kserve": {"controller": {"deploymentMod": "Standard"}}}}
    assert problems(misspelled) == [f"kserve-resources {kserve['version']} does not read kserve.controller.deploymentMod"]
    switches = {**kserve, "values": {"kserve": {"servingruntime": {"sklearnserver": {"disabled": True}}}}}
    assert problems(switches) == [
        f"kserve-resources {kserve['version']} does not read kserve.servingruntime.sklearnserver.disabled"]


def test_subchart_values_are_checked_against_the_subchart():
    stack = _release("prod", "kube-prometheus-stack")
    grafana_own = {**stack, "values": {"grafana": {"admin": {"existingSecret": "s", "passwordKey": "p"}}}}
    assert problems(grafana_own) == []
    typo = {**stack, "values": {"grafana": {"admin": {"existingSecert": "s"}}}}
    assert problems(typo) == [f"kube-prometheus-stack {stack['version']} does not read grafana.admin.existingSecert"]


def test_a_value_the_chart_schema_refuses_is_found():
    cert_manager = _release("prod", "cert-manager")
    wrong_type = {**cert_manager, "values": {"crds": {"enabled": "yes", "keep": True}}}
    assert any("values.schema.json" in problem and "crds.enabled" in problem for problem in problems(wrong_type))
