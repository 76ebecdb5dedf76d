"""`slmforge serve --engine vllm`: our server in front, vLLM behind it (runtime/vllm.py).

Each served name is a VllmEngine with the Engine contract the HTTP layer already speaks (submit a GenRequest,
get on_delta / on_done callbacks). Requests stream from vLLM's /v1/completions with our prompt ids, our stop
rule and our sampling semantics; names that are adapters of one base share one vLLM server, which batches
them together (vLLM's per-request LoRA). Our guards (keys, rate limits, caps, the A/B split, /metrics, error
shapes) run before any of it, so vLLM is never reachable from outside.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slmforge.core.sections import ModelSection
from slmforge.runtime.serve.engine import EngineObserver, GenerationResult, GenRequest, RequestError, answer
from slmforge.runtime.serve.loading import ModelSpec, is_run_dir
from slmforge.runtime.serve.options import ServeError, ServeOptions
from slmforge.runtime.vllm import VllmServer, completion_body, plain_dir, saved_eos, trained_files, vllm_python


class VllmBackend:
    """One vLLM server and the event loop (on its own thread) that talks to it for every name it serves."""

    def __init__(self, server: VllmServer, on_death: Any = None) -> None:
        self.server = server
        self.on_death = on_death  # called with one line if vLLM exits while we still serve with it
        self._released = False
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="vllm-client", daemon=True)
        self._client: Any = None
        self.users = 0  # served names on this server: the last one to stop stops it

    def start(self) -> None:
        """Start vLLM (minutes on a CPU) and the client loop; done when the server is built, like loading a model."""
        import httpx

        self.server.start()
        self._thread.start()
        self._client = httpx.AsyncClient(timeout=None)
        threading.Thread(target=self._watch, name="vllm-watch", daemon=True).start()

    def _watch(self) -> None:
        code = self.server.process.wait()
        if not self._released and self.on_death is not None:
            self.on_death(f"vLLM exited with code {code} while serving {self.server.model_dir}: {self.server.last_log_line()} "
                          f"(log {self.server.log_path}); the server stops so that it can be restarted")

    def release(self) -> None:
        self.users -= 1
        if self.users == 0:
            self._released = True
            asyncio.run_coroutine_threadsafe(self._client.aclose(), self.loop).result(30)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.server.stop()

    def submit(self, name: str, request: GenRequest, stop_ids: set[int], observer: EngineObserver | None, tokenizer: Any = None) -> None:
        asyncio.run_coroutine_threadsafe(self._generate(name, request, stop_ids, observer, tokenizer), self.loop)

    async def _generate(self, name: str, request: GenRequest, stop_ids: set[int], observer: EngineObserver | None,
                        tokenizer: Any = None) -> None:
        p = request.params
        body = completion_body(name, request.prompt_ids, p.max_tokens, p.temperature, p.top_p, p.seed, p.stop, stop_ids, stream=True)
        body["return_token_ids"] = True
        text, reason, tokens, ids = "", "length", 0, []
        try:
            async with self._client.stream("POST", f"{self.server.url}/v1/completions", json=body, headers=self.server.headers()) as reply:
                if reply.status_code != 200:
                    raise RequestError(f"vLLM refused the request ({reply.status_code}: {(await reply.aread())[:300].decode(errors='replace')})")
                async for line in reply.aiter_lines():
                    if request.cancelled.is_set():
                        reason = "stop"  # the client left: closing the stream aborts it in vLLM too
                        if observer is not None:
                            observer.sequence_cancelled(name)
                        break
                    chunk = _event(line)
                    if chunk is None:
                        continue
                    if chunk.get("usage"):
                        tokens = int(chunk["usage"].get("completion_tokens") or tokens)
                    for choice in chunk.get("choices") or []:
                        ids += choice.get("token_ids") or []
                        if choice.get("text"):
                            text += choice["text"]
                            if request.on_delta is not None:
                                request.on_delta(choice["text"])
                        reason = choice.get("finish_reason") or reason
        except Exception as exc:  # this request alone fails; the server and every other request go on
            answer(request, exc)
            return
        if tokenizer is not None and not p.stop:
            text = _settle(text, ids, stop_ids, tokenizer, request.on_delta)
        if observer is not None:
            observer.tokens_generated(name, tokens)
        answer(request, GenerationResult(text, "stop" if reason == "stop" else "length", len(request.prompt_ids), tokens))


def _settle(text: str, ids: list[int], stop_ids: set[int], tokenizer: Any, on_delta: Any) -> str:
    """The answer as our engine gives it: our tokenizer's decode of the generated ids. vLLM's streaming detokenizer
    never emits a trailing incomplete UTF-8 sequence (a byte token cut off by max_tokens), which our decode shows as
    U+FFFD; the difference is sent as a last delta when what was streamed is its prefix."""
    while ids and ids[-1] in stop_ids:
        ids = ids[:-1]
    full = tokenizer.decode(ids, skip_special_tokens=True)
    if full == text or (on_delta is not None and not full.startswith(text)):
        return text
    if on_delta is not None:
        on_delta(full[len(text):])
    return full


def _event(line: str) -> dict[str, Any] | None:
    if not line.startswith("data: ") or line == "data: [DONE]":
        return None
    return json.loads(line[len("data: "):])


class VllmEngine:
    """One served name (the model itself, or one of its adapters) of a vLLM backend."""

    def __init__(self, name: str, vllm_name: str, backend: VllmBackend, tokenizer: Any, stop_ids: set[int], max_context: int,
                 observer: EngineObserver | None = None) -> None:
        self.name = name
        self.vllm_name = vllm_name  # what vLLM calls it: the base's served name or the adapter's
        self.backend = backend
        self.tokenizer = tokenizer
        self.stop_ids = stop_ids
        self.max_context = max_context
        self.observer = observer
        backend.users += 1

    def start(self) -> None:
        pass  # the backend started when it was built

    def submit(self, request: GenRequest) -> None:
        self.backend.submit(self.vllm_name, request, self.stop_ids, self.observer, self.tokenizer)

    def stop(self) -> None:
        self.backend.release()


# --------------------------------------------------------------------------- what to hand vLLM
@dataclass
class VllmTarget:
    """What vLLM loads for one served name: a plain model directory, maybe with this name's adapter on it."""

    name: str
    model_dir: Path  # a plain transformers directory (vLLM takes no GGUF, no embedded:, no 4-bit merge rule)
    tokenizer_dir: Path  # the tokenizer (and chat template) the name was trained with
    section: ModelSection
    adapter: Path | None = None


