"""OpenAI-compatible HTTP server: batching engine, guards (keys, rate limits, caps), cache, metrics.

Layer rule: serve imports models and recipe, never train, evaluate or export.
"""

from slmforge.runtime.serve.options import ServeError, ServeOptions

__all__ = ["ServeError", "ServeOptions"]
