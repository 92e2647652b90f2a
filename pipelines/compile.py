"""Compile the pipelines a spec names to KFP pipeline IR, and version them by content.

`compile_pipeline` imports a pipeline file fresh, takes the named
`@dsl.pipeline` function and compiles it with kfp's own compiler. The
version is the sha256 of the IR text: unchanged code compiles to the same
version, any change (a component's code, an image, a default, the GPU pool,
the kfp SDK) to a new one. `compile_spec_pipelines` does this for every
pipeline of an environment while its plan is built.

Compiling imports kfp and runs its compiler, about half a second per pipeline:
results are cached across runs (environments/result_cache.py) under the kfp version, the
pipeline file's bytes, the function, the GPU placement and the bytes of every
repository module the file imports, directly or not. Any change to one of
those compiles again.

Every failure is a PipelineCompileError naming the file, the line of the
function and what went wrong. It is a `pulumi.RunError`, so `pulumi up`
shows the message without a traceback, and `stackyard plan` turns it into
exit code 2.

    python -m pipelines.compile pipelines/training.py training_pipeline [--gpu-pool POOL] [--out FILE]
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import hashlib
import importlib.metadata
import importlib.util
import inspect
import sys
import tempfile
import types
from pathlib import Path
from typing import Iterator, Optional, Sequence

from pulumi import RunError

from environments import result_cache
from environments.compiled_pipeline import CompiledPipeline, version_of
from environments.pipeline_source import parse_python, pipeline_function
from environments.result_cache import file_digest

IR_FILE = "pipeline.yaml"
EXIT_INVALID_INPUT = 2  # the CLI contract's exit code for bad input (docs/architecture.md)
CACHE_KIND = "kfp-ir"
CODE_ROOT = Path(__file__).resolve().parent.parent  # the repository the `pipelines` package is in


class PipelineCompileError(RunError):
    """A pipeline named by a spec cannot be compiled; the message says where and why."""


def function_line(source: Path, function: str) -> Optional[int]:
    """The line where `function` is defined at the top level of `source`, if it is."""
    node, _problem = pipeline_function(source, function)
    return node.lineno if node is not None else None


def _where(display: str, line: Optional[int], function: str) -> str:
    return f"{display}:{line}: {function}" if line else f"{display}: {function}"


def _import_fresh(source: Path, display: str, function: str):
    """Import `source` as a new module: kfp builds the pipeline graph at import."""
    module_name = f"_stackyard_pipeline_{hashlib.sha1(str(source).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(module_name, source)
    if spec is None or spec.loader is None:
        raise PipelineCompileError(f"{display}: not a Python file that can be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and kfp look a module up by name while importing
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        raise PipelineCompileError(f"{display}:{error.lineno}: syntax error: {error.msg}") from None
    except Exception as error:  # noqa: BLE001 - any failure while importing is the pipeline file's
        line = _innermost_line(error, source)
        where = f"{display}:{line}" if line else display
        raise PipelineCompileError(f"{where}: importing the pipeline file failed "
                                   f"({function}): {type(error).__name__}: {error}") from None
    finally:
        sys.modules.pop(module_name, None)
    return module


def _innermost_line(error: BaseException, source: Path) -> Optional[int]:
    line = None
    traceback = error.__traceback__
    while traceback is not None:
        if Path(traceback.tb_frame.f_code.co_filename).resolve() == source.resolve():
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def local_modules(source: Path, root: Path = CODE_ROOT) -> list[Path]:
    """`source` and every module under `root` it imports, directly or through each other (read from
    the import statements, nothing is imported)."""
    found: list[Path] = []
    pending = [Path(source).resolve()]
    while pending:
        path = pending.pop()
        if path in found:
            continue
        found.append(path)
        try:
            tree = parse_python(path)
        except (OSError, SyntaxError, ValueError):
            continue  # the compile itself reports a file it cannot read
        for node in ast.walk(tree):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level
                     else [])
            for name in names:
                pending += [p for p in _module_files(name, root) if p not in found]
    return sorted(found)


def _module_files(name: str, root: Path) -> list[Path]:
    """The files under `root` that importing `name` runs (its packages' __init__ and the module)."""
    files = []
    parts = name.split(".")
    for depth in range(1, len(parts) + 1):
        base = root.joinpath(*parts[:depth])
        for candidate in (base / "__init__.py", base.with_suffix(".py")):
            if candidate.is_file():
                files.append(candidate.resolve())
    return files


def _cache_key(source: Path, function: str, gpu_pool: Optional[str], gpu_count: int) -> dict:
    modules = local_modules(source) + local_modules(Path(__file__).parent / "platform.py") + [Path(__file__)]
    return {"kfp": importlib.metadata.version("kfp"), "function": function, "gpuPool": gpu_pool,
            "gpuCount": gpu_count, "source": file_digest(source),
            "modules": {str(p.relative_to(CODE_ROOT)) if p.is_relative_to(CODE_ROOT) else str(p): file_digest(p)
                        for p in sorted(set(modules))}}


def compile_pipeline(source: Path, function: str, *, name: Optional[str] = None, gpu_pool: Optional[str] = None,
                     gpu_count: int = 1, display: Optional[str] = None) -> CompiledPipeline:
    """Compile `function` of the pipeline file `source` to IR with kfp's compiler (or take the IR from
    the cache, where every input of the compile is unchanged)."""
    display = display or str(source)
    if not source.is_file():
        raise PipelineCompileError(f"{display}: no such pipeline file")
    key = _cache_key(source, function, gpu_pool, gpu_count)
    cached = result_cache.load(CACHE_KIND, key)
    if _well_formed(cached):
        return CompiledPipeline(name=name or function.replace("_", "-"), source=display, function=function,
                                ir_yaml=cached["ir"], version=version_of(cached["ir"]),
                                parameters=tuple(cached["parameters"]))
    compiled = _compile(source, function, name=name, gpu_pool=gpu_pool, gpu_count=gpu_count, display=display)
    result_cache.store(CACHE_KIND, key, {"ir": compiled.ir_yaml, "parameters": list(compiled.parameters)})
    return compiled


def _well_formed(value) -> bool:
    return (isinstance(value, dict) and isinstance(value.get("ir"), str) and isinstance(value.get("parameters"), list)
            and all(isinstance(p, str) for p in value["parameters"]))


@contextlib.contextmanager
def _cheap_caller_lookup() -> Iterator[None]:
    """kfp's `inspect.stack()` without its cost, while a pipeline is built and compiled.

    kfp (dsl/pipeline_task.py, `_ensure_container_spec_exists`) calls `inspect.stack()` on every
    resource setter (set_cpu_limit, add_node_selector_constraint ...) only to name the calling
    method in an error message; `inspect.stack()` reads the source file of every frame on the
    stack, which under the Pulumi runtime is deep. The stand-in gives the same
    (frame, filename, line, function, ...) tuples without reading any file.
    """
    from kfp.dsl import pipeline_task

    def stack(context: int = 1) -> list[tuple]:
        frame, frames = sys._getframe(1), []
        while frame is not None:
            frames.append((frame, frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name, None, None))
            frame = frame.f_back
        return frames

    if getattr(pipeline_task, "inspect", None) is not inspect:
        yield  # another kfp than the one read: leave it as it is
        return
    pipeline_task.inspect = types.SimpleNamespace(**{**vars(inspect), "stack": stack})
    try:
        yield
    finally:
        pipeline_task.inspect = inspect


def _compile(source: Path, function: str, *, name: Optional[str], gpu_pool: Optional[str], gpu_count: int,
             display: str) -> CompiledPipeline:
    from kfp import compiler
    from kfp.dsl.graph_component import GraphComponent

    from pipelines.platform import gpu_placement

    line = function_line(source, function)
    placement = gpu_placement(gpu_pool, gpu_count) if gpu_pool else contextlib.nullcontext()
    with placement, _cheap_caller_lookup():
        module = _import_fresh(source, display, function)
    pipeline = getattr(module, function, None)
    if pipeline is None:
        defined = sorted(n for n, v in vars(module).items() if isinstance(v, GraphComponent))
        raise PipelineCompileError(f"{display}: no function {function!r} in the file "
                                   f"(pipelines defined there: {defined or 'none'})")
    if not isinstance(pipeline, GraphComponent):
        what = "a kfp component, not a pipeline" if hasattr(pipeline, "component_spec") else type(pipeline).__name__
        raise PipelineCompileError(f"{_where(display, line, function)}: expected a @dsl.pipeline function, "
                                   f"found {what}")
    with tempfile.TemporaryDirectory(prefix="stackyard-compile-") as scratch:
        package = Path(scratch) / IR_FILE
        try:
            with _cheap_caller_lookup():
                compiler.Compiler().compile(pipeline_func=pipeline, package_path=str(package))
        except Exception as error:  # noqa: BLE001 - kfp raises many types; all mean "does not compile"
            raise PipelineCompileError(f"{_where(display, line, function)}: kfp could not compile the pipeline: "
                                       f"{type(error).__name__}: {error}") from None
        ir_yaml = package.read_text(encoding="utf-8")
    parameters = tuple(pipeline.component_spec.inputs or ())
    return CompiledPipeline(name=name or function.replace("_", "-"), source=display, function=function,
                            ir_yaml=ir_yaml, version=version_of(ir_yaml), parameters=parameters)


def compile_spec_pipelines(spec, root: Path) -> tuple[CompiledPipeline, ...]:
    """Compile every pipeline `spec` names, sources relative to the repository `root`."""
    if not spec.kubeflow.enabled:
        return ()
    compiled = []
    # The IR depends only on the file, the function and the GPU placement, not on the
    # pipeline's name: many pipelines of one environment share a source, so each
    # distinct (source, function, pool, count) is compiled once per plan.
    by_source: dict[tuple, CompiledPipeline] = {}
    for index, pipeline in enumerate(spec.pipelines):
        gpu_pool = pipeline.gpu.pool if pipeline.gpu else None
        gpu_count = pipeline.gpu.count if pipeline.gpu else 1
        key = (pipeline.source, pipeline.function, gpu_pool, gpu_count)
        try:
            if key not in by_source:
                by_source[key] = compile_pipeline(root / pipeline.source, pipeline.function, gpu_pool=gpu_pool,
                                                  gpu_count=gpu_count, display=pipeline.source)
        except PipelineCompileError as error:
            raise PipelineCompileError(f"{error} (pipelines[{index}] {pipeline.name!r} of {spec.source})") from None
        compiled.append(dataclasses.replace(by_source[key], name=pipeline.name))
    return tuple(compiled)


def _write_whole(path: Path, text: str) -> None:
    """Write beside `path`, then rename over it: a reader never sees half an IR file. (This module
    sits below stacks/, so it cannot use stacks.atomic; the one file it writes needs no more.)"""
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.",
                                     delete=False) as staged:
        try:
            staged.write(text)
        except OSError:
            Path(staged.name).unlink(missing_ok=True)
            raise
    Path(staged.name).replace(path)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.compile", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("function")
    parser.add_argument("--gpu-pool", default=None)
    parser.add_argument("--gpu-count", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="write the IR here (default: print the version)")
    args = parser.parse_args(argv)
    try:
        compiled = compile_pipeline(args.source, args.function, gpu_pool=args.gpu_pool, gpu_count=args.gpu_count)
        if args.out:
            _write_whole(args.out, compiled.ir_yaml)
    except PipelineCompileError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    except OSError as error:
        print(f"error: cannot write {args.out}: {error.strerror or error}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    print(f"{compiled.source} {compiled.function}: version {compiled.version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
