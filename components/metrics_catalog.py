"""The metrics catalog (metrics_catalog.yaml): which exporter publishes which metric names.

The alert rules and dashboards are generated from it, and tests hold every
generated expression to it. Pure data: no Pulumi.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

CATALOG_FILE = Path(__file__).resolve().with_name("metrics_catalog.yaml")
_SERIES_OF_TYPE = {
    "counter": ("",),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("", "_count", "_sum"),
}


@dataclass(frozen=True)
class FailureCounter:
    """The counter of failed requests, and the label matchers that pick failures out of it."""

    metric: str
    matchers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Latency:
    """Request latency as a histogram (preferred: fractions above a threshold) or a summary."""

    unit_seconds: float
    histogram: Optional[str] = None
    summary: Optional[str] = None
    buckets: tuple[float, ...] = ()


@dataclass(frozen=True)
class RequestSource:
    """Where an endpoint's request SLIs come from: the pod port to scrape and the series to read."""

    name: str
    exporter: str
    port: int
    path: str
    requests: tuple[str, ...]  # counters that together count every request
    failures: Optional[FailureCounter]
    latency: Latency


@dataclass(frozen=True)
class Catalog:
    metrics_by_exporter: Mapping[str, Mapping[str, str]]  # exporter -> metric -> type
    request_sources: Mapping[str, RequestSource]
    runtime_images: Mapping[str, str]
    default_request_source: str

    def series_names(self, exporter: Optional[str] = None) -> frozenset[str]:
        """Every series name the exporter (default: all of them) publishes, histograms expanded."""
        exporters = [exporter] if exporter else list(self.metrics_by_exporter)
        return frozenset(
            f"{metric}{suffix}"
            for name in exporters
            for metric, type_ in self.metrics_by_exporter[name].items()
            for suffix in _SERIES_OF_TYPE[type_])

    def request_source(self, runtime_image: Optional[str], serverless: bool) -> RequestSource:
        """The request source of an endpoint: its queue-proxy when Serverless, else its model server."""
        if serverless:
            return self.request_sources["queue-proxy"]
        return self.request_sources[self.runtime_images.get(image_name(runtime_image or ""),
                                                            self.default_request_source)]


def image_name(image: str) -> str:
    """`nvcr.io/nvidia/tritonserver:25.04-py3` -> `tritonserver` (no registry, path or tag/digest)."""
    last = image.rsplit("/", 1)[-1]
    return last.split("@", 1)[0].split(":", 1)[0]


def _request_source(name: str, raw: Mapping) -> RequestSource:
    failures = raw.get("failures")
    latency = raw["latency"]
    return RequestSource(
        name=name,
        exporter=raw["exporter"],
        port=int(raw["port"]),
        path=raw["path"],
        requests=tuple(raw["requests"]),
        failures=FailureCounter(failures["metric"], dict(failures.get("matchers") or {})) if failures else None,
        latency=Latency(unit_seconds=float(latency["unit_seconds"]), histogram=latency.get("histogram"),
                        summary=latency.get("summary"), buckets=tuple(float(b) for b in latency.get("buckets", ()))),
    )


@functools.lru_cache(maxsize=None)
def load() -> Catalog:
    import yaml

    raw = yaml.safe_load(CATALOG_FILE.read_text())
    return Catalog(
        metrics_by_exporter={name: dict(exporter["metrics"]) for name, exporter in raw["exporters"].items()},
        request_sources={name: _request_source(name, source) for name, source in raw["request_sources"].items()},
        runtime_images=dict(raw["runtime_images"]),
        default_request_source=raw["default_request_source"],
    )
