"""Everything a server is told at start: limits, keys, batching, A/B split. Defaults come from the
recipe's `serve` section, so a run's recipe and `slmforge serve` flags speak the same keys."""

from __future__ import annotations

from dataclasses import dataclass, field

from slmforge.errors import SlmforgeError
from slmforge.recipe import ServeSection


class ServeError(SlmforgeError):
    """The server cannot start as asked (address, keys file, model, engine, split)."""


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    api_keys: list[str] = field(default_factory=list)
    key_failures_per_minute: int = 10  # per client address, before its requests get 429
    public_metrics: bool = False  # /metrics and /openapi.json without a key
    max_batch: int = 32
    batch_wait_ms: float = 5.0
    rate_limit: float = 0.0  # sequences per second per key (per client address without keys); 0 = off
    rate_burst: int = 20
    max_body_bytes: int = 1 << 20
    body_timeout_s: float = 10.0  # to send the whole body, from the end of the headers
    max_prompt_tokens: int = 4096
    max_tokens_cap: int = 1024
    default_max_tokens: int = 256
    max_n: int = 8
    max_sequences: int = 64  # prompts × n of one request
    max_queue: int = 256  # sequences per model queued or generating
    cache_size: int = 1024
    split: dict[str, float] = field(default_factory=dict)  # variant model name -> weight
    split_alias: str = "ab"
    graceful_timeout_s: float = 30.0

    @classmethod
    def from_section(cls, section: ServeSection, **overrides: object) -> ServeOptions:
        """Recipe `serve` section first, then every override that is not None (CLI flags)."""
        values = {name: getattr(section, name) for name in cls.__dataclass_fields__ if hasattr(section, name)}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def parse_split(text: str) -> dict[str, float]:
    """`a=0.9,b=0.1` -> {'a': 0.9, 'b': 0.1}; weights are relative (they need not sum to 1)."""
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = -1.0
        if not sep or not name.strip() or weight < 0:
            raise ServeError(f"--split {text}: expected NAME=WEIGHT,NAME=WEIGHT with weights >= 0, e.g. a=0.9,b=0.1")
        weights[name.strip()] = weight
    if len(weights) < 2 or sum(weights.values()) <= 0:
        raise ServeError(f"--split {text}: name at least two variants with a positive total weight, e.g. a=0.9,b=0.1")
    return weights
