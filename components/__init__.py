"""Pulumi ComponentResources, one capability per module.

A component takes `(name, args, opts)` where `args` is a frozen dataclass
holding its slice of the Spec; it never reads files or environment variables.
"""
