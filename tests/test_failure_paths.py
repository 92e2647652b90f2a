"""Failure paths: a full disk, an output path that cannot be written, and Ctrl-C during `plan` and `lock`.

Every case ends with one line on stderr and a documented exit code; the
previous outputs survive byte for byte and no temporary file is left behind.
"""

from __future__ import annotations

import contextlib
import errno
import http.server
import io
import os
import shutil
import signal
import socketserver
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import REPO, lock_beside
from stacks.cli import main


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (hidden ones too: a left-over temporary file shows up here)."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture(scope="module")
def previous_plan(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("previous") / "out"
    code, _, stderr = run("plan", "local", "--out", str(out))
    assert code == 0, stderr
    return out


def test_full_disk_keeps_the_previous_plan(previous_plan, tmp_path, monkeypatch):
    out = tmp_path / "out"
    shutil.copytree(previous_plan, out)
    before = snapshot(out)

    def disk_full(descriptor):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    code, _, stderr = run("plan", "dev", "--out", str(out))
    assert code == 2
    assert "No space left on device" in one_line(stderr) and "plan.json" in stderr
    assert snapshot(out) == before


def test_full_disk_while_writing_manifests_keeps_the_previous_plan(previous_plan, tmp_path, monkeypatch):
    out = tmp_path / "out"
    shutil.copytree(previous_plan, out)
    before = snapshot(out)
    real_write_text = Path.write_text

    def disk_full(self, *args, **kwargs):
        if "manifests" in str(self):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", disk_full)
    code, _, stderr = run("plan", "dev", "--out", str(out))
    assert code == 2 and "No space left on device" in one_line(stderr)
    assert snapshot(out) == before


# Each command that writes a file, with the output path put under a regular file (root ignores
# permission bits, so "not a directory" is the unwritable location every user gets).
WRITERS = {
    "plan": lambda target: ["plan", "local", "--out", str(target)],
    "audit": lambda target: ["audit", "local", "--format", "sarif", "--output", str(target / "audit.sarif")],
    "policy-config": lambda target: ["policy-config", "local", "--output", str(target / "pack.json")],
    "report-preview": lambda target: ["report-preview", str(REPO / "tests" / "fixtures" / "change_report"
                                                            / "preview.json"),
                                      "--allow-data-loss", "*", "--reason", "a test of unwritable output",
                                      "--markdown", str(target / "report.md")],
    "ci": lambda target: ["ci", "init", "github", "--dir", str(target)],
}


@pytest.mark.parametrize("command", sorted(WRITERS))
def test_unwritable_output_is_one_line_and_exit_2(command, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    argv = WRITERS[command](blocker / "sub")
    code, _, stderr = run(*argv)
    assert code == 2, stderr
    assert "a-file" in one_line(stderr) or "not a directory" in stderr
    assert snapshot(tmp_path) == {"a-file": b"not a directory\n"}


# --- Ctrl-C -----------------------------------------------------------------

# Runs `stackyard plan` with every mocked resource registration slowed down, and says when the
# Pulumi mock runtime has started: the interrupt then lands inside its event loop.
SLOW_PLAN = """
import sys, time
from stacks import offline
make_mocks = offline._make_mocks
def slow_mocks():
    mocks = make_mocks()
    new_resource = mocks.new_resource
    def slowly(args):
        if not getattr(slowly, "announced", False):
            slowly.announced = True
            print("REGISTERING", file=sys.stderr, flush=True)
        time.sleep(0.05)
        return new_resource(args)
    mocks.new_resource = slowly
    return mocks
offline._make_mocks = slow_mocks
from stacks.cli import main
sys.exit(main(sys.argv[1:]))
"""


def interrupt_when(argv: list[str], marker_seen, cwd: Path = REPO, env: dict | None = None):
    """Start a CLI process, send SIGINT once `marker_seen(stderr line)`; (exit code, stderr after it)."""
    environ = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    process = subprocess.Popen(argv, cwd=cwd, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        for line in process.stderr:
            if marker_seen(line):
                break
        else:
            pytest.fail(f"the marker never came; exit {process.wait()}")
        process.send_signal(signal.SIGINT)
        rest = process.stderr.read()
        return process.wait(timeout=120), rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_interrupted_plan_keeps_the_previous_plan(previous_plan, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(previous_plan, out)
    before = snapshot(out)
    code, stderr = interrupt_when([sys.executable, "-c", SLOW_PLAN, "plan", "dev", "--out", str(out)],
                                  lambda line: "REGISTERING" in line)
    assert code == 130
    assert one_line(stderr) == "stackyard: interrupted"
    assert snapshot(out) == before


class _SilentRegistry(http.server.BaseHTTPRequestHandler):
    """A registry that takes the request and never answers (until the test ends)."""

    received = threading.Event()
    release = threading.Event()

    def do_GET(self):  # noqa: N802 - the http.server hook
        self.received.set()
        self.release.wait(60)

    def log_message(self, *args):
        pass


def test_interrupted_lock_keeps_the_previous_lock(tmp_path):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SilentRegistry)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        text = (REPO / "environments" / "prod.yaml").read_text()
        environments = tmp_path / "environments"
        environments.mkdir()
        for name in ("base.yaml",):
            shutil.copy(REPO / "environments" / name, environments / name)
        spec = environments / "prod.yaml"
        spec.write_text(text.replace("https://mlflow.example.com", f"http://127.0.0.1:{server.server_address[1]}"))
        lock_beside(spec, "prod")
        before = snapshot(environments)
        assert "prod.lock.yaml" in before

        watcher_line = "stackyard-test: waiting\n"
        code, stderr = interrupt_when(
            [sys.executable, "-c", "import sys, threading, time\n"
                                   "from stacks.cli import main\n"
                                   f"print({watcher_line!r}, end='', file=sys.stderr, flush=True)\n"
                                   "sys.exit(main(sys.argv[1:]))", "lock", str(spec)],
            lambda line: _SilentRegistry.received.wait(120),
            env={"MLFLOW_TRACKING_TOKEN": "sy-test-token"})
        assert _SilentRegistry.received.is_set()
        assert code == 130
        assert one_line(stderr) == "stackyard: interrupted"
        assert snapshot(environments) == before
    finally:
        _SilentRegistry.release.set()
        server.shutdown()
        server.server_close()
