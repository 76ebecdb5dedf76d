"""The FastAPI app: OpenAI routes over one engine per served model, with guards, cache and metrics.

Order of checks on a generation request: API key (401, 429 after too many wrong ones) → rate
limit (429) → body size and time (413, 408: the middleware, as the body is read) → JSON (400) → schema
(422) → unsupported fields (400) → caps on n and prompts × n (400) → rate limit for every
sequence (429) → model name (404) → prompt length in characters (400) → roles (400) →
caps on max_tokens / prompt tokens (400) → queue bound (503) → cache → engine.
"""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from slmforge.runtime.prompts import prompt_ids
from slmforge.runtime.serve import protocol as p
from slmforge.runtime.serve.dispatch import Jobs, Server
from slmforge.runtime.serve.engine import Engine
from slmforge.runtime.serve.metrics import CONTENT_TYPE, ServeMetrics
from slmforge.runtime.serve.middleware import BodyLimitAndMetrics
from slmforge.runtime.serve.openapi import errors, generation_route, schema_builder
from slmforge.runtime.serve.options import ServeError, ServeOptions
from slmforge.runtime.serve.protocol import APIError

__all__ = ["APIError", "build_app", "chat_prompt_ids"]

VARIANT_HEADER = "x-slmforge-variant"
# nginx's code for "the client closed the request": only /metrics ever sees it.
CLIENT_GONE = 499


def _sse(obj: Any) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


