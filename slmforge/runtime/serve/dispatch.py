"""What the routes share: the guards (keys, rate limits, caps), which engine answers a model name,
and handing a request's sequences to that engine within the queue bound, watching its client.

Every sequence a request asks for (prompts × n) counts: against the per-request cap, against the
client's rate limit, and against the engine's queue bound, so that one small body cannot queue
unbounded work. A client that leaves stops its sequences: a stream's when the stream closes, a
plain request's when its connection does.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from contextlib import suppress
from typing import Any, AsyncIterator

from fastapi import Request

from slmforge.runtime.serve.cache import ResponseCache, cache_key
from slmforge.runtime.serve.engine import Engine, GenerationResult, GenRequest, RequestError, SamplingParams
from slmforge.runtime.serve.guards import RateLimiter, bearer_token, matching_key, retry_after_header
from slmforge.runtime.serve.metrics import ServeMetrics
from slmforge.runtime.serve.options import ServeOptions
from slmforge.runtime.serve.protocol import APIError, _Sampling

Event = tuple[int, "str | None", "GenerationResult | BaseException | None"]


def generation_error(exc: BaseException) -> APIError:
    """What the client hears of an engine failure: its own request's fault is a 400, ours a 500."""
    if isinstance(exc, RequestError):
        return APIError(400, str(exc))
    return APIError(500, f"generation failed: {type(exc).__name__}: {exc}", kind="server_error")


class Jobs:
    """The sequences of one request on one engine: cache hits at once, the rest as generated."""

    def __init__(self, server: Server, variant: str, engine: Engine, jobs: list[list[int]], params: SamplingParams,
                 deltas: bool):
        self.server, self.variant, self.jobs, self.params = server, variant, jobs, params
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._submitted: list[GenRequest] = []
        loop = asyncio.get_running_loop()
        misses = []
        for index, ids in enumerate(jobs):
            key = cache_key(variant, ids, params)
            hit = server.cache.get(key)
            if key is not None:
                server.metrics.cache.labels("hit" if hit else "miss").inc()
            if hit is None:
                misses.append(index)
            else:
                self._events.put_nowait((index, hit.text if deltas else None, None))
                self._events.put_nowait((index, None, hit))
        server.reserve(variant, len(misses))
        for index in misses:
            request = GenRequest(
                jobs[index], params,
                on_done=lambda r, i=index: loop.call_soon_threadsafe(self._done, i, r),
                on_delta=(lambda d, i=index: loop.call_soon_threadsafe(self._events.put_nowait, (i, d, None)))
                if deltas else None,
            )
            self._submitted.append(request)
            engine.submit(request)

    def _done(self, index: int, result: GenerationResult | BaseException) -> None:
        self.server.release(self.variant)
        self._events.put_nowait((index, None, result))

    def cancel(self) -> None:
        """Free the batch rows still generating for a client that is no longer there."""
        for request in self._submitted:
            request.cancelled.set()

    async def events(self) -> AsyncIterator[tuple[int, str | None, GenerationResult | None]]:
        """(index, text delta, final result) of every sequence as they come; a failed one raises APIError."""
        pending = len(self.jobs)
        try:
            while pending:
                index, delta, result = await self._events.get()
                if isinstance(result, BaseException):
                    raise generation_error(result)
                if result is not None:
                    pending -= 1
                    self.server.cache.put(cache_key(self.variant, self.jobs[index], self.params), result)
                yield index, delta, result
        finally:
            self.cancel()  # the client hung up, or one sequence failed: the others stop too

    async def results(self, request: Request) -> list[GenerationResult] | None:
        """Every result in order, or None when the client closed its connection first."""
        results: list[GenerationResult | None] = [None] * len(self.jobs)

        async def collect() -> None:
            async for index, _, result in self.events():
                if result is not None:
                    results[index] = result

        work, gone = asyncio.ensure_future(collect()), asyncio.ensure_future(client_gone(request))
        try:
            await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when this request's own task is cancelled: its sequences must stop with it
            gone.cancel()
            left = not work.done()
            if left:
                work.cancel()  # events() ends by cancelling every sequence still generating
        if left:
            with suppress(asyncio.CancelledError):
                await work
            return None
        work.result()
        return results  # type: ignore[return-value]


