"""The drift check of one endpoint: live feature rows against a reference, pushed to the Pushgateway.

Reads the newest rows and the reference rows from the payload logger sink,
computes the population stability index (PSI) of every feature (numeric
features binned at the reference's deciles, other values by category) and
pushes, under job="stackyard-drift" and grouping labels endpoint=<name>,
source="payloads" (the drift pipeline pushes its own group beside it):

    stackyard_model_drift_score                 the largest PSI over the features
    stackyard_drift_feature_psi{feature="..."}  each feature's PSI
    stackyard_drift_check_samples{window="live"|"reference"}

The threshold lives in the alert rule, not here: this program measures. With
fewer than --min-rows rows on either side it pushes only the sample counts.
Exit status 1 when the sink or the Pushgateway cannot be reached, so the
CronJob's failure shows in kube-state-metrics. Standard library only.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import sys
import urllib.request
from typing import Any, Iterable, Optional

PUSH_JOB = "stackyard-drift"
PUSH_SOURCE = "payloads"
EPSILON = 1e-4  # floor for empty bins, so one empty bin does not make the PSI infinite


def columns(rows: Iterable[Any]) -> dict[str, list]:
    """Feature values by column: list rows by position ("0", "1", ...), dict rows by key."""
    values: dict[str, list] = {}
    for row in rows:
        items = row.items() if isinstance(row, dict) else enumerate(row if isinstance(row, list) else [row])
        for key, value in items:
            values.setdefault(str(key), []).append(value)
    return values


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _shares(counts: list[int]) -> list[float]:
    total = sum(counts)
    return [max(count / total, EPSILON) for count in counts]


def psi(reference: list, live: list, bins: int = 10) -> float:
    """Population stability index of `live` against `reference` (0: same distribution)."""
    if all(_is_number(v) for v in reference + live):
        ordered = sorted(reference)
        edges = sorted({ordered[min(len(ordered) - 1, (len(ordered) * i) // bins)] for i in range(1, bins)})

        def histogram(values: list) -> list[int]:
            counts = [0] * (len(edges) + 1)
            for value in values:
                counts[bisect.bisect_right(edges, value)] += 1
            return counts
    else:
        categories = sorted({json.dumps(v, sort_keys=True) for v in reference + live})

        def histogram(values: list) -> list[int]:
            index = {category: i for i, category in enumerate(categories)}
            counts = [0] * len(categories)
            for value in values:
                counts[index[json.dumps(value, sort_keys=True)]] += 1
            return counts

    expected, actual = _shares(histogram(reference)), _shares(histogram(live))
    return sum((a - e) * math.log(a / e) for e, a in zip(expected, actual))


def feature_psi(reference_rows: list, live_rows: list, bins: int = 10) -> dict[str, float]:
    reference, live = columns(reference_rows), columns(live_rows)
    return {name: psi(reference[name], live[name], bins) for name in sorted(reference) if live.get(name)}


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def exposition(scores: Optional[dict[str, float]], live: int, reference: int) -> str:
    """The Prometheus text exposition pushed for one check."""
    lines = ["# HELP stackyard_drift_check_samples Rows the last drift check compared, by window.",
             "# TYPE stackyard_drift_check_samples gauge",
             f'stackyard_drift_check_samples{{window="live"}} {live}',
             f'stackyard_drift_check_samples{{window="reference"}} {reference}']
    if scores:
        lines += ["# HELP stackyard_drift_feature_psi Population stability index of one input feature.",
                  "# TYPE stackyard_drift_feature_psi gauge"]
        lines += [f'stackyard_drift_feature_psi{{feature="{_label(name)}"}} {value:.6g}'
                  for name, value in scores.items()]
        lines += ["# HELP stackyard_model_drift_score Largest feature PSI of the endpoint's live inputs.",
                  "# TYPE stackyard_model_drift_score gauge",
                  f"stackyard_model_drift_score {max(scores.values()):.6g}"]
    return "\n".join(lines) + "\n"


def _get_rows(url: str, timeout: float) -> list:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)["rows"]


def push(pushgateway: str, endpoint: str, body: str, timeout: float) -> None:
    """Replace this endpoint's group on the Pushgateway (PUT), so a vanished feature vanishes there too."""
    url = f"{pushgateway.rstrip('/')}/metrics/job/{PUSH_JOB}/endpoint/{endpoint}/source/{PUSH_SOURCE}"
    request = urllib.request.Request(url, data=body.encode(), method="PUT",
                                     headers={"Content-Type": "text/plain; version=0.0.4"})
    with urllib.request.urlopen(request, timeout=timeout):
        pass


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--sink", required=True, help="payload logger sink URL")
    parser.add_argument("--pushgateway", required=True, help="Pushgateway URL")
    parser.add_argument("--window", type=int, default=1000, help="newest rows to compare")
    parser.add_argument("--min-rows", type=int, default=100)
    parser.add_argument("--bins", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=30)
    args = parser.parse_args(argv)
    base = f"{args.sink.rstrip('/')}/v1/endpoints/{args.endpoint}"
    try:
        live = _get_rows(f"{base}/recent?limit={args.window}", args.timeout)
        reference = _get_rows(f"{base}/reference", args.timeout)
    except (OSError, ValueError, KeyError) as error:
        print(f"drift check {args.endpoint}: cannot read rows from {args.sink}: {error}", file=sys.stderr)
        return 1
    enough = len(live) >= args.min_rows and len(reference) >= args.min_rows
    scores = feature_psi(reference, live, args.bins) if enough else None
    try:
        push(args.pushgateway, args.endpoint, exposition(scores, len(live), len(reference)), args.timeout)
    except OSError as error:
        print(f"drift check {args.endpoint}: cannot push to {args.pushgateway}: {error}", file=sys.stderr)
        return 1
    if scores:
        print(f"drift check {args.endpoint}: score {max(scores.values()):.4f} over {len(scores)} features "
              f"({len(live)} live rows, {len(reference)} reference rows)")
    else:
        print(f"drift check {args.endpoint}: not enough rows yet ({len(live)} live, {len(reference)} reference, "
              f"need {args.min_rows}); pushed sample counts only")
    return 0


if __name__ == "__main__":
    sys.exit(main())
