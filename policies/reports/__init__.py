"""Audit reports: one AuditReport, five renderings (terminal table, JSON, SARIF, JUnit XML, HTML)."""

from __future__ import annotations

import importlib
from typing import Callable

from environments.safe_text import scrub
from policies.audit import AuditReport

# format -> (module under policies.reports, file extension)
FORMATS: dict[str, tuple[str, str]] = {
    "table": ("table", "txt"),
    "json": ("json_report", "json"),
    "sarif": ("sarif", "sarif"),
    "junit": ("junit", "xml"),
    "html": ("html", "html"),
}


def render(report: AuditReport, format: str) -> str:
    module = importlib.import_module(f"policies.reports.{FORMATS[format][0]}")
    renderer: Callable[[AuditReport], str] = module.render
    # Values come from specs, lock files and manifests (untrusted): whatever a format's own escaping
    # lets through, no control character reaches a terminal, an XML parser or a CI log.
    return scrub(renderer(report))
