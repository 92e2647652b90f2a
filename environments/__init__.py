"""Versioned environment specs, their JSON Schema, the loader and the spec's value types.

The bottom layer (docs/architecture.md, "Layers"): it imports no other package
of this repository and no Pulumi, so every layer above can use it.
"""

__version__ = "0.1.0"  # Stackyard's version: in every plan, report and `stackyard --version`
