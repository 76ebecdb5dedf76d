"""What stands between the network and the model: API keys, per-key rate limits, the address check."""

from __future__ import annotations

import hmac
import ipaddress
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from slmforge.runtime.serve.options import ServeError

# Shorter keys can be guessed; the server warns at start rather than refusing (tests and demos use them).
MIN_KEY_CHARS = 16


def read_api_keys(path: Path) -> list[str]:
    """One key per line; blank lines and # comments are ignored."""
    path = Path(path)
    if not path.is_file():
        raise ServeError(f"--api-keys {path}: file not found (one key per line)")
    # utf-8-sig: editors that save "UTF-8 with BOM" would otherwise glue U+FEFF to the first key.
    keys = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines()]
    keys = [k for k in keys if k and not k.startswith("#")]
    if not keys:
        raise ServeError(f"--api-keys {path}: no keys in the file (one key per line, # for comments)")
    return keys


def short_keys(keys: list[str]) -> int:
    return sum(len(k) < MIN_KEY_CHARS for k in keys)


def bearer_token(header: str | None) -> str | None:
    """The credentials of an `Authorization: Bearer KEY` header (the scheme is case-insensitive, RFC 9110)."""
    parts = (header or "").split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    return parts[1].strip()


def matching_key(header: str | None, keys: list[str]) -> str | None:
    """The key a `Bearer KEY` header carries, if it is one of ours.

    Every key is compared in constant time and the loop never stops early, so response time
    says nothing about how much of a guess was right.
    """
    token = bearer_token(header)
    if token is None:
        return None
    offered = token.encode()
    found = None
    for key in keys:
        if hmac.compare_digest(offered, key.encode()):
            found = key
    return found


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, api_keys: list[str]) -> None:
    """A server that anyone on the network can reach must at least ask for a key."""
    if not is_loopback(host) and not api_keys:
        raise ServeError(f"--host {host}: binding beyond this machine needs --api-keys FILE "
                         "(or use --host 127.0.0.1)")


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token bucket per client: `rate` units per second on average, bursts up to `burst`."""

    # Past this many clients, full buckets (clients quiet for a while) are forgotten, so that
    # requests from ever new addresses cannot grow the table without end.
    MAX_CLIENTS = 10_000

    def __init__(self, rate: float, burst: int):
        self.rate = rate
        self.burst = max(1, burst)
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def acquire(self, client: str, cost: float = 1.0) -> float:
        """0 when `cost` units may go ahead (and are taken), else the seconds until they could.

        A cost above the burst is charged as the whole burst: it could never be paid otherwise.
        """
        if self.rate <= 0:
            return 0.0
        cost = min(cost, self.burst)
        with self._lock:
            bucket = self._refilled(client)
            if bucket.tokens >= cost:
                bucket.tokens -= cost
                return 0.0
            return (cost - bucket.tokens) / self.rate

    def wait_s(self, client: str) -> float:
        """Seconds until one unit is free again, taking nothing."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            return max(0.0, 1 - self._refilled(client).tokens) / self.rate

    def _refilled(self, client: str) -> _Bucket:
        now = time.monotonic()
        if client not in self._buckets and len(self._buckets) >= self.MAX_CLIENTS:
            self._buckets = {k: b for k, b in self._buckets.items()
                             if b.tokens + (now - b.updated) * self.rate < self.burst}
        bucket = self._buckets.setdefault(client, _Bucket(float(self.burst), now))
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        return bucket


def retry_after_header(wait_s: float) -> str:
    """Retry-After takes whole seconds; round up so a client that obeys it is never refused again."""
    return str(max(1, math.ceil(wait_s)))
