"""The Alertmanager configuration for the receivers the spec names.

Routing follows the rules' severities: `critical` pages (PagerDuty receivers)
and also goes to every chat, email and webhook receiver; `warning` goes to the
chat, email and webhook receivers only; anything else (kube-prometheus-stack's
Watchdog and info alerts) is discarded. A critical alert silences the warnings
about the same endpoint, pool or GPU.

`render` takes the receivers' secret values (webhook URLs, routing keys,
passwords) as plain strings: the Monitoring component calls it inside an
`apply` on secret Outputs, so the result stays a secret Output and the text
only ever lands in a Kubernetes Secret. Pure functions: no Pulumi.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import yaml

from environments.checks import DISCARD_RECEIVER as DISCARD
from environments.spec import Receiver

PAGING_TYPES = ("pagerduty",)


def _receiver(receiver: Receiver, secret: str | None) -> dict:
    if receiver.type == "pagerduty":
        return {"name": receiver.name, "pagerduty_configs": [{
            "routing_key": secret, "send_resolved": True,
            "description": '{{ template "pagerduty.default.description" . }}',
            "links": [{"href": '{{ (index .Alerts 0).Annotations.runbook_url }}', "text": "Runbook"}],
        }]}
    if receiver.type == "slack":
        return {"name": receiver.name, "slack_configs": [{
            "api_url": secret, "send_resolved": True,
            "title": '[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} {{ .CommonLabels.endpoint }}'
                     '{{ .CommonLabels.pool }}',
            "text": "{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\n"
                    "Runbook: {{ .Annotations.runbook_url }}\n{{ end }}",
        }]}
    if receiver.type == "email":
        config = {"to": receiver.to, "from": receiver.sender, "smarthost": receiver.smarthost,
                  "send_resolved": True}
        if secret is not None:
            config.update({"auth_username": receiver.sender, "auth_password": secret})
        return {"name": receiver.name, "email_configs": [config]}
    if receiver.type == "webhook":
        return {"name": receiver.name, "webhook_configs": [{"url": secret, "send_resolved": True}]}
    raise ValueError(f"unknown receiver type {receiver.type!r}")


# Drift alerts also go to the retraining receiver (drift_runtime/retrain_receiver.py), which starts
# one Kubeflow Pipelines run per alert episode; `continue` lets them reach the people as well.
RETRAIN_RECEIVER = "stackyard-retrain"


def config(receivers: Sequence[Receiver], secrets: Mapping[str, str], retrain_url: str | None = None) -> dict:
    """The Alertmanager configuration; `secrets` maps receiver name -> its secret value.

    `retrain_url`: where the retraining receiver listens, if any endpoint retrains on drift.
    """
    routes: list[dict] = [{"receiver": DISCARD, "matchers": ['alertname =~ "Watchdog|InfoInhibitor"']}]
    extra_receivers: list[dict] = []
    if retrain_url:
        routes.append({"receiver": RETRAIN_RECEIVER, "matchers": ['alertname = "EndpointDriftAboveThreshold"'],
                       # One notification per episode is what the receiver needs; it ignores the repeats.
                       "group_by": ["alertname", "endpoint"], "continue": True})
        extra_receivers.append({"name": RETRAIN_RECEIVER,
                                "webhook_configs": [{"url": retrain_url, "send_resolved": False}]})
    for receiver in receivers:
        severities = "critical" if receiver.type in PAGING_TYPES else "critical|warning"
        routes.append({"receiver": receiver.name, "matchers": [f'severity =~ "{severities}"'], "continue": True})
    return {
        "route": {
            "receiver": DISCARD,
            "group_by": ["alertname", "namespace", "endpoint", "pool"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": routes,
        },
        "inhibit_rules": [{
            "source_matchers": ['severity = "critical"'],
            "target_matchers": ['severity = "warning"'],
            "equal": ["component", "endpoint", "pool", "node", "gpu"],
        }],
        "receivers": [{"name": DISCARD}] + extra_receivers + [_receiver(r, secrets.get(r.name)) for r in receivers],
    }


def render(receivers: Sequence[Receiver], secrets: Mapping[str, str], retrain_url: str | None = None) -> str:
    return yaml.safe_dump(config(receivers, secrets, retrain_url), sort_keys=False, default_flow_style=False)