async def client_gone(request: Request) -> None:
    """Returns once the client has closed its connection (call it after the body has been read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


class Server:
    """State shared by the routes: engines by name, guards, cache, metrics, sequences in flight."""

    def __init__(self, engines: dict[str, Engine], options: ServeOptions, metrics: ServeMetrics):
        self.engines = engines
        self.options = options
        self.metrics = metrics
        self.limiter = RateLimiter(options.rate_limit, options.rate_burst)
        self.guesses = RateLimiter(options.key_failures_per_minute / 60, options.key_failures_per_minute)
        self.cache = ResponseCache(options.cache_size)
        self.in_flight = dict.fromkeys(engines, 0)  # sequences queued or generating, per engine
        self._token_chars: dict[str, int | None] = {}
        self._random = random.Random(0)

    # ------------------------------------------------------------------ guards
    def authorize(self, request: Request) -> str:
        """The client's rate-limit bucket: its key's digest, or its address on a server without keys.

        An address that sent too many wrong keys is refused whatever it sends now: answering a
        right key with 200 and wrong ones with 429 would still tell a guesser when it is right.
        """
        address = request.client.host if request.client else "unknown"
        if not self.options.api_keys:
            return address
        wait = self.guesses.wait_s(address)
        if wait > 0:
            raise APIError(429, f"Too many wrong API keys from {address}; retry after {wait:.0f} s",
                           kind="rate_limit_error", code="rate_limit_exceeded",
                           headers={"Retry-After": retry_after_header(wait)})
        header = request.headers.get("authorization")
        key = matching_key(header, self.options.api_keys)
        if key is None:
            if bearer_token(header) is not None:  # a guess; a request without any key is no guess
                self.guesses.acquire(address)
            raise APIError(401, "Incorrect or missing API key: send the header Authorization: Bearer YOUR_KEY",
                           code="invalid_api_key")
        # Buckets are keyed by a digest so the limiter never holds the keys themselves.
        return "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]

    def admit(self, request: Request) -> str:
        """The client's rate-limit bucket, once its key checks out and one unit of its rate is taken."""
        client = self.authorize(request)
        self.charge(client, 1)
        return client

    def charge(self, client: str, units: int) -> None:
        """Take `units` of the client's rate (one per sequence) or refuse with 429."""
        if units <= 0:
            return
        wait = self.limiter.acquire(client, units)
        if wait > 0:
            raise APIError(429, f"Rate limit reached ({self.options.rate_limit:g} sequences/s, bursts of "
                                f"{self.options.rate_burst}; a request costs one per prompt × n); retry after {wait:.2f} s",
                           kind="rate_limit_error", code="rate_limit_exceeded",
                           headers={"Retry-After": retry_after_header(wait)})

    def check_sequences(self, prompts: int, n: int) -> int:
        """prompts × n within the caps; returns it."""
        if n > self.options.max_n:
            raise APIError(400, f"n is {n}, the limit here is {self.options.max_n}", param="n")
        if prompts * n > self.options.max_sequences:
            raise APIError(400, f"prompts × n is {prompts * n}, the limit here is {self.options.max_sequences}",
                           param="n" if n > 1 else "prompt")
        return prompts * n

    def reserve(self, variant: str, sequences: int) -> None:
        if self.in_flight[variant] + sequences > self.options.max_queue:
            raise APIError(503, f"The server is busy: {self.in_flight[variant]} sequences of {variant} are queued or "
                                f"generating (limit {self.options.max_queue}); retry in a moment",
                           kind="server_error", code="queue_full", headers={"Retry-After": "1"})
        self.in_flight[variant] += sequences

    def release(self, variant: str) -> None:
        self.in_flight[variant] -= 1

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

    def prompt_limit(self, engine: Engine) -> int:
        return min(self.options.max_prompt_tokens, engine.max_context - 1)

    def check_chars(self, variant: str, engine: Engine, chars: int, param: str) -> None:
        """Refuse a prompt that cannot fit before tokenizing it: no token stands for more characters
        than the longest one in the vocabulary, so longer text surely has too many tokens."""
        if variant not in self._token_chars:
            self._token_chars[variant] = longest_token_chars(engine.tokenizer)
        per_token, limit = self._token_chars[variant], self.prompt_limit(engine)
        if per_token is not None and chars > limit * per_token:
            raise APIError(400, f"The prompt has {chars} characters, more than {limit} tokens of this model can hold; "
                                f"the limit here is {limit} tokens", param=param, code="context_length_exceeded")

    def params(self, engine: Engine, prompt_lengths: list[int], requested: int | None, default: int,
               body: _Sampling) -> SamplingParams:
        opts = self.options
        if requested is not None and requested > opts.max_tokens_cap:
            raise APIError(400, f"max_tokens is {requested}, the limit here is {opts.max_tokens_cap}", param="max_tokens")
        longest = max(prompt_lengths)
        limit = self.prompt_limit(engine)
        if longest > limit:
            raise APIError(400, f"The prompt has {longest} tokens, the limit here is {limit}", param="messages",
                           code="context_length_exceeded")
        # A request that names no max_tokens gets the default, within this server's cap.
        max_tokens = min(requested or min(default, opts.max_tokens_cap), engine.max_context - longest)
        return SamplingParams(max_tokens=max_tokens, temperature=body.temperature, top_p=body.top_p,
                              stop=body.stop_strings(), seed=body.seed)

    def start(self, variant: str, engine: Engine, jobs: list[list[int]], params: SamplingParams,
              deltas: bool = False) -> Jobs:
        """Hand the sequences to the engine (503 when its queue is full); the caller reads the Jobs."""
        return Jobs(self, variant, engine, jobs, params, deltas)



def longest_token_chars(tokenizer: Any) -> int | None:
    """The most characters of text one token can stand for (None: the tokenizer cannot say).

    A vocabulary entry is at least as long as the text it matches: byte-level BPE spells each byte
    as one character, SentencePiece spells text as itself (▁ for a space), and byte-fallback entries
    such as <0xE4> are longer than their one byte.
    """
    try:
        vocab = tokenizer.get_vocab()
    except Exception:  # llama.cpp's tokenizer has no vocabulary listing: tokenize (off the loop) instead
        return None
    return max(map(len, vocab), default=0) or None
