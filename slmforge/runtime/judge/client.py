"""Talk to a judge through any OpenAI-compatible endpoint: bounded concurrency, timeouts, retries.

The openai client's own retries are off (max_retries=0): we retry here so the policy is the
recipe's (judge.retries, judge.backoff) and so a dead endpoint ends the run with one line that
says how many tries it got, instead of each request waiting out the client's defaults.

What is retried: timeouts, connection errors, 408/409/429 and 5xx. What ends the run at once:
401/403/404 (a wrong key, URL or model name fails every request alike). What is kept as a
per-sample error and retried on the next run: 400/422 (this one request was refused).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import openai
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from slmforge.core.errors import RecipeError, SlmforgeError
from slmforge.core.sections import JudgeSection
from slmforge.runtime.progress import progress

_RETRY_STATUS = {408, 409, 429}
_FATAL_STATUS = {401, 403, 404}


class JudgeError(SlmforgeError):
    """The judge cannot be reached or refuses every request; the message says what to fix."""


class EndpointDown(JudgeError):
    """Raised by JudgeClient.ask when a request failed in a way every other request will fail too."""


# The recipe's judge section holds every default; the settings below take theirs from it.
_DEFAULTS = JudgeSection()


@dataclass(frozen=True)
class JudgeSettings:
    """A judge section resolved for talking: the endpoint checked, the API key read from its variable."""

    endpoint: str
    model: str | None
    api_key: str
    api_key_env: str = _DEFAULTS.api_key_env
    concurrency: int = _DEFAULTS.concurrency
    timeout: float = _DEFAULTS.timeout
    retries: int = _DEFAULTS.retries
    backoff: float = _DEFAULTS.backoff
    max_tokens: int = _DEFAULTS.max_tokens
    temperature: float = _DEFAULTS.temperature

    @classmethod
    def from_recipe(cls, judge: JudgeSection) -> JudgeSettings:
        if not judge.endpoint:
            raise RecipeError("judge.endpoint: not set; give the judge's OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")
        # Local judges (vLLM, llama.cpp, slmforge serve without keys) accept any key; the client insists on one.
        key = os.environ.get(judge.api_key_env) or "no-key"
        return cls(
            endpoint=judge.endpoint, model=judge.model, api_key=key, api_key_env=judge.api_key_env,
            concurrency=judge.concurrency, timeout=judge.timeout, retries=judge.retries, backoff=judge.backoff,
            max_tokens=judge.max_tokens, temperature=judge.temperature,
        )


@dataclass(frozen=True)
class Reply:
    text: str | None  # None when the request was refused (error says why)
    error: str | None
    attempts: int
    seconds: float


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (asyncio.TimeoutError, openai.APITimeoutError)):
        return "timed out"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return f"connection failed: {type(cause).__name__}"
    return type(exc).__name__


class JudgeClient:
    def __init__(self, settings: JudgeSettings) -> None:
        self.settings = settings
        self._client = openai.AsyncOpenAI(
            base_url=settings.endpoint, api_key=settings.api_key, timeout=settings.timeout, max_retries=0
        )
        self.model = settings.model or ""

    async def resolve_model(self) -> str:
        """judge.model, or the endpoint's only model (vLLM and llama.cpp serve one) when none is set."""
        if self.model:
            return self.model
        s = self.settings
        last = "no attempt"
        for attempt in range(s.retries + 1):
            try:
                models = await asyncio.wait_for(self._client.models.list(), s.timeout)
                break
            except openai.APIStatusError as exc:
                if exc.status_code not in _RETRY_STATUS and exc.status_code < 500:
                    raise JudgeError(
                        f"judge.model: not set and {s.endpoint}/models answered HTTP {exc.status_code}; set judge.model"
                    ) from None
                last = _describe(exc)
            except (asyncio.TimeoutError, openai.APIConnectionError) as exc:
                last = _describe(exc)
            if attempt < s.retries:
                await asyncio.sleep(s.backoff * 2**attempt)
        else:
            raise EndpointDown(f"judge {s.endpoint} did not answer after {s.retries + 1} tries ({last})")
        ids = [m.id for m in models.data]
        if len(ids) != 1:
            raise JudgeError(f"judge.model: not set and the endpoint serves {len(ids)} models ({', '.join(ids[:5])}); set judge.model")
        self.model = ids[0]
        return self.model

    async def ask(self, content: str) -> Reply:
        s = self.settings
        started = time.monotonic()
        last = "no attempt"
        for attempt in range(s.retries + 1):
            try:
                response = await asyncio.wait_for(
                    self._client.chat.completions.create(
                        model=self.model, messages=[{"role": "user", "content": content}],
                        max_tokens=s.max_tokens, temperature=s.temperature,
                    ),
                    s.timeout,  # a total limit: the client's own timeout restarts with every byte received
                )
                text = response.choices[0].message.content
                return Reply(text or "", None, attempt + 1, time.monotonic() - started)
            except openai.APIStatusError as exc:
                if exc.status_code in _FATAL_STATUS:
                    hint = f"check ${s.api_key_env}" if exc.status_code in (401, 403) else "check judge.endpoint and judge.model"
                    raise EndpointDown(f"judge {s.endpoint} refused the request (HTTP {exc.status_code}); {hint}") from None
                if exc.status_code not in _RETRY_STATUS and exc.status_code < 500:
                    return Reply(None, _describe(exc), attempt + 1, time.monotonic() - started)
                last = _describe(exc)
            except (asyncio.TimeoutError, openai.APIConnectionError) as exc:
                last = _describe(exc)
            except (AttributeError, IndexError, TypeError, ValueError) as exc:
                # A 200 whose body is not a chat completion: the server answers, this reply is unusable.
                return Reply(None, f"malformed response: {type(exc).__name__}", attempt + 1, time.monotonic() - started)
            if attempt < s.retries:
                await asyncio.sleep(s.backoff * 2**attempt)
        raise EndpointDown(f"judge {s.endpoint} did not answer after {s.retries + 1} tries ({last})")

    async def close(self) -> None:
        await self._client.close()


