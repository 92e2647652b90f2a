"""The Pulumi program, per-stack config, the offline plan, preview diff and the CLI."""