def vllm_target(spec: ModelSpec) -> VllmTarget:
    """Resolve a served name to files vLLM can load, or one line saying why not."""
    path = Path(spec.source).expanduser()
    if is_run_dir(path):
        from slmforge.core.recipe import load
        from slmforge.core.rundir import RunDir
        from slmforge.runtime.trained import is_qlora

        recipe, run = load(path / "recipe.yaml"), RunDir(path)
        model_dir, base = run.final_model(recipe)
        plain, adapter = trained_files(model_dir, base.id, is_qlora(recipe, run, model_dir), run.export / "merged")
        return VllmTarget(spec.name, plain, model_dir if adapter is not None else plain, base, adapter)
    if spec.source.endswith(".gguf"):
        raise ServeError(f"--engine vllm serves model directories, not GGUF files ({spec.source}); use --engine llamacpp for it")
    if (path / "adapter_config.json").is_file():
        base_id = json.loads((path / "adapter_config.json").read_text(encoding="utf-8")).get("base_model_name_or_path")
        return VllmTarget(spec.name, plain_dir(base_id), path, ModelSection(id=base_id), path)
    return VllmTarget(spec.name, plain_dir(spec.source), plain_dir(spec.source), ModelSection(id=spec.source))


def build_vllm_engines(specs: list[ModelSpec], options: ServeOptions, metrics: EngineObserver, dtype: str, log_dir: Path,
                       announce: Any = None, on_death: Any = None) -> dict[str, VllmEngine]:
    """One vLLM server per distinct base directory (with every adapter on it), one VllmEngine per served name."""
    from transformers import AutoConfig, AutoTokenizer

    from slmforge.runtime.generation import stop_ids_of
    from slmforge.runtime.models import ensure_chat_template
    from slmforge.runtime.placement import place

    vllm_python()  # not installed: one line now, not after minutes of work
    targets = [vllm_target(s) for s in specs]
    engines: dict[str, VllmEngine] = {}
    for model_dir in dict.fromkeys(t.model_dir for t in targets):
        group = [t for t in targets if t.model_dir == model_dir]
        placement = place(group[0].section.model_copy(update={"dtype": dtype}))
        context = int(getattr(AutoConfig.from_pretrained(model_dir), "max_position_embeddings", 0) or 4096)
        plain = next((t.name for t in group if t.adapter is None), f"{group[0].name}-base")
        server = VllmServer(model_dir, plain, placement.dtype, {t.name: t.adapter for t in group if t.adapter is not None},
                            max_model_len=min(context, options.max_prompt_tokens + options.max_tokens_cap),
                            cpu=not placement.cuda, log_path=log_dir / f"vllm-{plain}.log")
        if announce is not None:
            announce(f"vLLM: {model_dir} for {', '.join(t.name for t in group)} · {placement.describe()} · log {server.log_path}")
        backend = VllmBackend(server, on_death)
        backend.start()
        for t in group:
            tokenizer = ensure_chat_template(AutoTokenizer.from_pretrained(t.tokenizer_dir), t.section)
            stops = stop_ids_of(tokenizer, saved_eos(t.tokenizer_dir))
            engines[t.name] = VllmEngine(t.name, t.name if t.adapter is not None or t.name == plain else plain, backend, tokenizer,
                                         stops, server.max_model_len, metrics)
    return engines
