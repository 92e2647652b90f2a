"""The restricted Pod Security Standard, in Kubernetes wire form: the one definition every pod uses.

Containers: no privilege escalation, every capability dropped, non-root,
RuntimeDefault seccomp, and a read-only root filesystem unless the program must
write beside itself (model servers unpack models, KFP's servers keep caches).
Pods: non-root, RuntimeDefault seccomp, and the user/group/fsGroup their image
runs as. SY-WKL rules check exactly these fields.
"""

from __future__ import annotations

from typing import Optional

RUNTIME_DEFAULT_SECCOMP = {"type": "RuntimeDefault"}


def _with_non_root_and_runtime_default_seccomp(context: dict, run_as_user: Optional[int]) -> dict:
    """context with what pod and container levels share: runAsNonRoot, the runAsUser where the image needs
    one, RuntimeDefault seccomp (added after the level's own fields, so the keys stay in the plans' order)."""
    context["runAsNonRoot"] = True
    if run_as_user is not None:
        context["runAsUser"] = run_as_user
    context["seccompProfile"] = dict(RUNTIME_DEFAULT_SECCOMP)
    return context


def restricted_container_security_context(*, read_only_root_filesystem: bool = True,
                                          run_as_user: Optional[int] = None) -> dict:
    """A container's securityContext under the restricted standard."""
    context: dict = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    if read_only_root_filesystem:
        context["readOnlyRootFilesystem"] = True
    return _with_non_root_and_runtime_default_seccomp(context, run_as_user)


def restricted_pod_security_context(*, run_as_user: Optional[int] = None, run_as_group: Optional[int] = None,
                                    fs_group: Optional[int] = None) -> dict:
    """A pod's securityContext under the restricted standard; ids where the image needs them."""
    context: dict = {}
    if fs_group is not None:
        context["fsGroup"] = fs_group
    if run_as_group is not None:
        context["runAsGroup"] = run_as_group
    return _with_non_root_and_runtime_default_seccomp(context, run_as_user)
