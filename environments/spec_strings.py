"""Every string of a spec, checked for what would turn it into a weapon downstream.

Specs come from pull requests. A string reaches Kubernetes manifests,
Prometheus and Alertmanager configuration (Go templates), CI logs, pull-request
comments and reports, so none may carry:

- control characters (ANSI escapes, NUL, bidirectional overrides; a newline or
  tab is text layout and stays allowed): they rewrite terminals, forge CI log
  lines and make XML malformed;
- template syntax (`{{`, `{%`): Prometheus and Alertmanager expand `{{` in
  annotations, labels and receivers, so one such string breaks every rule;
- credentials in a URL (`https://user:password@host`): specs are committed, and
  URLs land in plain ConfigMaps.

The located document is walked, so each problem has its file and line.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from environments.errors import PathPart, SpecProblem

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_TEMPLATE = re.compile(r"\{\{|\}\}|\{%|%\}")
_URL_USERINFO = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^/\s@?#]*@")


def string_problem(text: str) -> str | None:
    """Why a spec string may not be used as it is; None when it may."""
    control = _CONTROL.search(text)
    if control:
        return f"control character U+{ord(control.group()):04X} is not allowed in a spec"
    template = _TEMPLATE.search(text)
    if template:
        return (f"template syntax {template.group()!r} is not allowed: Prometheus and Alertmanager would "
                "expand it as a Go template")
    if _URL_USERINFO.search(text):
        return "credentials in a URL are not allowed (user:password@); use a secret reference"
    return None


def problems(document: Any, path: tuple[PathPart, ...] = ()) -> Iterator[SpecProblem]:
    """A SpecProblem for every key or string value in `document` that `string_problem` refuses."""
    locations = getattr(document, "locations", {})
    if isinstance(document, dict):
        for key, value in document.items():
            where = locations.get(key)
            found = string_problem(str(key))
            if found:
                yield SpecProblem(where, path + (key,), f"key: {found}")
            yield from problems(value, path + (key,))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from problems(value, path + (index,))
    elif isinstance(document, str):
        found = string_problem(document)
        if found:
            yield SpecProblem(None, path, found)
