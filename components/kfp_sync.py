"""The program the registration Jobs run inside the cluster: make KFP match what git says.

Standard library only: the Jobs run it with a plain pinned Python image, from
a ConfigMap that holds this file's source. It talks to the KFP API server's
v2beta1 REST API and is idempotent, so a Job that is retried or re-created
changes nothing that is already right.

    kfp_sync.py register --pipeline NAME --version SHA256 --ir FILE
        Ensure the pipeline NAME exists and has a version named SHA256 with
        that IR. A new version is uploaded into the existing pipeline; an
        existing version is left alone.

    kfp_sync.py recurring-runs --environment ENV --runs DIR
        Make the recurring runs Stackyard manages for ENV equal to the JSON
        files in DIR (one per schedule). A run is Stackyard's when its
        description starts with "managed-by stackyard ENV". A run whose
        definition changed is deleted and created again (the API has no
        update); a run no longer in DIR is deleted; runs made by people are
        never touched.

KFP_API_URL (default http://ml-pipeline:8888) says where the API server is.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Iterator, Optional

API = "/apis/v2beta1"
MARKER = "managed-by stackyard"


class KfpApiError(Exception):
    pass


class KfpApi:
    def __init__(self, base_url: str, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def call(self, method: str, path: str, query: Optional[dict] = None, body: Any = None,
             upload: Optional[tuple[str, bytes]] = None) -> dict:
        url = f"{self.base_url}{API}{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = {"Accept": "application/json"}
        data = None
        if upload is not None:
            boundary = uuid.uuid4().hex
            filename, content = upload
            data = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"uploadfile\"; "
                    f"filename=\"{filename}\"\r\nContent-Type: application/x-yaml\r\n\r\n").encode() \
                + content + f"\r\n--{boundary}--\r\n".encode()
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read().decode() or "{}"
        except urllib.error.HTTPError as error:
            raise KfpApiError(f"{method} {path}: HTTP {error.code}: {error.read().decode(errors='replace')[:500]}")
        return json.loads(text)

    def wait_ready(self, deadline_seconds: float) -> None:
        """The API server comes up after MySQL and MLMD; wait for it rather than fail the Job."""
        deadline = time.monotonic() + deadline_seconds
        while True:
            try:
                self.call("GET", "/healthz")
                return
            except (OSError, KfpApiError) as error:
                if time.monotonic() > deadline:
                    raise KfpApiError(f"KFP API at {self.base_url} not ready: {error}")
                time.sleep(5)

    def pages(self, path: str, *items: str) -> Iterator[dict]:
        """Every item of a list endpoint; `items` are the names the list may have (spellings vary by call)."""
        token = ""
        while True:
            page = self.call("GET", path, {"page_size": 100, **({"page_token": token} if token else {})})
            yield from next((page[key] for key in items if page.get(key)), [])
            token = page.get("next_page_token") or ""
            if not token:
                return


def _named(item: dict, name: str) -> bool:
    return name in (item.get("display_name"), item.get("name"))


def find_pipeline(api: KfpApi, name: str) -> Optional[dict]:
    return next((p for p in api.pages("/pipelines", "pipelines") if _named(p, name)), None)


def find_version(api: KfpApi, pipeline_id: str, version: str) -> Optional[dict]:
    return next((v for v in api.pages(f"/pipelines/{pipeline_id}/versions", "pipeline_versions")
                 if _named(v, version)), None)


def register(api: KfpApi, pipeline: str, version: str, ir: bytes, description: str = "") -> tuple[str, str, bool]:
    """Ensure `pipeline` has `version`; returns (pipeline id, version id, whether anything was created)."""
    created = False
    found = find_pipeline(api, pipeline)
    if found is None:
        found = api.call("POST", "/pipelines", body={"name": pipeline, "display_name": pipeline,
                                                      "description": description})
        created = True
    pipeline_id = found["pipeline_id"]
    existing = find_version(api, pipeline_id, version)
    if existing is not None:
        return pipeline_id, existing["pipeline_version_id"], created
    uploaded = api.call("POST", "/pipelines/upload_version",
                        query={"pipelineid": pipeline_id, "name": version, "display_name": version,
                               "description": f"{MARKER}: sha256 of the compiled IR"},
                        upload=(f"{pipeline}-{version[:10]}.yaml", ir))
    return pipeline_id, uploaded["pipeline_version_id"], True


def run_digest(definition: dict) -> str:
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:16]


def description_of(environment: str, definition: dict) -> str:
    key = f"{definition['pipeline']}/{definition['schedule']}"
    return f"{MARKER} {environment} {key} {run_digest(definition)}"


def kfp_cron(cron: str) -> str:
    """KFP's scheduler takes six fields, seconds first; the spec has the classic five."""
    return f"0 {cron}"


