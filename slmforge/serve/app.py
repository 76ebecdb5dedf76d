"""The FastAPI app: OpenAI routes over one engine per served model, with guards, cache and metrics.

Order of checks on a generation request: API key (401) → rate limit (429) → body size (413,
done by the middleware before any of this) → JSON (400) → schema (422) → model name (404) →
caps on n / max_tokens / prompt tokens (400) → cache → engine.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from slmforge.serve import protocol as p
from slmforge.serve.cache import ResponseCache, cache_key
from slmforge.serve.engine import Engine, GenerationResult, GenRequest, RequestError, SamplingParams
from slmforge.serve.guards import RateLimiter, matching_key, retry_after_header
from slmforge.serve.metrics import CONTENT_TYPE, ServeMetrics
from slmforge.serve.middleware import BodyLimitAndMetrics
from slmforge.serve.options import ServeError, ServeOptions

VARIANT_HEADER = "x-slmforge-variant"


class APIError(Exception):
    """An answer in the OpenAI error shape; the handler below renders it."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code, self.headers = status, message, kind, param, code, headers


class Server:
    """State shared by the routes: engines by name, guards, cache, metrics."""

    def __init__(self, engines: dict[str, Engine], options: ServeOptions, metrics: ServeMetrics):
        self.engines = engines
        self.options = options
        self.metrics = metrics
        self.limiter = RateLimiter(options.rate_limit, options.rate_burst)
        self.cache = ResponseCache(options.cache_size)
        self._random = random.Random(0)

    # ------------------------------------------------------------------ guards
    def admit(self, request: Request) -> None:
        client = request.client.host if request.client else "unknown"
        if self.options.api_keys:
            key = matching_key(request.headers.get("authorization"), self.options.api_keys)
            if key is None:
                raise APIError(401, "Incorrect or missing API key: send the header Authorization: Bearer YOUR_KEY",
                               code="invalid_api_key")
            # Buckets are keyed by a digest so the limiter never holds the keys themselves.
            client = "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]
        wait = self.limiter.acquire(client)
        if wait > 0:
            raise APIError(429, f"Rate limit reached ({self.options.rate_limit:g} requests/s); retry after {wait:.2f} s",
                           kind="rate_limit_error", code="rate_limit_exceeded",
                           headers={"Retry-After": retry_after_header(wait)})

    def resolve(self, name: str, user: str | None) -> tuple[str, Engine]:
        """The engine that answers `name`; the A/B alias picks a variant by weight (sticky per user)."""
        if self.options.split and name == self.options.split_alias:
            names, weights = list(self.options.split), list(self.options.split.values())
            if user:
                point = int(hashlib.sha256(user.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF * sum(weights)
                for variant, weight in zip(names, weights):
                    point -= weight
                    if point <= 0:
                        break
            else:
                variant = self._random.choices(names, weights)[0]
            return variant, self.engines[variant]
        if name not in self.engines:
            served = ", ".join(self.model_names())
            raise APIError(404, f"The model '{name}' does not exist here; served: {served}", param="model",
                           code="model_not_found")
        return name, self.engines[name]

    def model_names(self) -> list[str]:
        return list(self.engines) + ([self.options.split_alias] if self.options.split else [])

    def params(self, engine: Engine, prompt_lengths: list[int], requested: int | None, default: int,
               body: p._Sampling) -> SamplingParams:
        opts = self.options
        if requested is not None and requested > opts.max_tokens_cap:
            raise APIError(400, f"max_tokens is {requested}, the limit here is {opts.max_tokens_cap}", param="max_tokens")
        if body.n > opts.max_n:
            raise APIError(400, f"n is {body.n}, the limit here is {opts.max_n}", param="n")
        longest = max(prompt_lengths)
        limit = min(opts.max_prompt_tokens, engine.max_context - 1)
        if longest > limit:
            raise APIError(400, f"The prompt has {longest} tokens, the limit here is {limit}", param="messages",
                           code="context_length_exceeded")
        max_tokens = min(requested or default, engine.max_context - longest)
        return SamplingParams(max_tokens=max_tokens, temperature=body.temperature, top_p=body.top_p,
                              stop=body.stop_strings(), seed=body.seed)

    # ------------------------------------------------------------------ generation
    async def generate_one(self, variant: str, engine: Engine, ids: list[int], params: SamplingParams) -> GenerationResult:
        key = cache_key(variant, ids, params)
        hit = self.cache.get(key)
        if key is not None:
            self.metrics.cache.labels("hit" if hit else "miss").inc()
        if hit is not None:
            return hit
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        engine.submit(GenRequest(ids, params, on_done=lambda r: loop.call_soon_threadsafe(_resolve, future, r)))
        result = await future
        if isinstance(result, BaseException):
            raise generation_error(result)
        self.cache.put(key, result)
        return result

    async def stream(self, variant: str, engine: Engine, jobs: list[list[int]], params: SamplingParams
                     ) -> AsyncIterator[tuple[int, str | None, GenerationResult | None]]:
        """Events (index, text delta, final result) of every job as they are generated."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        submitted: list[GenRequest] = []
        pending = len(jobs)
        for index, ids in enumerate(jobs):
            key = cache_key(variant, ids, params)
            hit = self.cache.get(key)
            if key is not None:
                self.metrics.cache.labels("hit" if hit else "miss").inc()
            if hit is not None:
                events.put_nowait((index, hit.text, None))
                events.put_nowait((index, None, hit))
                continue
            request = GenRequest(
                ids, params,
                on_done=lambda r, i=index: loop.call_soon_threadsafe(events.put_nowait, (i, None, r)),
                on_delta=lambda d, i=index: loop.call_soon_threadsafe(events.put_nowait, (i, d, None)),
            )
            submitted.append(request)
            engine.submit(request)
        try:
            while pending:
                index, delta, result = await events.get()
                if isinstance(result, BaseException):
                    raise generation_error(result)
                if result is not None:
                    pending -= 1
                    self.cache.put(cache_key(variant, jobs[index], params), result)
                yield index, delta, result
        finally:
            # The client hung up (or an error): free the batch rows still generating for it.
            for request in submitted:
                request.cancelled.set()


def generation_error(exc: BaseException) -> APIError:
    """What the client hears of an engine failure: its own request's fault is a 400, ours a 500."""
    if isinstance(exc, RequestError):
        return APIError(400, str(exc))
    return APIError(500, f"generation failed: {type(exc).__name__}: {exc}", kind="server_error")


def _resolve(future: asyncio.Future, result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _sse(obj: Any) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


def _parse(model: type[BaseModel], raw: bytes) -> Any:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise APIError(400, f"The body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise APIError(400, "The body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(x) for x in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5])
        first = exc.errors()[0]["loc"]
        raise APIError(422, problems, param=str(first[0]) if first else None) from None


def chat_prompt_ids(tokenizer: Any, body: p.ChatRequest) -> list[int]:
    messages = [{"role": m.role, "content": m.text()} for m in body.messages]
    try:
        out = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
    except Exception as exc:  # template errors (unknown roles, alternation rules) are the caller's to fix
        raise APIError(400, f"The chat template rejected these messages: {exc}", param="messages") from None
    return list(out["input_ids"])


def build_app(engines: dict[str, Engine], options: ServeOptions, metrics: ServeMetrics | None = None) -> FastAPI:
    """The app serving `engines` by name. Engines start with the app and drain when it stops."""
    metrics = metrics or ServeMetrics()
    server = Server(engines, options, metrics)
    for variant in options.split:
        if variant not in engines:
            raise ServeError(f"--split: variant {variant!r} is not a served model; served: {', '.join(engines)}")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        for engine in engines.values():
            engine.start()
        yield
        # Uvicorn has already waited for in-flight requests; this drains whatever is still queued.
        for engine in engines.values():
            await asyncio.to_thread(engine.stop)

    app = FastAPI(title="slmforge", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.server = server
    app.add_middleware(BodyLimitAndMetrics, metrics=metrics, max_body_bytes=options.max_body_bytes)

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return JSONResponse(p.error_body(exc.message, exc.kind, exc.param, exc.code), exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(p.error_body(str(exc.detail)), exc.status_code, headers=getattr(exc, "headers", None))

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "models": server.model_names()}

    @app.get("/metrics")
    async def prometheus() -> Response:
        return PlainTextResponse(metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/v1/models")
    async def list_models(request: Request) -> dict[str, Any]:
        server.admit(request)
        now = int(time.time())
        return {"object": "list",
                "data": [{"id": n, "object": "model", "created": now, "owned_by": "slmforge"} for n in server.model_names()]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        server.admit(request)
        body = _parse(p.ChatRequest, await request.body())
        variant, engine = server.resolve(body.model, body.user)
        ids = chat_prompt_ids(engine.tokenizer, body)
        params = server.params(engine, [len(ids)], body.requested_max_tokens(), options.default_max_tokens, body)
        metrics.model_requests.labels(variant, body.model).inc()
        metrics.prompt_tokens.labels(variant).inc(len(ids))
        rid, headers, jobs = p.new_id("chatcmpl"), {VARIANT_HEADER: variant}, [ids] * body.n
        if not body.stream:
            results = await asyncio.gather(*(server.generate_one(variant, engine, j, params) for j in jobs))
            return JSONResponse(p.chat_response(rid, variant, list(results), len(ids)), headers=headers)

        async def events() -> AsyncIterator[str]:
            for i in range(body.n):
                yield _sse(p.chat_chunk(rid, variant, i, {"role": "assistant", "content": ""}))
            results = []
            try:
                async for i, delta, result in server.stream(variant, engine, jobs, params):
                    if delta:
                        yield _sse(p.chat_chunk(rid, variant, i, {"content": delta}))
                    if result is not None:
                        results.append(result)
                        yield _sse(p.chat_chunk(rid, variant, i, {}, result.finish_reason))
            except APIError as exc:
                yield _sse(p.error_body(exc.message, exc.kind))
                return
            if body.include_usage():
                yield _sse(p.usage_chunk(rid, variant, "chat.completion.chunk", len(ids), results))
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        server.admit(request)
        body = _parse(p.CompletionRequest, await request.body())
        variant, engine = server.resolve(body.model, body.user)
        prompt_ids = [list(engine.tokenizer(text)["input_ids"]) for text in body.prompts()]
        if not prompt_ids or any(not ids for ids in prompt_ids):
            raise APIError(400, "prompt must be a non-empty string or a list of non-empty strings", param="prompt")
        params = server.params(engine, [len(i) for i in prompt_ids], body.requested_max_tokens(), 16, body)
        prompt_tokens = sum(len(i) for i in prompt_ids)
        metrics.model_requests.labels(variant, body.model).inc()
        metrics.prompt_tokens.labels(variant).inc(prompt_tokens)
        rid, headers = p.new_id("cmpl"), {VARIANT_HEADER: variant}
        jobs = [ids for ids in prompt_ids for _ in range(body.n)]  # choice index = prompt * n + j, as OpenAI does
        if not body.stream:
            results = await asyncio.gather(*(server.generate_one(variant, engine, j, params) for j in jobs))
            return JSONResponse(p.completion_response(rid, variant, list(results), prompt_tokens), headers=headers)

        async def events() -> AsyncIterator[str]:
            results = []
            try:
                async for i, delta, result in server.stream(variant, engine, jobs, params):
                    if delta:
                        yield _sse(p.completion_chunk(rid, variant, i, delta))
                    if result is not None:
                        results.append(result)
                        yield _sse(p.completion_chunk(rid, variant, i, "", result.finish_reason))
            except APIError as exc:
                yield _sse(p.error_body(exc.message, exc.kind))
                return
            if body.include_usage():
                yield _sse(p.usage_chunk(rid, variant, "text_completion", prompt_tokens, results))
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    return app
