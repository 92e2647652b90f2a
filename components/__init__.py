"""Pulumi ComponentResources, one capability per module, and the pure builders they use.

A component takes `(name, args, opts)` where `args` is a frozen dataclass
holding its slice of the Spec. It never reads the spec files, the working
directory or environment variables; it may read files shipped inside this
package (templates/, metrics_catalog.yaml, the pod programs kfp_sync.py and
drift_runtime/), which are code (docs/architecture.md, "Where code lives").
"""
