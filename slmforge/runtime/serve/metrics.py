"""Prometheus metrics of one server. Each server owns its registry, so two apps in one process
(tests, a bench with batching on and off) never share or clash over counters."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# The *_created series double the output and no dashboard of ours reads them.
disable_created_metrics()

CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("slmforge_requests", "HTTP requests by route and status code.", ["route", "status"], registry=r)
        self.latency = Histogram(
            "slmforge_request_latency_seconds", "Time from request to full response, by route.", ["route"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60), registry=r,
        )
        self.model_requests = Counter(
            "slmforge_model_requests", "Generation requests by served model (A/B variant) and the name asked for.",
            ["model", "requested"], registry=r,
        )
        self.tokens = Counter("slmforge_generated_tokens", "Tokens generated, by model.", ["model"], registry=r)
        self.prompt_tokens = Counter("slmforge_prompt_tokens", "Prompt tokens processed, by model.", ["model"], registry=r)
        self.queue = Gauge("slmforge_queue_depth", "Requests waiting for the next batch, by model.", ["model"], registry=r)
        self.batch = Histogram(
            "slmforge_batch_size", "Sequences generated together in one batch, by model.", ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128), registry=r,
        )
        self.max_batch = Gauge("slmforge_batch_size_max", "Largest batch seen since start, by model.", ["model"], registry=r)
        self.joins = Counter("slmforge_batch_joins", "Requests that joined a batch already running, by model.", ["model"], registry=r)
        self.cancelled = Counter("slmforge_cancelled_sequences", "Sequences stopped before their end because the client went away, by model.",
                                 ["model"], registry=r)
        self.prefix_tokens = Counter("slmforge_prefix_cache_tokens", "Prompt tokens whose keys and values came from the prefix cache "
                                     "instead of a forward pass, by model.", ["model"], registry=r)
        self.cache = Counter("slmforge_cache", "Response cache lookups of deterministic requests.", ["result"], registry=r)

    # EngineObserver: called from engine threads (prometheus_client is thread-safe).
    def batch_started(self, model: str, size: int) -> None:
        self.batch.labels(model).observe(size)
        gauge = self.max_batch.labels(model)
        if size > gauge._value.get():
            gauge.set(size)

    def batch_joined(self, model: str, joined: int, size: int) -> None:
        self.joins.labels(model).inc(joined)
        gauge = self.max_batch.labels(model)
        if size > gauge._value.get():
            gauge.set(size)

    def sequence_cancelled(self, model: str) -> None:
        self.cancelled.labels(model).inc()

    def prefix_reused(self, model: str, tokens: int) -> None:
        self.prefix_tokens.labels(model).inc(tokens)

    def tokens_generated(self, model: str, count: int) -> None:
        self.tokens.labels(model).inc(count)

    def queue_depth(self, model: str, depth: int) -> None:
        self.queue.labels(model).set(depth)

    def render(self) -> bytes:
        return generate_latest(self.registry)
