"""Engines beyond transformers: llama.cpp (GGUF on CPU) and vLLM (CUDA). Both are optional:
when one is missing the user gets one line saying what to install, never a traceback."""

from __future__ import annotations

import importlib.util
import queue
import threading
from pathlib import Path

from slmforge.runtime.llamacpp import INSTALL, LlamaTokenizer
from slmforge.runtime.serve.engine import EngineObserver, GenerationResult, GenRequest, answer
from slmforge.runtime.serve.loading import is_run_dir
from slmforge.runtime.serve.options import ServeError


def require_llamacpp() -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        raise ServeError(f"--engine llamacpp needs llama-cpp-python: {INSTALL} (or use --engine transformers)")


class LlamaCppEngine:
    """A GGUF served through llama-cpp-python, one request at a time (llama.cpp batches inside a
    sequence, not across our requests). Same submit/callback contract as BatchingEngine."""

    def __init__(self, name: str, source: str, observer: EngineObserver | None = None, n_ctx: int = 4096):
        require_llamacpp()
        path = _gguf_path(source)
        from llama_cpp import Llama

        self.name = name
        self.llama = Llama(model_path=str(path), n_ctx=n_ctx, verbose=False)
        self.tokenizer = LlamaTokenizer(self.llama)
        self.max_context = n_ctx
        self.observer = observer
        self._queue: queue.Queue[GenRequest | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name=f"llamacpp-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, request: GenRequest) -> None:
        self._queue.put(request)

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _loop(self) -> None:
        while (request := self._queue.get()) is not None:
            try:
                self._generate(request)
            except Exception as exc:  # answer the request; the server turns it into a 500
                answer(request, exc)

    def _generate(self, request: GenRequest) -> None:
        if self.observer is not None:
            self.observer.batch_started(self.name, 1)
        params = request.params
        text, reason, count = "", "length", 0
        for chunk in self.llama.create_completion(
            prompt=request.prompt_ids, max_tokens=params.max_tokens, temperature=params.temperature,
            top_p=params.top_p, stop=list(params.stop) or None, seed=params.seed, stream=True,
        ):
            choice = chunk["choices"][0]
            piece = choice.get("text") or ""
            if piece:
                count += 1
                text += piece
                if request.on_delta is not None:
                    request.on_delta(piece)
            if choice.get("finish_reason"):
                reason = choice["finish_reason"]
            if request.cancelled.is_set():
                break
        if self.observer is not None:
            self.observer.tokens_generated(self.name, count)
        answer(request, GenerationResult(text, reason, len(request.prompt_ids), count))


def _gguf_path(source: str) -> Path:
    """The .gguf file to serve: the file itself, or the first one in a run's export/."""
    if source.startswith("embedded:"):
        from slmforge.runtime.models import embedded_gguf

        return embedded_gguf(source.removeprefix("embedded:"))
    path = Path(source)
    if path.suffix == ".gguf" and path.is_file():
        return path
    if is_run_dir(path):
        found = sorted((path / "export").glob("*.gguf"))
        if found:
            return found[0]
        raise ServeError(f"{source}: no .gguf in {path / 'export'}; run `slmforge export` with formats: [gguf] first")
    raise ServeError(f"--engine llamacpp serves .gguf files; {source} is not one (use --engine transformers)")
