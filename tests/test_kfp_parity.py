"""Stackyard's KFP install against upstream's platform-agnostic install of the pinned release.

Every CRD (with its names, scope, versions and subresources), every workload (at upstream's
images) and every Role rule upstream has must be in each shipped environment's plan, unless `kfp_install.UPSTREAM_OMISSIONS`
lists it with a reason; and every omission must still excuse something upstream has.
"""

from __future__ import annotations

import copy

import pytest

from components import kfp_install
from components.kfp_install import UPSTREAM_OMISSIONS, Omission
from environments import loader
from stacks import plan as offline_plan
from conftest import SHIPPED_ENVIRONMENTS, descendants, plan_for
from upstream_install import covers, crd_identity, folder, grants_by_subject, load_all, workload_names

KFP_COMPONENT = "stackyard:pipelines:KubeflowPipelines"


def upstream(version: str) -> tuple[dict, ...]:
    here = folder("kubeflow/pipelines", version)
    return load_all(here / "platform-agnostic.yaml") + load_all(here / "cluster-scoped.yaml")


def installed(environment: str) -> list[dict]:
    return [offline_plan.manifest(r) for r in descendants(plan_for(environment), KFP_COMPONENT)
            if offline_plan.is_manifest(r)]


def _excused(kind: str, name: str, group: str = "", resource: str = "", verb: str = "") -> bool:
    for omission in UPSTREAM_OMISSIONS:
        if (omission.kind, omission.name) != (kind, name):
            continue
        if kind != "Rule" or not omission.resources:
            return True
        if (omission.api_group == group and resource in omission.resources
                and ("*" in omission.verbs or verb in omission.verbs)):
            return True
    return False


def _canonical(image: str) -> str:
    """`mysql:8.4` -> `docker.io/library/mysql:8.4`: Docker Hub's short names, spelled out."""
    first = image.split("/", 1)[0]
    if "/" not in image:
        return f"docker.io/library/{image}"
    return image if "." in first or ":" in first else f"docker.io/{image}"


def images(objects) -> dict[str, list[str]]:
    """Workload name -> the images of its (non-init) containers."""
    return {obj["metadata"]["name"]: sorted(_canonical(c["image"]) for c in obj["spec"]["template"]["spec"]["containers"])
            for obj in objects if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet")}


def parity_gaps(theirs: tuple[dict, ...], ours: list[dict]) -> list[str]:
    """Everything upstream installs that `ours` lacks and no omission excuses, one line each."""
    gaps = []
    our_crds = {obj["metadata"]["name"]: crd_identity(obj) for obj in ours if obj["kind"] == "CustomResourceDefinition"}
    for crd in (obj for obj in theirs if obj["kind"] == "CustomResourceDefinition"):
        name = crd["metadata"]["name"]
        if _excused("CustomResourceDefinition", name):
            continue
        if name not in our_crds:
            gaps.append(f"CRD {name} is not installed")
        elif our_crds[name] != crd_identity(crd):
            gaps.append(f"CRD {name} differs: upstream {crd_identity(crd)}, Stackyard {our_crds[name]}")
    our_workloads = workload_names(ours)
    for name in sorted(workload_names(theirs) - our_workloads):
        if not _excused("Deployment", name):
            gaps.append(f"workload {name} is not installed")
    our_images, their_images = images(ours), images(theirs)
    for name in sorted(set(our_images) & set(their_images)):
        if our_images[name] != their_images[name]:
            gaps.append(f"workload {name} runs {our_images[name]}, upstream {their_images[name]}")
    our_grants = grants_by_subject(ours)
    for subject, grants in sorted(grants_by_subject(theirs).items()):
        held = our_grants.get(subject, set())
        for group, resource, verb, resource_name in sorted(grants, key=str):
            if covers(held, (group, resource, verb, resource_name)):
                continue
            if not _excused("Rule", subject, group, resource, verb):
                gaps.append(f"{subject} may not {verb} {group or 'core'}/{resource}"
                            + (f" {resource_name}" if resource_name else ""))
    return gaps


KFP_ENVIRONMENTS = [env for env in SHIPPED_ENVIRONMENTS if loader.load(env).versions.kubeflow_pipelines]


@pytest.mark.parametrize("environment", KFP_ENVIRONMENTS)
def test_the_plan_installs_everything_upstream_kfp_installs(environment):
    version = loader.load(environment).versions.kubeflow_pipelines
    assert parity_gaps(upstream(version), installed(environment)) == []


def test_a_missing_upstream_rule_a_missing_crd_a_status_subresource_and_an_old_image_are_found():
    """The bugs this test exists for: the Argo Role without workflowtemplates (the controller then
    never starts a worker), a missing CRD, a status subresource Argo's controller does not use, and
    an Argo older than the release's."""
    ours = copy.deepcopy(installed("dev"))
    (argo_role,) = [obj for obj in ours if obj["kind"] == "Role" and obj["metadata"]["name"] == "argo"]
    argo_role["rules"] = [rule for rule in argo_role["rules"] if "workflowtemplates" not in rule["resources"]]
    ours = [obj for obj in ours if obj["metadata"]["name"] != "cronworkflows.argoproj.io"]
    (workflows,) = [obj for obj in ours if obj["metadata"]["name"] == "workflows.argoproj.io"]
    workflows["spec"]["versions"][0]["subresources"] = {"status": {}}
    (controller,) = [obj for obj in ours if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "workflow-controller"]
    controller["spec"]["template"]["spec"]["containers"][0]["image"] = "quay.io/argoproj/workflow-controller:v3.5.14"
    gaps = parity_gaps(upstream(loader.load("dev").versions.kubeflow_pipelines), ours)
    assert ("workload workflow-controller runs ['quay.io/argoproj/workflow-controller:v3.5.14'], "
            "upstream ['quay.io/argoproj/workflow-controller:v4.0.5']") in gaps
    assert "argo may not get argoproj.io/workflowtemplates" in gaps
    assert "argo may not watch argoproj.io/workflowtemplates/finalizers" in gaps
    assert "CRD cronworkflows.argoproj.io is not installed" in gaps
    assert any(gap.startswith("CRD workflows.argoproj.io differs") and "'status subresource': True" in gap
               for gap in gaps)


def test_every_omission_excuses_something_upstream_has():
    version = loader.load("dev").versions.kubeflow_pipelines
    theirs = upstream(version)
    crds = {obj["metadata"]["name"] for obj in theirs if obj["kind"] == "CustomResourceDefinition"}
    grants = grants_by_subject(theirs)

    def used(omission: Omission) -> bool:
        if omission.kind == "CustomResourceDefinition":
            return omission.name in crds
        if omission.kind == "Deployment":
            return omission.name in workload_names(theirs)
        return any(not omission.resources
                   or (group == omission.api_group and resource in omission.resources
                       and ("*" in omission.verbs or verb in omission.verbs))
                   for group, resource, verb, _ in grants.get(omission.name, ()))

    assert [f"{o.kind} {o.name} {o.api_group}/{o.resources}" for o in UPSTREAM_OMISSIONS if not used(o)] == []
    assert all(omission.reason for omission in UPSTREAM_OMISSIONS)


def test_every_release_stackyard_installs_has_its_upstream_install_vendored():
    for version in kfp_install.KFP_RELEASES:
        assert upstream(version), version
