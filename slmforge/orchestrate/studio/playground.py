"""Models for the playground: each loaded once, on first use, behind serve's batching engine.

A model key is `run:<run id>` (the run's final model, as `slmforge serve runs/NAME` loads it) or
`base:<model id>` for a base model some run's recipe names; nothing else can be loaded, so a
request cannot make the studio open an arbitrary path. Loading and generation run off the event
loop (a thread, then the engine's own worker), so pages stay responsive meanwhile. At most
`max_loaded` models stay in memory; the least recently used one is stopped to make room.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable

from slmforge.orchestrate.studio.runs_index import read_recipe, run_ids, run_root
from slmforge.orchestrate.studio.safety import NotFound, StudioError

if TYPE_CHECKING:  # the engine imports torch: loaded with the first model, so the studio starts in a second
    from slmforge.runtime.serve.engine import BatchingEngine, GenerationResult, SamplingParams

MAX_NEW_TOKENS = 512


def model_choices(root: Path) -> list[dict[str, str]]:
    """Runs with a trained model, then the base models their recipes name."""
    runs, bases = [], {}
    for run_id in run_ids(root):
        path = root / run_id
        if (path / "model").is_dir():
            runs.append({"key": f"run:{run_id}", "label": run_id, "kind": "run"})
        model_id = (read_recipe(path).get("model") or {}).get("id")
        if isinstance(model_id, str):
            bases.setdefault(model_id, {"key": f"base:{model_id}", "label": f"base · {model_id}", "kind": "base"})
    return runs + list(bases.values())


def source_for(root: Path, key: str) -> str:
    kind, _, name = key.partition(":")
    if kind == "run":
        path = run_root(root, name)
        if not (path / "model").is_dir():
            raise NotFound(f"{name}: no trained model yet (model/ is written when train finishes)")
        return str(path)
    if kind == "base" and any(c["key"] == key for c in model_choices(root)):
        return name
    raise NotFound(f"{key}: not a model of this studio; pick run:<run> or base:<a base model a run names>")


class ModelPool:
    def __init__(self, root: Path, max_loaded: int = 3,
                 loader: Callable[[str], tuple[Any, Any]] | None = None) -> None:
        self.root = root
        self.max_loaded = max(1, max_loaded)
        self._loader = loader
        self._engines: OrderedDict[str, "BatchingEngine"] = OrderedDict()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _load(self, key: str) -> BatchingEngine:
        from slmforge.core.sections import ServeSection
        from slmforge.runtime.serve.engine import BatchingEngine

        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # two requests for the same model load it once
            with self._guard:
                if key in self._engines:
                    self._engines.move_to_end(key)
                    return self._engines[key]
            source = source_for(self.root, key)
            if self._loader is not None:
                model, tokenizer = self._loader(source)
            else:
                from slmforge.runtime.serve.loading import load_for_serving

                model, tokenizer = load_for_serving(source)
            engine = BatchingEngine(key, model, tokenizer, max_batch=8, batch_wait_ms=5.0,
                                    prefix_cache_mb=ServeSection().prefix_cache_mb)  # later turns begin with the first
            engine.start()
            with self._guard:
                self._engines[key] = engine
                while len(self._engines) > self.max_loaded:
                    _, old = self._engines.popitem(last=False)
                    threading.Thread(target=old.stop, daemon=True).start()  # finishes what it has queued
            return engine

    async def engine(self, key: str) -> BatchingEngine:
        return await asyncio.to_thread(self._load, key)

    def loaded(self) -> list[str]:
        with self._guard:
            return list(self._engines)

    def close(self) -> None:
        with self._guard:
            engines, self._engines = list(self._engines.values()), OrderedDict()
        for engine in engines:
            engine.stop()


def prompt_ids(engine: BatchingEngine, messages: list[dict[str, str]]) -> list[int]:
    """The prompt as the server builds it (serve.app.chat_prompt_ids): the chat template the run trained with."""
    from slmforge.runtime.serve.app import APIError, chat_prompt_ids
    from slmforge.runtime.serve.protocol import ChatRequest

    try:
        body = ChatRequest(model=engine.name, messages=messages)
        ids = chat_prompt_ids(engine.tokenizer, body)
    except APIError as exc:
        raise StudioError(exc.message) from None
    except ValueError as exc:
        raise StudioError(f"messages: {str(exc).splitlines()[0]}") from None
    if len(ids) >= engine.max_context:
        raise StudioError(f"the conversation is {len(ids)} tokens, the model's context is {engine.max_context}; start a new chat")
    return ids


def sampling(max_tokens: int, temperature: float, seed: int | None) -> SamplingParams:
    if not 1 <= max_tokens <= MAX_NEW_TOKENS:
        raise StudioError(f"max_tokens: must be 1-{MAX_NEW_TOKENS}, got {max_tokens}")
    if not 0 <= temperature <= 2:
        raise StudioError(f"temperature: must be 0-2, got {temperature}")
    from slmforge.runtime.serve.engine import SamplingParams

    return SamplingParams(max_tokens=max_tokens, temperature=temperature, seed=seed)


async def stream(engine: BatchingEngine, ids: list[int], params: SamplingParams) -> AsyncIterator[str | GenerationResult]:
    """Text deltas as the engine produces them, then the result; leaving early cancels the row."""
    from slmforge.runtime.serve.engine import GenerationResult, GenRequest

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    request = GenRequest(ids, params, on_done=lambda r: loop.call_soon_threadsafe(queue.put_nowait, r),
                         on_delta=lambda d: loop.call_soon_threadsafe(queue.put_nowait, d))
    engine.submit(request)
    try:
        while True:
            item = await queue.get()
            if isinstance(item, BaseException):
                raise StudioError(f"generation failed: {str(item).splitlines()[0] if str(item) else type(item).__name__}")
            yield item
            if isinstance(item, GenerationResult):
                return
    finally:
        request.cancelled.set()  # the page went away: the engine drops the row between two steps


async def generate(engine: BatchingEngine, ids: list[int], params: SamplingParams) -> GenerationResult:
    from slmforge.runtime.serve.engine import GenerationResult

    async for item in stream(engine, ids, params):
        if isinstance(item, GenerationResult):
            return item
    raise StudioError("generation ended without a result")
