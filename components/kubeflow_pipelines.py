"""Kubeflow Pipelines: the installation, its artifact store, and the pipelines registered in it.

Installation. Standalone KFP at `versions.kubeflowPipelines` in
`kubeflow.namespace`, as Kubernetes objects this module creates one by one
(built as plain manifests in components/kfp_install.py). Not the upstream
kustomize tree: it cannot be fetched here, and `kustomize.Directory` would
hide the objects behind an invoke the offline plan cannot expand. Not a Helm
release: upstream publishes no KFP chart, and pinning a third-party chart
would put code nobody here reviewed between the spec and the cluster. As
objects, every Deployment, Role and ConfigMap is in the plan and in
manifests/, where the policies and a reviewer can read it.

Artifact store. In AWS, a dedicated S3 bucket (`kubeflow.artifactBucket`):
SSE-KMS with a rotating customer key, versioning, all four public-access
blocks, TLS-only, owner-enforced ACLs. The pods that read or write artifacts
(API server, UI, pipeline steps) reach it with an IAM role for service
accounts (`irsa_role`, trusting the cluster's OIDC
provider). For `cloud.provider: none`, SeaweedFS in the cluster with a PVC.

Registration and schedules. A Kubernetes Job per (pipeline, version) calls
the KFP API from inside the cluster; one more Job keeps the recurring runs
equal to the spec's schedules (components/kfp_registration.py, running
components/kfp_sync.py). Chosen over a Pulumi dynamic provider because:
the API server is a ClusterIP service that only the cluster can reach (a
dynamic provider runs where `pulumi up` runs, usually CI, and would need a
port-forward or a public endpoint); a dynamic provider registers a pickled
provider blob that the offline plan cannot show or review, while Jobs and
ConfigMaps are ordinary manifests carrying the compiled IR and the run
parameters; and the Jobs' names are content hashes, so an unchanged pipeline
maps to an unchanged Job and Pulumi does nothing, while the program they run
checks KFP first, so a retried Job registers nothing twice. A new IR is a
new version in the existing pipeline, never a new pipeline. KFP keeps old
versions (and the runs made with them); a recurring run that leaves the spec
is deleted by the sync Job.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import kfp_install, kfp_registration, kfp_sync
from components.irsa import irsa_role
from components.kms import kms_key
from components.kube import namespace
from components.ownership import Ownership
from components.secure_bucket import secure_bucket
from environments import spec as env
from environments.compiled_pipeline import CompiledPipeline
from environments.spec import snake_case

# The service accounts whose pods touch artifacts, and so may assume the IRSA role.
ARTIFACT_SERVICE_ACCOUNTS = ("ml-pipeline", "ml-pipeline-ui", kfp_install.PIPELINE_RUNNER)


@dataclass(frozen=True)
class KubeflowPipelinesArgs:
    kubeflow: env.KubeflowPipelines
    pipelines: tuple[env.Pipeline, ...]
    versions: env.Versions
    ownership: Ownership
    cloud: env.Cloud = field(default_factory=lambda: env.Cloud(provider="none"))
    compiled: tuple[CompiledPipeline, ...] = ()  # pipelines/compile.py output, one per spec pipeline
    platform_env: Mapping[str, str] = field(default_factory=dict)  # endpoints pipeline steps get
    # From components/cluster.Cluster in AWS: the IAM OIDC provider of the EKS cluster.
    oidc_provider_arn: Optional[pulumi.Input[str]] = None
    oidc_issuer: Optional[pulumi.Input[str]] = None


# --- pure builders ---------------------------------------------------------------

def artifact_access_policy(bucket_arn: str, key_arn: str) -> str:
    """Read, write and list the artifact bucket, and use its KMS key; nothing else."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ListBucket", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
             "Resource": bucket_arn},
            {"Sid": "ReadWriteArtifacts", "Effect": "Allow",
             "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], "Resource": f"{bucket_arn}/*"},
            {"Sid": "UseBucketKey", "Effect": "Allow",
             "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], "Resource": key_arn},
        ],
    }, sort_keys=True)


def recurring_runs(pipelines: Sequence[env.Pipeline], compiled: Sequence[CompiledPipeline]) -> list[dict]:
    """One recurring-run definition per schedule, pointing at the pipeline's compiled version."""
    versions = {c.name: c.version for c in compiled}
    return [kfp_registration.recurring_run(p.name, s.name, versions[p.name], s.cron, s.parameters, s.enabled)
            for p in pipelines for s in p.schedules]


# Kubernetes kinds the builders produce -> the typed resource class creating them.
_KINDS = {
    "CustomResourceDefinition": k8s.apiextensions.v1.CustomResourceDefinition,
    "ServiceAccount": k8s.core.v1.ServiceAccount,
    "ConfigMap": k8s.core.v1.ConfigMap,
    "Secret": k8s.core.v1.Secret,
    "Service": k8s.core.v1.Service,
    "Role": k8s.rbac.v1.Role,
    "RoleBinding": k8s.rbac.v1.RoleBinding,
    "Deployment": k8s.apps.v1.Deployment,
    "StatefulSet": k8s.apps.v1.StatefulSet,
    "NetworkPolicy": k8s.networking.v1.NetworkPolicy,
    "Job": k8s.batch.v1.Job,
}


class KubeflowPipelines(pulumi.ComponentResource):
    def __init__(self, name: str, args: KubeflowPipelinesArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("stackyard:pipelines:KubeflowPipelines", name, None, opts)
        self._name = name
        kubeflow = args.kubeflow
        labels = args.ownership.labels("pipelines")
        self.namespace = namespace(f"{name}-ns", kubeflow.namespace, labels, pulumi.ResourceOptions(parent=self))
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])

        if args.cloud.provider == "aws":
            store = self._s3_store(name, args)
        else:
            store = kfp_install.ArtifactStore(bucket=kfp_install.LOCAL_BUCKET, in_cluster=True)
        install = kfp_install.KfpInstall(
            namespace=kubeflow.namespace, release=kfp_install.release(args.versions.kubeflow_pipelines),
            store=store, labels=labels, platform_env=args.platform_env)
        installed = [self._apply(manifest, in_namespace)
                     for manifest in kfp_install.install_manifests(install, secret_value=pulumi.Output.secret)]
        api_url = kfp_install.api_url(kubeflow.namespace)
        self.registrations = self._register(args, labels, api_url, installed, in_namespace)
        self.register_outputs({
            "namespace": kubeflow.namespace,
            "apiUrl": api_url,
            "pipelineVersions": {c.name: c.version for c in args.compiled},
        })

    def _apply(self, manifest: dict, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
        """Create the typed resource for one manifest; its resource name is kind and object name."""
        kind = manifest["kind"]
        fields = {snake_case(k): v for k, v in manifest.items() if k not in ("apiVersion", "kind")}
        return _KINDS[kind](f"{self._name}-{kind.lower()}-{manifest['metadata']['name']}", opts=opts, **fields)

    def _s3_store(self, name: str, args: KubeflowPipelinesArgs) -> kfp_install.ArtifactStore:
        if args.oidc_provider_arn is None or args.oidc_issuer is None:
            raise ValueError("Kubeflow Pipelines on AWS needs the cluster's OIDC provider (oidc_provider_arn, "
                             "oidc_issuer) to give its pods access to the artifact bucket")
        child = pulumi.ResourceOptions(parent=self)
        tags = args.ownership.tags({"stackyard.dev/component": "pipelines"})
        protect = args.ownership.protects_state  # the key with the bucket: without it the artifacts are unreadable
        key = kms_key(f"{name}-artifacts-key", f"Kubeflow Pipelines artifacts ({args.ownership.environment})", tags,
                      parent=self, protect=protect, alias=f"alias/stackyard-{args.ownership.environment}-kfp-artifacts")
        bucket = secure_bucket(f"{name}-artifacts", args.kubeflow.artifact_bucket, key.arn, tags, parent=self,
                               protect=protect)
        role = irsa_role(f"{name}-artifacts-irsa", args.oidc_provider_arn, args.oidc_issuer, args.kubeflow.namespace,
                         ARTIFACT_SERVICE_ACCOUNTS, child,
                         description="Kubeflow Pipelines pods: read and write the artifact bucket", tags=tags)
        aws.iam.RolePolicy(f"{name}-artifacts-access", role=role.id,
                           policy=pulumi.Output.all(bucket.arn, key.arn).apply(
                               lambda parts: artifact_access_policy(parts[0], parts[1])), opts=child)
        self.artifact_bucket = bucket
        return kfp_install.ArtifactStore(bucket=args.kubeflow.artifact_bucket, in_cluster=False,
                                         region=args.cloud.region, role_arn=role.arn)

    def _register(self, args: KubeflowPipelinesArgs, labels: Mapping[str, str], api_url: str,
                  installed: list[pulumi.Resource], opts: pulumi.ResourceOptions) -> list[pulumi.Resource]:
        kubeflow_ns = args.kubeflow.namespace
        after_install = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=installed))
        self._apply({"apiVersion": "v1", "kind": "ServiceAccount",
                     "metadata": {"name": kfp_registration.SERVICE_ACCOUNT, "namespace": kubeflow_ns,
                                  "labels": dict(labels)}, "automountServiceAccountToken": False}, opts)
        script_manifest = kfp_registration.script_configmap(kubeflow_ns, labels, inspect.getsource(kfp_sync))
        script = self._apply(script_manifest, opts)
        context = kfp_registration.RegistrationContext(
            namespace=kubeflow_ns, environment=args.ownership.environment, labels=labels, api_url=api_url,
            script_configmap=script_manifest["metadata"]["name"])
        jobs: list[pulumi.Resource] = []
        for compiled in args.compiled:
            ir_manifest = kfp_registration.pipeline_configmap(context, compiled.name, compiled.version,
                                                              compiled.ir_yaml, compiled.source, compiled.function)
            ir = self._apply(ir_manifest, opts)
            job_manifest = kfp_registration.registration_job(context, compiled.name, compiled.version,
                                                             ir_manifest["metadata"]["name"])
            jobs.append(self._apply(job_manifest, pulumi.ResourceOptions.merge(
                after_install, pulumi.ResourceOptions(depends_on=[ir, script]))))

        definitions = recurring_runs(args.pipelines, args.compiled)
        run_manifests = [kfp_registration.recurring_run_configmap(context, d) for d in definitions]
        run_configmaps = [self._apply(manifest, opts) for manifest in run_manifests]
        sync = kfp_registration.recurring_runs_job(context, definitions,
                                                   [m["metadata"]["name"] for m in run_manifests])
        jobs.append(self._apply(sync, pulumi.ResourceOptions.merge(after_install, pulumi.ResourceOptions(
            depends_on=[script, *jobs, *run_configmaps]))))
        return jobs
