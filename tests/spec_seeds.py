"""The shipped environments as seeds for generated specs: resolved (extends merged), plain, standalone.

Imported by the tests that mutate a shipped spec and write it again (`from spec_seeds import seed`).
"""

from __future__ import annotations

from environments import loader


def plain(value):
    """A located document as plain dicts/lists, for yaml.safe_dump."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def seed(name: str) -> dict:
    """A shipped environment, resolved (extends merged), as a standalone document."""
    document = plain(loader.load_document(name)[0])
    document.pop("extends", None)  # resolved already; the seed stands alone
    return document