def progress_bar(console: Console) -> Any:
    return progress(console, TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())


def resolve_model(settings: JudgeSettings) -> JudgeSettings:
    """Settings with judge.model filled in (from the endpoint's /models when the recipe names none).

    Results are keyed by the model's name, not the endpoint's address, so a judge restarted on
    another port still finds its earlier replies.
    """
    if settings.model:
        return settings

    async def ask_name() -> str:
        client = JudgeClient(settings)
        try:
            return await client.resolve_model()
        finally:
            await client.close()

    return replace(settings, model=asyncio.run(ask_name()))


def connected(settings: JudgeSettings, what: str = "", then: str = "start the judge or fix judge.endpoint, then re-run") -> JudgeSettings:
    """resolve_model, with a judge that is down turned into one JudgeError line: `what` (the recipe key that
    uses the judge) first, `then` (what to do) last."""
    try:
        return resolve_model(settings)
    except EndpointDown as exc:
        raise JudgeError(f"{what}{exc}; {then}") from None


def ask_all(
    settings: JudgeSettings,
    jobs: list[tuple[str, str]],
    on_reply: Callable[[str, Reply], None],
    console: Console,
    description: str = "judging",
) -> str:
    """Send every (key, prompt) job, at most `concurrency` at once; on_reply(key, reply) runs as each lands.

    Replies are handed over as they arrive, so a run that dies half-way has saved all it received.
    Returns the judge model's name. Raises EndpointDown after saving whatever had already landed.
    """
    return asyncio.run(_ask_all(settings, jobs, on_reply, console, description))


async def _ask_all(settings, jobs, on_reply, console, description) -> str:
    client = JudgeClient(settings)
    gate = asyncio.Semaphore(settings.concurrency)

    async def one(key: str, content: str) -> tuple[str, Reply]:
        async with gate:
            return key, await client.ask(content)

    try:
        model = await client.resolve_model()
        if not jobs:
            return model
        with progress_bar(console) as progress:
            bar = progress.add_task(f"{description} ({model})", total=len(jobs))
            pending = {asyncio.create_task(one(k, c)) for k, c in jobs}
            try:
                while pending:
                    done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    failure: BaseException | None = None
                    for task in done:  # save every reply that landed before raising
                        if task.exception() is not None:
                            failure = failure or task.exception()
                            continue
                        on_reply(*task.result())
                        progress.advance(bar)
                    if failure is not None:
                        raise failure
            finally:
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        return model
    finally:
        await client.close()
