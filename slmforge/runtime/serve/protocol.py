"""Request and response shapes of the OpenAI API, as far as the official client needs them.

Request models accept (and ignore) the OpenAI fields we do not implement, so that clients which
always send e.g. `presence_penalty` keep working; what we do read is validated strictly.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Callable

from pydantic import BaseModel, ConfigDict, Field

from slmforge.runtime.serve.engine import GenerationResult

# A stream holds back any tail that could still grow into a stop string, checked on every token for
# every stop: 100 stops of 5,000 characters made streaming 5.7x slower. OpenAI allows 4.
MAX_STOPS = 16
MAX_STOP_CHARS = 200
_Stop = Annotated[str, Field(max_length=MAX_STOP_CHARS)]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class ChatMessage(_Lenient):
    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """Plain text of the message; list content keeps its text parts (images have no place here)."""
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class _Sampling(_Lenient):
    model: str
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    n: int = Field(1, ge=1)
    stop: _Stop | Annotated[list[_Stop], Field(max_length=MAX_STOPS)] | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    # torch's generators take exactly this range; past it manual_seed overflows.
    seed: int | None = Field(None, ge=-(2**63), lt=2**64)
    user: str | None = None

    def stop_strings(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        stops = [self.stop] if isinstance(self.stop, str) else self.stop
        return tuple(s for s in stops if s)

    def include_usage(self) -> bool:
        return bool((self.stream_options or {}).get("include_usage"))


class ChatRequest(_Sampling):
    messages: list[ChatMessage] = Field(..., min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)

    def requested_max_tokens(self) -> int | None:
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens


_Prompt = Annotated[str, Field(min_length=1)]


class CompletionRequest(_Sampling):
    prompt: _Prompt | Annotated[list[_Prompt], Field(min_length=1)]
    max_tokens: int | None = Field(16, ge=1)  # the OpenAI default for completions

    def prompts(self) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)

    def requested_max_tokens(self) -> int | None:
        """None when the client sent none: the default then stays within the server's cap."""
        return self.max_tokens if "max_tokens" in self.model_fields_set else None


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(BaseModel):
    """The OpenAI error shape of every answer that is not a 2xx (documented in /openapi.json)."""

    error: ErrorDetail


class APIError(Exception):
    """An answer in the OpenAI error shape; the app's handler renders it with error_body."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code, self.headers = status, message, kind, param, code, headers


# What a chat message's role may be; "developer" is what newer OpenAI clients send for "system".
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


def clip(text: Any, limit: int = 40) -> str:
    """A client's value short enough to quote in an error message."""
    text = repr(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_roles(body: ChatRequest) -> list[dict[str, str]]:
    """The messages as the chat template takes them, or 400 for a role this server cannot play."""
    for i, message in enumerate(body.messages):
        if message.role not in ROLES:
            raise APIError(400, f"messages.{i}.role: {clip(message.role)} is not supported here; use system, developer "
                                "(read as system), user or assistant", param="messages")
    return [{"role": ROLES[m.role], "content": m.text()} for m in body.messages]


# OpenAI fields this server does not implement, with the value a client sends when it does not want
# the feature (which passes). Any other value is refused, naming the field: a client that sent
# `tools` would take a plain answer for the model choosing not to call one. Fields that only tune
# or label an answer (presence_penalty, frequency_penalty, metadata, store, ...) are ignored.
UNSUPPORTED: dict[str, tuple[Callable[[Any], bool], str]] = {
    "tools": (lambda v: not v, "[]"),
    "functions": (lambda v: not v, "[]"),
    "tool_choice": (lambda v: v in (None, "none", "auto"), '"none"'),
    "function_call": (lambda v: v in (None, "none", "auto"), '"none"'),
    "logprobs": (lambda v: v is None or v is False, "false"),
    "top_logprobs": (lambda v: v is None or v == 0, "0"),
    "response_format": (lambda v: v is None or (isinstance(v, dict) and v.get("type") == "text"), '{"type": "text"}'),
    "logit_bias": (lambda v: not v, "{}"),
    "echo": (lambda v: not v, "false"),
    "suffix": (lambda v: not v, '""'),
    "best_of": (lambda v: v is None or v == 1, "1"),
}


def refuse_unsupported(body: _Lenient) -> None:
    for name, value in (body.model_extra or {}).items():
        harmless, off = UNSUPPORTED.get(name, (None, ""))
        if harmless is not None and not harmless(value):
            raise APIError(400, f"{name} is not supported by this server (got {clip(value)}); leave it out or send {off}",
                           param=name, code="unsupported_parameter")


def error_body(message: str, kind: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    """The OpenAI error shape; the client turns it into a typed exception with this message."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def lone_surrogate(data: Any) -> str | None:
    """Where (`messages.0.content`) a string or key holds a lone UTF-16 surrogate, if anywhere.

    JSON may carry one ("\\ud800"), Python decodes it, and it breaks the first thing that encodes
    the text (tokenizer, hash, response). Walked with a stack: the body can be deep.
    """
    stack: list[tuple[str, Any]] = [("body", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return path
        elif isinstance(value, dict):
            for key, item in value.items():
                name = str(key).encode("utf-8", "backslashreplace").decode("utf-8")
                where = name if path == "body" else f"{path}.{name}"
                stack += [(where, item), (where, key)]
        elif isinstance(value, list):
            stack += [(f"{path}.{i}" if path != "body" else str(i), item) for i, item in enumerate(value)]
    return None


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def usage(prompt_tokens: int, results: list[GenerationResult]) -> dict[str, int]:
    completion = sum(r.completion_tokens for r in results)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion, "total_tokens": prompt_tokens + completion}


def chat_response(rid: str, model: str, results: list[GenerationResult], prompt_tokens: int) -> dict[str, Any]:
    return {
        "id": rid, "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": r.text}, "finish_reason": r.finish_reason, "logprobs": None}
            for i, r in enumerate(results)
        ],
        "usage": usage(prompt_tokens, results),
    }


def chat_chunk(rid: str, model: str, index: int, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": rid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
        "choices": [{"index": index, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }


def completion_response(rid: str, model: str, results: list[GenerationResult], prompt_tokens: int) -> dict[str, Any]:
    return {
        "id": rid, "object": "text_completion", "created": int(time.time()), "model": model,
        "choices": [
            {"index": i, "text": r.text, "finish_reason": r.finish_reason, "logprobs": None}
            for i, r in enumerate(results)
        ],
        "usage": usage(prompt_tokens, results),
    }


def completion_chunk(rid: str, model: str, index: int, text: str, finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": rid, "object": "text_completion", "created": int(time.time()), "model": model,
        "choices": [{"index": index, "text": text, "finish_reason": finish_reason, "logprobs": None}],
    }


def usage_chunk(rid: str, model: str, obj: str, prompt_tokens: int, results: list[GenerationResult]) -> dict[str, Any]:
    return {"id": rid, "object": obj, "created": int(time.time()), "model": model, "choices": [],
            "usage": usage(prompt_tokens, results)}
