"""Everything a server is told at start: limits, keys, batching, A/B split. Defaults come from the
recipe's `serve` section, so a run's recipe and `slmforge serve` flags speak the same keys."""

from __future__ import annotations

from dataclasses import dataclass, field

from slmforge.core.errors import SlmforgeError
from slmforge.core.sections import ServeSection


class ServeError(SlmforgeError):
    """The server cannot start as asked (address, keys file, model, engine, split)."""


# The recipe's serve section holds every default (and says what each key means); the options take theirs from it.
_DEFAULTS = ServeSection()


@dataclass
class ServeOptions:
    """A serve section plus what only the command line says (keys, A/B split); CLI flags win over the recipe."""

    host: str = _DEFAULTS.host
    port: int = _DEFAULTS.port
    api_keys: list[str] = field(default_factory=list)
    key_failures_per_minute: int = _DEFAULTS.key_failures_per_minute
    public_metrics: bool = _DEFAULTS.public_metrics
    max_batch: int = _DEFAULTS.max_batch
    batch_wait_ms: float = _DEFAULTS.batch_wait_ms
    prefix_cache_mb: float = _DEFAULTS.prefix_cache_mb
    rate_limit: float = _DEFAULTS.rate_limit
    rate_burst: int = _DEFAULTS.rate_burst
    max_body_bytes: int = _DEFAULTS.max_body_bytes
    body_timeout_s: float = _DEFAULTS.body_timeout_s
    max_prompt_tokens: int = _DEFAULTS.max_prompt_tokens
    max_tokens_cap: int = _DEFAULTS.max_tokens_cap
    default_max_tokens: int = _DEFAULTS.default_max_tokens
    max_n: int = _DEFAULTS.max_n
    max_sequences: int = _DEFAULTS.max_sequences
    max_queue: int = _DEFAULTS.max_queue
    cache_size: int = _DEFAULTS.cache_size
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
