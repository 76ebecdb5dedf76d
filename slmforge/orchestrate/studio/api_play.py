"""Playground API: the models, a streamed chat reply, blind A/B pairs and votes."""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any, AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from slmforge.orchestrate.studio import playground
from slmforge.orchestrate.studio.app import studio_of
from slmforge.orchestrate.studio.run_detail import read_jsonl
from slmforge.orchestrate.studio.runs_index import run_root
from slmforge.orchestrate.studio.safety import NotFound, StudioError
from slmforge.orchestrate.studio.votes import Side, read_csv

router = APIRouter(prefix="/api")


class Message(BaseModel):
    role: str = Field(pattern="^(system|user|assistant)$")
    content: str


class ChatBody(BaseModel):
    model: str
    messages: list[Message] = Field(min_length=1)
    max_tokens: int = 128
    temperature: float = 0.7
    seed: int | None = None


class PairBody(BaseModel):
    a: str
    b: str
    prompts_from: str | None = None  # a run id: draw one of its eval prompts (then votes also rate its answers)
    prompt: str | None = None  # or your own prompt
    max_tokens: int = 96
    temperature: float = 0.7


class VoteBody(BaseModel):
    pair: str
    vote: str


@router.get("/models")
def models(request: Request) -> dict[str, Any]:
    studio = studio_of(request)
    return {"models": playground.model_choices(studio.root), "loaded": studio.pool.loaded()}


def _messages(body_messages: list[Message]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in body_messages]


@router.post("/chat")
async def chat(request: Request, body: ChatBody) -> StreamingResponse:
    """Server-Sent Events: delta (text), done (finish reason, tokens, seconds) or error (one line)."""
    studio = studio_of(request)
    params = playground.sampling(body.max_tokens, body.temperature, body.seed)
    messages = _messages(body.messages)

    async def events() -> AsyncIterator[str]:
        from slmforge.runtime.serve.engine import GenerationResult

        started = time.perf_counter()
        try:
            yield _sse("loading", {"model": body.model, "loaded": body.model in studio.pool.loaded()})
            engine = await studio.pool.engine(body.model)
            ids = playground.prompt_ids(engine, messages)
            async for item in playground.stream(engine, ids, params):
                if isinstance(item, GenerationResult):
                    yield _sse("done", {"finish_reason": item.finish_reason, "completion_tokens": item.completion_tokens,
                                        "prompt_tokens": item.prompt_tokens, "seconds": round(time.perf_counter() - started, 2)})
                else:
                    yield _sse("delta", {"text": item})
        except StudioError as exc:
            yield _sse("error", {"error": str(exc)})
        except Exception as exc:  # noqa: BLE001 (a model that fails to load is one line on the page, not a dead stream)
            yield _sse("error", {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"})

    return StreamingResponse(events(), media_type="text/event-stream", headers={"cache-control": "no-cache"})


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def eval_prompt(root: Path, run_id: str, voted: set[str], rng: random.Random) -> dict[str, Any]:
    """One of the run's eval prompts not yet rated in its spot-check votes (any one when all are)."""
    rows = read_jsonl(run_root(root, run_id) / "eval" / "samples.jsonl")
    rows = [r for r in rows if isinstance(r.get("messages"), list) and r.get("id") is not None]
    if not rows:
        raise NotFound(f"{run_id}: no eval/samples.jsonl prompts yet (the eval stage writes them); type a prompt instead")
    fresh = [r for r in rows if str(r["id"]) not in voted] or rows
    return rng.choice(fresh)


def _sample_ids(root: Path, model: str, prompt: str) -> int | None:
    """The id of `prompt` among a run model's own eval samples (so `slmforge rate` accepts the rating)."""
    if not model.startswith("run:"):
        return None
    path = root / model.removeprefix("run:") / "eval" / "samples.jsonl"
    return next((int(r["id"]) for r in read_jsonl(path) if r.get("prompt") == prompt and isinstance(r.get("id"), int)), None)


@router.post("/ab/pair")
async def ab_pair(request: Request, body: PairBody) -> dict[str, Any]:
    """Both answers to one prompt, in random order, without saying which model wrote which."""
    studio = studio_of(request)
    if body.a == body.b:
        raise StudioError("pick two different models for a blind A/B")
    params = playground.sampling(body.max_tokens, body.temperature, None)
    if body.prompt and body.prompt.strip():
        messages, reference, prompt = [{"role": "user", "content": body.prompt.strip()}], None, body.prompt.strip()
    elif body.prompts_from:
        voted = {r["id"] for r in read_csv(studio.votes.spotcheck(body.prompts_from))}
        row = await asyncio.to_thread(eval_prompt, studio.root, body.prompts_from, voted, random.Random())
        messages, reference, prompt = row["messages"], row.get("reference"), row.get("prompt", "")
    else:
        raise StudioError("give a prompt, or a run whose eval prompts to draw from")

    async def answer(key: str) -> str:
        engine = await studio.pool.engine(key)
        return (await playground.generate(engine, playground.prompt_ids(engine, messages), params)).text

    first, second = await asyncio.gather(answer(body.a), answer(body.b))
    sides = [Side(key, text, await asyncio.to_thread(_sample_ids, studio.root, key, prompt)) for key, text in ((body.a, first), (body.b, second))]
    pending = studio.votes.open(messages, reference, sides[0], sides[1])
    return {"pair": pending.id, "messages": messages, "reference": reference, "answers": [s.answer for s in pending.sides]}


@router.post("/ab/vote")
def ab_vote(request: Request, body: VoteBody) -> dict[str, Any]:
    studio = studio_of(request)
    return {**studio.votes.vote(body.pair, body.vote), "tally": studio.votes.tally()}


@router.get("/ab/tally")
def ab_tally(request: Request) -> dict[str, Any]:
    return studio_of(request).votes.tally()