def sync_recurring_runs(api: KfpApi, environment: str, desired: list[dict]) -> dict[str, list[str]]:
    """Make the managed recurring runs equal to `desired`; returns what was created, kept and deleted."""
    wanted = {description_of(environment, d): d for d in desired}
    prefix = f"{MARKER} {environment} "
    report: dict[str, list[str]] = {"created": [], "kept": [], "deleted": []}
    existing = list(api.pages("/recurringruns", "recurringRuns", "recurring_runs"))  # before deleting any
    for run in existing:
        description = run.get("description") or ""
        if not description.startswith(prefix):
            continue
        if description in wanted:
            wanted.pop(description)
            report["kept"].append(run["display_name"])
        else:
            api.call("DELETE", f"/recurringruns/{run['recurring_run_id']}")
            report["deleted"].append(run["display_name"])
    for description, definition in sorted(wanted.items()):
        pipeline = find_pipeline(api, definition["pipeline"])
        version = pipeline and find_version(api, pipeline["pipeline_id"], definition["version"])
        if not version:
            raise KfpApiError(f"pipeline {definition['pipeline']} has no version {definition['version']}; "
                              "its registration Job has not run")
        display_name = f"{definition['pipeline']}-{definition['schedule']}"
        api.call("POST", "/recurringruns", body={
            "display_name": display_name,
            "description": description,
            "pipeline_version_reference": {"pipeline_id": pipeline["pipeline_id"],
                                           "pipeline_version_id": version["pipeline_version_id"]},
            "runtime_config": {"parameters": definition["parameters"]},
            "trigger": {"cron_schedule": {"cron": kfp_cron(definition["cron"])}},
            "mode": "ENABLE" if definition["enabled"] else "DISABLE",
            "max_concurrency": "1",
            "no_catchup": True,
        })
        report["created"].append(display_name)
    return report


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Register pipeline versions and recurring runs in KFP.")
    parser.add_argument("--api", default=os.environ.get("KFP_API_URL", "http://ml-pipeline:8888"))
    parser.add_argument("--wait", type=float, default=600, help="seconds to wait for the API server")
    commands = parser.add_subparsers(dest="command", required=True)
    reg = commands.add_parser("register")
    reg.add_argument("--pipeline", required=True)
    reg.add_argument("--version", required=True)
    reg.add_argument("--ir", type=Path, required=True)
    reg.add_argument("--description", default="")
    runs = commands.add_parser("recurring-runs")
    runs.add_argument("--environment", required=True)
    runs.add_argument("--runs", type=Path, required=True, help="folder of recurring run definitions (*.json)")
    args = parser.parse_args(argv)

    api = KfpApi(args.api)
    try:
        api.wait_ready(args.wait)
        if args.command == "register":
            pipeline_id, version_id, created = register(api, args.pipeline, args.version, args.ir.read_bytes(),
                                                        args.description)
            print(f"pipeline {args.pipeline} ({pipeline_id}) version {args.version} ({version_id}): "
                  f"{'registered' if created else 'already registered'}")
        else:
            desired = [json.loads(path.read_text()) for path in sorted(args.runs.glob("*.json"))]
            report = sync_recurring_runs(api, args.environment, desired)
            print(json.dumps(report, sort_keys=True))
    except KfpApiError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
