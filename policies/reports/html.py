"""The HTML audit report for compliance: one self-contained page rendered with jinja2.

It records the commit and spec digest it is evidence for, every control with
its status and the resources it examined, every finding, the exemptions with
their owners and expiry dates, and a model card summary per served model.
"""

from __future__ import annotations

from pathlib import Path

from environments import urls
from policies.audit import AuditReport
from policies.reports.summary import NOT_EXAMINED, finding_order, status_counts, title, verdict
from environments import __version__

TEMPLATES = Path(__file__).resolve().parent / "templates"


def render(report: AuditReport) -> str:
    import jinja2

    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    # Escaping is not enough for an href: `javascript:` survives it. Only http(s) links are made links.
    environment.tests["web_link"] = lambda value: isinstance(value, str) and urls.url_problem(value) is None
    return environment.get_template("audit.html.j2").render(
        report=report, title=title(report), verdict=verdict(report), counts=status_counts(report),
        findings=sorted(report.evaluation.findings, key=finding_order),
        not_examined=NOT_EXAMINED, version=__version__)