class ErrorResponse(JSONResponse):
    """Errors are rendered ASCII-only: a message quoting a client's bad text can always be sent."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _parse(model: type[BaseModel], raw: bytes) -> Any:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise APIError(400, f"The body is not valid JSON: {exc}") from None
    except RecursionError:
        raise APIError(400, "The body is nested too deeply to be a request") from None
    if not isinstance(data, dict):
        raise APIError(400, "The body must be a JSON object")
    where = p.lone_surrogate(data)
    if where is not None:
        raise APIError(400, f"{where}: the text holds a lone UTF-16 surrogate (an escape such as \\ud800 without "
                            "its pair), which is not text; send valid Unicode", param=where.split(".")[0])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(x) for x in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5])
        first = exc.errors()[0]["loc"]
        raise APIError(422, problems, param=str(first[0]) if first else None) from None


def chat_prompt_ids(tokenizer: Any, body: p.ChatRequest) -> list[int]:
    messages = p.check_roles(body)
    try:
        return prompt_ids(tokenizer, messages)
    except Exception as exc:  # template errors (unknown roles, alternation rules) are the caller's to fix
        raise APIError(400, f"The chat template rejected these messages: {exc}", param="messages") from None


async def _answer(request: Request, jobs: Jobs, render: Any, headers: dict[str, str]) -> Response:
    results = await jobs.results(request)
    if results is None:
        return ErrorResponse(p.error_body("The client closed the connection before the answer"), CLIENT_GONE)
    return JSONResponse(render(results), headers=headers)


def _stream(jobs: Jobs, first: list[str], chunk: Any, usage: Any) -> AsyncIterator[str]:
    """The SSE events of `jobs`: `first` lines, a chunk per delta and per finish, usage, [DONE]."""

    async def events() -> AsyncIterator[str]:
        for line in first:
            yield line
        results = []
        try:
            async for i, delta, result in jobs.events():
                if delta:
                    yield _sse(chunk(i, delta, None))
                if result is not None:
                    results.append(result)
                    yield _sse(chunk(i, None, result.finish_reason))
        except APIError as exc:
            yield _sse(p.error_body(exc.message, exc.kind))
            return
        if usage is not None:
            yield _sse(usage(results))
        yield "data: [DONE]\n\n"

    return events()


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

    app = FastAPI(title="slmforge", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.server = server
    app.openapi = schema_builder(app, server.model_names, options)  # type: ignore[method-assign]
    app.add_middleware(BodyLimitAndMetrics, metrics=metrics, max_body_bytes=options.max_body_bytes,
                       body_timeout_s=options.body_timeout_s)
    _add_error_handlers(app)
    _add_info_routes(app, server)
    _add_generation_routes(app, server)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return ErrorResponse(p.error_body(exc.message, exc.kind, exc.param, exc.code), exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return ErrorResponse(p.error_body(str(exc.detail)), exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        # A bug of ours still answers in the shape clients parse (Starlette logs the traceback).
        return ErrorResponse(p.error_body(f"internal error: {type(exc).__name__}", "server_error"), 500)



def _add_info_routes(app: FastAPI, server: Server) -> None:
    options, metrics = server.options, server.metrics

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "models": server.model_names()}

    def operator_only(request: Request) -> None:
        if not options.public_metrics:
            server.authorize(request)

    @app.get("/metrics", responses=errors(401, 429))
    async def prometheus(request: Request) -> Response:
        operator_only(request)
        return PlainTextResponse(metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> Response:
        operator_only(request)
        return JSONResponse(app.openapi())

    @app.get("/v1/models", responses=errors(401, 429))
    async def list_models(request: Request) -> dict[str, Any]:
        server.admit(request)
        now = int(time.time())
        return {"object": "list",
                "data": [{"id": n, "object": "model", "created": now, "owned_by": "slmforge"} for n in server.model_names()]}



def _add_generation_routes(app: FastAPI, server: Server) -> None:
    options, metrics = server.options, server.metrics

    @app.post("/v1/chat/completions", **generation_route(p.ChatRequest))
    async def chat(request: Request) -> Response:
        client = server.admit(request)
        body = _parse(p.ChatRequest, await request.body())
        p.refuse_unsupported(body)
        sequences = server.check_sequences(1, body.n)
        server.charge(client, sequences - 1)
        variant, engine = server.resolve(body.model, body.user)
        server.check_chars(variant, engine, sum(len(m.text()) for m in body.messages), "messages")
        # Off the event loop: templating and tokenizing a long prompt would stall every route.
        ids = await asyncio.to_thread(chat_prompt_ids, engine.tokenizer, body)
        params = server.params(engine, [len(ids)], body.requested_max_tokens(), options.default_max_tokens, body)
        jobs = server.start(variant, engine, [ids] * body.n, params, deltas=body.stream)
        metrics.model_requests.labels(variant, body.model).inc()
        metrics.prompt_tokens.labels(variant).inc(len(ids))
        rid, headers = p.new_id("chatcmpl"), {VARIANT_HEADER: variant}
        if not body.stream:
            return await _answer(request, jobs, lambda r: p.chat_response(rid, variant, r, len(ids)), headers)
        first = [_sse(p.chat_chunk(rid, variant, i, {"role": "assistant", "content": ""})) for i in range(body.n)]
        events = _stream(
            jobs, first,
            lambda i, delta, finish: p.chat_chunk(rid, variant, i, {"content": delta} if delta else {}, finish),
            (lambda r: p.usage_chunk(rid, variant, "chat.completion.chunk", len(ids), r)) if body.include_usage() else None,
        )
        return StreamingResponse(events, media_type="text/event-stream", headers=headers)

    @app.post("/v1/completions", **generation_route(p.CompletionRequest))
    async def completions(request: Request) -> Response:
        client = server.admit(request)
        body = _parse(p.CompletionRequest, await request.body())
        p.refuse_unsupported(body)
        prompts = body.prompts()
        sequences = server.check_sequences(len(prompts), body.n)
        server.charge(client, sequences - 1)
        variant, engine = server.resolve(body.model, body.user)
        server.check_chars(variant, engine, max(map(len, prompts), default=0), "prompt")
        prompt_ids = await asyncio.to_thread(lambda: [list(engine.tokenizer(text)["input_ids"]) for text in prompts])
        if not prompt_ids or any(not ids for ids in prompt_ids):
            raise APIError(400, "prompt must be a non-empty string or a list of non-empty strings", param="prompt")
        params = server.params(engine, [len(i) for i in prompt_ids], body.requested_max_tokens(), 16, body)
        # Choice index = prompt * n + j, as OpenAI does.
        jobs = server.start(variant, engine, [ids for ids in prompt_ids for _ in range(body.n)], params, deltas=body.stream)
        prompt_tokens = sum(len(i) for i in prompt_ids)
        metrics.model_requests.labels(variant, body.model).inc()
        metrics.prompt_tokens.labels(variant).inc(prompt_tokens)
        rid, headers = p.new_id("cmpl"), {VARIANT_HEADER: variant}
        if not body.stream:
            return await _answer(request, jobs, lambda r: p.completion_response(rid, variant, r, prompt_tokens), headers)
        events = _stream(
            jobs, [],
            lambda i, delta, finish: p.completion_chunk(rid, variant, i, delta or "", finish),
            (lambda r: p.usage_chunk(rid, variant, "text_completion", prompt_tokens, r)) if body.include_usage() else None,
        )
        return StreamingResponse(events, media_type="text/event-stream", headers=headers)
