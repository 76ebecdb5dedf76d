"""/openapi.json as a fuzzer or a client generator needs it: the request bodies (our routes parse
their own JSON, so FastAPI cannot see them), the served model names, and every error answer."""

from __future__ import annotations

from typing import Any, Callable

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from slmforge.runtime.serve import protocol as p
from slmforge.runtime.serve.options import ServeOptions

ERRORS = {
    400: "Bad request: not JSON, an unsupported field or role, a cap (n, prompts × n, max_tokens, prompt length)",
    401: "Missing or wrong API key",
    404: "No model of that name is served",
    408: "The body did not arrive in time",
    413: "The body is larger than the limit",
    422: "The body does not match the request schema",
    429: "Rate limit, or too many wrong keys from this address (see Retry-After)",
    503: "The model's queue is full (see Retry-After)",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": p.ErrorBody, "description": ERRORS[s]} for s in statuses}


def generation_route(model: type[BaseModel]) -> dict[str, Any]:
    """Decorator arguments of a generation route whose body is `model`."""
    return {
        "openapi_extra": {"requestBody": {"required": True, "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}},
        "responses": {200: {"description": "The answer; a text/event-stream of chunks when stream is true",
                            "content": {"text/event-stream": {}}},
                      **errors(*ERRORS)},
    }


def schema_builder(app: FastAPI, model_names: Callable[[], list[str]], options: ServeOptions
                   ) -> Callable[[], dict[str, Any]]:
    """What `app.openapi` should be: FastAPI's schema plus the request models it cannot see."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, routes=app.routes)
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            for model in (p.ChatRequest, p.CompletionRequest):
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(schema.pop("$defs", {}))
                schemas[model.__name__] = with_server_limits(schema, model_names(), options)
            # Checked by the route (400 naming the message), not by the model (422), but the same rule.
            schemas["ChatMessage"]["properties"]["role"]["enum"] = list(p.ROLES)
            app.openapi_schema = spec
        return app.openapi_schema

    return build


def with_server_limits(schema: dict[str, Any], model_names: list[str], options: ServeOptions) -> dict[str, Any]:
    """The request schema narrowed to what this server accepts: its model names (others are 404)
    and its caps on n and max_tokens (400 above them)."""
    props = schema["properties"]
    props["model"]["enum"] = model_names
    props["n"]["maximum"] = options.max_n
    for name in ("max_tokens", "max_completion_tokens"):
        for branch in props.get(name, {}).get("anyOf", []):
            if branch.get("type") == "integer":
                branch["maximum"] = options.max_tokens_cap
    return schema
