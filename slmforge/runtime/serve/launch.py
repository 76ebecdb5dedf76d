"""`slmforge serve`: load every named model once, build one engine each, and run the server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slmforge.runtime.serve.engine import AdapterView, BatchingEngine, Engine
from slmforge.runtime.serve.guards import MIN_KEY_CHARS, check_bind, short_keys
from slmforge.runtime.serve.loading import ModelSpec, load_for_serving, load_shared_base, shared_base_groups
from slmforge.runtime.serve.metrics import ServeMetrics
from slmforge.runtime.serve.options import ServeError, ServeOptions

ENGINES = ("transformers", "llamacpp", "vllm")


def build_engines(specs: list[ModelSpec], options: ServeOptions, metrics: ServeMetrics, dtype: str = "auto",
                  engine: str = "transformers", announce: Any = None, on_death: Any = None) -> dict[str, Engine]:
    """One engine per served name; `on_death(reason)` is called if an engine's own process (vLLM) dies under it."""
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ServeError(f"--model: each served model needs its own name, got {', '.join(names)}")
    engines: dict[str, Engine] = {}
    if engine == "vllm":
        import tempfile

        from slmforge.runtime.serve.vllm_engine import build_vllm_engines

        return dict(build_vllm_engines(specs, options, metrics, dtype, Path(tempfile.mkdtemp(prefix="slmforge-vllm-")), announce,
                                       on_death))
    if engine == "transformers":
        for group in shared_base_groups(specs):
            model, tokenizer = load_shared_base(group, dtype, announce)
            shared = BatchingEngine("+".join(r.spec.name for r in group), model, tokenizer, max_batch=options.max_batch,
                                    batch_wait_ms=options.batch_wait_ms, observer=metrics,
                                    prefix_cache_mb=options.prefix_cache_mb)
            engines.update({r.spec.name: AdapterView(r.spec.name, shared) for r in group})
    for spec in specs:
        if spec.name in engines:
            continue
        if engine == "llamacpp":
            from slmforge.runtime.serve.external import LlamaCppEngine

            engines[spec.name] = LlamaCppEngine(spec.name, spec.source, observer=metrics)
            continue
        model, tokenizer = load_for_serving(spec.source, dtype, announce)
        engines[spec.name] = BatchingEngine(spec.name, model, tokenizer, max_batch=options.max_batch,
                                            batch_wait_ms=options.batch_wait_ms, observer=metrics,
                                            prefix_cache_mb=options.prefix_cache_mb)
    return engines


def serve(specs: list[ModelSpec], options: ServeOptions, dtype: str = "auto", engine: str = "transformers",
          threads: int | None = None, echo: Any = print) -> None:
    """Blocks until Ctrl-C / SIGTERM; in-flight requests finish before it returns."""
    if engine not in ENGINES:
        raise ServeError(f"--engine {engine}: must be one of {', '.join(ENGINES)}")
    if threads is not None:
        if threads < 1:
            raise ServeError(f"--threads {threads}: must be >= 1")
        import torch

        # On a CPU shared with other jobs, fewer intra-op threads than cores avoids OpenMP
        # threads spinning against each other (measured here: 1 thread 53 ms/step, 2 threads 471).
        torch.set_num_threads(threads)
    # Flags that cannot work are refused before the port is even looked at (one line, whatever else runs).
    from slmforge.runtime.serve.loading import check_dtype

    check_dtype(dtype)
    if engine == "llamacpp":
        from slmforge.runtime.serve.external import require_llamacpp

        require_llamacpp()
    weak = short_keys(options.api_keys)
    if weak:
        echo(f"warning: {weak} API key{' is' if weak == 1 else 's are'} shorter than {MIN_KEY_CHARS} characters and "
             "can be guessed; make long random ones, e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'")
    # Before minutes of model loading, not after.
    check_bind(options.host, options.api_keys)
    from slmforge.runtime.serve.server import check_port_free

    check_port_free(options.host, options.port)
    from slmforge.runtime.serve.app import build_app
    from slmforge.runtime.serve.server import Stopper, run_foreground

    metrics, stopper = ServeMetrics(), Stopper()
    engines = build_engines(specs, options, metrics, dtype, engine, announce=echo, on_death=stopper.stop)
    app = build_app(engines, options, metrics)
    names = ", ".join(engines) + (f"; A/B alias {options.split_alias!r} → {options.split}" if options.split else "")
    echo(f"serving {names} on http://{options.host}:{options.port}/v1 "
         f"(batch ≤ {options.max_batch}, wait {options.batch_wait_ms:g} ms, keys: {len(options.api_keys) or 'none'})")
    run_foreground(app, options, stopper)


def serve_command(model_or_run: str | list[str], *, name: str | None = None, models: list[str] | None = None,
                  api_keys_file: str | None = None, split: str | None = None, split_alias: str = "ab",
                  engine: str = "transformers", dtype: str = "auto", threads: int | None = None,
                  **flags: Any) -> None:
    """What `slmforge serve` does with its flags: defaults from the run's recipe, then the flags win."""
    from slmforge.core.sections import ServeSection
    from slmforge.runtime.serve.guards import read_api_keys
    from slmforge.runtime.serve.loading import parse_model_flag, run_serve_section, served_name
    from slmforge.runtime.serve.options import parse_split

    sources = [model_or_run] if isinstance(model_or_run, str) else list(model_or_run)
    # Several runs on one base: each served under its run's name, their adapters on one copy of the base.
    specs = [ModelSpec(name if name and i == 0 else served_name(s), s) for i, s in enumerate(sources)]
    specs += [parse_model_flag(m) for m in models or []]
    section = run_serve_section(sources[0]) or ServeSection()
    options = ServeOptions.from_section(
        section, **flags,
        api_keys=read_api_keys(api_keys_file) if api_keys_file else None,
        split=parse_split(split) if split else None, split_alias=split_alias,
    )
    unknown = [v for v in options.split if v not in {s.name for s in specs}]
    if unknown:
        raise ServeError(f"--split: {', '.join(unknown)} not served; name variants with --model NAME=PATH "
                         f"(served: {', '.join(s.name for s in specs)})")
    serve(specs, options, dtype=dtype, engine=engine, threads=threads)
