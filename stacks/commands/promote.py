"""`stackyard promote FROM TO [--endpoint NAME ...] [--pipeline NAME ...]`: carry pinned versions forward.

Rewrites TO's spec file (and its registry lock, when it has one) so the named
endpoints and pipelines, or all both environments have, carry FROM's pinned
model versions and pipeline code (environments/promotion.py), as a minimal
diff. In order, it refuses:
  - names FROM or TO does not have (exit 2);
  - when FROM fails its own audit (exit 3): what has not passed there does not move on;
  - a result that is not a valid spec (exit 2), checked before anything is written.
Each file is replaced atomically; the unified diff is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import io
import os
import sys
import tempfile
from pathlib import Path

from stacks.commands.common import load_spec
from environments.safe_text import for_message
from stacks.errors import ExitCode, StackyardError

# The audit promote runs on the source: the `stackyard audit` command module.
AUDIT_COMMAND = "stacks.commands.audit"


def configure(parser) -> None:
    parser.add_argument("source", metavar="FROM", help="the environment whose pins are promoted (name or spec file)")
    parser.add_argument("target", metavar="TO", help="the environment whose spec file is rewritten (name or spec file)")
    parser.add_argument("--endpoint", dest="endpoints", action="append", default=[], metavar="NAME",
                        help="promote this endpoint's model (repeatable)")
    parser.add_argument("--pipeline", dest="pipelines", action="append", default=[], metavar="NAME",
                        help="promote this pipeline's source and function (repeatable)")
    parser.add_argument("--dry-run", action="store_true", help="print the diff, write nothing")


def source_audit(environment: str) -> tuple[int, str]:
    """The seam to the audit: run `stackyard audit ENV` in-process; (exit code, its output).

    Exit 0 means the environment passes its mandatory rules, 3 that it fails
    them (docs/architecture.md, "Exit codes"). Without the audit command there is no proof,
    so promotion stops with an error instead of assuming a pass.
    """
    try:
        audit = importlib.import_module(AUDIT_COMMAND)
    except ModuleNotFoundError as error:
        if error.name != AUDIT_COMMAND:
            raise
        raise StackyardError(f"cannot promote: the audit ({AUDIT_COMMAND}) is not available, and promote does "
                             f"not move anything whose source has not passed its own audit",
                             ExitCode.INTERNAL_ERROR) from None
    parser = argparse.ArgumentParser(prog="stackyard audit")
    audit.configure(parser)
    args = parser.parse_args([environment])
    args.command, args.debug = "audit", False
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = int(audit.run(args))
    return code, output.getvalue()


def _require_audit_pass(environment: str, name: str) -> None:
    code, output = source_audit(environment)
    if code == ExitCode.OK:
        print(f"audit of {name}: passed")
        return
    sys.stderr.write(output)
    if code == ExitCode.POLICY_VIOLATION:
        raise StackyardError(f"refusing to promote: {name} fails its own audit (mandatory rules above)",
                             ExitCode.POLICY_VIOLATION)
    raise StackyardError(f"refusing to promote: the audit of {name} ended with exit {code}",
                         ExitCode(code) if code in set(ExitCode) else ExitCode.INTERNAL_ERROR)


def _check_candidate(spec_file: Path, text: str) -> None:
    """Load `text` as if it were `spec_file` (same folder, so `extends` resolves); exit 2 if invalid."""
    from environments import loader
    from environments.errors import SpecError
    from stacks import spec_loading

    descriptor, temporary = tempfile.mkstemp(prefix=f".{spec_file.name}.", suffix=".promote", dir=spec_file.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        spec_loading.load(temporary)
    except SpecError as error:
        for problem in error.problems:
            # Name the file the user will open, not the temporary copy that was checked.
            shown = str(problem).replace(loader.display(Path(temporary)), loader.display(spec_file))
            print(f"error: {for_message(shown)}", file=sys.stderr)
        raise StackyardError(f"refusing to promote: the promoted {loader.display(spec_file)} would not be a valid "
                             "spec (problems above); nothing was written", ExitCode.INVALID_INPUT) from None
    finally:
        Path(temporary).unlink(missing_ok=True)


def _diff(path: Path, old: str, new: str) -> str:
    from environments.loader import display

    name = display(path)
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile=f"a/{name.lstrip('/')}", tofile=f"b/{name.lstrip('/')}"))


def _read(path: Path):
    try:
        return path.read_text(encoding="utf-8") if path.is_file() else None
    except OSError as error:
        raise StackyardError(f"cannot read {path}: {error.strerror}", ExitCode.INVALID_INPUT) from None


def run(args) -> int:
    from environments import loader, promotion
    from stacks import atomic

    source_spec, source_file = load_spec(args.source)
    target_spec, target_file = load_spec(args.target)
    source_document, _ = loader.load_document(args.source)
    target_document, _ = loader.load_document(args.target)
    try:
        selection = promotion.select(source_document, target_document, args.endpoints, args.pipelines)
    except promotion.PromotionError as error:
        raise StackyardError(str(error), ExitCode.INVALID_INPUT) from None

    _require_audit_pass(args.source, source_spec.name)

    target_text = _read(target_file)
    target_lock_file = loader.lock_path(target_file)
    source_lock_file = loader.lock_path(source_file)
    target_lock = _read(target_lock_file)
    try:
        new_text, changes = promotion.promote_spec_text(
            target_text, loader.display(target_file), source_document, selection)
        new_lock = None
        if target_lock is not None:
            new_lock = promotion.promote_lock_text(
                _read(source_lock_file), loader.display(source_lock_file), target_lock,
                loader.display(target_lock_file), selection.endpoints, source_spec.name)
    except promotion.PromotionError as error:
        raise StackyardError(str(error), ExitCode.INVALID_INPUT) from None

    for skipped in selection.skipped:
        print(f"skipped {skipped}: {target_spec.name} does not have it")
    writes = [(path, old, new) for path, old, new in ((target_file, target_text, new_text),
                                                       (target_lock_file, target_lock, new_lock))
              if old is not None and new is not None and new != old]
    if not writes:
        print(f"nothing to promote: {target_spec.name} already carries {source_spec.name}'s pins")
        return int(ExitCode.OK)
    if new_text != target_text:
        _check_candidate(target_file, new_text)
    for path, old, new in writes:
        sys.stdout.write(_diff(path, old, new))
    for change in changes:
        print(f"{'would promote' if args.dry_run else 'promoted'} {change}")
    if not args.dry_run:
        for path, _old, new in writes:
            atomic.write_text(path, new)
    return int(ExitCode.OK)
